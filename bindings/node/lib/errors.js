'use strict'
// CoordError and one subclass per row of the core's error table
// (coord_client::Error::TABLE, read from the addon at load time): nothing here
// lists error kinds by hand. A native rejection carries the stable name in
// brackets at the start of its message ("[NO_NODE] no node: /a").

const native = require('../index.js')

/** Base class of every error coord reports; `code` is the stable name. */
class CoordError extends Error {
  constructor(message, code, detail) {
    super(message)
    this.code = code
    this.detail = detail ?? ''
  }
}
CoordError.prototype.name = 'CoordError'

const table = native.errorTable()
const byName = new Map()
const classes = {}
for (const row of table) {
  const className = `${row.variant}Error`
  // A computed name so that stack traces and `err.name` show it.
  const cls = {
    [className]: class extends CoordError {
      constructor(message, detail) {
        super(message, row.name, detail)
      }
    },
  }[className]
  cls.prototype.name = className
  cls.code = row.name
  cls.numericCode = row.code
  byName.set(row.name, cls)
  classes[className] = cls
}

const PREFIX = /^\[([A-Z][A-Z0-9_]*)\] ([\s\S]*)$/

/** The CoordError for a native rejection; anything else unchanged. */
function fromNative(err) {
  if (!(err instanceof Error) || err instanceof CoordError) return err
  const m = PREFIX.exec(err.message)
  if (!m) return err
  const cls = byName.get(m[1]) ?? classes.UnknownError ?? CoordError
  const message = m[2]
  const info = table.find((r) => r.name === m[1])
  const detail =
    info && message.startsWith(`${info.summary}: `) ? message.slice(info.summary.length + 2) : ''
  const e = cls === CoordError ? new CoordError(message, m[1], detail) : new cls(message, detail)
  return e
}

function rethrow(err) {
  throw fromNative(err)
}

/** The native promise `p`, rejecting with a CoordError. */
function wrap(p) {
  return p.then(undefined, rethrow)
}

/** `wrap(p)` whose value goes through `map` (one reaction for both). */
function wrapMap(p, map) {
  return p.then(map, rethrow)
}

/** A CoordError of the named kind (for errors the JS layer raises itself). */
function coordError(name, message, detail) {
  const cls = byName.get(name)
  return cls ? new cls(message, detail) : new CoordError(message, name, detail)
}

module.exports = { CoordError, ...classes, errorTable: table, fromNative, wrap, wrapMap, coordError }
