const { Client } = require('coord')

async function main() {
  const client = await Client.connect() // servers: $COORD_SERVERS, else 127.0.0.1:2281
  await client.create('/app/config', 'v1', { makeParents: true })
  const lock = await client.lock('/app/lock', { timeoutMs: 5000 })
  console.log('lock held, fencing token', lock.token)
  await lock.release()
  const election = client.election('/app/leader', { identity: 'worker-1' })
  console.log('elected:', (await election.campaign({ timeoutMs: 5000 })).identity)
  await election.resign()
  const watch = client.watch('/app/config')
  await watch.ready
  await client.set('/app/config', 'v2')
  for await (const event of watch) { console.log('watch:', event.type, event.path); break }
  await client.close()
}
main()
