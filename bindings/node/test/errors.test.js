'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const coord = require('../lib/index.js')
const native = require('../index.js')
const gen = require('../scripts/gen-error-types.js')

test('every row of the core error table has a CoordError subclass with its code', () => {
  const table = native.errorTable()
  assert.ok(table.length > 10)
  for (const row of table) {
    const cls = coord[`${row.variant}Error`]
    assert.equal(typeof cls, 'function', `${row.variant}Error is exported`)
    assert.equal(cls.code, row.name)
    const e = new cls('x', 'detail')
    assert.ok(e instanceof coord.CoordError && e instanceof Error)
    assert.equal(e.code, row.name)
    assert.equal(e.name, `${row.variant}Error`)
  }
  for (const name of ['NO_NODE', 'NODE_EXISTS', 'BAD_VERSION', 'SESSION_EXPIRED', 'LOCK_TIMEOUT']) {
    assert.ok(table.some((r) => r.name === name), name)
  }
})

test('the TypeScript error declarations match the core error table', () => {
  assert.equal(fs.readFileSync(gen.file, 'utf8'), gen.render(), 'run node scripts/gen-error-types.js')
  const declared = [...fs.readFileSync(gen.file, 'utf8').matchAll(/^  readonly code: '([A-Z_]+)'/gm)].map((m) => m[1])
  assert.deepEqual(declared, native.errorTable().map((r) => r.name))
})

test('native rejections become CoordErrors', () => {
  const e = coord.fromNative(new Error('[NO_NODE] no node: /a/b'))
  assert.ok(e instanceof coord.NoNodeError)
  assert.equal(e.code, 'NO_NODE')
  assert.equal(e.detail, '/a/b')
  const plain = new Error('something else')
  assert.equal(coord.fromNative(plain), plain)
})
