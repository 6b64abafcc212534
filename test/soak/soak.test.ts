import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { announce, FUZZ_SEED } from "../fuzz/seed.js"
import { problems } from "./run.js"
import { handleKinds, runSoak } from "./soak.js"

announce("soak")

// The CI-sized soak: 5 000 operations per transport under injected faults
// (`npm run soak` runs 100 000).
describe("soak (5 000 operations under faults)", () => {
  for (const transport of ["simulated", "tcp"] as const) {
    it.live(
      `${transport}: every operation ends once and in time, no acknowledged write is lost, nothing leaks`,
      () =>
        Effect.gen(function* () {
          const report = yield* runSoak({ seed: FUZZ_SEED, operations: 5000, transport })
          console.log(JSON.stringify(report), JSON.stringify(handleKinds()))
          expect(problems(report)).toEqual([])
          expect(report.operations).toBeGreaterThanOrEqual(5000)
          expect(report.succeeded).toBeGreaterThan(report.operations / 2)
          expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
        }),
      120_000
    )
  }
})
