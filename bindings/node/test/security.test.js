'use strict'
// Credentials, identities, ACLs, quotas and lock lines from Node:
// `Client.connect({ tls, token, digest })` against a real `coord serve` with
// mTLS and a tokens file (certificates from scripts/make-local-ca.sh), a
// refused wrong CA, `whoami`, ACLs, quotas and `lockInfo`.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const coord = require('../lib/index.js')
const { startServer, connect, uniquePath, onLines } = require('./helpers.js')
const { coordBin } = require('./cluster.js')

const root = path.resolve(__dirname, '..', '..', '..')

/** `coord serve` with mTLS and a tokens file; resolves once it serves. */
async function startTlsServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coord-node-tls-'))
  const makeCa = path.join(root, 'scripts', 'make-local-ca.sh')
  for (const d of [dir, path.join(dir, 'other')]) {
    execFileSync(makeCa, [d], { stdio: 'ignore', timeout: 120_000 })
  }
  fs.writeFileSync(path.join(dir, 'tokens'), 'alice tok-alice\n')
  const f = (name) => path.join(dir, name)
  const child = spawn(coordBin(), [
    'serve', '--listen', '127.0.0.1:0', '--data-dir', f('data'),
    '--tls-cert', f('server.pem'), '--tls-key', f('server-key.pem'),
    '--tls-client-ca', f('ca.pem'), '--tokens-file', f('tokens'),
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  const log = []
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`TLS server did not start:\n${log.join('\n')}`)), 60_000)
    onLines(child.stderr, (line) => {
      log.push(line)
      const m = /^coord: serving on (\S+)/.exec(line)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.on('exit', () => reject(new Error(`TLS server exited:\n${log.join('\n')}`)))
  })
  return {
    addr,
    file: f,
    tls: (ca = 'ca.pem') => ({ ca: f(ca), cert: f('client.pem'), key: f('client-key.pem') }),
    stop() {
      child.kill('SIGKILL')
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

test('security from Node', async (t) => {
  const tlsServer = await startTlsServer()
  const server = await startServer()
  t.after(async () => {
    tlsServer.stop()
    await server.stop()
  })

  await t.test('TLS with a client certificate, a token and digest credentials', async () => {
    const c = await coord.Client.connect({
      servers: tlsServer.addr, sessionTimeoutMs: 5000, tls: tlsServer.tls(),
      token: 'tok-alice', digest: { user: 'bob', password: 'secret' },
    })
    try {
      const ids = await c.whoami()
      assert.ok(ids.some((i) => i.startsWith('x509:')), ids.join(' '))
      assert.ok(ids.includes('token:alice'), ids.join(' '))
      assert.ok(ids.some((i) => i.startsWith('digest:bob:')), ids.join(' '))
      await c.create('/node-tls', 'v', { ephemeral: true })
      assert.equal(await c.getString('/node-tls'), 'v')
    } finally {
      await c.close()
    }
  })

  await t.test('a server signed by another CA is refused, saying why', async () => {
    await assert.rejects(
      coord.Client.connect({ servers: tlsServer.addr, connectTimeoutMs: 1000, tls: tlsServer.tls('other/ca.pem') }),
      (e) => e instanceof coord.ConnectionLossError && /not signed by the trusted CA/.test(e.message),
    )
    await assert.rejects(
      coord.Client.connect({ servers: tlsServer.addr, connectTimeoutMs: 1000, tls: { ca: tlsServer.file('ca.pem') } }),
      (e) => e instanceof coord.ConnectionLossError && /requires a client certificate/.test(e.message),
    )
  })

  await t.test('bad credentials are named', async () => {
    await assert.rejects(
      coord.Client.connect({ servers: tlsServer.addr, tls: { ca: tlsServer.file('no-such.pem') } }),
      (e) => e instanceof coord.BadArgumentsError && /no-such\.pem/.test(e.message),
    )
    await assert.rejects(
      coord.Client.connect({ servers: tlsServer.addr, tls: { ca: tlsServer.file('ca.pem'), cert: tlsServer.file('client.pem') } }),
      (e) => e instanceof coord.BadArgumentsError && /tls\.cert and tls\.key/.test(e.message),
    )
    await assert.rejects(
      coord.Client.connect({ servers: tlsServer.addr, connectTimeoutMs: 1000, tls: tlsServer.tls(), token: 'not-a-token' }),
      (e) => e instanceof coord.AuthFailedError,
    )
    await assert.rejects(coord.Client.connect({ servers: server.addr, digest: { user: 'bob' } }), TypeError)
    await assert.rejects(
      coord.Client.connect({ servers: server.addr, digest: 'no-colon' }),
      (e) => e instanceof coord.BadArgumentsError && /digest/.test(e.message),
    )
  })

  await t.test('ACLs: create with an ACL, read, refuse, replace', async () => {
    const owner = await connect(server, { digest: 'carol:pw' })
    const other = await connect(server)
    try {
      const ids = await other.whoami()
      assert.ok(ids.includes('ip:127.0.0.1') && !ids.some((i) => i.startsWith('digest:')), ids.join(' '))
      const p = uniquePath('acl')
      await owner.create(path.posix.dirname(p))
      assert.equal(await owner.create(p, 'x', { acl: [{ scheme: 'auth', id: '', perms: 'cdrwa' }, 'world:anyone:r'] }), p)
      const { acl, stat } = await other.getAcl(p)
      assert.equal(stat.aversion, 0)
      assert.ok(acl.some((e) => e.scheme === 'world' && e.id === 'anyone' && e.perms === 'r'))
      const mine = acl.filter((e) => e.scheme === 'digest')
      assert.equal(mine.length, 1)
      assert.ok(mine[0].id.startsWith('carol:') && mine[0].perms === 'cdrwa')
      assert.equal(await other.getString(p), 'x')
      await assert.rejects(other.set(p, 'y'), coord.NoAuthError)
      await assert.rejects(other.setAcl(p, ['world:anyone:cdrwa']), coord.NoAuthError)
      await assert.rejects(owner.setAcl(p, ['world:anyone:cdrwa'], { version: 7 }), coord.BadVersionError)
      assert.equal((await owner.setAcl(p, ['world:anyone:cdrwa'], { version: 0 })).aversion, 1)
      await other.set(p, 'y')
      await assert.rejects(
        owner.setAcl(p, ['world:anyone:r', 'world:anyone:xyz']),
        (e) => e instanceof coord.BadArgumentsError && /acl\[1\]/.test(e.message),
      )
    } finally {
      await other.close()
      await owner.close()
    }
  })

  await t.test('quotas', async () => {
    const c = await connect(server)
    try {
      const p = uniquePath('quota')
      await c.create(p, undefined, { makeParents: true })
      await assert.rejects(c.getQuota(p), coord.NoNodeError)
      await assert.rejects(c.setQuota(p, { maxNodes: -1 }), (e) => e instanceof coord.BadArgumentsError && /maxNodes/.test(e.message))
      await c.setQuota(p, { maxNodes: 2 })
      await c.create(`${p}/a`, 'abc')
      await assert.rejects(c.create(`${p}/b`), coord.QuotaExceededError)
      const q = await c.getQuota(p)
      assert.equal(q.maxNodes, 2)
      assert.equal(q.maxBytes, undefined)
      assert.equal(q.nodes, 2)
      assert.equal(q.bytes, 3)
      await c.clearQuota(p)
      await c.create(`${p}/b`)
      await assert.rejects(c.getQuota(p), coord.NoNodeError)
    } finally {
      await c.close()
    }
  })

  await t.test('lockInfo shows holders and waiters', async () => {
    const c = await connect(server)
    const other = await connect(server)
    try {
      const p = uniquePath('lock')
      await assert.rejects(c.lockInfo(p), coord.NoNodeError)
      const held = await c.lock(p)
      await other.create(`${p}/w1__lock__`, undefined, { ephemeral: true, sequential: true })
      const info = await c.lockInfo(p)
      assert.equal(info.path, p)
      assert.equal(info.holders.length, 1)
      const h = info.holders[0]
      assert.equal(h.token, held.token)
      assert.equal(h.kind, 'exclusive')
      assert.equal(h.session, c.sessionId)
      assert.ok(h.sinceMs > 0 && h.node.includes('__lock__') && h.owner.length > 0)
      assert.deepEqual(info.waiters.map((w) => [w.owner, w.session]), [['w1', other.sessionId]])
      await held.release()
      const rw = uniquePath('rw')
      const reader = await c.rwlock(rw).read()
      const shared = await c.lockInfo(rw)
      assert.deepEqual(shared.holders.map((x) => x.kind), ['shared'])
      await reader.release()
    } finally {
      await other.close()
      await c.close()
    }
  })
})
