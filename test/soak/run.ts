/**
 * `npm run soak`: the soak of `soak.ts` on the simulated network and over TCP, 100 000
 * operations each by default (`SOAK_OPERATIONS`, `SOAK_SEED`, `SOAK_TRANSPORT=simulated|tcp`).
 * Prints one JSON report per transport and exits non-zero when a check fails.
 */
import { Effect } from "effect"
import { runSoak, SLOWEST_ALLOWED_MS, type SoakReport } from "./soak.js"

const seed = Number(process.env.SOAK_SEED ?? Date.now() % 2 ** 31)
const operations = Number(process.env.SOAK_OPERATIONS ?? 100_000)
const transports = (process.env.SOAK_TRANSPORT?.split(",") ?? ["simulated", "tcp"]) as Array<SoakReport["transport"]>
console.log(`soak seed ${seed} (replay with SOAK_SEED=${seed}), ${operations} operations per transport`)

/** What is wrong with a report, if anything. */
export const problems = (r: SoakReport): Array<string> => {
  const out: Array<string> = []
  if (r.duplicates > 0) out.push(`${r.duplicates} operations ended more than once`)
  if (r.unfinished > 0) out.push(`${r.unfinished} operations never ended`)
  if (r.lostWrites > 0) out.push(`${r.lostWrites} reads missed an acknowledged write`)
  if (r.unreadable > 0) out.push(`${r.unreadable} keys could not be read back after the faults`)
  if (r.slowestMillis > SLOWEST_ALLOWED_MS) out.push(`an operation took ${r.slowestMillis} ms`)
  for (const tag of Object.keys(r.failed)) if (tag.startsWith("UNEXPECTED")) out.push(tag)
  if (r.handlesAfter > r.handlesBefore) out.push(`${r.handlesAfter - r.handlesBefore} handles left open`)
  if (r.heapAfterMB > r.heapBeforeMB + 20) out.push(`heap grew from ${r.heapBeforeMB} to ${r.heapAfterMB} MB`)
  return out
}

const main = Effect.gen(function* () {
  let failures = 0
  for (const transport of transports) {
    const report = yield* runSoak({ seed, operations, transport })
    const wrong = problems(report)
    console.log(JSON.stringify({ ...report, problems: wrong }))
    failures += wrong.length
  }
  return failures
})

// Only when run directly (the test imports `problems`).
if (process.argv[1]?.endsWith("run.ts")) {
  Effect.runPromise(main).then(
    (failures) => process.exit(failures === 0 ? 0 : 1),
    (e) => {
      console.error(e)
      process.exit(2)
    }
  )
}
