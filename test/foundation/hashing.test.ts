import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  type KetamaServer,
  ketamaHash,
  makeContinuum,
  POINTS_PER_SERVER,
  pointLabel,
  pointsFor,
  serverForHash,
  serverOf
} from "../../src/internal/hashing/ketama.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"

describe("vbucketOf", () => {
  // SPEC.md §3.1 vectors: the same numbers every Couchbase SDK computes.
  const vectors: ReadonlyArray<readonly [string, number, number]> = [
    ["hello", 528, 16],
    ["missing", 160, 32],
    ["foo", 115, 51],
    ["user::1", 997, 37]
  ]

  for (const [key, vb1024, vb64] of vectors) {
    it(`${key} → ${vb1024} of 1024, ${vb64} of 64 (string and bytes agree)`, () => {
      expect(vbucketOf(key, 1024)).toBe(vb1024)
      expect(vbucketOf(key, 64)).toBe(vb64)
      expect(vbucketOf(Buffer.from(key), 1024)).toBe(vb1024)
      expect(vbucketOf(new TextEncoder().encode(key), 64)).toBe(vb64)
    })
  }

  it.prop(
    "a string key hashes as its UTF-8 bytes, and the result is a vBucket in range",
    [fc.string({ unit: "grapheme", maxLength: 40 }), fc.integer({ min: 1, max: 4096 })],
    ([key, n]) => {
      const vb = vbucketOf(key, n)
      expect(vb).toBe(vbucketOf(Buffer.from(key, "utf8"), n))
      expect(Number.isInteger(vb) && vb >= 0 && vb < n).toBe(true)
    }
  )

  it.prop(
    "only the key's bytes matter, not the view they sit in",
    [fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 16 })],
    ([bytes, pad]) => {
      const backing = new Uint8Array(bytes.length + pad * 2).fill(0xaa)
      backing.set(bytes, pad)
      expect(vbucketOf(backing.subarray(pad, pad + bytes.length), 1024)).toBe(vbucketOf(bytes, 1024))
    }
  )
})

const servers = (spec: string): ReadonlyArray<KetamaServer> =>
  spec.split(",").map((s) => {
    const [hostPort, weight] = s.split("/")
    const at = hostPort!.lastIndexOf(":")
    return {
      host: hostPort!.slice(0, at),
      port: Number(hostPort!.slice(at + 1)),
      ...(weight === undefined ? {} : { weight: Number(weight) })
    }
  })

const KEYS = ["hello", "missing", "foo", "user::1", "a", "b", "c", "apple", "banana", "cherry", "héllo", "session:42"]

describe("ketama", () => {
  // Expected indices produced by Debian's libmemcached 1.1.4 (memcached_generate_hash with
  // MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED and the servers added in this order).
  const libmemcachedVectors: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
    ["10.0.0.1:11211,10.0.0.2:11211,10.0.0.3:11211", [1, 1, 1, 2, 1, 1, 0, 0, 0, 2, 0, 1]],
    ["127.0.0.1:11212,127.0.0.1:11213,127.0.0.1:11214,127.0.0.1:11215", [2, 0, 2, 1, 0, 3, 3, 0, 2, 2, 1, 1]],
    [
      "192.168.1.101:11210,192.168.1.102:11210,192.168.1.103:11210,192.168.1.104:11210",
      [1, 1, 2, 3, 3, 0, 2, 1, 3, 0, 1, 3]
    ],
    ["a:11211/1,b:11211/2,c:11211/3", [2, 2, 2, 2, 2, 1, 0, 0, 2, 1, 1, 2]]
  ]

  for (const [spec, expected] of libmemcachedVectors) {
    it(`matches libmemcached for ${spec}`, () => {
      const continuum = makeContinuum(servers(spec))
      expect(KEYS.map((k) => serverOf(continuum, k))).toEqual(expected)
    })
  }

  it("matches libmemcached's single-precision point count (25 equal servers get 156 points each)", () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ host: `10.1.0.${i + 1}`, port: 11211 }))
    const continuum = makeContinuum(many)
    expect(continuum.points.length).toBe(25 * 156)
    expect(KEYS.slice(0, 10).map((k) => serverOf(continuum, k))).toEqual([13, 2, 24, 6, 0, 13, 13, 14, 11, 14])
  })

  it("writes libmemcached labels (port 11211 omitted) or Couchbase RFC 26 labels", () => {
    expect(pointLabel({ host: "10.0.0.1", port: 11211 }, 7)).toBe("10.0.0.1-7")
    expect(pointLabel({ host: "10.0.0.1", port: 11210 }, 0)).toBe("10.0.0.1:11210-0")
    expect(pointLabel({ host: "10.0.0.1", port: 11211 }, 39, { omitDefaultPort: false })).toBe("10.0.0.1:11211-39")
    // The choice changes the ring for port 11211 only.
    const list = servers("10.0.0.1:11211,10.0.0.2:11211,10.0.0.3:11211")
    const a = makeContinuum(list)
    const b = makeContinuum(list, { omitDefaultPort: false })
    expect(Array.from(a.points)).not.toEqual(Array.from(b.points))
    const onOtherPort = servers("10.0.0.1:11210,10.0.0.2:11210")
    expect(makeContinuum(onOtherPort, { omitDefaultPort: false })).toEqual(makeContinuum(onOtherPort))
  })

  it("builds 160 points per equal server from 40 MD5 digests, sorted", () => {
    const list = servers("h1:1,h2:2,h3:3")
    const continuum = makeContinuum(list)
    expect(continuum.points.length).toBe(3 * POINTS_PER_SERVER)
    expect(continuum.serverCount).toBe(3)
    for (let i = 1; i < continuum.points.length; i++) {
      expect(continuum.points[i - 1]! <= continuum.points[i]!).toBe(true)
    }
    // Every word of every label digest is on the ring, owned by its server.
    const owned = new Map<number, number>()
    continuum.points.forEach((p, i) => {
      owned.set(p, continuum.owners[i]!)
    })
    list.forEach((server, index) => {
      for (let i = 0; i < 40; i++) {
        const digest = createHash("md5").update(pointLabel(server, i)).digest()
        for (let w = 0; w < 4; w++) expect(owned.get(digest.readUInt32LE(w * 4))).toBe(index)
      }
    })
  })

  it("gives heavier servers proportionally more points", () => {
    expect(pointsFor(1, 3, 3)).toBe(160)
    expect(pointsFor(1, 6, 3)).toBe(80)
    expect(pointsFor(3, 6, 3)).toBe(240)
    const continuum = makeContinuum(servers("a:1/1,b:2/3"))
    const counts = [0, 0]
    for (const o of continuum.owners) counts[o]!++
    expect(counts).toEqual([80, 240])
  })

  it("hashes a key to the first little-endian word of its MD5", () => {
    expect(ketamaHash("hello")).toBe(createHash("md5").update("hello").digest().readUInt32LE(0))
    expect(ketamaHash("héllo")).toBe(ketamaHash(Buffer.from("héllo", "utf8")))
  })

  it("finds the first point at or after the hash and wraps around", () => {
    const continuum = makeContinuum(servers("h1:1,h2:2,h3:3"))
    const { points, owners } = continuum
    expect(serverForHash(continuum, 0)).toBe(owners[0])
    expect(serverForHash(continuum, points[5]!)).toBe(owners[5])
    expect(serverForHash(continuum, points[5]! + 1)).toBe(owners[6])
    expect(serverForHash(continuum, points[points.length - 1]! + 1)).toBe(owners[0])
    expect(serverForHash(continuum, 0xffffffff)).toBe(
      points[points.length - 1] === 0xffffffff ? owners[points.length - 1] : owners[0]
    )
  })

  it("handles the degenerate rings", () => {
    expect(serverOf(makeContinuum([]), "k")).toBe(-1)
    const one = makeContinuum([{ host: "solo", port: 11211 }])
    expect(serverOf(one, "anything")).toBe(0)
    expect(() => makeContinuum([{ host: "x", port: 1, weight: 0 }])).toThrow(RangeError)
  })

  it.prop(
    "is deterministic: the same servers map every key to the same server",
    [fc.string({ maxLength: 60 })],
    ([key]) => {
      const list = servers("10.0.0.1:11211,10.0.0.2:11211,10.0.0.3:11211")
      const index = serverOf(makeContinuum(list), key)
      expect(index).toBe(serverOf(makeContinuum([...list]), key))
      expect(index >= 0 && index < 3).toBe(true)
    }
  )

  const keys = Array.from({ length: 10_000 }, (_, i) => `key:${i}`)

  it("spreads 10k keys roughly evenly over 3 servers", () => {
    const continuum = makeContinuum(servers("10.0.0.1:11211,10.0.0.2:11211,10.0.0.3:11211"))
    const counts = [0, 0, 0]
    for (const k of keys) counts[serverOf(continuum, k)]!++
    expect(counts.reduce((a, b) => a + b, 0)).toBe(keys.length)
    // 160 points per server keeps every share within about ±20 % of a third.
    for (const c of counts) {
      expect(c).toBeGreaterThan(keys.length / 3 - keys.length * 0.07)
      expect(c).toBeLessThan(keys.length / 3 + keys.length * 0.07)
    }
  })

  it("moves only about a quarter of the keys when a 4th server joins, all of them to it", () => {
    const three = servers("10.0.0.1:11211,10.0.0.2:11211,10.0.0.3:11211")
    const before = makeContinuum(three)
    const after = makeContinuum([...three, { host: "10.0.0.4", port: 11211 }])
    let moved = 0
    for (const k of keys) {
      const a = serverOf(before, k)
      const b = serverOf(after, k)
      if (a !== b) {
        moved++
        // A key that moves only ever moves to the new server.
        expect(b).toBe(3)
      }
    }
    expect(moved).toBeGreaterThan(keys.length * 0.15)
    expect(moved).toBeLessThan(keys.length * 0.35)
  })
})
