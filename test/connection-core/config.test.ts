/**
 * The client's cluster-config parser and the routers built from it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { hostPort, isNewer, parse } from "../../src/internal/connection/ClusterConfig.js"
import { fromConfig, ketamaRouter } from "../../src/internal/connection/Router.js"
import { makeContinuum, serverOf } from "../../src/internal/hashing/ketama.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"

const key = (k: string) => Buffer.from(k, "utf8")

/** A config shaped like the embedded server's and Couchbase Server's. */
const terse = (overrides: Record<string, unknown> = {}) => ({
  rev: 12,
  revEpoch: 1,
  name: "default",
  nodeLocator: "vbucket",
  nodesExt: [
    { services: { kv: 11210, kvSSL: 11207, capi: 8092, mgmt: 8091 }, hostname: "10.0.0.1" },
    { services: { kv: 11210, capi: 8092, mgmt: 8091 }, hostname: "10.0.0.2", thisNode: true },
    { services: { mgmt: 8091 }, hostname: "10.0.0.3" }
  ],
  vBucketServerMap: {
    hashAlgorithm: "CRC",
    numReplicas: 1,
    serverList: ["10.0.0.1:11210", "10.0.0.2:11210"],
    vBucketMap: [
      [0, 1],
      [1, 0],
      [1, -1],
      [-1, -1]
    ]
  },
  ...overrides
})

const ok = (body: unknown, source = "seed.example") => {
  const result = parse(JSON.stringify(body), source)
  if (Either.isLeft(result)) throw new Error(`expected a config, got ${result.left.message}`)
  return result.right
}

const fails = (body: string | unknown) => {
  const result = parse(typeof body === "string" ? body : JSON.stringify(body), "h")
  if (Either.isRight(result)) throw new Error("expected a ProtocolError")
  expect(result.left._tag).toBe("ProtocolError")
  return result.left.message
}

describe("ClusterConfig.parse", () => {
  it("reads revision, servers, services and the vBucket map", () => {
    const c = ok(terse())
    expect(c.rev).toBe(12)
    expect(c.revEpoch).toBe(1)
    expect(c.bucket).toBe("default")
    expect(c.locator).toBe("vbucket")
    expect(c.servers.map((s) => s.host)).toEqual(["10.0.0.1", "10.0.0.2"])
    expect(c.servers[0]!.services).toEqual({ kv: 11210, kvSSL: 11207, capi: 8092, mgmt: 8091 })
    expect(c.servers[1]!.services).toEqual({ kv: 11210, capi: 8092, mgmt: 8091 })
    expect(c.thisNode).toBe(1)
    expect(c.vbuckets!.numReplicas).toBe(1)
    expect(c.vbuckets!.map.map((row) => [...row])).toEqual([
      [0, 1],
      [1, 0],
      [1, -1],
      [-1, -1]
    ])
  })

  it("matches serverList to nodesExt by address, not by position", () => {
    const c = ok(
      terse({
        nodesExt: [
          { services: { kv: 11210, capi: 9502 }, hostname: "10.0.0.2" },
          { services: { kv: 11210, capi: 9501 }, hostname: "10.0.0.1" }
        ]
      })
    )
    expect(c.servers.map((s) => `${s.host}/${s.services.capi}`)).toEqual(["10.0.0.1/9501", "10.0.0.2/9502"])
  })

  it("replaces $HOST and a missing hostname with the host the config came from", () => {
    const c = ok(
      {
        rev: 3,
        name: "b",
        nodesExt: [{ services: { kv: 12000, capi: 9500 }, thisNode: true }],
        vBucketServerMap: { numReplicas: 0, serverList: ["$HOST:12000"], vBucketMap: [[0], [0]] }
      },
      "127.0.0.1"
    )
    expect(c.revEpoch).toBe(0)
    expect(c.servers).toEqual([{ host: "127.0.0.1", services: { kv: 12000, capi: 9500 }, thisNode: true }])
    expect(c.thisNode).toBe(0)
  })

  it("reads IPv6 server addresses and formats them back in brackets", () => {
    const c = ok(
      {
        rev: 1,
        name: "b",
        nodesExt: [{ services: { kv: 11210 }, hostname: "::1" }],
        vBucketServerMap: { numReplicas: 0, serverList: ["[::1]:11210"], vBucketMap: [[0]] }
      },
      "x"
    )
    expect(c.servers[0]!.host).toBe("::1")
    expect(hostPort(c.servers[0]!.host, 11210)).toBe("[::1]:11210")
  })

  it("pads short chains with -1", () => {
    const c = ok(terse({ vBucketServerMap: { numReplicas: 2, serverList: ["a:1", "b:2"], vBucketMap: [[0], [1, 0]] } }))
    expect(c.vbuckets!.map.map((row) => [...row])).toEqual([
      [0, -1, -1],
      [1, 0, -1]
    ])
  })

  it("reads memcached-bucket configs as ketama over the KV nodes", () => {
    const c = ok({
      rev: 5,
      name: "cache",
      nodeLocator: "ketama",
      nodesExt: [
        { services: { kv: 12001, mgmt: 9001 }, hostname: "127.0.0.1" },
        { services: { mgmt: 9002 }, hostname: "127.0.0.2" },
        { services: { kv: 12003 }, hostname: "127.0.0.3" }
      ]
    })
    expect(c.locator).toBe("ketama")
    expect(c.vbuckets).toBeUndefined()
    expect(c.servers.map((s) => hostPort(s.host, s.services.kv!))).toEqual(["127.0.0.1:12001", "127.0.0.3:12003"])
  })

  it("reads the legacy nodes list when nodesExt is absent", () => {
    const c = ok({
      rev: 2,
      name: "old",
      nodeLocator: "ketama",
      nodes: [{ hostname: "10.1.1.1:8091", ports: { direct: 11210 } }]
    })
    expect(c.servers).toEqual([{ host: "10.1.1.1", services: { kv: 11210, mgmt: 8091 }, thisNode: false }])
  })

  it("refuses what it cannot route with, naming the field", () => {
    expect(fails("{not json")).toMatch(/not JSON/)
    expect(fails([1, 2])).toMatch(/not a JSON object/)
    expect(fails({ ...terse(), rev: "7" })).toMatch(/rev must be/)
    expect(fails({ ...terse(), revEpoch: -1 })).toMatch(/revEpoch/)
    expect(fails(terse({ vBucketServerMap: { numReplicas: 1, serverList: ["a:1"], vBucketMap: [[0, 3]] } }))).toMatch(
      /vBucket 0 names server 3, but there are 1 servers/
    )
    expect(fails(terse({ vBucketServerMap: { numReplicas: 9, serverList: [], vBucketMap: [[0]] } }))).toMatch(
      /numReplicas/
    )
    expect(fails(terse({ vBucketServerMap: { numReplicas: 0, serverList: ["nope"], vBucketMap: [[0]] } }))).toMatch(
      /serverList\[0\]/
    )
    expect(fails(terse({ vBucketServerMap: { numReplicas: 0, serverList: ["a:1"], vBucketMap: [] } }))).toMatch(
      /non-empty/
    )
  })

  it.prop("never throws on arbitrary JSON", [fc.json()], ([text]) => {
    const r = parse(text, "h")
    expect(Either.isLeft(r) || typeof r.right.rev === "number").toBe(true)
  })
})

describe("isNewer", () => {
  it("orders by revEpoch first, then rev", () => {
    const a = ok(terse({ rev: 10, revEpoch: 1 }))
    const b = ok(terse({ rev: 11, revEpoch: 1 }))
    const c = ok(terse({ rev: 2, revEpoch: 2 }))
    expect(isNewer(a, undefined)).toBe(true)
    expect(isNewer(b, a)).toBe(true)
    expect(isNewer(a, b)).toBe(false)
    expect(isNewer(a, a)).toBe(false)
    expect(isNewer(c, b)).toBe(true)
    expect(isNewer(b, c)).toBe(false)
  })
})

describe("Router", () => {
  it("routes by vBucket: master, replicas and missing copies", () => {
    const map = Array.from({ length: 1024 }, (_, vb) => [vb % 3, (vb + 1) % 3, vb % 2 === 0 ? -1 : (vb + 2) % 3])
    const c = ok({
      rev: 1,
      name: "b",
      nodesExt: [0, 1, 2].map((i) => ({ services: { kv: 11210 }, hostname: `10.0.0.${i}` })),
      vBucketServerMap: { numReplicas: 2, serverList: [0, 1, 2].map((i) => `10.0.0.${i}:11210`), vBucketMap: map }
    })
    const r = fromConfig(c, false)
    expect(r.kind).toBe("vbucket")
    expect(r.numVBuckets).toBe(1024)
    expect(r.numReplicas).toBe(2)
    // SPEC.md §3.1 vectors.
    expect(r.vbucket(key("hello"))).toBe(528)
    expect(r.vbucket(key("user::1"))).toBe(997)
    expect(r.server(key("hello"), 528, 0)).toBe(528 % 3)
    expect(r.server(key("hello"), 528, 1)).toBe(529 % 3)
    expect(r.server(key("hello"), 528, 2)).toBe(-1)
    expect(r.server(key("user::1"), 997, 2)).toBe(999 % 3)
    expect(r.server(key("x"), 5, 3)).toBe(-1)
  })

  it("routes every key of a 64-vBucket map to the chain the map names", () => {
    const map = Array.from({ length: 64 }, (_, vb) => [vb % 2, 1 - (vb % 2)])
    const r = fromConfig(
      ok({
        rev: 1,
        name: "b",
        vBucketServerMap: { numReplicas: 1, serverList: ["a:1", "b:2"], vBucketMap: map }
      }),
      false
    )
    for (const k of ["hello", "missing", "foo", "user::1", "ü", "k".repeat(250)]) {
      const vb = vbucketOf(k, 64)
      expect(r.vbucket(key(k))).toBe(vb)
      expect(r.server(key(k), vb, 0)).toBe(vb % 2)
      expect(r.server(key(k), vb, 1)).toBe(1 - (vb % 2))
    }
  })

  it("routes memcached configs by ketama with host:port labels", () => {
    const servers = [
      { host: "127.0.0.1", port: 11211 },
      { host: "127.0.0.1", port: 11212 }
    ]
    const c = ok({
      rev: 1,
      name: "m",
      nodeLocator: "ketama",
      nodesExt: servers.map((s) => ({ hostname: s.host, services: { kv: s.port } }))
    })
    const r = fromConfig(c, false)
    const continuum = makeContinuum(servers, { omitDefaultPort: false })
    const seen = new Set<number>()
    for (let i = 0; i < 200; i++) {
      const k = key(`key-${i}`)
      expect(r.vbucket(k)).toBe(0)
      expect(r.server(k, 0, 0)).toBe(serverOf(continuum, k))
      expect(r.server(k, 0, 1)).toBe(-1)
      seen.add(r.server(k, 0, 0))
    }
    expect(seen).toEqual(new Set([0, 1]))
  })

  it("uses libmemcached labels for plain memcached servers", () => {
    const servers = [
      { host: "10.0.0.1", port: 11211 },
      { host: "10.0.0.2", port: 11211 }
    ]
    const r = ketamaRouter(servers, "libmemcached")
    const lib = makeContinuum(servers)
    for (let i = 0; i < 100; i++) expect(r.server(key(`k${i}`), 0, 0)).toBe(serverOf(lib, key(`k${i}`)))
  })
})
