/**
 * The connection options (the Python SDK's connection arguments and libcouchbase's
 * connection-string settings), and their resolution into the one value the
 * connection runs with.
 *
 * Precedence, highest first: the field given in {@link Options}, the same setting in
 * the connection string's query (libcouchbase names, values in seconds, e.g.
 * `operation_timeout=2.5`), the default. Every bad value is an {@link ArgumentError}
 * that names the setting, so a layer fails when it is built, not at the first
 * operation.
 *
 * Durations in {@link Options} are `Duration.DurationInput`, read the Effect way (a bare
 * number is milliseconds). Durations in connection strings and in {@link config}
 * follow libcouchbase: a bare number is seconds (`2.5`), a unit may be given
 * (`2500 millis`).
 *
 * @internal
 */
import { X509Certificate } from "node:crypto"
import { readFileSync } from "node:fs"
import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"
import type { Options } from "../../Connection.js"
import * as ConnectionString from "../../ConnectionString.js"
import { ArgumentError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import * as Transcoder from "../../Transcoder.js"

// The options users give are the Connection module's own (documented there, for users).
export type { Options }

/** The options a connection runs with: every field decided. */
export interface ResolvedOptions {
  readonly connectionString: ConnectionString.ConnectionString
  /**
   * `false` unless `couchbases://`; then the TLS settings every connection uses, with
   * `rejectUnauthorized` decided (`true` unless turned off) and `ca` read from
   * `certpath` when the options gave none.
   */
  readonly tls: false | Iops.TlsOptions
  /** True for `memcached://` (ketama hashing, no bootstrap config). */
  readonly memcached: boolean
  /** The seed hosts with their ports, in the order to try them. */
  readonly seeds: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly bucket: string
  readonly username: string | undefined
  readonly password: Redacted.Redacted<string> | undefined
  readonly quiet: boolean
  readonly defaultFormat: number
  readonly transcoder: Transcoder.Transcoder<any>
  readonly operationTimeout: Duration.Duration
  readonly viewsTimeout: Duration.Duration
  readonly bootstrapTimeout: Duration.Duration
  readonly configPollInterval: Duration.Duration
  readonly durabilityTimeout: Duration.Duration
  readonly durabilityInterval: Duration.Duration
  readonly forceSaslPlain: boolean
  readonly maxWaitingOperations: number
  readonly maxValueSize: number
  readonly maxQueuedBytes: number
  readonly maxQueuedRequests: number
  readonly metrics: boolean
}

/** The defaults, those of libcouchbase and the Python SDK. */
export const defaults = {
  connectionString: "couchbase://localhost/default",
  operationTimeout: Duration.millis(2500),
  viewsTimeout: Duration.seconds(75),
  bootstrapTimeout: Duration.seconds(10),
  configPollInterval: Duration.millis(2500),
  durabilityTimeout: Duration.seconds(5),
  durabilityInterval: Duration.millis(10),
  maxWaitingOperations: 16_384,
  /** Couchbase Server's item size limit. */
  maxValueSize: 20 * 1024 * 1024,
  /** Room for three items of the largest size. */
  maxQueuedBytes: 64 * 1024 * 1024,
  /** A multi operation of this many keys still fits (a quiet multi-get is one request per node). */
  maxQueuedRequests: 65_536
} as const

/** Connection-string options this module interprets, with the field each sets. */
const DURATION_OPTIONS = {
  operation_timeout: "operationTimeout",
  views_timeout: "viewsTimeout",
  bootstrap_timeout: "bootstrapTimeout",
  config_total_timeout: "bootstrapTimeout",
  config_poll_interval: "configPollInterval",
  durability_timeout: "durabilityTimeout",
  durability_interval: "durabilityInterval"
} as const

/**
 * The SDK 3 spellings of the same settings (the official SDKs' connection strings):
 * a bare number is milliseconds there, not seconds.
 */
const SDK3_DURATION_OPTIONS = {
  kv_timeout: "operationTimeout",
  "timeout.kv_timeout": "operationTimeout",
  kv_durable_timeout: "durabilityTimeout",
  "timeout.kv_durable_timeout": "durabilityTimeout",
  view_timeout: "viewsTimeout",
  "timeout.view_timeout": "viewsTimeout",
  "timeout.bootstrap_timeout": "bootstrapTimeout"
} as const

const KNOWN_OPTIONS: ReadonlyArray<string> = [
  ...Object.keys(DURATION_OPTIONS),
  ...Object.keys(SDK3_DURATION_OPTIONS),
  "username",
  "sasl_mech_force",
  "certpath"
]

/** Levenshtein distance, for suggesting the option a typo meant. */
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The refusal of an option this client does not know, with the closest known name when one is close. */
const unknownOption = (name: string): ArgumentError => {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const known of KNOWN_OPTIONS) {
    const d = distance(name.toLowerCase(), known)
    if (d < bestDistance) {
      best = known
      bestDistance = d
    }
  }
  const hint =
    best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean ${best}?` : ""
  return new ArgumentError({
    message: `connection string option ${JSON.stringify(name)} is not known${hint} (known: ${KNOWN_OPTIONS.join(", ")})`
  })
}

/** A Go-style duration as the official SDKs write them: `2500ms`, `2.5s`, `1m30s`. */
const GO_DURATION = /^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h))+$/
const GO_UNIT_MILLIS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

const parseGoDuration = (text: string): Option.Option<Duration.Duration> => {
  if (!GO_DURATION.test(text)) return Option.none()
  let millis = 0
  for (const [, amount, unit] of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) {
    millis += Number(amount) * GO_UNIT_MILLIS[unit!]!
  }
  return Option.some(Duration.millis(millis))
}

/** An SDK 3 duration: a bare number is milliseconds; `2500ms`, `2.5s` and Effect's `2500 millis` also do. */
const parseMillisText = (text: string): Option.Option<Duration.Duration> => {
  const trimmed = text.trim()
  if (/^[0-9]+(\.[0-9]+)?$/.test(trimmed)) return Option.some(Duration.millis(Number(trimmed)))
  return Option.orElse(parseGoDuration(trimmed), () =>
    Option.filter(Duration.decodeUnknown(trimmed), (d) => Duration.isFinite(d))
  )
}

const KNOWN_FORMATS: ReadonlySet<number> = new Set([
  Transcoder.FMT_JSON,
  Transcoder.FMT_BYTES,
  Transcoder.FMT_UTF8,
  Transcoder.FMT_AUTO,
  Transcoder.FMT_LEGACY_JSON,
  Transcoder.FMT_LEGACY_BYTES,
  Transcoder.FMT_LEGACY_UTF8
])

const invalid = (message: string): Either.Either<never, ArgumentError> => Either.left(new ArgumentError({ message }))

/**
 * A duration written libcouchbase-style: a bare number is seconds (`2.5`), otherwise
 * an Effect duration string (`2500 millis`, `3 seconds`). Negative, NaN and infinite
 * values are refused.
 */
export const parseSecondsText = (text: string): Option.Option<Duration.Duration> => {
  const trimmed = text.trim()
  if (/^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$/.test(trimmed)) return Option.some(Duration.millis(Number(trimmed) * 1000))
  return Option.orElse(parseGoDuration(trimmed), () =>
    Option.filter(Duration.decodeUnknown(trimmed), (d) => Duration.isFinite(d))
  )
}

/** A `Duration.DurationInput` checked to be finite and not negative. */
export const durationInput = (name: string, input: unknown): Either.Either<Duration.Duration, ArgumentError> => {
  if (typeof input === "number" && !(Number.isFinite(input) && input >= 0)) {
    return invalid(`${name} must be a finite, non-negative duration, got ${input}`)
  }
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) {
    return invalid(
      `${name} must be a finite duration (a Duration, milliseconds, or e.g. "2 seconds"), got ${String(input)}`
    )
  }
  return Either.right(decoded.value)
}

const resolveConnectionString = (
  input: Options["connectionString"]
): Either.Either<ConnectionString.ConnectionString, ArgumentError> => {
  if (input === undefined) return ConnectionString.parse(defaults.connectionString)
  if (typeof input === "string") return ConnectionString.parse(input)
  // A structured value may have been built by hand: check it the way parse would.
  return ConnectionString.parse(ConnectionString.format(input))
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/**
 * Checks that `ca` holds PEM certificates Node can parse: Node itself silently skips
 * what it cannot read, which would turn a wrong file into a baffling "self-signed
 * certificate" failure at connect time.
 */
const checkCa = (
  source: string,
  ca: NonNullable<Iops.TlsOptions["ca"]>
): Either.Either<NonNullable<Iops.TlsOptions["ca"]>, ArgumentError> => {
  const entries: ReadonlyArray<unknown> = Array.isArray(ca) ? ca : [ca]
  if (entries.length === 0) return invalid(`${source} is an empty list: give at least one PEM certificate`)
  for (const entry of entries) {
    if (typeof entry !== "string" && !Buffer.isBuffer(entry)) {
      return invalid(`${source} must be PEM text or bytes (or a list of them), got ${typeof entry}`)
    }
    const blocks = entry.toString("latin1").match(PEM_CERTIFICATE) ?? []
    if (blocks.length === 0) return invalid(`${source} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
    for (const block of blocks) {
      try {
        new X509Certificate(block)
      } catch (cause) {
        return Either.left(new ArgumentError({ message: `${source} holds a certificate that cannot be parsed`, cause }))
      }
    }
  }
  return Either.right(ca)
}

/** Reads the CA file named by the connection string's `certpath`. */
const readCertPath = (path: string): Either.Either<Buffer, ArgumentError> => {
  if (path === "") return invalid("connection string option certpath is empty: give the path of a PEM CA file")
  return Either.try({
    try: () => readFileSync(path),
    catch: (cause) =>
      new ArgumentError({
        message: `connection string option certpath=${path}: cannot read the CA certificate file (${(cause as { code?: string }).code ?? String(cause)})`,
        cause
      })
  })
}

/** The effective TLS settings of a `couchbases://` connection (see {@link Options.tls}). */
const resolveTls = (
  given: Options["tls"],
  certpath: string | undefined
): Either.Either<Iops.TlsOptions, ArgumentError> =>
  Either.gen(function* () {
    if (given !== undefined && (typeof given !== "object" || given === null || Array.isArray(given))) {
      return yield* invalid("tls must be an object such as { ca, rejectUnauthorized, servername }")
    }
    const rejectUnauthorized = given?.rejectUnauthorized ?? true
    if (typeof rejectUnauthorized !== "boolean") return yield* invalid("tls.rejectUnauthorized must be a boolean")
    const servername = given?.servername
    if (servername !== undefined && (typeof servername !== "string" || servername === "")) {
      return yield* invalid("tls.servername must be a non-empty string")
    }
    const ca =
      given?.ca !== undefined
        ? yield* checkCa("tls.ca", given.ca)
        : certpath !== undefined
          ? yield* checkCa(`certpath=${certpath}`, yield* readCertPath(certpath))
          : undefined
    return {
      rejectUnauthorized,
      ...(ca === undefined ? {} : { ca }),
      ...(servername === undefined ? {} : { servername })
    } satisfies Iops.TlsOptions
  })

/** A whole number ≥ 1, or the default. */
const positiveInteger = (
  name: "maxWaitingOperations" | "maxValueSize" | "maxQueuedBytes" | "maxQueuedRequests",
  value: number | undefined
): Either.Either<number, ArgumentError> =>
  value === undefined
    ? Either.right(defaults[name])
    : Number.isSafeInteger(value) && value >= 1
      ? Either.right(value)
      : invalid(`${name} must be a whole number ≥ 1, got ${String(value)}`)

/**
 * Resolves options against the connection string and the defaults. Fails with an
 * {@link ArgumentError} naming the first bad setting. For `couchbases://` the CA file
 * of `certpath` is read here (synchronously, once), so a missing file fails when the
 * layer is built.
 */
export const resolve = (options: Options = {}): Either.Either<ResolvedOptions, ArgumentError> =>
  Either.gen(function* () {
    const cs = yield* resolveConnectionString(options.connectionString)
    for (const name of Object.keys(cs.options))
      if (!KNOWN_OPTIONS.includes(name)) return yield* Either.left(unknownOption(name))
    const fromString: Partial<Record<(typeof DURATION_OPTIONS)[keyof typeof DURATION_OPTIONS], Duration.Duration>> = {}
    for (const [name, field] of Object.entries(DURATION_OPTIONS)) {
      const text = cs.options[name]
      if (text === undefined) continue
      const parsed = parseSecondsText(text)
      if (Option.isNone(parsed)) {
        return yield* invalid(`connection string option ${name}=${JSON.stringify(text)} is not a duration in seconds`)
      }
      fromString[field] = parsed.value
    }
    for (const [name, field] of Object.entries(SDK3_DURATION_OPTIONS)) {
      const text = cs.options[name]
      if (text === undefined) continue
      const parsed = parseMillisText(text)
      if (Option.isNone(parsed)) {
        return yield* invalid(
          `connection string option ${name}=${JSON.stringify(text)} is not a duration (milliseconds, or e.g. 2.5s)`
        )
      }
      if (fromString[field] !== undefined) {
        return yield* invalid(`connection string option ${name} sets ${field}, which another option sets too: give one`)
      }
      fromString[field] = parsed.value
    }
    const duration = (field: keyof typeof fromString, given: Duration.DurationInput | undefined) =>
      Either.flatMap(
        given === undefined ? Either.right(fromString[field] ?? defaults[field]) : durationInput(field, given),
        (d): Either.Either<Duration.Duration, ArgumentError> =>
          // As in the Python SDK, a timeout must be > 0 (0 would fail every operation);
          // only the config poll interval may be 0, which turns polling off.
          field !== "configPollInterval" && Duration.toMillis(d) <= 0
            ? invalid(`${field} must be greater than 0, got ${Duration.format(d)}`)
            : Either.right(d)
      )

    if (options.quiet !== undefined && typeof options.quiet !== "boolean") {
      return yield* invalid(`quiet must be true or false, got ${JSON.stringify(options.quiet)}`)
    }
    const bucket = options.bucket ?? cs.bucket ?? ConnectionString.DEFAULT_BUCKET
    if (typeof bucket !== "string" || bucket === "") return yield* invalid("bucket must be a non-empty string")
    if (options.password !== undefined && !Redacted.isRedacted(options.password)) {
      return yield* invalid("password must be a Redacted value (Redacted.make(secret)), so it never appears in logs")
    }
    const explicitUser = options.username ?? cs.options["username"]
    if (explicitUser !== undefined && (typeof explicitUser !== "string" || explicitUser === "")) {
      return yield* invalid("username must be a non-empty string")
    }
    const defaultFormat = options.defaultFormat ?? Transcoder.FMT_JSON
    // A custom transcoder may define its own format codes; the default one knows only these.
    if (options.transcoder === undefined && !KNOWN_FORMATS.has(defaultFormat)) {
      return yield* invalid(
        `defaultFormat 0x${defaultFormat.toString(16)} is not a known format: use FMT_JSON, FMT_BYTES, FMT_UTF8 or FMT_AUTO`
      )
    }
    const mech = cs.options["sasl_mech_force"]
    if (mech !== undefined && mech.toUpperCase() !== "PLAIN") {
      return yield* invalid(`sasl_mech_force=${mech} is not supported: only PLAIN can be forced`)
    }
    const tls = ConnectionString.isTls(cs) ? yield* resolveTls(options.tls, cs.options["certpath"]) : false

    return {
      connectionString: cs,
      tls,
      memcached: ConnectionString.isMemcached(cs),
      seeds: ConnectionString.seeds(cs),
      bucket,
      // Before RBAC (Couchbase 5) a bucket was its own user; libcouchbase and the
      // Python SDK default the user to the bucket name, and so do we.
      username: explicitUser ?? (options.password !== undefined ? bucket : undefined),
      password: options.password,
      quiet: options.quiet === true,
      defaultFormat,
      transcoder: options.transcoder ?? Transcoder.defaultTranscoder,
      operationTimeout: yield* duration("operationTimeout", options.operationTimeout),
      viewsTimeout: yield* duration("viewsTimeout", options.viewsTimeout),
      bootstrapTimeout: yield* duration("bootstrapTimeout", options.bootstrapTimeout),
      configPollInterval: yield* duration("configPollInterval", options.configPollInterval),
      durabilityTimeout: yield* duration("durabilityTimeout", options.durabilityTimeout),
      durabilityInterval: yield* duration("durabilityInterval", options.durabilityInterval),
      forceSaslPlain: options.forceSaslPlain ?? mech !== undefined,
      maxWaitingOperations: yield* positiveInteger("maxWaitingOperations", options.maxWaitingOperations),
      maxValueSize: yield* positiveInteger("maxValueSize", options.maxValueSize),
      maxQueuedBytes: yield* positiveInteger("maxQueuedBytes", options.maxQueuedBytes),
      maxQueuedRequests: yield* positiveInteger("maxQueuedRequests", options.maxQueuedRequests),
      metrics: yield* options.metrics === undefined || typeof options.metrics === "boolean"
        ? Either.right(options.metrics === true)
        : invalid(`metrics must be true or false, got ${JSON.stringify(options.metrics)}`)
    } satisfies ResolvedOptions
  })

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/** A duration read from configuration: seconds (`2.5`) or an Effect duration string (`2500 millis`). */
export const secondsConfig = (name: string): Config.Config<Duration.Duration> =>
  Config.mapOrFail(Config.string(name), (text) => {
    const parsed = parseSecondsText(text)
    return Option.isSome(parsed)
      ? Either.right(parsed.value)
      : Either.left(
          ConfigError.InvalidData(
            [],
            `expected seconds (e.g. 2.5) or a duration (e.g. "2500 millis"), got ${JSON.stringify(text)}`
          )
        )
  })

const FORMAT_NAMES: Readonly<Record<string, number>> = {
  json: Transcoder.FMT_JSON,
  bytes: Transcoder.FMT_BYTES,
  utf8: Transcoder.FMT_UTF8,
  auto: Transcoder.FMT_AUTO
}

/**
 * Options loaded from configuration (by default the environment, where nesting
 * joins names with `_`): `CONNECTION_STRING`, `USERNAME`, `PASSWORD` (redacted),
 * `BUCKET`, `QUIET`, `DEFAULT_FORMAT` (`json`, `bytes`, `utf8` or `auto`),
 * `OPERATION_TIMEOUT`, `VIEWS_TIMEOUT`, `BOOTSTRAP_TIMEOUT`, `CONFIG_POLL_INTERVAL`,
 * `DURABILITY_TIMEOUT`, `DURABILITY_INTERVAL` (seconds or duration strings) and
 * `FORCE_SASL_PLAIN`, `MAX_WAITING_OPERATIONS`. Every entry is optional. Nest it to add a prefix:
 * `Config.nested(config, "COUCHBASE")` reads `COUCHBASE_CONNECTION_STRING`, …. (Nest the
 * `Config`, not the provider: `ConfigProvider.nested` splits values at commas, and a
 * connection string's commas separate hosts.)
 */
export const config: Config.Config<Options> = Config.all({
  connectionString: Config.option(Config.string("CONNECTION_STRING")),
  username: Config.option(Config.string("USERNAME")),
  password: Config.option(Config.redacted("PASSWORD")),
  bucket: Config.option(Config.string("BUCKET")),
  quiet: Config.option(Config.boolean("QUIET")),
  defaultFormat: Config.option(Config.literal("json", "bytes", "utf8", "auto")("DEFAULT_FORMAT")),
  operationTimeout: Config.option(secondsConfig("OPERATION_TIMEOUT")),
  viewsTimeout: Config.option(secondsConfig("VIEWS_TIMEOUT")),
  bootstrapTimeout: Config.option(secondsConfig("BOOTSTRAP_TIMEOUT")),
  configPollInterval: Config.option(secondsConfig("CONFIG_POLL_INTERVAL")),
  durabilityTimeout: Config.option(secondsConfig("DURABILITY_TIMEOUT")),
  durabilityInterval: Config.option(secondsConfig("DURABILITY_INTERVAL")),
  forceSaslPlain: Config.option(Config.boolean("FORCE_SASL_PLAIN")),
  maxWaitingOperations: Config.option(Config.integer("MAX_WAITING_OPERATIONS")),
  maxValueSize: Config.option(Config.integer("MAX_VALUE_SIZE")),
  maxQueuedBytes: Config.option(Config.integer("MAX_QUEUED_BYTES")),
  maxQueuedRequests: Config.option(Config.integer("MAX_QUEUED_REQUESTS"))
}).pipe(
  Config.map((c): Options => {
    const out: { -readonly [K in keyof Options]: Options[K] } = {}
    if (Option.isSome(c.connectionString)) out.connectionString = c.connectionString.value
    if (Option.isSome(c.username)) out.username = c.username.value
    if (Option.isSome(c.password)) out.password = c.password.value
    if (Option.isSome(c.bucket)) out.bucket = c.bucket.value
    if (Option.isSome(c.quiet)) out.quiet = c.quiet.value
    if (Option.isSome(c.defaultFormat)) out.defaultFormat = FORMAT_NAMES[c.defaultFormat.value]!
    if (Option.isSome(c.operationTimeout)) out.operationTimeout = c.operationTimeout.value
    if (Option.isSome(c.viewsTimeout)) out.viewsTimeout = c.viewsTimeout.value
    if (Option.isSome(c.bootstrapTimeout)) out.bootstrapTimeout = c.bootstrapTimeout.value
    if (Option.isSome(c.configPollInterval)) out.configPollInterval = c.configPollInterval.value
    if (Option.isSome(c.durabilityTimeout)) out.durabilityTimeout = c.durabilityTimeout.value
    if (Option.isSome(c.durabilityInterval)) out.durabilityInterval = c.durabilityInterval.value
    if (Option.isSome(c.forceSaslPlain)) out.forceSaslPlain = c.forceSaslPlain.value
    if (Option.isSome(c.maxWaitingOperations)) out.maxWaitingOperations = c.maxWaitingOperations.value
    if (Option.isSome(c.maxValueSize)) out.maxValueSize = c.maxValueSize.value
    if (Option.isSome(c.maxQueuedBytes)) out.maxQueuedBytes = c.maxQueuedBytes.value
    if (Option.isSome(c.maxQueuedRequests)) out.maxQueuedRequests = c.maxQueuedRequests.value
    return out
  })
)

/**
 * The `Config` of a `layerConfig(Config.Wrap<Options>)` argument, unwrapped: each
 * field may be a `Config` of its own (e.g. `{ password: Config.redacted("CB_PASSWORD") }`)
 * or the whole may be one `Config<Options>` such as {@link config}.
 */
export const unwrap = (wrapped: Config.Config.Wrap<Options>): Config.Config<Options> => Config.unwrap(wrapped)
