// effect-couchbase from plain JavaScript that knows nothing of Effect: open a
// connection, run key/value operations with callbacks and with Promises, stream a view
// into an AsyncViewBase subclass whose asynchronous onRows holds the next rows back
// until it is done with the last ones, and close.
//
// It talks to the cluster named by COUCHBASE_CONNECTION_STRING (with COUCHBASE_USERNAME
// and COUCHBASE_PASSWORD), whose beer-sample bucket it reads; without one it starts
// `effect-couchbase server --sample beer-sample` for itself.
//
// Run: node examples/plain-javascript.mjs
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { AsyncConnection, toPromiseConnection } from "effect-couchbase/AsyncResult"
import { AsyncViewBase } from "effect-couchbase/AsyncViewBase"

/** The cluster to use: from the environment, or a server of our own. */
const cluster = async () => {
  if (process.env.COUCHBASE_CONNECTION_STRING !== undefined) {
    return {
      connectionString: process.env.COUCHBASE_CONNECTION_STRING,
      username: process.env.COUCHBASE_USERNAME,
      password: process.env.COUCHBASE_PASSWORD,
      stop: () => {}
    }
  }
  const pkg = createRequire(import.meta.url).resolve("effect-couchbase/package.json")
  const bin = join(dirname(pkg), "dist/esm/cli/main.js")
  const server = spawn(process.execPath, [bin, "server", "--sample", "beer-sample"], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const ready = await new Promise((resolve, reject) => {
    createInterface({ input: server.stdout }).once("line", (line) => resolve(JSON.parse(line)))
    server.once("exit", (code) => reject(new Error(`the server exited with ${code} before it was ready`)))
  })
  return { ...ready, stop: () => server.kill() }
}

/** Collects a view's rows, slowly: each batch takes a while, and the next waits for it. */
class SlowCollector extends AsyncViewBase {
  rows = []
  batches = 0
  busy = 0
  mostAtOnce = 0

  constructor(view, design, viewName, params) {
    super(view, design, viewName, params)
    this.rowsPerCall = 250
    this.finished = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  async onRows(rows) {
    this.busy++
    this.mostAtOnce = Math.max(this.mostAtOnce, this.busy)
    await new Promise((resolve) => setTimeout(resolve, 5))
    this.rows.push(...rows)
    this.batches++
    this.busy--
  }

  onError(error) {
    this.reject(error)
  }

  onDone() {
    this.resolve()
  }
}

const server = await cluster()
try {
  const cb = await AsyncConnection.connect({
    connectionString: `${server.connectionString}/beer-sample`,
    username: server.username,
    // A plain string: connect wraps it at once, so that it never shows in a log.
    password: server.password
  })

  // Callbacks, as the Python SDK's asynchronous API.
  const stored = await new Promise((resolve, reject) => {
    cb.upsert("plain-js", { hello: "world" }).setCallbacks(resolve, (_asyncResult, error) => reject(error))
  })
  console.log(`upsert: cas ${stored.cas}`)
  await new Promise((resolve) => {
    cb.get("no-such-key").setCallbacks(
      () => assert.fail("the key does not exist"),
      (asyncResult, error) => {
        console.log(`${asyncResult.operation}: ${error.name}`)
        assert.equal(error.name, "NotFoundError")
        resolve()
      }
    )
  })

  // Promises.
  const db = toPromiseConnection(cb)
  assert.deepEqual((await db.get("plain-js")).value, { hello: "world" })
  const counted = await db.counter("plain-js-counter", { delta: 5, initial: 10 })
  console.log(`counter: ${counted.value}`)
  await assert.rejects(db.insert("plain-js", 1), { name: "KeyExistsError" })

  // A view, with back-pressure: never two onRows at once.
  const query = cb.query("beer", "brewery_beers", { limit: 2000 }, SlowCollector).start()
  await query.finished
  console.log(`view: ${query.rows.length} rows in ${query.batches} batches, at most ${query.mostAtOnce} at once`)
  assert.equal(query.rows.length, 2000)
  assert.equal(query.batches, 8)
  assert.equal(query.mostAtOnce, 1)
  assert.equal(query.totalRows, 7303)
  assert.throws(() => cb.query("beer", "brewery_beers", {}, class NotAView {}), { name: "ArgumentError" })

  await cb.close()
  await assert.rejects(db.get("plain-js"), { name: "NetworkError" })
  console.log("closed")
} finally {
  server.stop()
}
