import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Either, Layer, Redacted } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { ArgumentError } from "../../src/Errors.js"
import * as Iops from "../../src/Iops.js"
import * as Options from "../../src/internal/connection/options.js"
import * as Transcoder from "../../src/Transcoder.js"

const resolved = (options?: Options.Options) => Either.getOrThrow(Options.resolve(options))

const refused = (options: Options.Options): ArgumentError => {
  const r = Options.resolve(options)
  if (Either.isRight(r)) throw new Error("expected the options to be refused")
  expect(r.left).toBeInstanceOf(ArgumentError)
  return r.left
}

const millis = (d: Duration.Duration) => Duration.toMillis(d)

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url))
const CA_PATH = fixture("ca.pem")

describe("connection options", () => {
  it("bound the operations waiting for a node by a whole number ≥ 1", () => {
    expect(resolved({ maxWaitingOperations: 1 }).maxWaitingOperations).toBe(1)
    for (const bad of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(refused({ maxWaitingOperations: bad }).message).toBe(
        `maxWaitingOperations must be a whole number ≥ 1, got ${String(bad)}`
      )
    }
  })

  it("have the defaults of SPEC.md §3.1", () => {
    const o = resolved()
    expect(o.bucket).toBe("default")
    expect(o.seeds).toEqual([{ host: "localhost", port: 11210 }])
    expect(o.tls).toBe(false)
    expect(o.memcached).toBe(false)
    expect(o.quiet).toBe(false)
    expect(o.defaultFormat).toBe(Transcoder.FMT_JSON)
    expect(o.transcoder).toBe(Transcoder.defaultTranscoder)
    expect(millis(o.operationTimeout)).toBe(2500)
    expect(millis(o.viewsTimeout)).toBe(75_000)
    expect(millis(o.bootstrapTimeout)).toBe(10_000)
    expect(millis(o.configPollInterval)).toBe(2500)
    expect(millis(o.durabilityTimeout)).toBe(5000)
    expect(millis(o.durabilityInterval)).toBe(10)
    expect(o.maxWaitingOperations).toBe(16_384)
    expect(o.username).toBeUndefined()
    expect(o.password).toBeUndefined()
    expect(o.forceSaslPlain).toBe(false)
  })

  it("take settings from the connection string, in seconds", () => {
    const o = resolved({
      connectionString:
        "couchbases://a,b:1/travel?operation_timeout=4.5&config_total_timeout=20&views_timeout=1500 millis&config_poll_interval=.5&username=u"
    })
    expect(o.tls).toEqual({ rejectUnauthorized: true })
    expect(o.seeds).toEqual([
      { host: "a", port: 11207 },
      { host: "b", port: 1 }
    ])
    expect(o.bucket).toBe("travel")
    expect(millis(o.operationTimeout)).toBe(4500)
    expect(millis(o.bootstrapTimeout)).toBe(20_000)
    expect(millis(o.viewsTimeout)).toBe(1500)
    expect(millis(o.configPollInterval)).toBe(500)
    expect(o.username).toBe("u")
  })

  it("refuse a misspelt or unknown option, naming it and the closest known one", () => {
    expect(refused({ connectionString: "couchbase://h/b?operation_timout=0.001" }).message).toMatch(
      /^connection string option "operation_timout" is not known; did you mean operation_timeout\? \(known: /
    )
    expect(refused({ connectionString: "couchbase://h/b?kv_timeuot=2500" }).message).toContain(
      "did you mean kv_timeout?"
    )
    const far = refused({ connectionString: "couchbase://h/b?enable_tracing=false" }).message
    expect(far).toContain('"enable_tracing" is not known')
    expect(far).not.toContain("did you mean")
  })

  it("accept the SDK 3 spellings, in milliseconds or Go-style durations", () => {
    const o = resolved({
      connectionString: "couchbase://h/b?kv_timeout=2500&timeout.view_timeout=1m30s&kv_durable_timeout=2.5s"
    })
    expect(millis(o.operationTimeout)).toBe(2500)
    expect(millis(o.viewsTimeout)).toBe(90_000)
    expect(millis(o.durabilityTimeout)).toBe(2500)
    expect(millis(resolved({ connectionString: "couchbase://h/b?timeout.kv_timeout=750ms" }).operationTimeout)).toBe(
      750
    )
    expect(
      millis(resolved({ connectionString: "couchbase://h/b?timeout.bootstrap_timeout=3s" }).bootstrapTimeout)
    ).toBe(3000)
    // The libcouchbase names keep seconds for a bare number, and take Go-style durations too.
    expect(millis(resolved({ connectionString: "couchbase://h/b?operation_timeout=2500ms" }).operationTimeout)).toBe(
      2500
    )
    expect(refused({ connectionString: "couchbase://h/b?kv_timeout=2&operation_timeout=3" }).message).toBe(
      "connection string option kv_timeout sets operationTimeout, which another option sets too: give one"
    )
    expect(refused({ connectionString: "couchbase://h/b?kv_timeout=soon" }).message).toContain(
      'kv_timeout="soon" is not a duration'
    )
  })

  it("let explicit options win over the connection string", () => {
    const o = resolved({
      connectionString: "couchbase://h/fromstring?operation_timeout=9&username=s",
      bucket: "explicit",
      username: "e",
      operationTimeout: "1 second",
      bootstrapTimeout: Duration.seconds(3),
      viewsTimeout: 250
    })
    expect(o.bucket).toBe("explicit")
    expect(o.username).toBe("e")
    expect(millis(o.operationTimeout)).toBe(1000)
    expect(millis(o.bootstrapTimeout)).toBe(3000)
    // Options follow Effect: a bare number is milliseconds.
    expect(millis(o.viewsTimeout)).toBe(250)
  })

  it("default the user to the bucket when only a password is given (pre-RBAC)", () => {
    const password = Redacted.make("secret")
    const o = resolved({ connectionString: "couchbase://h/beer", password })
    expect(o.username).toBe("beer")
    expect(o.password).toBe(password)
    expect(String(o.password)).not.toContain("secret")
  })

  it.effect("Connection.make refuses credentials in the connection string without quoting them", () =>
    Effect.gen(function* () {
      for (const connectionString of ["couchbase://admin:pw-9f3k@h/b", "couchbase://h/b?password=pw-9f3k"]) {
        const error = yield* Effect.flip(Effect.scoped(Connection.make({ connectionString })))
        expect(error._tag).toBe("ArgumentError")
        expect(error.message).toContain("***")
        expect(`${String(error)} ${JSON.stringify(error)} ${error.stack}`).not.toContain("pw-9f3k")
      }
    }).pipe(Effect.provide(Iops.layerNode()))
  )

  it("force SASL PLAIN from the option or sasl_mech_force=PLAIN", () => {
    expect(resolved({ forceSaslPlain: true }).forceSaslPlain).toBe(true)
    expect(resolved({ connectionString: "couchbase://h?sasl_mech_force=PLAIN" }).forceSaslPlain).toBe(true)
    expect(refused({ connectionString: "couchbase://h?sasl_mech_force=CRAM-MD5" }).message).toContain("only PLAIN")
  })

  it("accept a parsed connection string and memcached://", () => {
    const o = resolved({ connectionString: { scheme: "memcached", hosts: [{ host: "m" }], options: {} } })
    expect(o.memcached).toBe(true)
    expect(o.seeds).toEqual([{ host: "m", port: 11211 }])
  })

  it("refuse bad settings, naming them", () => {
    expect(refused({ connectionString: "http://x" }).message).toContain("unsupported scheme")
    expect(refused({ connectionString: "couchbase://h?operation_timeout=soon" }).message).toContain("operation_timeout")
    expect(refused({ connectionString: "couchbase://h?operation_timeout=-1" }).message).toContain("operation_timeout")
    expect(refused({ operationTimeout: -5 }).message).toContain("operationTimeout")
    expect(refused({ operationTimeout: Number.NaN }).message).toContain("operationTimeout")
    expect(refused({ operationTimeout: Duration.infinity }).message).toContain("finite")
    expect(refused({ bucket: "" }).message).toContain("bucket")
    expect(refused({ username: "" }).message).toContain("username")
    expect(refused({ password: "plain" as unknown as Redacted.Redacted<string> }).message).toContain("Redacted")
    expect(refused({ defaultFormat: 0x12345 }).message).toContain("not a known format")
  })

  // Python (badargs_t.test_bad_timeout): a timeout of 0, below 0 or not a number raises.
  it("test_bad_timeout: refuse timeouts that are not > 0, given or in the connection string", () => {
    for (const field of [
      "operationTimeout",
      "viewsTimeout",
      "bootstrapTimeout",
      "durabilityTimeout",
      "durabilityInterval"
    ] as const) {
      expect(refused({ [field]: 0 }).message).toBe(`${field} must be greater than 0, got 0`)
      expect(refused({ [field]: -1 }).message).toContain(field)
      expect(refused({ [field]: "a string" as any }).message).toContain(field)
    }
    expect(refused({ connectionString: "couchbase://h/b?operation_timeout=0" }).message).toBe(
      "operationTimeout must be greater than 0, got 0"
    )
    expect(millis(resolved({ operationTimeout: "1 millis" }).operationTimeout)).toBe(1)
    // The poll interval alone may be 0: polling is then off.
    expect(millis(resolved({ configPollInterval: 0 }).configPollInterval)).toBe(0)
  })

  // Python (connection_t): quiet is a boolean; per call the same holds (validation tests).
  it("test_quiet: refuse a quiet that is not a boolean", () => {
    for (const bad of ["asfasf", 1, null, {}]) {
      expect(refused({ quiet: bad as any }).message).toBe(`quiet must be true or false, got ${JSON.stringify(bad)}`)
    }
    expect(resolved({ quiet: true }).quiet).toBe(true)
    expect(resolved({ quiet: false }).quiet).toBe(false)
  })

  it("allow a custom transcoder's own format codes", () => {
    const transcoder = Transcoder.make({
      encodeValue: (v) => [Buffer.from(String(v)), 7],
      decodeValue: (b) => String(b)
    })
    expect(resolved({ transcoder, defaultFormat: 0x12345 }).defaultFormat).toBe(0x12345)
  })

  it.effect("load from Config (the environment), nested under a prefix", () =>
    Effect.gen(function* () {
      // Shaped like the environment: names joined with "_". The connection string's
      // comma must survive (it separates hosts, not sequence elements).
      const provider = ConfigProvider.fromMap(
        new Map([
          ["COUCHBASE_CONNECTION_STRING", "couchbase://c1,c2/cfg"],
          ["COUCHBASE_PASSWORD", "pw"],
          ["COUCHBASE_QUIET", "true"],
          ["COUCHBASE_DEFAULT_FORMAT", "utf8"],
          ["COUCHBASE_OPERATION_TIMEOUT", "1.5"],
          ["COUCHBASE_BOOTSTRAP_TIMEOUT", "3 seconds"],
          ["COUCHBASE_MAX_WAITING_OPERATIONS", "500"]
        ]),
        { pathDelim: "_" }
      )
      const options = yield* Effect.withConfigProvider(Config.nested(Options.config, "COUCHBASE"), provider)
      const o = Either.getOrThrow(Options.resolve(options))
      expect(o.seeds.map((s) => s.host)).toEqual(["c1", "c2"])
      expect(o.bucket).toBe("cfg")
      expect(Redacted.value(o.password!)).toBe("pw")
      expect(o.username).toBe("cfg")
      expect(o.quiet).toBe(true)
      expect(o.defaultFormat).toBe(Transcoder.FMT_UTF8)
      expect(o.maxWaitingOperations).toBe(500)
      expect(millis(o.operationTimeout)).toBe(1500)
      expect(millis(o.bootstrapTimeout)).toBe(3000)
      expect(millis(o.viewsTimeout)).toBe(75_000)
    })
  )

  it.effect("Connection.config reads the COUCHBASE_* names of the README from the environment", () =>
    Effect.gen(function* () {
      // Shaped as ConfigProvider.fromEnv reads process.env ("_" between path segments),
      // with the names exactly as users set them.
      const provider = ConfigProvider.fromMap(
        new Map(
          Object.entries({
            COUCHBASE_CONNECTION_STRING: "couchbase://e1,e2:11999",
            COUCHBASE_USERNAME: "app",
            COUCHBASE_PASSWORD: "s3cret",
            COUCHBASE_BUCKET: "travel",
            COUCHBASE_VIEWS_TIMEOUT: "20",
            COUCHBASE_FORCE_SASL_PLAIN: "true",
            UNRELATED: "x"
          })
        ),
        { pathDelim: "_" }
      )
      const options = yield* Effect.withConfigProvider(Connection.config, provider)
      const o = Either.getOrThrow(Options.resolve(options))
      expect([o.seeds.map((s) => `${s.host}:${s.port}`), o.username, o.bucket, o.forceSaslPlain]).toEqual([
        ["e1:11210", "e2:11999"],
        "app",
        "travel",
        true
      ])
      expect(Redacted.isRedacted(options.password)).toBe(true)
      expect(Redacted.value(o.password!)).toBe("s3cret")
      expect(millis(o.viewsTimeout)).toBe(20_000)
      // Nothing set: every option stays at its default.
      const empty = yield* Effect.withConfigProvider(Connection.config, ConfigProvider.fromMap(new Map()))
      expect(empty).toEqual({})
    })
  )

  it.live("a quiet from configuration never contradicts the layer's tag", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const env = (quiet?: string) =>
        ConfigProvider.fromMap(
          new Map(
            Object.entries({
              COUCHBASE_CONNECTION_STRING: cluster.connectionString,
              COUCHBASE_USERNAME: cluster.username,
              COUCHBASE_PASSWORD: Redacted.value(cluster.password),
              ...(quiet === undefined ? {} : { COUCHBASE_QUIET: quiet })
            })
          ),
          { pathDelim: "_" }
        )
      const build = <A, E>(layer: Layer.Layer<A, E, Iops.Iops>, provider: ConfigProvider.ConfigProvider) =>
        Effect.scoped(Layer.build(layer.pipe(Layer.provide(Iops.layerNode())))).pipe(
          Effect.withConfigProvider(provider)
        )
      // Loud tag, quiet configuration: refused, never a quiet connection typed loud.
      const loud = yield* Effect.flip(build(Connection.layerConfig(), env("true")))
      expect(loud._tag).toBe("ArgumentError")
      expect(loud.message).toContain("use Connection.layerQuietConfig")
      const quiet = yield* Effect.flip(build(Connection.layerQuietConfig(), env("false")))
      expect(quiet._tag).toBe("ArgumentError")
      expect(quiet.message).toContain("use Connection.layerConfig")
      // Agreeing or absent: the tag's behaviour.
      const missing = yield* Effect.flatMap(Connection.QuietConnection, (cb) => cb.get("absent")).pipe(
        Effect.provide(Connection.layerQuietConfig().pipe(Layer.provide(Iops.layerNode()))),
        Effect.withConfigProvider(env())
      )
      expect(missing.success).toBe(false)
      const error = yield* Effect.flip(
        Effect.flatMap(Connection.Connection, (cb) => cb.get("absent")).pipe(
          Effect.provide(Connection.layerConfig().pipe(Layer.provide(Iops.layerNode()))),
          Effect.withConfigProvider(env("false"))
        )
      )
      expect(error._tag).toBe("NotFoundError")
    }).pipe(Effect.scoped)
  )

  it.effect("fail Config loading for a malformed duration, naming the entry", () =>
    Effect.gen(function* () {
      const provider = ConfigProvider.fromMap(new Map([["OPERATION_TIMEOUT", "later"]]))
      const error = yield* Effect.flip(Effect.withConfigProvider(Options.config, provider))
      expect(String(error)).toContain("OPERATION_TIMEOUT")
      expect(String(error)).toContain("expected seconds")
    })
  )

  it.effect("unwrap a Config.Wrap<Options> given field by field", () =>
    Effect.gen(function* () {
      const wrapped = Options.unwrap({
        connectionString: Config.succeed("couchbase://w/wb"),
        operationTimeout: Config.succeed("7 seconds" as const)
      })
      const o = Either.getOrThrow(Options.resolve(yield* wrapped))
      expect(o.bucket).toBe("wb")
      expect(millis(o.operationTimeout)).toBe(7000)
    })
  )
  describe("TLS", () => {
    it("is off for couchbase:// and memcached://, whatever TLS settings are given (certpath is not read)", () => {
      const o = resolved({
        connectionString: "couchbase://h/b?certpath=/does/not/exist.pem",
        tls: { ca: "not even PEM" }
      })
      expect(o.tls).toBe(false)
      // certpath is interpreted (not passed on), even where it does not apply.
      expect(resolved({ connectionString: "memcached://h", tls: { rejectUnauthorized: false } }).tls).toBe(false)
    })

    it("verifies certificates by default with couchbases://", () => {
      expect(resolved({ connectionString: "couchbases://h" }).tls).toEqual({ rejectUnauthorized: true })
    })

    it("reads the CA of certpath, and lets tls.ca win over it", () => {
      const ca = readFileSync(CA_PATH)
      const fromFile = resolved({ connectionString: `couchbases://h/b?certpath=${CA_PATH}` })
      expect(fromFile.tls).toEqual({ rejectUnauthorized: true, ca })
      const explicit = resolved({
        connectionString: `couchbases://h/b?certpath=${CA_PATH}`,
        tls: { ca: ca.toString("utf8"), servername: "db.example.com", rejectUnauthorized: false }
      })
      expect(explicit.tls).toEqual({ ca: ca.toString("utf8"), servername: "db.example.com", rejectUnauthorized: false })
      const list = resolved({ connectionString: "couchbases://h", tls: { ca: [ca, ca.toString("utf8")] } })
      expect(list.tls).toEqual({ rejectUnauthorized: true, ca: [ca, ca.toString("utf8")] })
    })

    it("refuses a certpath that cannot be read, naming the path", () => {
      const missing = refused({ connectionString: "couchbases://h/b?certpath=/no/such/dir/ca.pem" })
      expect(missing.message).toContain("certpath=/no/such/dir/ca.pem")
      expect(missing.message).toContain("ENOENT")
      expect(refused({ connectionString: "couchbases://h/b?certpath=" }).message).toContain("certpath is empty")
    })

    it("refuses CA data that holds no usable certificate", () => {
      const readme = fixture("README.md")
      expect(refused({ connectionString: `couchbases://h?certpath=${readme}` }).message).toBe(
        `certpath=${readme} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`
      )
      const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
      expect(refused({ connectionString: "couchbases://h", tls: { ca: broken } }).message).toBe(
        "tls.ca holds a certificate that cannot be parsed"
      )
      expect(refused({ connectionString: "couchbases://h", tls: { ca: [] } }).message).toContain(
        "tls.ca is an empty list"
      )
    })

    it("refuses malformed TLS settings, naming them", () => {
      const bad = (tls: unknown) => refused({ connectionString: "couchbases://h", tls: tls as Options.Options["tls"] })
      expect(bad({ rejectUnauthorized: "no" }).message).toBe("tls.rejectUnauthorized must be a boolean")
      expect(bad({ servername: "" }).message).toBe("tls.servername must be a non-empty string")
      expect(bad("yes").message).toContain("tls must be an object")
      expect(bad({ ca: 42 }).message).toBe("tls.ca must be PEM text or bytes (or a list of them), got number")
    })
  })
})
