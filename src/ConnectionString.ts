/**
 * Connection strings, in the form the Couchbase SDKs share: where the cluster is, which
 * bucket, and options.
 *
 * ```text
 * couchbase://host1,host2:11210/bucket?operation_timeout=2.5
 * couchbases://secure.example.com/bucket          (TLS)
 * memcached://127.0.0.1:11211                     (plain memcached: ketama, no vBuckets)
 * couchbase://[::1]:11210/default                 (IPv6 in brackets)
 * couchbase:///bucket                             (no host: localhost)
 * host1,host2/bucket                              (no scheme: couchbase://)
 * ```
 *
 * Parsing is strict where a mistake would send traffic to the wrong place (bad ports,
 * unknown schemes, malformed hosts, duplicate options) and lenient where the intent
 * is clear (surrounding whitespace, empty host entries from a trailing comma). Every
 * refusal is an {@link ArgumentError} that quotes the offending part.
 *
 * Options are kept as strings, unknown ones included, so a string can be parsed,
 * inspected and formatted back without losing anything; their meaning is decided when
 * the connection options are resolved. Secrets are refused: connection strings end up
 * in logs, so the password travels separately as a `Redacted`, and neither a
 * `user:password@` part nor an option named like a secret (`password`, `token`, …) is
 * accepted. Errors quote the string through {@link redact}, never with its secrets.
 *
 * @since 0.1.0
 */
import { isIP, isIPv6 } from "node:net"
import { Either } from "effect"
import { ArgumentError } from "./Errors.js"

/**
 * The schemes this client speaks.
 *
 * @since 0.1.0
 * @category models
 */
export type Scheme = "couchbase" | "couchbases" | "memcached"

/**
 * One seed host, with the port when the string named one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Host {
  /** A host name, an IPv4 address, or an IPv6 address (without brackets). */
  readonly host: string
  /** The port given in the string; the scheme's default applies when absent. */
  readonly port?: number | undefined
}

/**
 * A parsed connection string.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionString {
  readonly scheme: Scheme
  /** The seed hosts, in the order given; never empty (no host means `localhost`). */
  readonly hosts: ReadonlyArray<Host>
  /** The bucket named in the path, when there is one. */
  readonly bucket?: string | undefined
  /** Every query-string option, in the order given, values as strings. */
  readonly options: Readonly<Record<string, string>>
}

/**
 * The default key/value port of each scheme: 11210 plain, 11207 TLS, 11211 memcached.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PORTS: Readonly<Record<Scheme, number>> = {
  couchbase: 11210,
  couchbases: 11207,
  memcached: 11211
}

/**
 * The host used when a connection string names none.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_HOST = "localhost"

/**
 * The bucket used when neither the connection string nor the options name one.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BUCKET = "default"

const SCHEMES: ReadonlySet<string> = new Set<Scheme>(["couchbase", "couchbases", "memcached"])

// Host names: letters, digits, '-', '_' and dots. Underscores are not valid DNS but do
// appear in container and hosts-file names, so they are allowed.
const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/
const SCHEME_PREFIX = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//

const fail = (input: string, why: string): Either.Either<never, ArgumentError> =>
  Either.left(new ArgumentError({ message: `invalid connection string ${JSON.stringify(redact(input))}: ${why}` }))

/** Option names whose values are secrets: quoted nowhere, masked by {@link redact}. */
const SECRET_OPTION = /pass|pwd|secret|token|credential|auth/i

/** How {@link redact} shows a secret. */
const MASK = "***"

/**
 * `input` safe to log or quote in an error: the credentials of a `user:password@`
 * part and the values of options whose names say they are secrets (`password`,
 * `pass`, `secret`, `token`, …, also %-escaped) are replaced by `***`. Everything else
 * is kept, so the string still says where it points. Works on strings that do not
 * parse, which is when they get quoted.
 *
 * @example
 * ```ts
 * import { ConnectionString } from "effect-couchbase"
 *
 * ConnectionString.redact("couchbase://admin:hunter2@db1/users?password=hunter2&kv_timeout=2")
 * // "couchbase://***@db1/users?password=***&kv_timeout=2"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const redact = (input: string): string => {
  const queryAt = input.indexOf("?")
  let head = queryAt < 0 ? input : input.slice(0, queryAt)
  const query = queryAt < 0 ? undefined : input.slice(queryAt + 1)
  // Everything up to the last "@" before the path is credentials, however it is spelt.
  const schemeEnd = head.indexOf("://")
  const authorityStart = schemeEnd < 0 ? 0 : schemeEnd + 3
  const pathAt = head.indexOf("/", authorityStart)
  const authorityEnd = pathAt < 0 ? head.length : pathAt
  const at = head.lastIndexOf("@", authorityEnd - 1)
  if (at >= authorityStart) head = `${head.slice(0, authorityStart)}${MASK}${head.slice(at)}`
  if (query === undefined) return head
  const pairs = query.split("&").map((pair) => {
    const eq = pair.indexOf("=")
    const name = eq < 0 ? pair : pair.slice(0, eq)
    return SECRET_OPTION.test(decodeComponent(name) ?? name) ? `${name}=${MASK}` : pair
  })
  return `${head}?${pairs.join("&")}`
}

const decodeComponent = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "))
  } catch {
    return undefined
  }
}

const parsePort = (text: string): number | undefined => {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined
  const port = Number(text)
  return port >= 1 && port <= 65535 ? port : undefined
}

const parseHost = (input: string, spec: string): Either.Either<Host, ArgumentError> => {
  if (spec.startsWith("[")) {
    const close = spec.indexOf("]")
    if (close < 0) return fail(input, `host ${JSON.stringify(spec)} opens "[" without closing it`)
    const host = spec.slice(1, close)
    if (!isIPv6(host)) return fail(input, `${JSON.stringify(host)} in brackets is not an IPv6 address`)
    const rest = spec.slice(close + 1)
    if (rest === "") return Either.right({ host })
    if (!rest.startsWith(":")) return fail(input, `unexpected ${JSON.stringify(rest)} after "[${host}]"`)
    const port = parsePort(rest.slice(1))
    if (port === undefined) return fail(input, `port ${JSON.stringify(rest.slice(1))} is not a number in 1..65535`)
    return Either.right({ host, port })
  }
  const colons = spec.split(":").length - 1
  // An IPv6 address without brackets cannot carry a port; accept it as a bare host.
  if (colons > 1) {
    if (isIPv6(spec)) return Either.right({ host: spec })
    return fail(input, `host ${JSON.stringify(spec)} is not valid (write IPv6 addresses as [address]:port)`)
  }
  const [host, portText] = colons === 1 ? (spec.split(":") as [string, string]) : [spec, undefined]
  if (isIP(host) === 0 && !HOSTNAME.test(host)) return fail(input, `host ${JSON.stringify(host)} is not a valid name`)
  if (portText === undefined) return Either.right({ host })
  const port = parsePort(portText)
  if (port === undefined) return fail(input, `port ${JSON.stringify(portText)} is not a number in 1..65535`)
  return Either.right({ host, port })
}

/**
 * Parses a connection string. See the module documentation for the accepted forms;
 * anything else is an {@link ArgumentError} naming the problem.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { ConnectionString } from "effect-couchbase"
 *
 * const parsed = ConnectionString.parse("couchbase://node1,node2:11207/travel-sample?operation_timeout=2.5")
 * if (Either.isRight(parsed)) {
 *   console.log(parsed.right.bucket) // "travel-sample"
 *   console.log(ConnectionString.seeds(parsed.right)) // node1:11210, node2:11207
 * } else {
 *   console.error(parsed.left.message) // names the part that is wrong
 * }
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: string): Either.Either<ConnectionString, ArgumentError> => {
  if (typeof input !== "string") {
    return Either.left(new ArgumentError({ message: `a connection string must be a string, got ${typeof input}` }))
  }
  let rest = input.trim()
  if (rest === "") return fail(input, "it is empty; use e.g. couchbase://localhost/default")
  if (rest.includes("#")) return fail(input, `a fragment ("#…") has no meaning here`)

  let scheme: Scheme = "couchbase"
  const prefix = SCHEME_PREFIX.exec(rest)
  if (prefix !== null) {
    const name = prefix[1]!.toLowerCase()
    if (!SCHEMES.has(name)) {
      return fail(input, `unsupported scheme "${name}://": use couchbase://, couchbases:// (TLS) or memcached://`)
    }
    scheme = name as Scheme
    rest = rest.slice(prefix[0].length)
  } else if (rest.includes("://")) {
    return fail(input, "the scheme is malformed: use couchbase://, couchbases:// or memcached://")
  }

  const queryAt = rest.indexOf("?")
  const query = queryAt < 0 ? "" : rest.slice(queryAt + 1)
  if (queryAt >= 0) rest = rest.slice(0, queryAt)
  const pathAt = rest.indexOf("/")
  const hostsPart = pathAt < 0 ? rest : rest.slice(0, pathAt)
  const path = pathAt < 0 ? "" : rest.slice(pathAt + 1)

  if (hostsPart.includes("@")) {
    return fail(
      input,
      "credentials (user:password@) do not belong in a connection string (it ends up in logs); pass username, and the password as a Redacted, as options"
    )
  }
  const hosts: Array<Host> = []
  for (const spec of hostsPart.split(/[,;]/)) {
    // Empty entries come from trailing or doubled separators; they name nothing.
    if (spec === "") continue
    const host = parseHost(input, spec)
    if (Either.isLeft(host)) return Either.left(host.left)
    hosts.push(host.right)
  }
  if (hosts.length === 0) hosts.push({ host: DEFAULT_HOST })

  let bucket: string | undefined
  if (path !== "") {
    if (path.includes("/"))
      return fail(input, `the path ${JSON.stringify(path)} has more than one segment; name one bucket`)
    const decoded = decodeComponent(path)
    if (decoded === undefined) return fail(input, `the bucket ${JSON.stringify(path)} has a malformed %-escape`)
    if (decoded === "") return fail(input, "the bucket name is empty")
    bucket = decoded
  }

  const options: Record<string, string> = {}
  if (query !== "") {
    for (const pair of query.split("&")) {
      if (pair === "") continue
      const eq = pair.indexOf("=")
      const rawName = eq < 0 ? pair : pair.slice(0, eq)
      const rawValue = eq < 0 ? "" : pair.slice(eq + 1)
      const name = decodeComponent(rawName)
      const value = decodeComponent(rawValue)
      // A secret's value is never quoted, not even in the error that refuses it.
      const shown = SECRET_OPTION.test(name ?? rawName) ? `${rawName}=${MASK}` : pair
      if (name === undefined || value === undefined)
        return fail(input, `option ${JSON.stringify(shown)} has a malformed %-escape`)
      if (name === "") return fail(input, `option ${JSON.stringify(shown)} has no name`)
      if (Object.hasOwn(options, name)) return fail(input, `option "${name}" is given twice`)
      if (SECRET_OPTION.test(name)) {
        return fail(
          input,
          `option "${name}" looks like a secret, and connection strings end up in logs; pass the password as the password option, as a Redacted`
        )
      }
      options[name] = value
    }
  }

  return Either.right(bucket === undefined ? { scheme, hosts, options } : { scheme, hosts, bucket, options })
}

const formatHost = (host: Host): string => {
  const name = host.host.includes(":") ? `[${host.host}]` : host.host
  return host.port === undefined ? name : `${name}:${host.port}`
}

/**
 * The text of a connection string: `parse(format(cs))` gives `cs` back for any
 * value `parse` can produce. Names and values are %-escaped as needed.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (cs: ConnectionString): string => {
  const hosts = cs.hosts.map(formatHost).join(",")
  const bucket = cs.bucket === undefined ? "" : `/${encodeURIComponent(cs.bucket)}`
  const entries = Object.entries(cs.options)
  const query =
    entries.length === 0
      ? ""
      : `?${entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}`
  return `${cs.scheme}://${hosts}${bucket}${query}`
}

/**
 * True when the connection string asks for TLS (`couchbases://`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isTls = (cs: ConnectionString): boolean => cs.scheme === "couchbases"

/**
 * True for `memcached://`: ketama hashing, no vBuckets, no bootstrap config.
 *
 * @since 0.1.0
 * @category guards
 */
export const isMemcached = (cs: ConnectionString): boolean => cs.scheme === "memcached"

/**
 * The seed hosts with the scheme's default port filled in, in order, without duplicates.
 *
 * @since 0.1.0
 * @category getters
 */
export const seeds = (cs: ConnectionString): ReadonlyArray<{ readonly host: string; readonly port: number }> => {
  const seen = new Set<string>()
  const out: Array<{ readonly host: string; readonly port: number }> = []
  for (const h of cs.hosts) {
    const port = h.port ?? DEFAULT_PORTS[cs.scheme]
    const id = `${h.host.toLowerCase()}|${port}`
    if (seen.has(id)) continue
    seen.add(id)
    out.push({ host: h.host, port })
  }
  return out
}
