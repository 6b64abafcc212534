import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as ConnectionString from "../../src/ConnectionString.js"
import { ArgumentError } from "../../src/Errors.js"

const ok = (input: string): ConnectionString.ConnectionString => {
  const parsed = ConnectionString.parse(input)
  if (Either.isLeft(parsed)) throw new Error(`expected ${input} to parse: ${parsed.left.message}`)
  return parsed.right
}

const refused = (input: string): ArgumentError => {
  const parsed = ConnectionString.parse(input)
  if (Either.isRight(parsed)) throw new Error(`expected ${input} to be refused, got ${JSON.stringify(parsed.right)}`)
  expect(parsed.left).toBeInstanceOf(ArgumentError)
  return parsed.left
}

describe("ConnectionString.parse", () => {
  it("reads hosts, ports, the bucket and options", () => {
    expect(ok("couchbase://host1,host2:11222/travel?operation_timeout=4.2&certpath=/tmp/x.pem")).toEqual({
      scheme: "couchbase",
      hosts: [{ host: "host1" }, { host: "host2", port: 11222 }],
      bucket: "travel",
      options: { operation_timeout: "4.2", certpath: "/tmp/x.pem" }
    })
  })

  it("knows the three schemes and their default ports", () => {
    expect(ok("couchbases://secure/b").scheme).toBe("couchbases")
    expect(ok("memcached://127.0.0.1:11211").scheme).toBe("memcached")
    expect(ConnectionString.seeds(ok("couchbase://a"))).toEqual([{ host: "a", port: 11210 }])
    expect(ConnectionString.seeds(ok("couchbases://a"))).toEqual([{ host: "a", port: 11207 }])
    expect(ConnectionString.seeds(ok("memcached://a"))).toEqual([{ host: "a", port: 11211 }])
    expect(ConnectionString.isTls(ok("couchbases://a"))).toBe(true)
    expect(ConnectionString.isTls(ok("couchbase://a"))).toBe(false)
    expect(ConnectionString.isMemcached(ok("memcached://a"))).toBe(true)
    expect(ok("COUCHBASE://a").scheme).toBe("couchbase")
  })

  it("reads IPv6 addresses in brackets, with or without a port", () => {
    expect(ok("couchbase://[::1]:11210,[fe80::2]/b").hosts).toEqual([{ host: "::1", port: 11210 }, { host: "fe80::2" }])
    // Without brackets an IPv6 address cannot carry a port, but is still an address.
    expect(ok("couchbase://::1/b").hosts).toEqual([{ host: "::1" }])
  })

  it("defaults: no host is localhost, no scheme is couchbase, no bucket is none", () => {
    expect(ok("couchbase:///mybucket")).toEqual({
      scheme: "couchbase",
      hosts: [{ host: "localhost" }],
      bucket: "mybucket",
      options: {}
    })
    expect(ok("host1,host2/b")).toEqual({
      scheme: "couchbase",
      hosts: [{ host: "host1" }, { host: "host2" }],
      bucket: "b",
      options: {}
    })
    expect(ok("couchbase://h")).toEqual({ scheme: "couchbase", hosts: [{ host: "h" }], options: {} })
    expect(ok("  couchbase://h/b  ").bucket).toBe("b")
    expect(ok("couchbase://h1,,h2;h3,/b").hosts.map((h) => h.host)).toEqual(["h1", "h2", "h3"])
  })

  it("decodes %-escapes in the bucket and options, and keeps unknown options", () => {
    const cs = ok("couchbase://h/my%20bucket?a%3Db=c%26d&flag&x=1+2")
    expect(cs.bucket).toBe("my bucket")
    expect(cs.options).toEqual({ "a=b": "c&d", flag: "", x: "1 2" })
  })

  it("refuses what it cannot route, naming the problem", () => {
    expect(refused("").message).toContain("empty")
    expect(refused("http://h:8091/b").message).toContain('unsupported scheme "http://"')
    expect(refused("couchbase://h:0/b").message).toContain("port")
    expect(refused("couchbase://h:65536/b").message).toContain("1..65535")
    expect(refused("couchbase://h:abc/b").message).toContain('"abc"')
    expect(refused("couchbase://[::1/b").message).toContain("without closing")
    expect(refused("couchbase://[nothost]:1/b").message).toContain("not an IPv6 address")
    expect(refused("couchbase://[::1]x/b").message).toContain("unexpected")
    expect(refused("couchbase://bad host/b").message).toContain("not a valid name")
    expect(refused("couchbase://h/a/b").message).toContain("more than one segment")
    expect(refused("couchbase://h/%zz").message).toContain("%-escape")
    expect(refused("couchbase://h/b?x=1&x=2").message).toContain('"x" is given twice')
    expect(refused("couchbase://h/b?=1").message).toContain("no name")
    expect(refused("couchbase://h/b#frag").message).toContain("fragment")
    expect(refused("1cb://h").message).toContain("malformed")
  })

  it("refuses a password in the string, without echoing anything but the string", () => {
    const error = refused("couchbase://h/b?password=hunter2")
    expect(error.message).toContain("Redacted")
    expect(error.message).not.toContain("hunter2")
  })

  // Every refusal quotes the input: none may quote a secret in it, whichever part of
  // the string is wrong and however the secret is written.
  const SECRET = "S3cr3tXyz"
  it.each([
    `couchbase://admin:${SECRET}@h/b`,
    `couchbase://admin:${SECRET}@h1,h2:11210/b?x=1`,
    `admin:${SECRET}@h`,
    `couchbase://h/b?password=${SECRET}`,
    `couchbase://h/b?pass%77ord=${SECRET}`,
    `couchbase://h/b?x=1&PASSWORD=${SECRET}&y=2`,
    `couchbase://h/b?token=${SECRET}&x=%zz`,
    `couchbase://h/b?password=${SECRET}%zz`,
    `couchbase://bad host/b?password=${SECRET}`,
    `couchbase://h:99999/b?secret=${SECRET}`,
    `xx://h/b?password=${SECRET}`,
    `couchbase://u:${SECRET}@[::1/b`,
    `couchbase://h/b#frag?api_token=${SECRET}`,
    `couchbase://h/a/b?password=${SECRET}`
  ])("quotes no secret when refusing %s", (input) => {
    const error = refused(input)
    expect(error.message).toContain("invalid connection string")
    expect(error.message).not.toContain(SECRET)
    expect(String(error)).not.toContain(SECRET)
    expect(JSON.stringify(error)).not.toContain(SECRET)
  })

  it("redact masks credentials and secret options and keeps the rest", () => {
    expect(ConnectionString.redact("couchbase://admin:pw@db1,db2:11210/users?password=pw&kv_timeout=2")).toBe(
      "couchbase://***@db1,db2:11210/users?password=***&kv_timeout=2"
    )
    expect(ConnectionString.redact("db1/b?pass%77ord=pw&sasl_mech_force=PLAIN")).toBe(
      "db1/b?pass%77ord=***&sasl_mech_force=PLAIN"
    )
    expect(ConnectionString.redact("couchbase://db1/b")).toBe("couchbase://db1/b")
    fc.assert(
      fc.property(
        fc.string({ minLength: 6, maxLength: 20 }).filter((s) => /^[A-Za-z0-9]+$/.test(s)),
        (secret) => {
          const text = ConnectionString.redact(`couchbase://u:${secret}@h/b?x=1&token=${secret}`)
          expect(text).toBe("couchbase://***@h/b?x=1&token=***")
        }
      )
    )
  })

  it("fails for a non-string input as a typed error", () => {
    const parsed = ConnectionString.parse(42 as unknown as string)
    expect(Either.isLeft(parsed) && parsed.left._tag).toBe("ArgumentError")
  })

  it("seeds drop duplicates and fill default ports", () => {
    expect(ConnectionString.seeds(ok("couchbase://a,a:11210,A,b:1"))).toEqual([
      { host: "a", port: 11210 },
      { host: "b", port: 1 }
    ])
  })
})

describe("ConnectionString.format", () => {
  it("writes the canonical form", () => {
    expect(
      ConnectionString.format({
        scheme: "couchbases",
        hosts: [{ host: "::1", port: 11207 }, { host: "h" }],
        bucket: "a b",
        options: { operation_timeout: "2.5", "x&y": "1=2" }
      })
    ).toBe("couchbases://[::1]:11207,h/a%20b?operation_timeout=2.5&x%26y=1%3D2")
  })

  const hostname = fc.stringMatching(/^[a-z0-9_](?:[a-z0-9_.-]{0,20}[a-z0-9_])?$/)
  const ipv6 = fc.ipV6().filter((a) => a.includes(":"))
  const host = fc.record(
    { host: fc.oneof(hostname, fc.ipV4(), ipv6), port: fc.integer({ min: 1, max: 65535 }) },
    { requiredKeys: ["host"] }
  )
  const text = fc.string({ unit: "grapheme", maxLength: 12 })
  const connectionString: fc.Arbitrary<ConnectionString.ConnectionString> = fc
    .record({
      scheme: fc.constantFrom<ConnectionString.Scheme>("couchbase", "couchbases", "memcached"),
      hosts: fc.array(host, { minLength: 1, maxLength: 4 }),
      bucket: fc.option(
        text.filter((s) => s !== ""),
        { nil: undefined }
      ),
      options: fc.dictionary(
        text.filter((k) => k !== "" && !/pass|pwd|secret|token|credential|auth/i.test(k) && k !== "__proto__"),
        text,
        { maxKeys: 4 }
      )
    })
    .map(({ bucket, ...rest }) => (bucket === undefined ? rest : { ...rest, bucket }))

  it.prop("parse ∘ format is the identity", [connectionString], ([cs]) => {
    const parsed = ConnectionString.parse(ConnectionString.format(cs))
    expect(Either.isRight(parsed)).toBe(true)
    expect(Either.getOrThrow(parsed)).toEqual(cs)
  })

  it.prop("format ∘ parse is stable on formatted strings", [connectionString], ([cs]) => {
    const once = ConnectionString.format(cs)
    expect(ConnectionString.format(Either.getOrThrow(ConnectionString.parse(once)))).toBe(once)
  })
})
