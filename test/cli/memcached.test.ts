/**
 * The command line against a real server of another make: Debian's memcached, through
 * a `memcached://` connection string (stores, gets, counters, touch, rm, stats), and
 * what memcached cannot do (locks) as one typed error line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startMemcached } from "../connection-core/memcached.js"
import { cli, jsonLines } from "./run.js"

describe("effect-couchbase against Debian's memcached", () => {
  it.live("upsert, get, counter, touch, rm and stats work; lock is refused with one line", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const run = (command: string, ...rest: ReadonlyArray<string>) =>
        cli([command, "-U", `memcached://${mc.address}`, ...rest])

      expect((yield* run("upsert", "mc:doc", '{"a":1}')).status).toBe(0)
      expect((yield* run("upsert", "mc:text", "hello")).status).toBe(0)
      const got = yield* run("get", "mc:doc", "mc:text")
      expect([got.status, got.stdout]).toEqual([0, '{"a":1}\nhello\n'])
      expect((yield* run("counter", "mc:n", "--initial", "7")).stdout).toBe("7\n")
      expect((yield* run("counter", "mc:n", "--delta", "3")).stdout).toBe("10\n")
      expect((yield* run("touch", "mc:doc", "--ttl", "100")).status).toBe(0)
      const removed = yield* run("rm", "mc:text")
      expect([removed.status, removed.stdout]).toEqual([0, "removed mc:text\n"])
      const gone = yield* run("get", "mc:text")
      expect([gone.status, gone.stderr]).toEqual([
        1,
        'effect-couchbase: get mc:text: NotFoundError: the key does not exist (key: "mc:text")\n'
      ])

      const stats = jsonLines((yield* run("stats", "--json")).stdout)
      expect(stats.map((s) => s.node)).toEqual([mc.address])
      expect(Number((stats[0]!.stats as Record<string, unknown>).curr_items)).toBe(2)

      const lock = yield* run("lock", "mc:doc", "--ttl", "5")
      expect(lock.status).toBe(1)
      expect(lock.stderr).toMatch(/^effect-couchbase: lock mc:doc: \w+Error: [^\n]+\n$/)
    }).pipe(Effect.scoped)
  )
})
