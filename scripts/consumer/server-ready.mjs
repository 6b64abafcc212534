// The command line from the installed package:
// 1. `npx effect-couchbase server`: waits for its ready line and checks it, then stops
//    it as Ctrl-C in a terminal does (SIGINT to the whole process group: npx and the
//    server under it) and checks that its ports are closed.
// 2. The installed bin itself (node_modules/.bin/effect-couchbase): SIGTERM ends it
//    with status 0.
// Prints how long each took to print its ready line.
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { connect } from "node:net"
import { createInterface } from "node:readline"

const start = async (command, args) => {
  const started = performance.now()
  // Its own process group, so that a signal reaches everything under it.
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"], detached: true })
  // Whatever happens below, leave no server behind.
  process.on("exit", () => {
    try {
      process.kill(-child.pid, "SIGKILL")
    } catch {}
  })
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
  const line = await Promise.race([
    new Promise((resolve) => createInterface({ input: child.stdout }).once("line", resolve)),
    exited.then(({ code }) => assert.fail(`${command} exited with ${code} before its ready line`)),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${command}: no ready line within 30 s`)), 30_000))
  ])
  const ready = JSON.parse(line)
  assert.match(ready.connectionString, /^couchbase:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/)
  assert.equal(ready.nodes.length, 2)
  assert.equal(ready.username, "Administrator")
  return { child, ready, exited, readyMs: performance.now() - started }
}

const refused = (port) =>
  new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", () => resolve(true))
  })

const viaNpx = await start("npx", ["--no-install", "effect-couchbase", "server", "--nodes", "2"])
process.kill(-viaNpx.child.pid, "SIGINT")
await viaNpx.exited
for (const node of viaNpx.ready.nodes) {
  for (const port of [node.kv, node.capi, node.mgmt]) assert.ok(await refused(port), `port ${port} still open`)
}
console.log(`npx effect-couchbase server: ready line after ${viaNpx.readyMs.toFixed(0)} ms; ports closed on SIGINT`)

const direct = await start("node_modules/.bin/effect-couchbase", ["server", "--nodes", "2"])
direct.child.kill("SIGTERM")
assert.deepEqual(await direct.exited, { code: 0, signal: null })
console.log(
  `node_modules/.bin/effect-couchbase server: ready line after ${direct.readyMs.toFixed(0)} ms; status 0 on SIGTERM`
)
