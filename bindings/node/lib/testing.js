'use strict'
// Test helpers: an in-process coord server (no Node handle kept open).

const native = require('../index.js')
const { fromNative } = require('./errors.js')

/** Starts a server on 127.0.0.1 with a fresh temp data dir; `stop()` it. */
function startServer() {
  try {
    return native.startTestServer()
  } catch (err) {
    throw fromNative(err)
  }
}

module.exports = { startServer }
