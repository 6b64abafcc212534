/**
 * `effect-couchbase server`: starts, prints one JSON line with the connection details,
 * serves KV with those credentials, and exits with status 0 on SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as net from "node:net"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import * as couchbase from "couchbase"
import { Effect, Redacted } from "effect"
import * as Connection from "../../src/Connection.js"
import { parseBucket } from "../../src/cli/internal/server.js"
import * as Iops from "../../src/Iops.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"
import { Opcode, Status } from "../../src/internal/protocol/constants.js"
import { FMT_UTF8 } from "../../src/Transcoder.js"
import { rawClient, setExtras } from "./support/rawClient.js"

interface Ready {
  readonly connectionString: string
  readonly secureConnectionString?: string
  readonly username: string
  readonly password: string
  readonly nodes: ReadonlyArray<{
    readonly kv: number
    readonly capi: number
    readonly mgmt: number
    readonly kvSSL?: number
  }>
  readonly buckets: ReadonlyArray<{
    readonly name: string
    readonly type: string
    readonly memcached?: string
    readonly collections?: ReadonlyArray<string>
  }>
}

/**
 * How the CLI runs from the sources: node itself, with tsx as a loader. (The `tsx`
 * command runs the script in a child process of its own, which a SIGKILL of the
 * command leaves running: each test run left an orphaned server behind.)
 */
const TSX = ["--import", "tsx"]

/** Spawns the CLI; the process is killed with the scope if the test did not end it. */
const startServer = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly ready: Ready }, Error>((resume) => {
      const child = spawn(process.execPath, [...TSX, "src/cli/main.ts", "server", ...args], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString()
      })
      const lines = createInterface({ input: child.stdout! })
      lines.once("line", (line) => resume(Effect.succeed({ child, ready: JSON.parse(line) as Ready })))
      child.once("exit", (code) => resume(Effect.fail(new Error(`the server exited with ${code}: ${stderr}`))))
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

/** A port that was free a moment ago. */
const freePort = Effect.async<number>((resume) => {
  const probe = net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as net.AddressInfo
    probe.close(() => resume(Effect.succeed(port)))
  })
})

const exitOf = (child: ChildProcess) =>
  Effect.async<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>((resume) => {
    if (child.exitCode !== null) return resume(Effect.succeed({ code: child.exitCode, signal: null }))
    child.once("exit", (code, signal) => resume(Effect.succeed({ code, signal })))
  })

describe("effect-couchbase server", () => {
  it.scopedLive(
    "prints the connection details, serves them, and exits cleanly on SIGTERM",
    () =>
      Effect.gen(function* () {
        const { child, ready } = yield* startServer([
          "--nodes",
          "2",
          "--bucket",
          "default",
          "--bucket",
          "cache:memcached"
        ])
        expect(ready.username).toBe("Administrator")
        expect(ready.password).toBe("password")
        expect(ready.nodes.length).toBe(2)
        expect(ready.connectionString).toBe(`couchbase://${ready.nodes.map((n) => `127.0.0.1:${n.kv}`).join(",")}`)
        for (const node of ready.nodes) {
          expect(new Set([node.kv, node.capi, node.mgmt]).size).toBe(3)
        }
        expect(ready.buckets.map((b) => [b.name, b.type])).toEqual([
          ["default", "couchbase"],
          ["cache", "memcached"]
        ])
        expect(ready.buckets[1]!.memcached).toMatch(/^memcached:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/)

        const key = "cli-key"
        const master = ready.nodes[vbucketOf(key, 1024) % 2]!
        const client = yield* rawClient(master.kv)
        expect(yield* Effect.promise(() => client.authScram(ready.username, ready.password))).toBe(Status.Success)
        expect(yield* Effect.promise(() => client.selectBucket("default"))).toBe(Status.Success)
        const stored = yield* Effect.promise(() =>
          client.request({
            opcode: Opcode.Set,
            key: Buffer.from(key),
            vbucket: vbucketOf(key, 1024),
            extras: setExtras(0, 0),
            value: Buffer.from("from the CLI test")
          })
        )
        expect(stored.status).toBe(Status.Success)
        const read = yield* Effect.promise(() =>
          client.request({ opcode: Opcode.Get, key: Buffer.from(key), vbucket: vbucketOf(key, 1024) })
        )
        expect(read.value.toString()).toBe("from the CLI test")

        child.kill("SIGTERM")
        const exit = yield* exitOf(child)
        expect(exit).toEqual({ code: 0, signal: null })
        yield* Effect.promise(() => client.closed)
      }),
    60_000
  )

  it.scopedLive(
    "takes the user, password and first KV port from its options",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const { child, ready } = yield* startServer([
          "--user",
          "admin",
          "--password",
          "s3cret",
          "--replicas",
          "0",
          "--port",
          String(port)
        ])
        expect([ready.username, ready.password, ready.nodes.length, ready.nodes[0]!.kv]).toEqual([
          "admin",
          "s3cret",
          1,
          port
        ])
        expect(ready.connectionString).toBe(`couchbase://127.0.0.1:${port}`)
        const client = yield* rawClient(ready.nodes[0]!.kv)
        expect(yield* Effect.promise(() => client.authPlain("admin", "s3cret"))).toBe(Status.Success)
        child.kill("SIGINT")
        expect((yield* exitOf(child)).code).toBe(0)
      }),
    60_000
  )

  it.scopedLive(
    "creates scopes and collections from --collection; the official SDK works in them, range scans included",
    () =>
      Effect.gen(function* () {
        const { child, ready } = yield* startServer([
          "--bucket",
          "app",
          "--collection",
          "inventory.items",
          "--collection",
          "app:audit"
        ])
        expect(ready.buckets).toEqual([{ name: "app", type: "couchbase", collections: ["inventory.items", "audit"] }])
        const sdk = yield* Effect.acquireRelease(
          Effect.promise(() =>
            couchbase.connect(ready.connectionString, { username: ready.username, password: ready.password })
          ),
          (sdk) => Effect.promise(() => sdk.close())
        )
        const bucket = sdk.bucket("app")
        const scopes = yield* Effect.promise(() => bucket.collections().getAllScopes())
        expect(scopes.map((s) => [s.name, s.collections.map((c) => c.name)]).sort()).toEqual([
          ["_default", ["_default"]],
          ["audit", []],
          ["inventory", ["items"]]
        ])
        const items = bucket.scope("inventory").collection("items")
        yield* Effect.promise(() => items.upsert("sku", { qty: 1 }))
        expect((yield* Effect.promise(() => items.get("sku"))).content).toEqual({ qty: 1 })
        // A range scan (the SDK's scan call blocks the JavaScript thread while it waits,
        // so it needs the cluster in another process, as here).
        const scanned = yield* Effect.promise(() => items.scan(new couchbase.RangeScan()))
        expect(scanned.map((r) => [r.id, r.content])).toEqual([["sku", { qty: 1 }]])
        child.kill("SIGTERM")
        expect((yield* exitOf(child)).code).toBe(0)
      }),
    60_000
  )

  it.scopedLive(
    "serves TLS with --tls-key/--tls-cert: our client connects over couchbases:// trusting the CA",
    () =>
      Effect.gen(function* () {
        const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url))
        const { child, ready } = yield* startServer([
          "--nodes",
          "2",
          "--tls-key",
          fixture("server-key.pem"),
          "--tls-cert",
          fixture("server-cert.pem")
        ])
        const kvSSL = ready.nodes.map((n) => n.kvSSL!)
        expect(kvSSL.every((p) => Number.isInteger(p) && p > 0)).toBe(true)
        expect(ready.secureConnectionString).toBe(`couchbases://${kvSSL.map((p) => `127.0.0.1:${p}`).join(",")}`)
        const cb: Connection.Connection.Service = yield* Connection.make({
          connectionString: `${ready.secureConnectionString}?certpath=${fixture("ca.pem")}`,
          username: ready.username,
          password: Redacted.make(ready.password)
        }).pipe(Effect.provide(Iops.layerNode()))
        yield* cb.upsert("over-tls", "secret", { format: FMT_UTF8 })
        expect((yield* cb.get("over-tls")).value).toBe("secret")
        child.kill("SIGTERM")
        expect((yield* exitOf(child)).code).toBe(0)
      }),
    60_000
  )

  /**
   * Runs the command to its end: status, stdout, stderr. With `interruptAfter`, sends
   * it SIGINT after that many milliseconds, or when that promise settles (once the
   * command is seen at work: a SIGINT before it has started would find no handler).
   */
  const run = (
    args: ReadonlyArray<string>,
    env: NodeJS.ProcessEnv = process.env,
    interruptAfter?: number | Promise<void>
  ) =>
    Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
      const child = spawn(process.execPath, [...TSX, "src/cli/main.ts", ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env
      })
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (d: Buffer) => {
        stdout += d.toString()
      })
      child.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString()
      })
      const timer =
        typeof interruptAfter === "number" ? setTimeout(() => child.kill("SIGINT"), interruptAfter) : undefined
      if (interruptAfter instanceof Promise) void interruptAfter.then(() => child.kill("SIGINT"))
      child.once("exit", (code) => {
        clearTimeout(timer)
        resume(Effect.succeed({ code, stdout, stderr }))
      })
    })

  it.live(
    "refuses what was typed wrong with one clear line and status 2, before starting anything",
    () =>
      Effect.gen(function* () {
        const key = fileURLToPath(new URL("../fixtures/tls/server-key.pem", import.meta.url))
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
          [["server", "--tls-key", key], "--tls-key and --tls-cert go together: give both or neither"],
          [["server", "--nodes", "two"], '--nodes takes a whole number, got "two" (see --help)'],
          [
            ["server", "--bucket", "x:ephemeral"],
            'invalid bucket type "ephemeral" in --bucket x:ephemeral: use couchbase or memcached'
          ],
          [
            ["server", "--sample", "travel-sample"],
            '--sample: unknown dataset "travel-sample"; the one shipped is beer-sample'
          ],
          [
            ["server", "--tls-key", "/nonexistent/key.pem", "--tls-cert", "/nonexistent/cert.pem"],
            "--tls-key: cannot read /nonexistent/key.pem (ENOENT)"
          ],
          [["server", "--nodes", "1.5"], '--nodes takes a whole number, got "1.5" (see --help)'],
          [["server", "--nodes", "-1"], '--nodes takes a whole number, got "-1" (see --help)'],
          [
            ["server", "--collection", "nope:s.c"],
            '--collection nope:s.c: no bucket "nope" (declare it with --bucket)'
          ],
          [["server", "--colour"], "Received unknown argument: '--colour' (see --help)"],
          [["server", "extra"], "Received unknown argument: 'extra' (see --help)"],
          [["quickstart", "now"], "Received unknown argument: 'now' (see --help)"],
          [
            ["serve"],
            `Invalid subcommand for effect-couchbase - use one of 'get', 'cat', 'upsert', 'create', 'rm', 'counter', 'touch', 'lock', 'unlock', 'view', 'ddoc', 'stats', 'ping', 'pillowfight', 'server', 'quickstart' (see --help)`
          ]
        ]
        const results = yield* Effect.forEach(cases, ([args]) => run(args), { concurrency: 2 })
        expect(results.map((r) => [r.code, r.stderr, r.stdout])).toEqual(
          cases.map(([, message]) => [2, `effect-couchbase: ${message}\n`, ""])
        )
      }),
    60_000
  )

  it.live(
    "reports a cluster that cannot start with one clear line and status 1",
    () =>
      Effect.gen(function* () {
        const [replicas, port] = yield* Effect.all(
          [run(["server", "--replicas", "9"]), run(["server", "--port", "70000"])],
          {
            concurrency: 2
          }
        )
        expect([replicas.code, replicas.stderr, replicas.stdout]).toEqual([
          1,
          "effect-couchbase: replicas must be an integer from 0 to 3, got 9\n",
          ""
        ])
        // Node's listen() would throw on it: the cluster refuses it first, as a typed failure.
        expect([port.code, port.stderr, port.stdout]).toEqual([
          1,
          "effect-couchbase: node 0: the kv port must be an integer from 0 to 65535 (0 = any free port), got 70000\n",
          ""
        ])
      }),
    60_000
  )

  it.live(
    "stops quietly with status 0 when the reader of its output goes away (quickstart | head -1)",
    () =>
      Effect.async<{ readonly code: number | null; readonly first: string; readonly stderr: string }>((resume) => {
        const child = spawn(process.execPath, [...TSX, "src/cli/main.ts", "quickstart"], {
          stdio: ["ignore", "pipe", "pipe"]
        })
        let first = ""
        let stderr = ""
        child.stderr!.on("data", (d: Buffer) => {
          stderr += d.toString()
        })
        // Read the first chunk, then close the pipe as `head -1` does.
        child.stdout!.once("data", (d: Buffer) => {
          first = d.toString()
          child.stdout!.destroy()
        })
        child.once("exit", (code) => resume(Effect.succeed({ code, first, stderr })))
      }).pipe(
        Effect.tap(({ code, first, stderr }) => {
          expect(first).toContain("Starting an embedded 3-node cluster")
          expect([code, stderr]).toEqual([0, ""])
        })
      ),
    60_000
  )

  it.live(
    "prints its help and version on stdout, without colours",
    () =>
      Effect.gen(function* () {
        const [root, bare, server, version] = yield* Effect.all(
          [run(["--help"]), run([]), run(["server", "--help"]), run(["--version"])],
          { concurrency: 2 }
        )
        expect([root.code, bare.code, server.code, version.code]).toEqual([0, 0, 0, 0])
        expect(bare.stdout).toBe(root.stdout)
        for (const command of ["get", "cat", "upsert", "create", "rm", "counter", "touch", "lock", "unlock"]) {
          expect(root.stdout).toMatch(new RegExp(`\\n {2}- ${command} `))
        }
        for (const command of ["view", "ddoc get", "ddoc put", "ddoc rm", "ddoc publish", "stats", "ping"]) {
          expect(root.stdout).toMatch(new RegExp(`\\n {2}- ${command} `))
        }
        for (const command of ["pillowfight", "server", "quickstart"]) {
          expect(root.stdout).toMatch(new RegExp(`\\n {2}- ${command}`))
        }
        for (const option of [
          "--nodes",
          "--replicas",
          "--vbuckets",
          "--bucket",
          "--sample",
          "--user",
          "--password",
          "--port",
          "--tls-key",
          "--tls-cert"
        ]) {
          expect(server.stdout).toContain(`\n${option} `)
        }
        const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
          version: string
        }
        expect(version.stdout.trim()).toBe(pkg.version)
        // Piped output carries no terminal escapes (@effect/cli colours its help unconditionally).
        expect(`${root.stdout}${server.stdout}${version.stdout}`).not.toContain("\u001b")
      }),
    60_000
  )

  it.live(
    "client commands in a child process: the connection from COUCHBASE_* variables, piped output plain",
    () =>
      Effect.gen(function* () {
        const { child, ready } = yield* startServer(["--nodes", "2"])
        const env = {
          ...process.env,
          COUCHBASE_CONNECTION_STRING: `${ready.connectionString}/default`,
          COUCHBASE_USERNAME: ready.username,
          COUCHBASE_PASSWORD: ready.password
        }
        const stored = yield* run(["upsert", "piped", '{"n":1}', "--json"], env)
        expect([stored.code, stored.stderr]).toEqual([0, ""])
        const got = yield* run(["get", "piped", "nope"], env)
        expect([got.code, got.stdout, got.stderr]).toEqual([
          1,
          '{"n":1}\n',
          'effect-couchbase: get nope: NotFoundError: the key does not exist (key: "nope")\n'
        ])
        const fight = yield* run(["pillowfight", "-d", "1", "-I", "20"], env)
        expect([fight.code, fight.stderr]).toEqual([0, ""])
        expect(JSON.parse(fight.stdout)).toMatchObject({ command: "pillowfight", errors: {}, items: 20 })
        const badPassword = yield* run(["ping", "-P", "wrong"], env)
        expect(badPassword.code).toBe(1)
        expect(badPassword.stderr).toMatch(/^effect-couchbase: AuthError: [^\n]*\n$/)
        expect(badPassword.stderr).not.toContain("wrong")
        for (const r of [stored, got, fight, badPassword]) expect(`${r.stdout}${r.stderr}`).not.toContain("\u001b")
        child.kill("SIGTERM")
        expect((yield* exitOf(child)).code).toBe(0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "Ctrl-C: pillowfight prints its summary and ends with 0; a command cut short ends with 130",
    () =>
      Effect.gen(function* () {
        const { ready } = yield* startServer([])
        const env = {
          ...process.env,
          COUCHBASE_CONNECTION_STRING: ready.connectionString,
          COUCHBASE_USERNAME: ready.username,
          COUCHBASE_PASSWORD: ready.password
        }
        // --duration 0: until interrupted.
        const fight = yield* run(["pillowfight", "--duration", "0", "-I", "50"], env, 4000)
        expect([fight.code, fight.stderr]).toEqual([0, ""])
        const summary = JSON.parse(fight.stdout) as { ops: number; errors: Record<string, number> }
        expect(summary.ops).toBeGreaterThan(0)
        expect(summary.errors).toEqual({})

        // A node that accepts and never answers: the bootstrap waits, and Ctrl-C cuts it short.
        // Ctrl-C once the command has connected (its bootstrap is then waiting).
        let connected!: () => void
        const bootstrapping = new Promise<void>((resolve) => (connected = resolve))
        const silent = net.createServer(() => connected())
        const port = yield* Effect.async<number>((resume) => {
          silent.listen(0, "127.0.0.1", () => resume(Effect.succeed((silent.address() as net.AddressInfo).port)))
        })
        const cut = yield* run(["get", "k", "-U", `couchbase://127.0.0.1:${port}`], env, bootstrapping)
        silent.close()
        expect([cut.code, cut.stdout]).toEqual([130, ""])
      }).pipe(Effect.scoped),
    60_000
  )

  it("parses --bucket NAME[:TYPE]", () => {
    expect(parseBucket("travel")).toEqual({ name: "travel", type: "couchbase" })
    expect(parseBucket("cache:memcached")).toEqual({ name: "cache", type: "memcached" })
    expect(parseBucket("x:ephemeral")).toContain("invalid bucket type")
  })
})
