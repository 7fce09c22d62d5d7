'use strict'
// One-shot watches over the native ones (`getWatch`, `existsWatch`,
// `childrenWatch` of the client): the read's result and a watch that fires
// once. Waiting starts only when `wait()` is called, so a watch nobody
// waits for never keeps the process alive.

const { abortable } = require('./util.js')

/** A watch that fires once: on the next change of what the read saw. */
class OneshotWatch {
  constructor(nativeOneshot) {
    this._native = nativeOneshot
    this._event = null
  }

  /**
   * Resolves with the event when the watch fires. Rejects with
   * `signal.reason` when `signal` aborts (the watch is abandoned), with
   * CancelledError when `removeWatches` removed it or `cancel()` was called,
   * SessionExpiredError / ClosedError when the session ends first. Later
   * calls return the same promise.
   */
  wait(options = {}) {
    if (!this._event) {
      this._event = abortable(options.signal, () => this._native.cancel(), () => this._native.wait())
    }
    return this._event
  }

  /** Abandons the watch: a pending `wait()` rejects with CancelledError. */
  cancel() {
    this._native.cancel()
  }
}

module.exports = { OneshotWatch }
