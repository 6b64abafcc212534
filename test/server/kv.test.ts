/**
 * The KV engine over the wire, with a raw frame client: CAS, flags, quiet variants,
 * append/prepend, counters, touch/GAT, locks (statuses with and without XERROR),
 * size limits, unknown commands, HELLO, the error map, STAT, cluster configs,
 * NOT_MY_VBUCKET, GET_REPLICA and OBSERVE.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"
import { Datatype, HelloFeature, Magic, Opcode, Status } from "../../src/internal/protocol/constants.js"
import type { Frame } from "../../src/internal/protocol/Frame.js"
import { MAX_OPEN_SCANS } from "../../src/server/handlers/rangeScan.js"
import { counterExtras, type RawClient, rawClient, sessionClient, setExtras, u32 } from "./support/rawClient.js"

const MODERN: ReadonlyArray<number> = [
  HelloFeature.Xerror,
  HelloFeature.SelectBucket,
  HelloFeature.Json,
  HelloFeature.MutationSeqno,
  HelloFeature.AltRequestSupport
]

const vb = (key: string) => vbucketOf(key, 1024)
const k = (key: string) => ({ key: Buffer.from(key), vbucket: vb(key) })
const call = (client: RawClient, init: Parameters<RawClient["request"]>[0]) =>
  Effect.promise(() => client.request(init))
const set = (client: RawClient, key: string, value: string | Buffer, flags = 0, cas = 0n, expiry = 0) =>
  call(client, { opcode: Opcode.Set, ...k(key), value: Buffer.from(value), extras: setExtras(flags, expiry), cas })
const get = (client: RawClient, key: string) => call(client, { opcode: Opcode.Get, ...k(key) })

const single = EmbeddedCluster.make({ nodes: 1 })

describe("KV engine", () => {
  it.scoped("stores values with flags and CAS, and enforces CAS, ADD and REPLACE", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv, { features: MODERN })
      const first = yield* set(c, "doc", "v1", 0x02000006)
      expect(first.status).toBe(Status.Success)
      expect(first.cas).toBeGreaterThan(0n)
      expect(first.extras.length).toBe(16) // MUTATION_SEQNO: vBucket UUID + seqno
      const seqno1 = first.extras.readBigUInt64BE(8)
      const read = yield* get(c, "doc")
      expect([read.status, read.value.toString(), read.extras.readUInt32BE(0), read.cas]).toEqual([
        Status.Success,
        "v1",
        0x02000006,
        first.cas
      ])
      const second = yield* set(c, "doc", "v2", 0, first.cas)
      expect(second.status).toBe(Status.Success)
      expect(second.extras.readBigUInt64BE(8)).toBe(seqno1 + 1n)
      expect((yield* set(c, "doc", "v3", 0, first.cas)).status).toBe(Status.KeyExists)
      expect((yield* set(c, "nothing-here", "v", 0, 12345n)).status).toBe(Status.KeyNotFound)
      const add = (key: string, cas = 0n) =>
        call(c, { opcode: Opcode.Add, ...k(key), value: Buffer.from("a"), extras: setExtras(0, 0), cas })
      expect((yield* add("doc")).status).toBe(Status.KeyExists)
      expect((yield* add("fresh")).status).toBe(Status.Success)
      expect((yield* add("fresh2", 5n)).status).toBe(Status.Invalid)
      const replace = (key: string) =>
        call(c, { opcode: Opcode.Replace, ...k(key), value: Buffer.from("r"), extras: setExtras(7, 0) })
      expect((yield* replace("missing")).status).toBe(Status.KeyNotFound)
      expect((yield* replace("doc")).status).toBe(Status.Success)
      expect((yield* get(c, "doc")).value.toString()).toBe("r")
      const del = yield* call(c, { opcode: Opcode.Delete, ...k("doc"), cas: 1n })
      expect(del.status).toBe(Status.KeyExists)
      const deleted = yield* call(c, { opcode: Opcode.Delete, ...k("doc") })
      expect(deleted.status).toBe(Status.Success)
      expect(deleted.cas).toBeGreaterThan(second.cas)
      expect((yield* get(c, "doc")).status).toBe(Status.KeyNotFound)
      expect((yield* call(c, { opcode: Opcode.Delete, ...k("doc") })).status).toBe(Status.KeyNotFound)
    })
  )

  it.scoped("quiet commands answer only on failure (gets only on a hit), in order up to the NOOP", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv)
      c.received.length = 0
      const setq = c.send({ opcode: Opcode.SetQ, ...k("q"), value: Buffer.from("quiet"), extras: setExtras(3, 0) })
      const getqHit = c.send({ opcode: Opcode.GetQ, ...k("q") })
      const getqMiss = c.send({ opcode: Opcode.GetQ, ...k("q-missing") })
      const getkqHit = c.send({ opcode: Opcode.GetKQ, ...k("q") })
      const deleteqMiss = c.send({ opcode: Opcode.DeleteQ, ...k("q-missing") })
      const addqFail = c.send({ opcode: Opcode.AddQ, ...k("q"), value: Buffer.from("x"), extras: setExtras(0, 0) })
      const appendq = c.send({ opcode: Opcode.AppendQ, ...k("q"), value: Buffer.from("!") })
      const incrqFail = c.send({ opcode: Opcode.IncrementQ, ...k("q"), extras: counterExtras(1n, 0n, 0) })
      const noop = c.send({ opcode: Opcode.Noop })
      yield* Effect.promise(() => c.responses(noop))
      const seen = c.received.map((f) => [f.opaque, f.status])
      expect(seen).toEqual([
        [getqHit, Status.Success],
        [getkqHit, Status.Success],
        [deleteqMiss, Status.KeyNotFound],
        [addqFail, Status.KeyExists],
        [incrqFail, Status.DeltaBadval],
        [noop, Status.Success]
      ])
      expect([setq, getqMiss, appendq].some((o) => seen.some(([opaque]) => opaque === o))).toBe(false)
      const getkq = c.received[1]!
      expect([getkq.key.toString(), getkq.value.toString(), getkq.extras.readUInt32BE(0)]).toEqual(["q", "quiet", 3])
      expect((yield* get(c, "q")).value.toString()).toBe("quiet!")
    })
  )

  it.scoped("appends and prepends keep the flags; a missing key is NOT_STORED", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv)
      yield* set(c, "text", "middle", 0x04000004)
      const append = yield* call(c, { opcode: Opcode.Append, ...k("text"), value: Buffer.from(">") })
      const prepend = yield* call(c, { opcode: Opcode.Prepend, ...k("text"), value: Buffer.from("<") })
      expect([append.status, prepend.status]).toEqual([Status.Success, Status.Success])
      expect(prepend.cas).toBeGreaterThan(append.cas)
      const read = yield* get(c, "text")
      expect([read.value.toString(), read.extras.readUInt32BE(0)]).toEqual(["<middle>", 0x04000004])
      const stale = yield* call(c, { opcode: Opcode.Append, ...k("text"), value: Buffer.from("x"), cas: append.cas })
      expect(stale.status).toBe(Status.KeyExists)
      const missing = yield* call(c, { opcode: Opcode.Append, ...k("no-text"), value: Buffer.from("x") })
      expect(missing.status).toBe(Status.NotStored)
    })
  )

  it.scoped("counters: create with the initial value, wrap at 2^64, stop at 0, refuse non-numbers", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv)
      const incr = (key: string, delta: bigint, initial = 0n, expiry = 0) =>
        call(c, { opcode: Opcode.Increment, ...k(key), extras: counterExtras(delta, initial, expiry) })
      const decr = (key: string, delta: bigint) =>
        call(c, { opcode: Opcode.Decrement, ...k(key), extras: counterExtras(delta, 0n, 0) })
      const value = (f: Frame) => f.value.readBigUInt64BE(0)
      expect((yield* incr("nope", 1n, 5n, 0xffffffff)).status).toBe(Status.KeyNotFound)
      const created = yield* incr("ctr", 100n, 42n)
      expect([created.status, value(created)]).toEqual([Status.Success, 42n])
      expect(value(yield* incr("ctr", 8n))).toBe(50n)
      expect(value(yield* decr("ctr", 20n))).toBe(30n)
      expect(value(yield* decr("ctr", 1000n))).toBe(0n)
      expect((yield* get(c, "ctr")).value.toString()).toBe("0")
      yield* set(c, "big", "18446744073709551615")
      expect(value(yield* incr("big", 2n))).toBe(1n)
      yield* set(c, "word", "forty-two")
      expect((yield* incr("word", 1n)).status).toBe(Status.DeltaBadval)
      yield* set(c, "too-big", "18446744073709551616")
      expect((yield* incr("too-big", 1n)).status).toBe(Status.DeltaBadval)
    })
  )

  it.scoped("TOUCH and GAT set a new expiry and CAS; GATQ is silent on a miss", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv)
      const stored = yield* set(c, "t", "touch me", 9)
      const touched = yield* call(c, { opcode: Opcode.Touch, ...k("t"), extras: u32(100) })
      expect(touched.status).toBe(Status.Success)
      expect(touched.cas).toBeGreaterThan(stored.cas)
      expect(server.bucket("default")!.getDocument("t")!.expiry).toBeGreaterThan(0)
      const gat = yield* call(c, { opcode: Opcode.Gat, ...k("t"), extras: u32(0) })
      expect([gat.status, gat.value.toString(), gat.extras.readUInt32BE(0)]).toEqual([Status.Success, "touch me", 9])
      expect(server.bucket("default")!.getDocument("t")!.expiry).toBe(0)
      expect((yield* call(c, { opcode: Opcode.Touch, ...k("t-missing"), extras: u32(5) })).status).toBe(
        Status.KeyNotFound
      )
      c.received.length = 0
      const gatq = c.send({ opcode: Opcode.GatQ, ...k("t-missing"), extras: u32(5) })
      const noop = c.send({ opcode: Opcode.Noop })
      yield* Effect.promise(() => c.responses(noop))
      expect(c.received.map((f) => f.opaque)).toEqual([noop])
      expect(gatq).not.toBe(noop)
    })
  )

  for (const xerror of [true, false]) {
    it.scoped(`locks ${xerror ? "with XERROR (LOCKED, NOT_LOCKED)" : "without XERROR (KEY_EEXISTS, ETMPFAIL)"}`, () =>
      Effect.gen(function* () {
        const server = yield* single
        const c = yield* sessionClient(server.nodes[0]!.kv, { features: xerror ? MODERN : [] })
        const locked = xerror ? Status.Locked : Status.KeyExists
        const tmpfail = xerror ? Status.Locked : Status.TemporaryFailure
        const notLocked = xerror ? 0x0e : Status.TemporaryFailure
        yield* set(c, "lk", "locked value", 5)
        const lock = (seconds?: number) =>
          call(c, { opcode: Opcode.GetLocked, ...k("lk"), extras: seconds === undefined ? undefined : u32(seconds) })
        const unlock = (cas: bigint) => call(c, { opcode: Opcode.UnlockKey, ...k("lk"), cas })
        const l1 = yield* lock(10)
        expect([l1.status, l1.value.toString(), l1.extras.readUInt32BE(0)]).toEqual([Status.Success, "locked value", 5])
        expect((yield* get(c, "lk")).cas).toBe(0xffffffffffffffffn)
        expect((yield* set(c, "lk", "intruder")).status).toBe(locked)
        expect((yield* call(c, { opcode: Opcode.Delete, ...k("lk") })).status).toBe(locked)
        expect((yield* lock()).status).toBe(tmpfail)
        expect((yield* unlock(l1.cas + 1n)).status).toBe(tmpfail)
        // The lock holder writes with the lock's CAS, which releases the lock.
        const owner = yield* set(c, "lk", "owner", 0, l1.cas)
        expect(owner.status).toBe(Status.Success)
        expect((yield* get(c, "lk")).cas).toBe(owner.cas)
        const l2 = yield* lock()
        expect((yield* unlock(l2.cas)).status).toBe(Status.Success)
        expect((yield* unlock(l2.cas)).status).toBe(notLocked)
        expect((yield* call(c, { opcode: Opcode.UnlockKey, ...k("lk-missing"), cas: 1n })).status).toBe(
          Status.KeyNotFound
        )
        expect((yield* set(c, "lk", "free again")).status).toBe(Status.Success)
      })
    )
  }

  it.scoped("GET_META: deleted flag, flags, expiry, revision seqno, datatype with version 2; tombstones; misses", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv, { features: MODERN })
      const meta = (key: string, version?: number) =>
        call(c, {
          opcode: Opcode.GetMeta,
          ...k(key),
          extras: version === undefined ? undefined : Buffer.from([version])
        })
      const stored = yield* call(c, {
        opcode: Opcode.Set,
        ...k("gm"),
        value: Buffer.from('{"a":1}'),
        datatype: Datatype.Json,
        extras: setExtras(0x02000006, 3600)
      })
      // The cluster's clock is the test's (TestClock here): expiry is in its seconds.
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const first = yield* meta("gm")
      expect([first.status, first.cas, first.value.length, first.extras.length]).toEqual([
        Status.Success,
        stored.cas,
        0,
        20
      ])
      expect([first.extras.readUInt32BE(0), first.extras.readUInt32BE(4)]).toEqual([0, 0x02000006])
      expect(Math.abs(first.extras.readUInt32BE(8) - (now + 3600))).toBeLessThanOrEqual(2)
      const seqno = first.extras.readBigUInt64BE(12)
      expect(seqno).toBeGreaterThan(0n)

      yield* set(c, "gm", "again")
      const v2 = yield* meta("gm", 2)
      expect([v2.extras.length, v2.extras.readBigUInt64BE(12), v2.extras[20], v2.extras.readUInt32BE(8)]).toEqual([
        21,
        seqno + 1n,
        0,
        0
      ])

      const removed = yield* call(c, { opcode: Opcode.Delete, ...k("gm") })
      const tombstone = yield* meta("gm", 2)
      expect([tombstone.status, tombstone.extras.readUInt32BE(0), tombstone.cas]).toEqual([
        Status.Success,
        1,
        removed.cas
      ])
      expect((yield* get(c, "gm")).status).toBe(Status.KeyNotFound)
      expect((yield* meta("gm-never")).status).toBe(Status.KeyNotFound)
      expect((yield* call(c, { opcode: Opcode.GetMeta, ...k("gm"), extras: u32(2) })).status).toBe(Status.Invalid)
    })
  )

  it.scoped("sub-document frames: spec limits, XATTR order, virtual attributes, macros, a tombstone's XATTRs", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv, { features: [...MODERN, HelloFeature.Xattr] })
      const lookupSpec = (opcode: number, flags: number, path: string) => {
        const b = Buffer.alloc(4 + Buffer.byteLength(path))
        b[0] = opcode
        b[1] = flags
        b.writeUInt16BE(Buffer.byteLength(path), 2)
        b.write(path, 4)
        return b
      }
      const mutationSpec = (opcode: number, flags: number, path: string, value: string) => {
        const b = Buffer.alloc(8 + Buffer.byteLength(path) + Buffer.byteLength(value))
        b[0] = opcode
        b[1] = flags
        b.writeUInt16BE(Buffer.byteLength(path), 2)
        b.writeUInt32BE(Buffer.byteLength(value), 4)
        b.write(path, 8)
        b.write(value, 8 + Buffer.byteLength(path))
        return b
      }
      const lookupIn = (key: string, specs: ReadonlyArray<Buffer>, docFlags?: number) =>
        call(c, {
          opcode: Opcode.SubdocMultiLookup,
          ...k(key),
          value: Buffer.concat(specs),
          extras: docFlags === undefined ? undefined : Buffer.from([docFlags])
        })
      const mutateIn = (key: string, specs: ReadonlyArray<Buffer>, docFlags?: number) =>
        call(c, {
          opcode: Opcode.SubdocMultiMutation,
          ...k(key),
          value: Buffer.concat(specs),
          extras: docFlags === undefined ? undefined : Buffer.from([docFlags])
        })
      yield* set(c, "sdf", '{"a":1}')
      const xattr = 0x04
      // 17 specs are one too many.
      const many = Array.from({ length: 17 }, () => lookupSpec(0xc6, 0, "a"))
      expect((yield* lookupIn("sdf", many)).status).toBe(0xcb)
      // XATTR specs come first.
      expect((yield* lookupIn("sdf", [lookupSpec(0xc5, 0, "a"), lookupSpec(0xc5, xattr, "x")])).status).toBe(0xd4)
      // Virtual attributes: $document is known and read-only; others are unknown.
      const unknown = yield* lookupIn("sdf", [lookupSpec(0xc5, xattr, "$nope")])
      expect([unknown.status, unknown.value.readUInt16BE(0)]).toEqual([0xcc, 0xd1])
      const vattr = yield* mutateIn("sdf", [mutationSpec(0xc8, xattr, "$document.CAS", "1")])
      expect([vattr.status, vattr.value[0], vattr.value.readUInt16BE(1)]).toEqual([0xcc, 0, 0xd2])
      // A macro the server would expand (not supported here): the literal text "${Mutation.CAS}".
      const macroText = `"$${"{"}Mutation.CAS}"`
      const macro = yield* mutateIn("sdf", [mutationSpec(0xc8, xattr | 0x10, "m.cas", macroText)])
      expect([macro.status, macro.value.readUInt16BE(1)]).toEqual([0xcc, 0xd0])
      // A counter's result comes back with its spec's index.
      const counted = yield* mutateIn("sdf", [mutationSpec(0xc8, 0, "b", "2"), mutationSpec(0xcf, 0, "a", "41")])
      expect([
        counted.status,
        counted.value[0],
        counted.value.readUInt32BE(3),
        counted.value.toString("utf8", 7)
      ]).toEqual([Status.Success, 1, 2, "42"])
      // XATTRs outlive the deletion when asked for with ACCESS_DELETED.
      expect((yield* mutateIn("sdf", [mutationSpec(0xc8, xattr, "meta", '{"v":7}')])).status).toBe(Status.Success)
      yield* call(c, { opcode: Opcode.Delete, ...k("sdf") })
      expect((yield* lookupIn("sdf", [lookupSpec(0xc5, xattr, "meta")])).status).toBe(Status.KeyNotFound)
      const deleted = yield* lookupIn("sdf", [lookupSpec(0xc5, xattr, "$document.deleted")], 0x04)
      expect([deleted.status, deleted.value.toString("utf8", 6)]).toEqual([0xcd, "true"])
    })
  )

  it.scoped(
    "collections: ids by name, keys led by LEB128 ids, unknown collections answered with the manifest uid",
    () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedCluster.make({ nodes: 1 })
        const port = server.nodes[0]!.kv
        const admin = `Basic ${Buffer.from("Administrator:password").toString("base64")}`
        const rest = (path: string, form: Record<string, string>) =>
          Effect.promise(() =>
            fetch(`http://127.0.0.1:${server.nodes[0]!.mgmt}${path}`, {
              method: "POST",
              headers: { Authorization: admin, "Content-Type": "application/x-www-form-urlencoded" },
              body: new URLSearchParams(form).toString()
            }).then((r) => r.json() as Promise<{ uid: string }>)
          )
        yield* rest("/pools/default/buckets/default/scopes", { name: "s" })
        const created = yield* rest("/pools/default/buckets/default/scopes/s/collections", { name: "c" })
        const c = yield* sessionClient(port, { features: [...MODERN, HelloFeature.Collections] })
        const id = yield* call(c, { opcode: Opcode.GetCollectionId, key: Buffer.from("s.c") })
        expect([id.status, id.extras.readBigUInt64BE(0).toString(16), id.extras.readUInt32BE(8)]).toEqual([
          Status.Success,
          created.uid,
          8
        ])
        const unknown = yield* call(c, { opcode: Opcode.GetCollectionId, value: Buffer.from("s.nope") })
        expect([unknown.status, JSON.parse(unknown.value.toString())]).toEqual([0x88, { manifest_uid: created.uid }])
        expect((yield* call(c, { opcode: Opcode.GetCollectionId, key: Buffer.from("x.c") })).status).toBe(0x8c)
        const manifest = yield* call(c, { opcode: Opcode.GetCollectionsManifest })
        expect(JSON.parse(manifest.value.toString())).toMatchObject({ uid: created.uid })

        // The same key in two collections is two documents: id 0 (one byte 0x00) and id 8.
        const keyIn = (cid: number, key: string) => ({
          key: Buffer.concat([Buffer.from([cid]), Buffer.from(key)]),
          vbucket: vb(key)
        })
        const store = (cid: number, value: string) =>
          call(c, { opcode: Opcode.Set, ...keyIn(cid, "k"), value: Buffer.from(value), extras: setExtras(0, 0) })
        expect((yield* store(0, "default")).status).toBe(Status.Success)
        expect((yield* store(8, "named")).status).toBe(Status.Success)
        expect((yield* call(c, { opcode: Opcode.Get, ...keyIn(8, "k") })).value.toString()).toBe("named")
        expect((yield* call(c, { opcode: Opcode.Get, ...keyIn(0, "k") })).value.toString()).toBe("default")
        const missing = yield* call(c, { opcode: Opcode.Get, ...keyIn(9, "k") })
        expect([missing.status, JSON.parse(missing.value.toString())]).toEqual([0x88, { manifest_uid: created.uid }])
        // An id that does not end within 5 bytes is not an id.
        const bad = yield* call(c, {
          opcode: Opcode.Get,
          key: Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
          vbucket: 0
        })
        expect(bad.status).toBe(Status.Invalid)
        // A client without collections sees the default collection only.
        const legacy = yield* sessionClient(port, { features: MODERN })
        expect((yield* get(legacy, "k")).value.toString()).toBe("default")
      })
  )

  it.scoped("range scans: create, continue with limits (MORE, then COMPLETE), keys only or documents, cancel", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv, { features: MODERN })
      // Keys of one vBucket, in byte order.
      const vbucket = vb("scan-a")
      const keys: Array<string> = []
      for (let i = 0; keys.length < 5; i++) if (vb(`scan-${i}`) === vbucket) keys.push(`scan-${i}`)
      for (const key of keys) yield* set(c, key, `v-${key}`)
      const create = (config: object) =>
        call(c, { opcode: Opcode.RangeScanCreate, vbucket, value: Buffer.from(JSON.stringify(config)) })
      const cont = (id: Buffer, items: number) => {
        const extras = Buffer.alloc(28)
        id.copy(extras, 0)
        extras.writeUInt32BE(items, 16)
        return call(c, { opcode: Opcode.RangeScanContinue, vbucket, extras })
      }
      const readKeys = (value: Buffer) => {
        const out: Array<string> = []
        for (let at = 0; at < value.length; ) {
          const length = value[at]!
          out.push(value.toString("utf8", at + 1, at + 1 + length))
          at += 1 + length
        }
        return out
      }
      const all = {
        start: Buffer.from("scan-").toString("base64"),
        end: Buffer.from("scan-\xff", "latin1").toString("base64")
      }
      const created = yield* create({ key_only: true, range: all })
      expect([created.status, created.value.length]).toEqual([Status.Success, 16])
      const first = yield* cont(created.value, 2)
      expect([first.status, first.extras.readUInt32BE(0), readKeys(first.value)]).toEqual([
        0xa6,
        0,
        [...keys].sort().slice(0, 2)
      ])
      const rest = yield* cont(created.value, 0)
      expect([rest.status, readKeys(rest.value)]).toEqual([0xa7, [...keys].sort().slice(2)])
      expect((yield* cont(created.value, 0)).status).toBe(Status.KeyNotFound)

      // Documents: 25 bytes of metadata, then the key and the value, each after its length.
      const docs = yield* create({ range: all })
      const page = yield* cont(docs.value, 1)
      const keyLength = page.value[25]!
      const key = page.value.toString("utf8", 26, 26 + keyLength)
      const valueLength = page.value[26 + keyLength]!
      expect([
        page.extras.readUInt32BE(0),
        key,
        page.value.toString("utf8", 27 + keyLength, 27 + keyLength + valueLength)
      ]).toEqual([1, [...keys].sort()[0], `v-${[...keys].sort()[0]}`])
      expect((yield* call(c, { opcode: Opcode.RangeScanCancel, vbucket, extras: docs.value })).status).toBe(
        Status.Success
      )
      expect((yield* cont(docs.value, 1)).status).toBe(Status.KeyNotFound)

      // A sample, an empty range, a configuration that is not JSON.
      const sample = yield* create({ key_only: true, sampling: { samples: 3, seed: 7 } })
      expect(readKeys((yield* cont(sample.value, 0)).value)).toHaveLength(3)
      const none = { start: Buffer.from("zzz").toString("base64"), end: Buffer.from("zzzz").toString("base64") }
      expect((yield* create({ range: none })).status).toBe(Status.KeyNotFound)
      expect((yield* call(c, { opcode: Opcode.RangeScanCreate, vbucket, value: Buffer.from("{") })).status).toBe(
        Status.Invalid
      )
      // A connection holds a bounded number of open scans (each keeps its key list).
      const opened = yield* Effect.forEach(Array.from({ length: MAX_OPEN_SCANS + 1 }), () =>
        create({ key_only: true, range: all })
      )
      expect(opened.map((r) => r.status).filter((st) => st !== Status.Success)).toEqual([Status.TemporaryFailure])
    })
  )

  it.scoped("size limits: key of 251 bytes is EINVAL, a value over 20 MiB is E2BIG, 20 MiB fits", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv)
      const longKey = "k".repeat(251)
      expect((yield* set(c, longKey, "v")).status).toBe(Status.Invalid)
      expect((yield* set(c, "k".repeat(250), "v")).status).toBe(Status.Success)
      const limit = 20 * 1024 * 1024
      expect((yield* set(c, "huge", Buffer.alloc(limit + 1, 1))).status).toBe(Status.TooBig)
      expect((yield* get(c, "huge")).status).toBe(Status.KeyNotFound)
      expect((yield* set(c, "huge", Buffer.alloc(limit, 2))).status).toBe(Status.Success)
      expect((yield* get(c, "huge")).value.length).toBe(limit)
      expect((yield* call(c, { opcode: Opcode.Append, ...k("huge"), value: Buffer.from("x") })).status).toBe(
        Status.TooBig
      )
      expect((yield* call(c, { opcode: Opcode.Get, key: Buffer.alloc(0) })).status).toBe(Status.Invalid)
      expect((yield* call(c, { opcode: Opcode.Set, ...k("no-extras"), value: Buffer.from("v") })).status).toBe(
        Status.Invalid
      )
    })
  )

  it.scoped("an unknown opcode gets UNKNOWN_COMMAND and its whole body is consumed", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv)
      c.received.length = 0
      const unknown = c.send({
        opcode: 0xee,
        extras: Buffer.alloc(7, 1),
        key: Buffer.from("some-key"),
        value: Buffer.alloc(5000, 0x80)
      })
      const noop = c.send({ opcode: Opcode.Noop })
      yield* Effect.promise(() => c.responses(noop))
      expect(c.received.map((f) => [f.opaque, f.opcode, f.status])).toEqual([
        [unknown, 0xee, Status.UnknownCommand],
        [noop, Opcode.Noop, Status.Success]
      ])
    })
  )

  it.scoped("flexible framing: barrier, durability and preserve TTL are honoured; unknown frame infos refused", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv, { features: MODERN })
      const barrier = yield* call(c, { opcode: Opcode.Get, ...k("nothing"), framingExtras: Buffer.from([0x00]) })
      expect(barrier.status).toBe(Status.KeyNotFound)
      const setWith = (key: string, framingExtras: Buffer, expiry = 0) =>
        call(c, { opcode: Opcode.Set, ...k(key), value: Buffer.from("v"), extras: setExtras(0, expiry), framingExtras })
      // One node, no replica: a majority is that one copy. Level, then an optional 2-byte timeout.
      expect((yield* setWith("durable", Buffer.from([0x11, 0x01]))).status).toBe(Status.Success)
      expect((yield* setWith("durable", Buffer.from([0x13, 0x03, 0x00, 0x64]))).status).toBe(Status.Success)
      expect((yield* get(c, "durable")).status).toBe(Status.Success)
      const invalid = yield* setWith("durable-4", Buffer.from([0x11, 0x04]))
      expect(invalid.status).toBe(Status.DurabilityInvalidLevel)
      expect((yield* get(c, "durable-4")).status).toBe(Status.KeyNotFound)
      const onRead = yield* call(c, { opcode: Opcode.Get, ...k("durable"), framingExtras: Buffer.from([0x11, 0x01]) })
      expect(onRead.status).toBe(Status.Invalid)
      // Frame info 2 (a DCP stream id) is not served.
      expect((yield* setWith("stream", Buffer.from([0x22, 0x00, 0x01]))).status).toBe(Status.UnknownFrameInfo)

      // Preserve TTL (frame info 5, no data): the expiry of the document stays.
      const expiryOf = (key: string) =>
        Effect.map(call(c, { opcode: Opcode.GetMeta, ...k(key) }), (r) => r.extras.readUInt32BE(8))
      yield* setWith("ttl", Buffer.alloc(0), 3600)
      const before = yield* expiryOf("ttl")
      expect(before).toBeGreaterThan(0)
      expect((yield* setWith("ttl", Buffer.from([0x50]))).status).toBe(Status.Success)
      expect(yield* expiryOf("ttl")).toBe(before)
      yield* setWith("ttl", Buffer.alloc(0))
      expect(yield* expiryOf("ttl")).toBe(0)
    })
  )

  it.scoped("the JSON datatype is kept only for clients that negotiated it", () =>
    Effect.gen(function* () {
      const server = yield* single
      const modern = yield* sessionClient(server.nodes[0]!.kv, { features: MODERN })
      const legacy = yield* sessionClient(server.nodes[0]!.kv)
      const stored = yield* call(modern, {
        opcode: Opcode.Set,
        ...k("json"),
        value: Buffer.from('{"a":1}'),
        extras: setExtras(0x02000000, 0),
        datatype: Datatype.Json
      })
      expect(stored.status).toBe(Status.Success)
      expect((yield* get(modern, "json")).datatype).toBe(Datatype.Json)
      expect((yield* get(legacy, "json")).datatype).toBe(0)
      const refused = yield* call(legacy, {
        opcode: Opcode.Set,
        ...k("json2"),
        value: Buffer.from("{}"),
        extras: setExtras(0, 0),
        datatype: Datatype.Json
      })
      expect(refused.status).toBe(Status.Invalid)
    })
  )
})

describe("handshake and introspection", () => {
  it.scoped("HELLO acknowledges only implemented features, in request order", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* rawClient(server.nodes[0]!.kv)
      const acked = yield* Effect.promise(() =>
        c.hello([
          HelloFeature.Collections,
          HelloFeature.Json,
          HelloFeature.Snappy,
          HelloFeature.Xerror,
          HelloFeature.Xerror,
          HelloFeature.ClustermapChangeNotification,
          HelloFeature.UnorderedExecution,
          HelloFeature.Duplex,
          HelloFeature.SelectBucket,
          HelloFeature.Tracing,
          HelloFeature.GetClusterConfigWithKnownVersion
        ])
      )
      expect(acked).toEqual([
        HelloFeature.Collections,
        HelloFeature.Json,
        HelloFeature.Xerror,
        HelloFeature.ClustermapChangeNotification,
        HelloFeature.Duplex,
        HelloFeature.SelectBucket,
        HelloFeature.GetClusterConfigWithKnownVersion
      ])
      // Notifications without DUPLEX are declined.
      expect(yield* Effect.promise(() => c.hello([HelloFeature.ClustermapChangeNotification]))).toEqual([])
      const odd = yield* call(c, { opcode: Opcode.Hello, key: Buffer.from("agent"), value: Buffer.from([0]) })
      expect(odd.status).toBe(Status.Invalid)
    })
  )

  it.scoped("GET_ERROR_MAP, VERSION and STAT", () =>
    Effect.gen(function* () {
      const server = yield* single
      const c = yield* sessionClient(server.nodes[0]!.kv, { features: MODERN })
      const map = yield* call(c, { opcode: Opcode.GetErrorMap, value: Buffer.from([0, 2]) })
      const parsed = JSON.parse(map.value.toString()) as {
        version: number
        revision: number
        errors: Record<string, { name: string; attrs: Array<string> }>
      }
      expect(parsed.version).toBe(2)
      expect(parsed.errors["1"]!.name).toBe("KEY_ENOENT")
      expect(parsed.errors["9"]!.attrs).toContain("item-locked")
      expect(parsed.errors["7"]!.attrs).toContain("fetch-config")
      const v1 = yield* call(c, { opcode: Opcode.GetErrorMap, value: Buffer.from([0, 1]) })
      expect((JSON.parse(v1.value.toString()) as { version: number }).version).toBe(1)
      expect((yield* call(c, { opcode: Opcode.GetErrorMap, value: Buffer.from([0, 0]) })).status).toBe(Status.Invalid)
      expect((yield* call(c, { opcode: Opcode.Version })).value.toString()).toBe(EmbeddedCluster.SERVER_VERSION)
      yield* set(c, "counted", "x")
      yield* get(c, "counted")
      yield* get(c, "not-counted")
      const stats = yield* Effect.promise(() => c.stats())
      expect([stats.get("cmd_get"), stats.get("get_hits"), stats.get("get_misses"), stats.get("curr_items")]).toEqual([
        "2",
        "1",
        "1",
        "1"
      ])
      expect(stats.get("version")).toBe(EmbeddedCluster.SERVER_VERSION)
      const vbuckets = yield* Effect.promise(() => c.stats("vbucket"))
      expect(vbuckets.size).toBe(1024)
      expect(vbuckets.get("vb_0")).toBe("active")
      const unknown = yield* call(c, { opcode: Opcode.Stat, key: Buffer.from("no-such-group") })
      expect(unknown.status).toBe(Status.KeyNotFound)
    })
  )

  it.scoped("GET_CLUSTER_CONFIG: refused before authentication, global before SELECT_BUCKET, then the bucket's", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 2 })
      const c = yield* rawClient(server.nodes[1]!.kv)
      yield* Effect.promise(() => c.hello([...MODERN, HelloFeature.GetClusterConfigWithKnownVersion]))
      expect((yield* call(c, { opcode: Opcode.GetClusterConfig })).status).toBe(Status.NoAccess)
      yield* Effect.promise(() => c.authScram("Administrator", "password"))
      const global = yield* call(c, { opcode: Opcode.GetClusterConfig })
      expect(global.datatype).toBe(Datatype.Json)
      const g = JSON.parse(global.value.toString())
      expect(g.name).toBeUndefined()
      expect(g.nodesExt).toEqual([
        {
          services: { kv: server.nodes[0]!.kv, capi: server.nodes[0]!.capi, mgmt: server.nodes[0]!.mgmt },
          hostname: "127.0.0.1"
        },
        {
          services: { kv: server.nodes[1]!.kv, capi: server.nodes[1]!.capi, mgmt: server.nodes[1]!.mgmt },
          hostname: "127.0.0.1",
          thisNode: true
        }
      ])
      yield* Effect.promise(() => c.selectBucket("default"))
      const bucket = JSON.parse((yield* call(c, { opcode: Opcode.GetClusterConfig })).value.toString())
      expect([bucket.name, bucket.nodeLocator, bucket.rev, bucket.revEpoch]).toEqual(["default", "vbucket", 1, 1])
      expect(bucket.vBucketServerMap.numReplicas).toBe(1)
      expect(bucket.vBucketServerMap.serverList).toEqual(server.nodes.map((n) => `127.0.0.1:${n.kv}`))
      expect(bucket.vBucketServerMap.vBucketMap.length).toBe(1024)
      expect(bucket.vBucketServerMap.vBucketMap[0]).toEqual([0, 1])
      expect(bucket.vBucketServerMap.vBucketMap[1]).toEqual([1, 0])
      expect(bucket.bucketCapabilities).toContain("cccp")
      const known = (epoch: bigint, rev: bigint) => {
        const extras = Buffer.alloc(16)
        extras.writeBigInt64BE(epoch, 0)
        extras.writeBigInt64BE(rev, 8)
        return call(c, { opcode: Opcode.GetClusterConfig, extras })
      }
      expect((yield* known(1n, 1n)).value.length).toBe(0)
      expect((yield* known(1n, 0n)).value.length).toBeGreaterThan(0)
    })
  )
})

describe("vBucket ownership and replicas", () => {
  const pair = EmbeddedCluster.make({ nodes: 2, replicas: 1 })
  // With two nodes, vBucket v is mastered by node v % 2 and replicated on the other.
  const keyOn = (master: number, prefix: string) => {
    for (let i = 0; ; i++) if (vb(`${prefix}${i}`) % 2 === master) return `${prefix}${i}`
  }

  it.scoped("NOT_MY_VBUCKET carries the cluster map (JSON datatype when negotiated)", () =>
    Effect.gen(function* () {
      const server = yield* pair
      const key = keyOn(1, "nmvb")
      for (const features of [MODERN, []]) {
        const c = yield* sessionClient(server.nodes[0]!.kv, { features })
        const refused = yield* set(c, key, "v")
        expect(refused.status).toBe(Status.NotMyVbucket)
        expect(refused.datatype).toBe(features.length > 0 ? Datatype.Json : 0)
        const config = JSON.parse(refused.value.toString())
        expect(config.vBucketServerMap.vBucketMap[vb(key)][0]).toBe(1)
        expect(config.nodesExt[0].thisNode).toBe(true)
      }
      const right = yield* sessionClient(server.nodes[1]!.kv)
      expect((yield* set(right, key, "v")).status).toBe(Status.Success)
      const outOfRange = yield* call(right, { opcode: Opcode.Get, key: Buffer.from(key), vbucket: 1024 })
      expect(outOfRange.status).toBe(Status.NotMyVbucket)
    })
  )

  it.scoped("writes reach the replica: GET_REPLICA there, NOT_MY_VBUCKET on the master", () =>
    Effect.gen(function* () {
      const server = yield* pair
      const key = keyOn(0, "rep")
      const master = yield* sessionClient(server.nodes[0]!.kv)
      const replica = yield* sessionClient(server.nodes[1]!.kv)
      const stored = yield* set(master, key, "replicated", 11)
      const read = yield* call(replica, { opcode: Opcode.GetReplica, ...k(key) })
      expect([read.status, read.value.toString(), read.extras.readUInt32BE(0), read.cas]).toEqual([
        Status.Success,
        "replicated",
        11,
        stored.cas
      ])
      expect((yield* call(master, { opcode: Opcode.GetReplica, ...k(key) })).status).toBe(Status.NotMyVbucket)
      expect((yield* call(replica, { opcode: Opcode.GetReplica, ...k(`${key}-missing`) })).status).toBe(
        Status.KeyNotFound
      )
      yield* call(master, { opcode: Opcode.Delete, ...k(key) })
      expect((yield* call(replica, { opcode: Opcode.GetReplica, ...k(key) })).status).toBe(Status.KeyNotFound)
    })
  )

  it.scoped(
    "OBSERVE_SEQNO: each copy's UUID, persisted and current seqno; after a failover, format 1 with the old UUID",
    () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1 })
        // A key mastered by node 0 (three nodes: keyOn's parity rule is for two).
        let key = ""
        for (let i = 0; key === ""; i++) {
          if ((yield* server.control.keyInfo(`seq${i}`)).find((c) => c.role === "master")?.node === 0) key = `seq${i}`
        }
        const features = [...MODERN]
        const master = yield* sessionClient(server.nodes[0]!.kv, { features })
        const replicaNode = (yield* server.control.keyInfo(key)).find((c) => c.role === "replica")!.node
        const replica = yield* sessionClient(server.nodes[replicaNode]!.kv, { features })
        const observeSeqno = (c: RawClient, uuid: bigint) => {
          const body = Buffer.alloc(8)
          body.writeBigUInt64BE(uuid, 0)
          return Effect.map(call(c, { opcode: Opcode.ObserveSeqno, vbucket: vb(key), value: body }), (r) => ({
            status: r.status,
            format: r.value[0],
            vbucket: r.value.length > 2 ? r.value.readUInt16BE(1) : undefined,
            uuid: r.value.length >= 11 ? r.value.readBigUInt64BE(3) : undefined,
            persisted: r.value.length >= 19 ? r.value.readBigUInt64BE(11) : undefined,
            current: r.value.length >= 27 ? r.value.readBigUInt64BE(19) : undefined,
            oldUuid: r.value.length === 43 ? r.value.readBigUInt64BE(27) : undefined,
            oldSeqno: r.value.length === 43 ? r.value.readBigUInt64BE(35) : undefined
          }))
        }
        const stored = yield* set(master, key, "v1")
        const uuid = stored.extras.readBigUInt64BE(0)
        const seqno = stored.extras.readBigUInt64BE(8)
        const expected = { status: Status.Success, format: 0, vbucket: vb(key), uuid, persisted: seqno, current: seqno }
        expect(yield* observeSeqno(master, uuid)).toMatchObject(expected)
        expect(yield* observeSeqno(replica, uuid)).toMatchObject(expected)

        // An unpersisted version on the replica holds its persisted seqno back.
        const second = yield* set(master, key, "v2")
        const seqno2 = second.extras.readBigUInt64BE(8)
        yield* server.control.unpersist(key, { onMaster: false })
        expect(yield* observeSeqno(replica, uuid)).toMatchObject({ persisted: seqno2 - 1n, current: seqno2 })
        expect(yield* observeSeqno(master, uuid)).toMatchObject({ persisted: seqno2, current: seqno2 })

        // The master fails over: the replica takes over with a new UUID and reports the old one.
        yield* server.control.failover(0)
        const after = yield* observeSeqno(replica, uuid)
        expect(after).toMatchObject({ status: Status.Success, format: 1, oldUuid: uuid, oldSeqno: seqno2 })
        expect(after.uuid).not.toBe(uuid)

        // A node without the vBucket, and a malformed body.
        const other = [0, 1, 2].find((n) => n !== 0 && n !== replicaNode)!
        const stranger = yield* sessionClient(server.nodes[other]!.kv, { features })
        expect((yield* observeSeqno(stranger, uuid)).status).toBe(Status.NotMyVbucket)
        const bad = yield* call(replica, { opcode: Opcode.ObserveSeqno, vbucket: vb(key), value: Buffer.alloc(4) })
        expect(bad.status).toBe(Status.Invalid)
      })
  )

  it.scoped("OBSERVE reports each copy's state and CAS; the control API makes copies diverge", () =>
    Effect.gen(function* () {
      const server = yield* pair
      const key = keyOn(0, "obs")
      const master = yield* sessionClient(server.nodes[0]!.kv)
      const replica = yield* sessionClient(server.nodes[1]!.kv)
      const observe = (c: RawClient, keys: ReadonlyArray<string>) => {
        const parts = keys.map((name) => {
          const b = Buffer.alloc(4 + name.length)
          b.writeUInt16BE(vb(name), 0)
          b.writeUInt16BE(name.length, 2)
          b.write(name, 4)
          return b
        })
        return call(c, { opcode: Opcode.Observe, value: Buffer.concat(parts) }).pipe(
          Effect.map((f) => {
            const out: Array<[string, number, bigint]> = []
            let at = 0
            while (at < f.value.length) {
              const length = f.value.readUInt16BE(at + 2)
              const name = f.value.subarray(at + 4, at + 4 + length).toString()
              out.push([name, f.value[at + 4 + length]!, f.value.readBigUInt64BE(at + 5 + length)])
              at += 13 + length
            }
            return out
          })
        )
      }
      const stored = yield* set(master, key, "observed")
      const missing = keyOn(0, "obs-missing")
      expect(yield* observe(master, [key, missing])).toEqual([
        [key, 0x01, stored.cas],
        [missing, 0x80, 0n]
      ])
      expect(yield* observe(replica, [key])).toEqual([[key, 0x01, stored.cas]])
      expect(yield* server.control.unpersist(key, { onMaster: false })).toBe(1)
      expect(yield* observe(master, [key])).toEqual([[key, 0x01, stored.cas]])
      expect(yield* observe(replica, [key])).toEqual([[key, 0x00, stored.cas]])
      expect(yield* server.control.purge(key, { onMaster: false })).toBe(1)
      expect(yield* observe(replica, [key])).toEqual([[key, 0x80, 0n]])
      expect((yield* call(replica, { opcode: Opcode.GetReplica, ...k(key) })).status).toBe(Status.KeyNotFound)
      // Cache a different value on the replica only.
      expect(yield* server.control.cache(key, { onMaster: false, value: "replica-only", cas: 77n })).toBe(1)
      const onReplica = yield* call(replica, { opcode: Opcode.GetReplica, ...k(key) })
      expect([onReplica.value.toString(), onReplica.cas]).toEqual(["replica-only", 77n])
      expect((yield* get(master, key)).value.toString()).toBe("observed")
      expect(yield* observe(replica, [key])).toEqual([[key, 0x00, 77n]])
      expect(yield* server.control.endure(key, {})).toBe(2)
      expect(yield* observe(replica, [key])).toEqual([[key, 0x01, stored.cas]])
      const info = yield* server.control.keyInfo(key)
      expect(info.map((c) => [c.node, c.role, c.exists, c.persisted])).toEqual([
        [0, "master", true, true],
        [1, "replica", true, true]
      ])
      // A deletion is 0x81 until persisted, then 0x80.
      const removed = yield* call(master, { opcode: Opcode.Delete, ...k(key) })
      expect(yield* observe(master, [key])).toEqual([[key, 0x80, removed.cas]])
      yield* server.control.unpersist(key, {})
      expect(yield* observe(master, [key])).toEqual([[key, 0x81, removed.cas]])
      // A key of a vBucket this node does not hold at all cannot be observed there.
      const lonely = yield* EmbeddedCluster.make({ nodes: 2, replicas: 0 })
      const c0 = yield* sessionClient(lonely.nodes[0]!.kv)
      const foreign = keyOn(1, "x")
      const entry = Buffer.alloc(4 + foreign.length)
      entry.writeUInt16BE(vb(foreign), 0)
      entry.writeUInt16BE(foreign.length, 2)
      entry.write(foreign, 4)
      expect((yield* call(c0, { opcode: Opcode.Observe, value: entry })).status).toBe(Status.NotMyVbucket)
      expect((yield* call(c0, { opcode: Opcode.Observe, value: entry.subarray(0, 5) })).status).toBe(Status.Invalid)
    })
  )
})

describe("memcached buckets", () => {
  it.scoped("behave like memcached: no vBuckets, CAS 0 on delete, no replicas, OBSERVE not supported", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({
        nodes: 2,
        buckets: [{ name: "default" }, { name: "cache", type: "memcached" }]
      })
      const viaSasl = yield* sessionClient(server.nodes[1]!.kv, { features: MODERN, bucket: "cache" })
      const stored = yield* call(viaSasl, {
        opcode: Opcode.Set,
        key: Buffer.from("m"),
        value: Buffer.from("mem"),
        extras: setExtras(1, 0),
        vbucket: 999
      })
      expect([stored.status, stored.extras.length]).toEqual([Status.Success, 0])
      const direct = yield* rawClient(server.nodes[1]!.bucketPorts.cache!)
      const read = yield* call(direct, { opcode: Opcode.Get, key: Buffer.from("m") })
      expect([read.status, read.value.toString()]).toEqual([Status.Success, "mem"])
      // Each node keeps its own items: node 0 has not seen "m".
      const other = yield* rawClient(server.nodes[0]!.bucketPorts.cache!)
      expect((yield* call(other, { opcode: Opcode.Get, key: Buffer.from("m") })).status).toBe(Status.KeyNotFound)
      const deleted = yield* call(direct, { opcode: Opcode.Delete, key: Buffer.from("m") })
      expect([deleted.status, deleted.cas]).toEqual([Status.Success, 0n])
      expect((yield* call(viaSasl, { opcode: Opcode.GetReplica, key: Buffer.from("m") })).status).toBe(
        Status.NotSupported
      )
      expect((yield* call(viaSasl, { opcode: Opcode.Observe, value: Buffer.from([0, 0, 0, 1, 0x6d]) })).status).toBe(
        Status.NotSupported
      )
      const config = JSON.parse((yield* call(viaSasl, { opcode: Opcode.GetClusterConfig })).value.toString())
      expect([config.name, config.nodeLocator, config.vBucketServerMap]).toEqual(["cache", "ketama", undefined])
      expect(server.memcachedConnectionString("cache")).toBe(
        `memcached://${server.nodes.map((n) => `127.0.0.1:${n.bucketPorts.cache}`).join(",")}`
      )
      // The dedicated port serves only its bucket: other buckets need credentials.
      expect(yield* Effect.promise(() => direct.selectBucket("default"))).toBe(Status.NoAccess)
      expect(read.magic).toBe(Magic.ClientResponse)
    })
  )
})
