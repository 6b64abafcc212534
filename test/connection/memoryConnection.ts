/**
 * TEST HELPER, not the product: a small in-memory `Connection.Service` built from the
 * ops layer (validation, request builders, response decoders, multi assembly) and a
 * toy key/value engine that answers the encoded request frames. It exists only for
 * the unit tests of the callback adapter and the runtime half of the quiet type
 * tests; the real connection (pipeline, bootstrap) and the embedded cluster are
 * tested elsewhere.
 *
 * Every operation goes through real frames: `PreparedOp.request` → `encodeFrame` →
 * the engine → a response frame → `readFrameAt` → `PreparedOp.decode`. Observe,
 * endure and stats are not implemented (they fail with `NotSupportedError`).
 */
import { Duration, Effect, Either } from "effect"
import type { Connection } from "../../src/Connection.js"
import { NotSupportedError } from "../../src/Errors.js"
import * as Ops from "../../src/internal/ops/index.js"
import { Magic, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { encodeFrame, type FrameInit, readFrameAt } from "../../src/internal/protocol/Frame.js"
import * as Transcoder from "../../src/Transcoder.js"

interface Item {
  value: Buffer
  flags: number
  cas: bigint
  lockedCas: bigint | undefined
}

/** The toy engine: enough of the protocol for the adapter's tests. */
export class MemoryEngine {
  readonly items = new Map<string, Item>()
  /** Every request frame received, for "nothing was sent" assertions. */
  readonly received: Array<FrameInit> = []
  private nextCas = 1000n

  handle(request: FrameInit): FrameInit {
    this.received.push(request)
    const key = Buffer.from(request.key ?? new Uint8Array()).toString("latin1")
    const item = this.items.get(key)
    const reply = (status: number, fields: Partial<FrameInit> = {}): FrameInit => ({
      magic: Magic.ClientResponse,
      opcode: request.opcode,
      opaque: request.opaque,
      status,
      ...fields
    })
    const cas = () => (this.nextCas += 1n)
    const locked = (given: bigint | undefined) => item?.lockedCas !== undefined && given !== item.lockedCas
    const flagsExtras = (flags: number) => {
      const b = Buffer.alloc(4)
      b.writeUInt32BE(flags)
      return b
    }
    switch (request.opcode) {
      case Opcode.Get:
      case Opcode.GetQ:
      case Opcode.Gat:
      case Opcode.GatQ:
      case Opcode.GetReplica:
        if (item === undefined) return reply(Status.KeyNotFound)
        return reply(Status.Success, { cas: item.cas, extras: flagsExtras(item.flags), value: item.value })
      case Opcode.GetLocked:
        if (item === undefined) return reply(Status.KeyNotFound)
        if (item.lockedCas !== undefined) return reply(Status.Locked)
        item.lockedCas = item.cas = cas()
        return reply(Status.Success, { cas: item.cas, extras: flagsExtras(item.flags), value: item.value })
      case Opcode.UnlockKey:
        if (item === undefined) return reply(Status.KeyNotFound)
        if (item.lockedCas === undefined || item.lockedCas !== request.cas) return reply(Status.Locked)
        item.lockedCas = undefined
        return reply(Status.Success, { cas: item.cas })
      case Opcode.Set:
      case Opcode.Add:
      case Opcode.Replace: {
        const given = request.cas ?? 0n
        if (request.opcode === Opcode.Add && item !== undefined) return reply(Status.KeyExists)
        if (request.opcode === Opcode.Replace && item === undefined) return reply(Status.KeyNotFound)
        if (given !== 0n && item === undefined) return reply(Status.KeyNotFound)
        if (
          item !== undefined &&
          (locked(given) || (given !== 0n && given !== item.cas && item.lockedCas === undefined))
        ) {
          return reply(Status.KeyExists)
        }
        const flags = Buffer.from(request.extras!).readUInt32BE(0)
        const next = { value: Buffer.from(request.value ?? new Uint8Array()), flags, cas: cas(), lockedCas: undefined }
        this.items.set(key, next)
        return reply(Status.Success, { cas: next.cas })
      }
      case Opcode.Append:
      case Opcode.Prepend: {
        if (item === undefined) return reply(Status.NotStored)
        if (locked(request.cas)) return reply(Status.KeyExists)
        const part = Buffer.from(request.value ?? new Uint8Array())
        item.value =
          request.opcode === Opcode.Append ? Buffer.concat([item.value, part]) : Buffer.concat([part, item.value])
        item.cas = cas()
        return reply(Status.Success, { cas: item.cas })
      }
      case Opcode.Delete: {
        if (item === undefined) return reply(Status.KeyNotFound)
        const given = request.cas ?? 0n
        if (locked(given) || (given !== 0n && given !== item.cas)) return reply(Status.KeyExists)
        this.items.delete(key)
        return reply(Status.Success, { cas: cas() })
      }
      case Opcode.Touch:
        if (item === undefined) return reply(Status.KeyNotFound)
        if (item.lockedCas !== undefined) return reply(Status.Locked)
        return reply(Status.Success, { cas: (item.cas = cas()) })
      case Opcode.Increment:
      case Opcode.Decrement: {
        const extras = Buffer.from(request.extras!)
        const delta = extras.readBigUInt64BE(0)
        const initial = extras.readBigUInt64BE(8)
        const expiry = extras.readUInt32BE(16)
        let n: bigint
        if (item === undefined) {
          if (expiry === Ops.Request.COUNTER_NO_CREATE) return reply(Status.KeyNotFound)
          n = initial
        } else {
          if (locked(undefined)) return reply(Status.Locked)
          const text = item.value.toString("latin1")
          if (!/^[0-9]+$/.test(text)) return reply(Status.DeltaBadval)
          n = BigInt(text)
          n = request.opcode === Opcode.Increment ? n + delta : n > delta ? n - delta : 0n
        }
        const next = { value: Buffer.from(n.toString()), flags: 0, cas: cas(), lockedCas: undefined }
        this.items.set(key, next)
        const value = Buffer.alloc(8)
        value.writeBigUInt64BE(n)
        return reply(Status.Success, { cas: next.cas, value })
      }
      default:
        return reply(Status.UnknownCommand)
    }
  }
}

const context = (quiet: boolean, transcoder: Transcoder.Transcoder<any>): Ops.OpContext => ({
  transcoder,
  defaultFormat: Transcoder.FMT_JSON,
  quiet,
  now: () => Date.now(),
  maxValueSize: 20 * 1024 * 1024,
  replicas: 1
})

const roundTrip = (engine: MemoryEngine, op: Ops.PreparedOp<any, any>, opaque: number) => {
  const request = op.request(0, opaque, { json: true })
  // Through real bytes, both ways.
  const wire = encodeFrame(request)
  const decodedRequest = readFrameAt(wire, 0)
  const response = encodeFrame(engine.handle(decodedRequest))
  return op.decode(readFrameAt(response, 0))
}

/** A `Connection.Service` over a {@link MemoryEngine}; every call is counted in `calls`. */
export const makeMemoryConnection = <Q extends boolean = false>(
  engine: MemoryEngine = new MemoryEngine(),
  quiet: Q = false as Q,
  transcoder: Transcoder.Transcoder<any> = Transcoder.defaultTranscoder
): Connection.Service<Q> & { readonly calls: Array<string> } => {
  const calls: Array<string> = []
  let opaque = 0
  const ctx = context(quiet, transcoder)
  // A real connection answers later; yielding makes the test service asynchronous too.
  const single = (name: string, prepare: () => Either.Either<Ops.PreparedOp<any, any>, any>) =>
    Effect.suspend(() => {
      calls.push(name)
      const prepared = prepare()
      if (Either.isLeft(prepared)) return Effect.fail(prepared.left)
      return Effect.zipRight(Effect.yieldNow(), roundTrip(engine, prepared.right, ++opaque))
    })
  const multi = (name: string, prepare: () => Either.Either<ReadonlyArray<Ops.PreparedOp<any, any>>, any>) =>
    Effect.suspend(() => {
      calls.push(name)
      const prepared = prepare()
      if (Either.isLeft(prepared)) return Effect.fail(prepared.left)
      const ops = prepared.right
      return Effect.zipRight(
        Effect.yieldNow(),
        Ops.assembleMulti(
          ops,
          ops.map((op) => roundTrip(engine, op, ++opaque))
        )
      )
    })
  const unsupported = (name: string) =>
    Effect.suspend(() => {
      calls.push(name)
      return Effect.fail(
        new NotSupportedError({ message: `${name} is not implemented by the in-memory test connection` })
      )
    })
  const service = {
    calls,
    quiet,
    withQuiet: (q: boolean) => makeMemoryConnection(engine, q, transcoder),
    withTranscoder: (t: Transcoder.Transcoder<any>) => makeMemoryConnection(engine, quiet, t),
    // No cluster behind it: no HTTP services.
    cluster: {
      bucket: "default",
      username: undefined,
      password: undefined,
      viewsTimeout: Duration.seconds(75),
      capiBaseUrls: Effect.succeed([])
    },
    get: (key: any, options?: any) => single("get", () => Ops.prepareGet(key, options, ctx)),
    getMulti: (keys: any, options?: any) => multi("getMulti", () => Ops.prepareGetMulti(keys, options, ctx)),
    getReplica: (key: any, options?: any) => single("getReplica", () => Ops.prepareGetReplica(key, options, ctx)),
    getReplicaMulti: (keys: any, options?: any) =>
      multi("getReplicaMulti", () => Ops.prepareGetReplicaMulti(keys, options, ctx)),
    upsert: (key: any, value?: any, options?: any) =>
      single("upsert", () => Ops.prepareStore("upsert", key, value, options, ctx)),
    upsertMulti: (values: any, options?: any) =>
      multi("upsertMulti", () => Ops.prepareStoreMulti("upsert", values, options, ctx)),
    insert: (key: any, value?: any, options?: any) =>
      single("insert", () => Ops.prepareStore("insert", key, value, options, ctx)),
    insertMulti: (values: any, options?: any) =>
      multi("insertMulti", () => Ops.prepareStoreMulti("insert", values, options, ctx)),
    replace: (key: any, value?: any, options?: any) =>
      single("replace", () => Ops.prepareStore("replace", key, value, options, ctx)),
    replaceMulti: (values: any, options?: any) =>
      multi("replaceMulti", () => Ops.prepareStoreMulti("replace", values, options, ctx)),
    append: (key: any, value?: any, options?: any) =>
      single("append", () => Ops.prepareConcat("append", key, value, options, ctx)),
    appendMulti: (values: any, options?: any) =>
      multi("appendMulti", () => Ops.prepareConcatMulti("append", values, options, ctx)),
    prepend: (key: any, value?: any, options?: any) =>
      single("prepend", () => Ops.prepareConcat("prepend", key, value, options, ctx)),
    prependMulti: (values: any, options?: any) =>
      multi("prependMulti", () => Ops.prepareConcatMulti("prepend", values, options, ctx)),
    remove: (key: any, options?: any) => single("remove", () => Ops.prepareRemove(key, options, ctx)),
    removeMulti: (keys: any, options?: any) => multi("removeMulti", () => Ops.prepareRemoveMulti(keys, options, ctx)),
    counter: (key: any, options?: any) => single("counter", () => Ops.prepareCounter(key, options, ctx)),
    counterMulti: (keys: any, options?: any) =>
      multi("counterMulti", () => Ops.prepareCounterMulti(keys, options, ctx)),
    touch: (key: any, options?: any) => single("touch", () => Ops.prepareTouch(key, options, ctx)),
    touchMulti: (keys: any, options?: any) => multi("touchMulti", () => Ops.prepareTouchMulti(keys, options, ctx)),
    lock: (key: any, options?: any) => single("lock", () => Ops.prepareLock(key, options, ctx)),
    lockMulti: (keys: any, options?: any) => multi("lockMulti", () => Ops.prepareLockMulti(keys, options, ctx)),
    unlock: (key: any, cas?: any) => single("unlock", () => Ops.prepareUnlock(key, cas, ctx)),
    unlockMulti: (locks: any) => multi("unlockMulti", () => Ops.prepareUnlockMulti(locks, ctx)),
    observe: () => unsupported("observe"),
    observeMulti: () => unsupported("observeMulti"),
    endure: () => unsupported("endure"),
    endureMulti: () => unsupported("endureMulti"),
    stats: () => unsupported("stats")
  }
  // The in-memory service implements the generic signatures with one untyped body each.
  return service as unknown as Connection.Service<Q> & { readonly calls: Array<string> }
}
