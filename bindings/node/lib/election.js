'use strict'
// Election as an EventEmitter over the native candidate handle:
// 'elected' (term), 'revoked' (reason), 'leader' (identity, leader).

const { EventEmitter } = require('node:events')
const { wrap } = require('./errors.js')
const { abortable, asyncDispose, toBuffer } = require('./util.js')

function leaderInfo(l) {
  if (!l) return null
  return { node: l.node, identity: l.identity.toString('utf8'), identityBytes: l.identity, token: l.token }
}

class Election extends EventEmitter {
  constructor(nativeClient, path, identity) {
    super()
    this._client = nativeClient
    this.path = path
    this.identity = typeof identity === 'string' ? identity : Buffer.from(identity ?? '').toString('utf8')
    this._native = nativeClient.electionHandle(path, toBuffer(identity ?? ''))
    this._observer = null
    this._term = 0
    // Follow the leader only while somebody listens for it.
    this.on('newListener', (event) => {
      if (event === 'leader' && !this._observer) queueMicrotask(() => this._observe())
    })
  }

  /** True while this candidate leads. */
  get isLeader() {
    return this._native.isLeader
  }

  /** The current term while leading ({ node, identity, token }), else null. */
  get term() {
    return leaderInfo(this._native.term)
  }

  /**
   * Waits until elected; resolves to the term and emits 'elected'. Within
   * `timeoutMs` (LockTimeoutError) and cancellable with `signal` (the
   * candidate's node is deleted either way).
   */
  async campaign(options = {}) {
    const { timeoutMs, signal } = options
    this._native.resetCancel()
    const term = leaderInfo(
      await abortable(
        signal,
        () => this._native.cancel(),
        () => this._native.campaign(timeoutMs),
      ),
    )
    const myTerm = ++this._term
    this.emit('elected', term)
    this._native.waitLost().then(
      (lost) => {
        if (lost && myTerm === this._term) this.emit('revoked', { reason: 'lost', term })
      },
      () => {},
    )
    return term
  }

  /** Gives up leadership (emits 'revoked' when it led). */
  async resign() {
    const term = this.term
    this._term++
    await wrap(this._native.resign())
    if (term) this.emit('revoked', { reason: 'resigned', term })
  }

  /** The current leader ({ node, identity, identityBytes, token }) or null. */
  async leader() {
    return leaderInfo(await wrap(this._client.leader(this.path)))
  }

  _observe() {
    if (this._observer || this.listenerCount('leader') === 0) return
    const stream = this._client.observeLeader(this.path)
    this._observer = stream
    const loop = async () => {
      for (;;) {
        const change = await wrap(stream.next())
        if (!change || this._observer !== stream) return
        const l = leaderInfo(change.leader)
        this.emit('leader', l ? l.identity : null, l)
      }
    }
    loop().catch((err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  /** Resigns and stops following the leader. */
  async close() {
    const obs = this._observer
    this._observer = null
    if (obs) await wrap(obs.close())
    await this.resign()
  }

  [asyncDispose]() {
    return this.close()
  }
}

module.exports = { Election, leaderInfo }
