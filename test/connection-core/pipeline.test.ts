/**
 * The Pipeline on the Node Iops: against a real memcached (pipelined requests matched
 * by opaque, a quiet batch closed by NOOP), and against in-test peers (silence, a
 * reset mid-pipeline, garbage, an echo) for the exactly-once failure guarantees, which
 * therefore run without memcached.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { listen, type ServerSocket } from "../../src/Iops/Node.js"
import type { Iops } from "../../src/Iops.js"
import {
  Pipeline,
  type PipelineFailure,
  type PipelineHandlers,
  PipelineRequest
} from "../../src/internal/connection/Pipeline.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"
import { Opcode, Status } from "../../src/internal/protocol/constants.js"
import { encodeFrame, type Frame, type FrameInit } from "../../src/internal/protocol/Frame.js"
import { spyWrites } from "../iops/echo.js"
import { memcachedBinary, requirePeer } from "../support/peers.js"
import { startMemcached } from "./memcached.js"

/** A request that records how it ended. */
class Probe extends PipelineRequest {
  readonly responses: Array<Frame> = []
  readonly failures: Array<PipelineFailure> = []
  constructor(
    private readonly init: Omit<FrameInit, "opaque">,
    deadline = Number.POSITIVE_INFINITY,
    private readonly onEnd?: () => void
  ) {
    super()
    this.deadline = deadline
  }
  build(opaque: number): FrameInit {
    return { ...this.init, opaque }
  }
  onResponse(frame: Frame): boolean {
    this.responses.push(frame)
    this.onEnd?.()
    return true
  }
  onFailure(error: PipelineFailure): void {
    this.failures.push(error)
    this.onEnd?.()
  }
}

/** N quiet gets and a NOOP: the keys not answered when the NOOP answers are misses. */
class QuietBatch extends PipelineRequest {
  readonly hits = new Map<string, string>()
  missing: Array<string> = []
  constructor(
    private readonly keys: ReadonlyArray<string>,
    private readonly done: () => void
  ) {
    super()
    this.frames = keys.length + 1
  }
  build(opaque: number, index: number): FrameInit {
    return index < this.keys.length
      ? { opcode: Opcode.GetQ, key: Buffer.from(this.keys[index]!), opaque }
      : { opcode: Opcode.Noop, opaque }
  }
  onResponse(frame: Frame): boolean {
    const index = frame.opaque - this.opaque
    if (index < this.keys.length) {
      this.hits.set(this.keys[index]!, frame.value.toString())
      return false
    }
    this.missing = this.keys.filter((k) => !this.hits.has(k))
    this.done()
    return true
  }
  onFailure(): void {
    this.done()
  }
}

const set = (key: string, value: string): Omit<FrameInit, "opaque"> => ({
  opcode: Opcode.Set,
  extras: Buffer.alloc(8),
  key: Buffer.from(key),
  value: Buffer.from(value)
})

const openPipeline = (iops: Iops.Service, host: string, port: number, handlers: PipelineHandlers = {}) =>
  Effect.acquireRelease(
    Effect.map(iops.connect({ host, port }), (socket) => new Pipeline(iops, socket, handlers)),
    (p) => Effect.sync(() => p.close())
  )

/** Resolves once `count` requests have ended. */
const countdown = (count: number) =>
  Effect.map(Deferred.make<void>(), (deferred) => {
    let left = count
    return {
      tick: () => {
        if (--left === 0) Deferred.unsafeDone(deferred, Effect.void)
      },
      await: Deferred.await(deferred)
    }
  })

describe("Pipeline against memcached", () => {
  requirePeer(memcachedBinary)

  it.scopedLive("matches a pipelined burst of sets and gets to their requests by opaque", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const iops = makeNodeIops()
      const p = yield* openPipeline(iops, mc.host, mc.port)
      const n = 2000
      const done = yield* countdown(2 * n)
      const sets: Array<Probe> = []
      const gets: Array<Probe> = []
      // Everything is sent in one tick: the driver coalesces it into few writes.
      for (let i = 0; i < n; i++) {
        const s = new Probe(set(`key:${i}`, `value-${i}`), Number.POSITIVE_INFINITY, done.tick)
        const g = new Probe({ opcode: Opcode.Get, key: Buffer.from(`key:${i}`) }, Number.POSITIVE_INFINITY, done.tick)
        expect(p.send(s)).toBe(true)
        expect(p.send(g)).toBe(true)
        sets.push(s)
        gets.push(g)
      }
      expect(p.pending).toBe(2 * n)
      yield* done.await
      expect(p.pending).toBe(0)
      for (let i = 0; i < n; i++) {
        expect(sets[i]!.responses.map((f) => [f.opcode, f.status])).toEqual([[Opcode.Set, Status.Success]])
        expect(gets[i]!.failures).toEqual([])
        expect(gets[i]!.responses.length).toBe(1)
        expect(gets[i]!.responses[0]!.value.toString()).toBe(`value-${i}`)
        expect(gets[i]!.responses[0]!.cas).toBe(sets[i]!.responses[0]!.cas)
      }
    })
  )

  it.scopedLive("closes a quiet batch with NOOP: hits answer, misses stay silent", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const iops = makeNodeIops()
      const p = yield* openPipeline(iops, mc.host, mc.port)
      yield* p.exchange(set("a", "1"), Number.POSITIVE_INFINITY)
      yield* p.exchange(set("c", "3"), Number.POSITIVE_INFINITY)
      const done = yield* countdown(1)
      const batch = new QuietBatch(["a", "b", "c", "d"], done.tick)
      p.send(batch)
      yield* done.await
      expect([...batch.hits]).toEqual([
        ["a", "1"],
        ["c", "3"]
      ])
      expect(batch.missing).toEqual(["b", "d"])
      expect(p.pending).toBe(0)
      // The opaques of the batch are free again: a later exchange still works.
      const version = yield* p.exchange({ opcode: Opcode.Version }, Number.POSITIVE_INFINITY)
      expect(version.value.toString()).toMatch(/^1\.6\./)
    })
  )
})

/** A Node server on 127.0.0.1:0 whose connections are handed to `onConnection`. */
const peer = (onConnection: (socket: ServerSocket) => void) => listen("127.0.0.1", 0, onConnection).pipe(Effect.orDie)

/**
 * A peer that answers every request, in order, with a success of the same opcode and
 * opaque (a GETQ answered is a hit with an empty value), recording the opaques it saw.
 */
const answeringPeer = (received: Array<number>) =>
  peer((s) => {
    let pending = Buffer.alloc(0)
    s.onData((chunk) => {
      pending = Buffer.concat([pending, chunk])
      while (pending.length >= 24 && pending.length >= 24 + pending.readUInt32BE(8)) {
        const opaque = pending.readUInt32BE(12)
        received.push(opaque)
        const answer = Buffer.alloc(24)
        answer[0] = 0x81
        answer[1] = pending[1]!
        answer.writeUInt32BE(opaque, 12)
        s.write(answer)
        pending = pending.subarray(24 + pending.readUInt32BE(8))
      }
    })
  })

/**
 * A pipeline to an {@link answeringPeer}: the opaques the peer received, and those of
 * the answers no request in flight claimed (the pipeline's unmatched hook).
 */
const answeredPipeline = Effect.gen(function* () {
  const received: Array<number> = []
  const unmatched: Array<number> = []
  const server = yield* answeringPeer(received)
  const p = yield* openPipeline(makeNodeIops(), server.host, server.port, {
    onUnmatched: (frame) => unmatched.push(frame.opaque)
  })
  return { p, received, unmatched }
})

/** A {@link QuietBatch} that hands its frames to the pipeline already encoded, in one buffer. */
class EncodedQuietBatch extends QuietBatch {
  override encodeFrames(opaque: number): Uint8Array {
    return Buffer.concat(Array.from({ length: this.frames }, (_, i) => encodeFrame(this.build(opaque + i, i))))
  }
}

describe("Pipeline failure guarantees", () => {
  it.scopedLive("times requests out on their deadline with one timer, and drops late answers", () =>
    Effect.gen(function* () {
      const iops = makeNodeIops()
      const sockets: Array<ServerSocket> = []
      const server = yield* peer((s) => {
        sockets.push(s)
        s.onData(() => {})
      })
      const p = yield* openPipeline(iops, server.host, server.port)
      const done = yield* countdown(3)
      const now = p.now()
      const early = new Probe({ opcode: Opcode.Noop }, now + 30, done.tick)
      const late = new Probe({ opcode: Opcode.Noop }, now + 120, done.tick)
      const never = new Probe({ opcode: Opcode.Noop }, Number.POSITIVE_INFINITY)
      const mid = new Probe({ opcode: Opcode.Noop }, now + 60, done.tick)
      p.send(early)
      p.send(late)
      p.send(never)
      p.send(mid)
      yield* done.await
      const endedAt = p.now()
      expect(endedAt - now).toBeGreaterThanOrEqual(119)
      for (const r of [early, mid, late]) {
        expect(r.failures.length).toBe(1)
        expect(r.failures[0]!._tag).toBe("TimeoutError")
        expect(r.failures[0]!.message).toContain(`127.0.0.1:${server.port}`)
        expect(r.responses).toEqual([])
      }
      expect(never.failures).toEqual([])
      expect(p.pending).toBe(1)
      // The peer finally answers the timed-out opaques: nothing is delivered to them.
      const answer = Buffer.alloc(24)
      answer[0] = 0x81
      answer[1] = Opcode.Noop
      answer.writeUInt32BE(early.opaque, 12)
      sockets[0]!.write(answer)
      answer.writeUInt32BE(never.opaque, 12)
      sockets[0]!.write(answer)
      yield* Effect.sleep("50 millis")
      expect(early.responses).toEqual([])
      expect(never.responses.length).toBe(1)
      expect(p.pending).toBe(0)
    })
  )

  it.scopedLive("fails every in-flight request exactly once with a NetworkError naming the node on reset", () =>
    Effect.gen(function* () {
      const iops = makeNodeIops()
      const closed = yield* Deferred.make<string>()
      const server = yield* peer((s) => {
        let seen = 0
        s.onData((chunk) => {
          seen += chunk.length
          // Answer nothing; reset once all 100 requests have arrived.
          if (seen >= 100 * 24) s.destroy()
        })
      })
      const socket = yield* iops.connect({ host: server.host, port: server.port })
      const p = new Pipeline(iops, socket, {
        onClose: (error) => Deferred.unsafeDone(closed, Effect.succeed(error?._tag ?? "none"))
      })
      const requests = Array.from({ length: 100 }, () => new Probe({ opcode: Opcode.Noop }))
      for (const r of requests) p.send(r)
      expect(yield* Deferred.await(closed)).toBe("NetworkError")
      for (const r of requests) {
        expect(r.failures.length).toBe(1)
        expect(r.failures[0]!._tag).toBe("NetworkError")
        expect(r.failures[0]!.message).toContain(`127.0.0.1:${server.port}`)
      }
      // All share one error instance: one allocation for the whole failure.
      expect(new Set(requests.map((r) => r.failures[0])).size).toBe(1)
      expect(p.closed).toBe(true)
      expect(p.send(new Probe({ opcode: Opcode.Noop }))).toBe(false)
      expect(yield* Effect.either(p.exchange({ opcode: Opcode.Noop }, Number.POSITIVE_INFINITY))).toMatchObject({
        _tag: "Left",
        left: { _tag: "NetworkError" }
      })
    })
  )

  it.scopedLive("fails in-flight requests with a ProtocolError when the peer sends garbage", () =>
    Effect.gen(function* () {
      const iops = makeNodeIops()
      const server = yield* peer((s) => s.onData(() => s.write(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"))))
      const p = yield* openPipeline(iops, server.host, server.port)
      const result = yield* Effect.either(p.exchange({ opcode: Opcode.Noop }, Number.POSITIVE_INFINITY))
      expect(result._tag).toBe("Left")
      if (result._tag === "Left") {
        expect(result.left._tag).toBe("ProtocolError")
        expect(result.left.message).toContain(`127.0.0.1:${server.port}`)
        expect(result.left.message).toMatch(/magic/)
      }
      expect(p.closed).toBe(true)
    })
  )

  it.scopedLive("cancel forgets a request: no callback, and its answer is dropped", () =>
    Effect.gen(function* () {
      // The peer records the opaques it saw: the cancelled request's answer really comes back.
      const { p, received, unmatched } = yield* answeredPipeline
      const cancelled = new Probe({ opcode: Opcode.Noop })
      expect(p.send(cancelled)).toBe(true)
      p.cancel(cancelled)
      expect(p.pending).toBe(0)
      const after = yield* p.exchange({ opcode: Opcode.Noop }, Number.POSITIVE_INFINITY)
      expect(after.status).toBe(Status.Success)
      expect(after.opaque).not.toBe(cancelled.opaque)
      // Both frames went out and were answered in order, so by the time `after` has its
      // answer the cancelled one's has arrived too: it reached nobody but the unmatched hook.
      expect(received).toEqual([cancelled.opaque, after.opaque])
      expect(unmatched).toEqual([cancelled.opaque])
      expect(cancelled.responses).toEqual([])
      expect(cancelled.failures).toEqual([])
      expect(p.pending).toBe(0)
    })
  )

  it.scopedLive("a multi-frame request sent to an idle node leaves at once, in one write", () =>
    Effect.gen(function* () {
      const received: Array<number> = []
      const server = yield* answeringPeer(received)
      const iops = makeNodeIops()
      const socket = yield* iops.connect({ host: server.host, port: server.port })
      const spy = spyWrites(socket)
      const p = yield* Effect.acquireRelease(
        Effect.sync(() => new Pipeline(iops, socket)),
        (pipeline) => Effect.sync(() => pipeline.close())
      )
      const done = yield* countdown(1)
      const keys = Array.from({ length: 128 }, (_, i) => `k${i}`)
      const batch = new QuietBatch(keys, done.tick)
      expect(p.send(batch)).toBe(true)
      // Nothing else at the node: written during send, all 129 frames together.
      expect(spy.sizes).toEqual([keys.reduce((n, k) => n + 24 + k.length, 24)])
      yield* done.await
      expect(received).toEqual(Array.from({ length: 129 }, (_, i) => i + 1))
      expect(batch.hits.size).toBe(128)
    })
  )

  it.scopedLive("matches answers to multi-frame requests in flight side by side with single ones", () =>
    Effect.gen(function* () {
      const { p, received, unmatched } = yield* answeredPipeline
      const done = yield* countdown(4)
      const a = new QuietBatch(["a1", "a2", "a3"], done.tick)
      const single = new Probe({ opcode: Opcode.Noop }, Number.POSITIVE_INFINITY, done.tick)
      const b = new EncodedQuietBatch(["b1", "b2"], done.tick)
      const c = new QuietBatch(["c1"], done.tick)
      for (const request of [a, single, b, c]) expect(p.send(request)).toBe(true)
      expect(p.pending).toBe(4)
      yield* done.await
      expect([...a.hits.keys()]).toEqual(["a1", "a2", "a3"])
      expect([...b.hits.keys()]).toEqual(["b1", "b2"])
      expect([...c.hits.keys()]).toEqual(["c1"])
      expect(single.responses.map((f) => f.opaque)).toEqual([single.opaque])
      expect([a.opaque, single.opaque, b.opaque, c.opaque]).toEqual([1, 5, 6, 9])
      expect(received).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
      expect(unmatched).toEqual([])
      expect(p.pending).toBe(0)
    })
  )
})
