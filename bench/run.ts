/**
 * `npm run bench` (and `npm run bench:quick`): our client next to its references,
 * every ratio measured within one run (interleaved rounds, medians; see `measure.ts`).
 *
 * - `memcached-*` (`memcachedBench.ts`): gets against Debian's memcached at 1, 16 and
 *   256 in flight next to a raw pipelined client, `Effect.async` around it, and memjs;
 *   bytes allocated per get; getMulti(1000) against a raw GETQ pipeline.
 * - `embedded-*` (`embeddedBench.ts`): get and upsert against the embedded cluster
 *   next to the official `couchbase` SDK.
 * - `server-*` (`serverBench.ts`): what one embedded node serves to a raw pipelined
 *   client, next to memcached.
 * - `views-*` (`viewsBench.ts`): beer-sample's brewery_beers as a Stream next to the
 *   SDK's viewQuery (rows per second, time to the first row); 40 000 rows of 1.5 KB
 *   streamed under a 64 MB heap.
 *
 * Environment: `BENCH_ONLY=memcached|embedded|server|views` (one section), `BENCH_OPS`,
 * `BENCH_ROUNDS`, `BENCH_CONCURRENCY` (embedded), `BENCH_SERVER=child|in-process|both`,
 * `BENCH_SDK=0`, `BENCH_QUICK=1` (fewer operations and rounds), `BENCH_JSON=1` (JSON
 * lines instead of tables).
 *
 * Numbers on a shared 2-core machine are noisy: compare clients within one run.
 */
import { Effect } from "effect"
import { Iops } from "effect-couchbase"
import { embeddedBench } from "./embeddedBench.js"
import { printReport } from "./measure.js"
import { memcachedBench } from "./memcachedBench.js"
import { serverBench } from "./serverBench.js"
import { viewsBench } from "./viewsBench.js"

const ONLY = process.env.BENCH_ONLY

Effect.runPromise(
  Effect.gen(function* () {
    const sections = { memcached: memcachedBench, embedded: embeddedBench, server: serverBench, views: viewsBench }
    for (const [name, section] of Object.entries(sections)) {
      if (ONLY !== undefined && ONLY !== name) continue
      yield* Effect.scoped(section)
      // Each section's tables as soon as it is done: the whole run takes minutes.
      printReport()
    }
  }).pipe(Effect.provide(Iops.layerNode()))
).then(
  () => process.exit(0),
  (e) => {
    printReport()
    console.error(e)
    process.exit(1)
  }
)
