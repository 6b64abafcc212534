/**
 * What one embedded node serves next to memcached (`-t 1`: one thread each): the raw
 * pipelined client at 256 in flight, gets and sets of 100-byte values over 1000 keys,
 * against Debian's memcached and against the embedded cluster in a child process,
 * interleaved rounds with medians (`server-get`, `server-set`).
 */
import { Effect, Redacted } from "effect"
import { childCluster } from "./embeddedBench.js"
import { callbacks, compare, OPS, ratio, report } from "./measure.js"
import { startMemcached } from "./memcachedBench.js"
import { connectRaw, type RawClient } from "./rawClient.js"

const KEYS = 1000
const CONCURRENCY = 256

/** See the module documentation. */
export const serverBench = Effect.gen(function* () {
  const port = yield* startMemcached
  if (port === undefined) return
  const target = yield* childCluster
  const kv = new URL(target.connectionString.replace(/^couchbase:/, "http:"))
  const connect = (host: string, p: number) =>
    Effect.acquireRelease(
      Effect.promise(() => connectRaw(host, p)),
      (client) => Effect.sync(() => client.close())
    )
  const memcached = yield* connect("127.0.0.1", port)
  const embedded = yield* connect(kv.hostname, Number(kv.port))
  yield* Effect.promise(() => embedded.login(target.username, Redacted.value(target.password), "default"))

  const keys = Array.from({ length: KEYS }, (_, i) => Buffer.from(`k${i}`))
  const value = Buffer.alloc(100, 0x78)
  const set = (client: RawClient) =>
    callbacks((i, done) => client.set(keys[i % KEYS]!, value, (status) => (status === 0 ? done() : process.exit(4))))
  const get = (client: RawClient) =>
    callbacks((i, done) => client.get(keys[i % KEYS]!, (status) => (status === 0 ? done() : process.exit(5))))
  // Sets first: they also store the keys the gets read.
  for (const [bench, loop] of [
    ["server-set", set],
    ["server-get", get]
  ] as const) {
    const rates = yield* compare(
      [
        ["memcached", loop(memcached)],
        ["embedded-node", loop(embedded)]
      ],
      OPS,
      CONCURRENCY
    )
    for (const [client, rate] of rates) {
      report({
        bench,
        client,
        concurrency: CONCURRENCY,
        opsPerSec: Math.round(rate),
        vsMemcached: ratio(rate, rates.get("memcached"))
      })
    }
  }
})
