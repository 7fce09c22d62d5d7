'use strict'
// Small helpers of the JS layer: data conversion, AbortSignal plumbing and
// the async iterator over a native `next()`/`close()` pair.

const { wrap } = require('./errors.js')

/** Buffer | Uint8Array | string (utf-8) | undefined -> Buffer | undefined. */
function toBuffer(data) {
  if (data === undefined || data === null) return undefined
  if (Buffer.isBuffer(data)) return data
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  throw new TypeError('data must be a Buffer, a Uint8Array or a string')
}

/**
 * Runs the native wait `start()` so that aborting `signal` calls `cancel()`
 * (which drops the waiting core future: the recipe deletes its node). An
 * aborted wait rejects with `signal.reason`, as web APIs do.
 */
async function abortable(signal, cancel, start) {
  if (!signal) return wrap(start())
  signal.throwIfAborted()
  const onAbort = () => cancel()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await wrap(start())
  } catch (err) {
    if (signal.aborted && err && err.code === 'CANCELLED') throw signal.reason
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

/**
 * An async iterator over a native stream (`next()` resolving to an item or
 * null, `close()`); `source` may be a promise of it. `map` shapes each item.
 * Breaking out of `for await` closes the stream.
 *
 * The meaning of the end is the core's (`embed::ClosableStream`), the same
 * in C and Python: after `close()` no item is delivered, even one that had
 * already arrived, and the iterator returns `{ done: true }` without
 * throwing; closing the client ends it the same way. An expired session
 * rejects `next()` once (SessionExpiredError), then the iterator is done.
 */
class NativeIterator {
  constructor(source, map, signal) {
    this._source = Promise.resolve(source)
    // Keep a failed registration from being an unhandled rejection: it is
    // reported by the first next().
    this._source.catch(() => {})
    this._map = map ?? ((x) => x)
    this._done = false
    if (signal) {
      if (signal.aborted) this._done = true
      else signal.addEventListener('abort', () => this.return(), { once: true })
    }
  }

  /** Resolves once the watch is registered (rejects if it failed). */
  get ready() {
    return this._source.then(() => undefined)
  }

  async next() {
    if (this._done) return { value: undefined, done: true }
    const stream = await this._source
    let item
    try {
      item = await wrap(stream.next())
    } catch (err) {
      this._done = true
      throw err
    }
    if (item === null || item === undefined || this._done) {
      this._done = true
      return { value: undefined, done: true }
    }
    return { value: this._map(item), done: false }
  }

  async return() {
    if (!this._done) {
      this._done = true
      const stream = await this._source.catch(() => null)
      if (stream) await wrap(stream.close())
    }
    return { value: undefined, done: true }
  }

  /** Stops the stream (same as breaking out of `for await`). */
  close() {
    return this.return().then(() => undefined)
  }

  [Symbol.asyncIterator]() {
    return this
  }

  [asyncDispose]() {
    return this.close()
  }
}

/**
 * Async iterator over a native cache/provider whose `changed()` resolves
 * true after each change and false once stopped; yields `read()` each time.
 */
async function* changes(nativeObj, read) {
  for (;;) {
    const changed = await nativeObj.changed()
    if (!changed) return
    yield read()
  }
}

// A packed stat: the native `get`, `set` and `exists` resolve to one
// ArrayBuffer holding the stat (and for `get` the data after it) instead of objects built
// property by property through napi, which cost more than the rest of the
// call's JavaScript side. The layout is written by `Packed` in
// src/convert.rs: 8-byte integers at 0..48, 4-byte ones at 48..68,
// little-endian; the data from STAT_BYTES.
const STAT_BYTES = 72

/** The Stat in a packed ArrayBuffer's DataView. */
function statOf(v) {
  return {
    czxid: v.getBigUint64(0, true),
    mzxid: v.getBigUint64(8, true),
    pzxid: v.getBigUint64(16, true),
    ctime: v.getInt32(28, true) * 4294967296 + v.getUint32(24, true),
    mtime: v.getInt32(36, true) * 4294967296 + v.getUint32(32, true),
    version: v.getInt32(48, true),
    cversion: v.getInt32(52, true),
    aversion: v.getInt32(56, true),
    ephemeralOwner: v.getBigUint64(40, true),
    dataLength: v.getUint32(60, true),
    numChildren: v.getUint32(64, true),
  }
}

/** The Stat of a packed ArrayBuffer. */
function unpackStat(ab) {
  return statOf(new DataView(ab))
}

/** `{ data, stat }` of a packed `get` result; `data` views the same memory. */
function unpackNode(ab) {
  return { data: Buffer.from(ab, STAT_BYTES), stat: statOf(new DataView(ab)) }
}

/** A packed stat or null (`exists`). */
function unpackMaybeStat(ab) {
  return ab === null ? null : statOf(new DataView(ab))
}

module.exports = {
  toBuffer,
  abortable,
  asyncDispose,
  NativeIterator,
  changes,
  unpackStat,
  unpackNode,
  unpackMaybeStat,
}
