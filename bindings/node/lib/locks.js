'use strict'
// Lock handles over the native ones: a held lock with its fencing token,
// loss as a Promise and an AbortSignal, and Symbol.asyncDispose; the
// read-write lock, the semaphore and the multi-lock. One native handle per
// acquisition, so an AbortSignal cancels exactly that acquisition.

const { wrap, coordError } = require('./errors.js')
const { abortable, asyncDispose } = require('./util.js')

/**
 * Watches `waitLost()` of a native handle, lazily: nothing is asked of the
 * addon (and nothing keeps the event loop alive) until `lost` or `signal`
 * is first read. Settles when the hold ends (lost or released).
 */
class LossWatch {
  constructor(nativeHandle, what) {
    this._native = nativeHandle
    this._what = what
    this._started = false
    this._isLost = false
    this._controller = new AbortController()
    this._lost = new Promise((resolve) => {
      this._resolve = resolve
    })
  }

  _start() {
    if (this._started) return
    this._started = true
    this._native.waitLost().then(
      (lost) => (lost ? this._markLost() : undefined),
      () => {},
    )
  }

  _markLost() {
    if (this._isLost) return
    this._isLost = true
    const err = coordError('LOCK_LOST', `lock lost: ${this._what}`, this._what)
    this._resolve(err)
    this._controller.abort(err)
  }

  get lost() {
    this._start()
    return this._lost
  }

  get signal() {
    this._start()
    return this._controller.signal
  }
}

/** A held lock (mutex or one side of a read-write lock). */
class LockHandle {
  constructor(nativeLock, token) {
    this._native = nativeLock
    this._loss = new LossWatch(nativeLock, nativeLock.path)
    this._released = false
    /** The fencing token: strictly increases from one holder to the next. */
    this.token = token
    /** The lock's path. */
    this.path = nativeLock.path
  }

  /** Resolves (with a LockLostError) if the lock is lost while held. */
  get lost() {
    return this._loss.lost
  }

  /** Aborted (reason: a LockLostError) if the lock is lost while held. */
  get signal() {
    return this._loss.signal
  }

  /** True while held and not lost. Answers at once. */
  isHeld() {
    if (this._released) return false
    return this._native.isHeld()
  }

  /** Commits the ops atomically only while this lock is still held. */
  guarded(ops) {
    return wrap(this._native.guarded(ops))
  }

  /** Releases the lock (deletes its node). Later calls do nothing. */
  async release() {
    if (this._released) return
    this._released = true
    await wrap(this._native.release())
  }

  [asyncDispose]() {
    return this.release()
  }
}

async function acquireLock(nativeLock, options = {}) {
  const { timeoutMs, signal } = options
  const token = await abortable(
    signal,
    () => nativeLock.cancel(),
    () => nativeLock.acquire(timeoutMs),
  )
  return new LockHandle(nativeLock, token)
}

async function withHandle(handle, fn) {
  try {
    return await fn(handle.token, handle.signal)
  } finally {
    await handle.release()
  }
}

/** A read-write lock: many readers or one writer. */
class ReadWriteLock {
  constructor(nativeClient, path) {
    this._client = nativeClient
    this.path = path
  }

  /** Acquires the shared side. */
  read(options) {
    return acquireLock(this._client.lockHandle(this.path, 'read'), options)
  }

  /** Acquires the exclusive side. */
  write(options) {
    return acquireLock(this._client.lockHandle(this.path, 'write'), options)
  }

  /** Runs `fn(token, signal)` holding the shared side. */
  async withRead(fn, options) {
    return withHandle(await this.read(options), fn)
  }

  /** Runs `fn(token, signal)` holding the exclusive side. */
  async withWrite(fn, options) {
    return withHandle(await this.write(options), fn)
  }
}

/** One held semaphore lease. */
class Lease {
  constructor(nativeLease) {
    this._native = nativeLease
    this._loss = new LossWatch(nativeLease, nativeLease.node)
    this._released = false
    this.token = nativeLease.token
    this.node = nativeLease.node
  }

  /** Resolves (with a LockLostError) if the lease is lost while held. */
  get lost() {
    return this._loss.lost
  }

  /** Aborted (reason: a LockLostError) if the lease is lost while held. */
  get signal() {
    return this._loss.signal
  }

  /** True while held and not lost. Answers at once. */
  isHeld() {
    return !this._released && !this._native.isLost()
  }

  /** Gives the lease back. Later calls do nothing. */
  release() {
    this._released = true
    return wrap(this._native.release())
  }

  [asyncDispose]() {
    return this.release()
  }
}

/** A counting semaphore: at most `leases` holders at once. */
class Semaphore {
  constructor(nativeClient, path, leases) {
    this._client = nativeClient
    this.path = path
    this.leases = leases
  }

  async acquire(options = {}) {
    const { timeoutMs, signal } = options
    const sem = this._client.semaphoreHandle(this.path, this.leases)
    const lease = await abortable(
      signal,
      () => sem.cancel(),
      () => sem.acquire(timeoutMs),
    )
    return new Lease(lease)
  }

  async tryAcquire() {
    const lease = await wrap(this._client.semaphoreHandle(this.path, this.leases).tryAcquire())
    return lease ? new Lease(lease) : null
  }
}

/** Several locks held together. */
class MultiLockHandle {
  constructor(nativeMulti, tokens) {
    this._native = nativeMulti
    this._released = false
    this.paths = nativeMulti.paths
    this.tokens = tokens
  }

  async release() {
    if (this._released) return
    this._released = true
    await wrap(this._native.release())
  }

  [asyncDispose]() {
    return this.release()
  }
}

async function acquireMulti(nativeClient, paths, options = {}) {
  const { timeoutMs, signal } = options
  const multi = nativeClient.multiLockHandle(paths)
  const tokens = await abortable(
    signal,
    () => multi.cancel(),
    () => multi.acquire(timeoutMs),
  )
  return new MultiLockHandle(multi, tokens)
}

module.exports = {
  LockHandle,
  ReadWriteLock,
  Semaphore,
  Lease,
  MultiLockHandle,
  acquireLock,
  acquireMulti,
  withHandle,
  LossWatch,
}
