/**
 * The key/value commands against an embedded cluster, run in-process as the bin runs
 * them: what they print (text and --json), their exit status, and what the cluster
 * holds afterwards (read back with the library).
 */
import { expect, layer } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"
import { FMT_BYTES, FMT_UTF8 } from "../../src/Transcoder.js"
import { cli, flagsFor, jsonLines } from "./run.js"

/** The cluster and a library connection to check what the commands did. */
const setup = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.EmbeddedCluster
  const cb = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  }).pipe(Effect.provide(Iops.layerNode()))
  const run = (...args: ReadonlyArray<string>) => {
    const [command, ...rest] = args
    return cli([command!, ...flagsFor(cluster, "default"), ...rest])
  }
  const runWith = (stdin: string, ...args: ReadonlyArray<string>) => {
    const [command, ...rest] = args
    return cli([command!, ...flagsFor(cluster, "default"), ...rest], { stdin })
  }
  return { cluster, cb, run, runWith }
})

layer(EmbeddedCluster.layer({ nodes: 2, replicas: 1 }))("effect-couchbase key/value commands", (it) => {
  it.scoped("get and cat print JSON as JSON, text as text, bytes as bytes; --json gives key, cas, flags, value", () =>
    Effect.gen(function* () {
      const { cb, run } = yield* setup
      const json = yield* cb.upsert("get:json", { name: "Ada", langs: ["en"] })
      yield* cb.upsert("get:text", "plain words", { format: FMT_UTF8 })
      yield* cb.upsert("get:bytes", new Uint8Array([0, 255, 10, 1]), { format: FMT_BYTES })

      const text = yield* run("get", "get:json", "get:text")
      expect([text.status, text.stdout, text.stderr]).toEqual([0, '{"name":"Ada","langs":["en"]}\nplain words\n', ""])
      const bytes = yield* run("cat", "get:bytes")
      expect([bytes.status, [...bytes.stdoutBytes]]).toEqual([0, [0, 255, 10, 1]])

      const lines = yield* run("get", "--json", "get:json", "get:bytes")
      expect(lines.status).toBe(0)
      expect(jsonLines(lines.stdout)).toEqual([
        { key: "get:json", cas: String(json.cas), flags: 0x02000000, value: { name: "Ada", langs: ["en"] } },
        {
          key: "get:bytes",
          cas: expect.any(String),
          flags: FMT_BYTES,
          value: Buffer.from([0, 255, 10, 1]).toString("base64"),
          encoding: "base64"
        }
      ])
    })
  )

  it.scoped("a missing key among several: the others are printed, one error line for it, status 1", () =>
    Effect.gen(function* () {
      const { cb, run } = yield* setup
      yield* cb.upsert("miss:a", 1)
      yield* cb.upsert("miss:c", 3)
      const result = yield* run("get", "miss:a", "miss:b", "miss:c")
      expect(result.status).toBe(1)
      expect(result.stdout).toBe("1\n3\n")
      expect(result.stderr).toBe(
        'effect-couchbase: get miss:b: NotFoundError: the key does not exist (key: "miss:b")\n'
      )
    })
  )

  it.scoped("upsert and create store from the argument or stdin, as JSON when it parses, else text", () =>
    Effect.gen(function* () {
      const { cb, run, runWith } = yield* setup
      const stored = yield* run("upsert", "up:json", '{"a":[1,2]}')
      expect(stored.status).toBe(0)
      const doc = yield* cb.get("up:json")
      expect(doc.value).toEqual({ a: [1, 2] })
      expect(stored.stdout).toBe(`stored up:json cas ${doc.cas}\n`)

      const piped = yield* runWith("from stdin\n", "create", "up:stdin", "--json")
      expect(piped.status).toBe(0)
      const text = yield* cb.get("up:stdin")
      expect([text.value, text.flags]).toEqual(["from stdin\n", FMT_UTF8])
      expect(jsonLines(piped.stdout)).toEqual([{ key: "up:stdin", cas: String(text.cas) }])

      expect((yield* runWith("raw", "upsert", "up:bytes", "-", "--format", "bytes")).status).toBe(0)
      expect([...((yield* cb.get("up:bytes")).value as Uint8Array)]).toEqual([...Buffer.from("raw")])
      expect((yield* run("upsert", "up:str", "42", "--format", "utf8")).status).toBe(0)
      expect((yield* cb.get("up:str")).value).toBe("42")
      expect((yield* run("upsert", "up:ttl", "1", "--ttl", "1")).status).toBe(0)
      expect((yield* cb.get("up:ttl")).value).toBe(1)
    })
  )

  it.scoped("create --mode: insert refuses an existing key, replace a missing one; append; a stale --cas fails", () =>
    Effect.gen(function* () {
      const { cb, run } = yield* setup
      expect((yield* run("create", "mode:k", "first", "--mode", "insert")).status).toBe(0)
      const again = yield* run("create", "mode:k", "second", "-M", "insert")
      expect(again.status).toBe(1)
      expect(again.stderr).toMatch(/^effect-couchbase: KeyExistsError: .*\n$/)
      expect((yield* cb.get("mode:k")).value).toBe("first")

      const missing = yield* run("create", "mode:none", "x", "--mode", "replace")
      expect([missing.status, missing.stderr]).toEqual([
        1,
        expect.stringMatching(/^effect-couchbase: NotFoundError: .*\n$/)
      ])

      expect((yield* run("upsert", "mode:k", "-more", "--mode", "append")).status).toBe(0)
      expect((yield* cb.get("mode:k")).value).toBe("first-more")

      const current = yield* cb.get("mode:k")
      const stale = yield* run("upsert", "mode:k", "new", "--cas", String(current.cas + 1n))
      expect(stale.status).toBe(1)
      expect(stale.stderr).toMatch(/^effect-couchbase: KeyExistsError: /)
      expect((yield* run("upsert", "mode:k", "new", "--cas", String(current.cas))).status).toBe(0)
      expect((yield* cb.get("mode:k")).value).toBe("new")
    })
  )

  it.scoped("rm removes, and says so for a key that is not there", () =>
    Effect.gen(function* () {
      const { cb, run } = yield* setup
      yield* cb.upsert("rm:a", 1)
      const removed = yield* run("rm", "rm:a", "--json")
      expect([removed.status, jsonLines(removed.stdout).map((l) => l.key)]).toEqual([0, ["rm:a"]])
      expect((yield* cb.get("rm:a", { quiet: true })).success).toBe(false)
      const again = yield* run("rm", "rm:a")
      expect([again.status, again.stdout, again.stderr]).toEqual([
        1,
        "",
        'effect-couchbase: rm rm:a: NotFoundError: the key does not exist (key: "rm:a")\n'
      ])
    })
  )

  it.scoped("counter: an initial value, negative deltas, --json; a missing counter without --initial fails", () =>
    Effect.gen(function* () {
      const { cb, run } = yield* setup
      expect((yield* run("counter", "ctr:a", "--initial", "10")).stdout).toBe("10\n")
      expect((yield* run("counter", "ctr:a", "--delta", "5")).stdout).toBe("15\n")
      const down = yield* run("counter", "ctr:a", "--delta", "-20", "--json")
      expect(jsonLines(down.stdout)).toEqual([{ key: "ctr:a", value: "0", cas: expect.any(String) }])
      expect((yield* cb.get("ctr:a")).value).toBe(0)
      const none = yield* run("counter", "ctr:none")
      expect([none.status, none.stderr]).toEqual([
        1,
        expect.stringMatching(/^effect-couchbase: counter ctr:none: NotFoundError/)
      ])
      const bad = yield* run("counter", "ctr:a", "--delta", "1.5")
      expect([bad.status, bad.stderr]).toEqual([
        2,
        'effect-couchbase: --delta takes an integer, got "1.5" (see --help)\n'
      ])
    })
  )

  it.scoped("touch sets an expiry that the document then meets", () =>
    Effect.gen(function* () {
      const { cb, run } = yield* setup
      yield* cb.upsert("touch:a", "x", { format: FMT_UTF8 })
      const touched = yield* run("touch", "touch:a", "--ttl", "1")
      expect([touched.status, touched.stdout]).toEqual([0, "touched touch:a\n"])
      expect((yield* cb.get("touch:a")).value).toBe("x")
      // The cluster's clock is the test's (the layer is built under TestClock).
      yield* TestClock.adjust("2 seconds")
      expect((yield* cb.get("touch:a", { quiet: true })).success).toBe(false)
      const missing = yield* run("touch", "touch:none", "--ttl", "5")
      expect(missing.status).toBe(1)
      const noTtl = yield* run("touch", "touch:a")
      expect([noTtl.status, noTtl.stderr]).toEqual([
        2,
        expect.stringMatching(/^effect-couchbase: .*--ttl.* \(see --help\)\n$/)
      ])
    })
  )

  it.scoped("lock prints the CAS that unlock takes; writes wait until then", () =>
    Effect.gen(function* () {
      const { cb, run } = yield* setup
      yield* cb.upsert("lock:a", { v: 1 })
      const locked = yield* run("lock", "lock:a", "--ttl", "15", "--json")
      expect(locked.status).toBe(0)
      const [line] = jsonLines(locked.stdout)
      expect(line).toEqual({ key: "lock:a", cas: expect.stringMatching(/^\d+$/), value: { v: 1 } })
      const blocked = yield* run("upsert", "lock:a", "2")
      expect(blocked.status).toBe(1)

      const wrong = yield* run("unlock", "lock:a", "12345")
      expect(wrong.status).toBe(1)
      const unlocked = yield* run("unlock", "lock:a", String(line!.cas))
      expect([unlocked.status, unlocked.stdout]).toEqual([0, "unlocked lock:a\n"])
      expect((yield* run("upsert", "lock:a", "2")).status).toBe(0)
      expect((yield* cb.get("lock:a")).value).toBe(2)

      const text = yield* run("lock", "lock:a", "--ttl", "5")
      expect(text.stdout).toMatch(/^locked lock:a cas \d+ \(unlock with it\)\n$/)
      const tooLong = yield* run("lock", "lock:a", "--ttl", "31")
      expect([tooLong.status, tooLong.stderr]).toEqual([
        2,
        'effect-couchbase: --ttl takes a whole number from 1 to 30, got "31" (see --help)\n'
      ])
    })
  )

  it.scoped("append takes the text as typed; stdin: empty is an empty value, a terminal is refused", () =>
    Effect.gen(function* () {
      const { cb, cluster, run, runWith } = yield* setup
      yield* cb.upsert("raw:a", "price", { format: FMT_UTF8 })
      expect((yield* run("upsert", "raw:a", " 1.50", "--mode", "append")).status).toBe(0)
      expect((yield* run("upsert", "raw:a", '"q" ', "--mode", "prepend")).status).toBe(0)
      expect((yield* cb.get("raw:a")).value).toBe('"q" price 1.50')

      expect((yield* runWith("", "upsert", "raw:empty")).status).toBe(0)
      expect((yield* cb.get("raw:empty")).value).toBe("")
      const terminal = yield* cli(["upsert", ...flagsFor(cluster, "default"), "raw:tty"], { stdinTTY: true })
      expect([terminal.status, terminal.stderr]).toEqual([
        2,
        "effect-couchbase: upsert: give the value as an argument, or pipe it in (stdin is a terminal)\n"
      ])
      const insertCas = yield* cli(
        ["create", ...flagsFor(cluster, "default"), "raw:x", "--mode", "insert", "--cas", "1"],
        {
          stdinTTY: true
        }
      )
      expect([insertCas.status, insertCas.stderr]).toEqual([
        2,
        "effect-couchbase: create: --cas goes with --mode upsert, replace, append or prepend\n"
      ])
    })
  )

  it.scoped("counters past 2^53 and CAS values are exact decimal strings in --json", () =>
    Effect.gen(function* () {
      const { run } = yield* setup
      const big = yield* run("counter", "big:n", "--initial", "9007199254740993", "--json")
      expect(jsonLines(big.stdout)).toEqual([
        { key: "big:n", value: "9007199254740993", cas: expect.stringMatching(/^\d+$/) }
      ])
      const more = yield* run("counter", "big:n", "--delta", "2")
      expect(more.stdout).toBe("9007199254740995\n")
      const tooBig = yield* run("rm", "big:n", "--cas", "18446744073709551616")
      expect([tooBig.status, tooBig.stderr]).toEqual([
        2,
        'effect-couchbase: --cas takes a decimal CAS, got "18446744073709551616" (see --help)\n'
      ])
    })
  )

  it.scoped("a password never shows: not attached to -P, not after a mistyped option, not in an auth error", () =>
    Effect.gen(function* () {
      const { cb, cluster } = yield* setup
      yield* cb.upsert("pw:a", 1)
      const address = `${cluster.connectionString}/default`
      const attached = yield* cli(["get", "pw:a", "-U", address, `-u${cluster.username}`, "-Ppassword"])
      expect([attached.status, attached.stdout]).toEqual([0, "1\n"])
      const wrong = yield* cli(["get", "pw:a", "-U", address, "-u", cluster.username, "-Psecret-xyz"])
      expect(wrong.status).toBe(1)
      expect(wrong.stderr).toMatch(/^effect-couchbase: AuthError: [^\n]+\n$/)
      const typo = yield* cli(["get", "pw:a", "-U", address, "--pasword=secret-xyz"])
      expect([typo.status, typo.stderr]).toEqual([2, "effect-couchbase: unknown option --pasword (see --help)\n"])
      const stray = yield* cli(["get", "-Zsecret-xyz", "-U", address])
      expect([stray.status, stray.stderr]).toEqual([2, "effect-couchbase: unknown option -Z… (see --help)\n"])
      for (const r of [attached, wrong, typo, stray]) expect(`${r.stdout}${r.stderr}`).not.toContain("secret-xyz")
    })
  )

  it.scoped("what was typed wrong is one line and status 2; a cluster that is not there, one line and status 1", () =>
    Effect.gen(function* () {
      const { run } = yield* setup
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["get"], "effect-couchbase: Missing argument <key> (see --help)\n"],
        [["upsert", "k", "{", "--format", "json"], "effect-couchbase: --format json: the value is not JSON\n"],
        [
          ["unlock", "k", "abc"],
          'effect-couchbase: <cas> is the decimal CAS that lock printed, got "abc" (see --help)\n'
        ]
      ]
      for (const [args, message] of cases) {
        const result = yield* run(...args)
        expect([result.status, result.stdout, result.stderr]).toEqual([2, "", message])
      }
      const unknown = yield* cli(["fetch", "k"])
      expect(unknown.status).toBe(2)
      expect(unknown.stderr).toMatch(
        /^effect-couchbase: Invalid subcommand for effect-couchbase - use one of 'get', 'cat', .*\n$/
      )

      const nobody = yield* cli(["get", "k", "-U", "couchbase://127.0.0.1:1/default"])
      expect(nobody.status).toBe(1)
      expect(nobody.stderr).toMatch(/^effect-couchbase: ConnectError: .*127\.0\.0\.1:1.*\n$/)
      expect(nobody.stderr.split("\n")).toHaveLength(2)
    })
  )
})
