/**
 * A hand-written, select-style Iops, like the Python SDK's `SelectIOPS`: written from
 * the contract in `src/Iops.ts` alone, to show an integrator can.
 *
 * The loop keeps its own read set, write set and timer list. Each turn it "selects"
 * (asks every watched socket whether its condition holds), delivers the ready events
 * once (non-repeatable: they leave the sets), fires the expired timers, and then
 * sleeps until the next timer or until a socket reports activity. Sockets are Node
 * sockets underneath, but they only raise flags and wake the loop; every delivery is
 * the loop's decision.
 */
import * as net from "node:net"
import { Effect } from "effect"
import { ConnectError, NetworkError } from "../../src/Errors.js"
import {
  EOF,
  type IOEvent,
  type Iops,
  LCB_READ_EVENT,
  LCB_WRITE_EVENT,
  PYCBC_EVACTION_WATCH,
  PYCBC_EVSTATE_ACTIVE,
  TimerEvent
} from "../../src/Iops.js"

/** A timer that remembers its expiry (the Python SDK's `SelectTimer`). */
class SelectTimer extends TimerEvent {
  exptime = 0
}

/** A socket that only records what happened and wakes the loop. */
class SelectSocket implements Iops.Socket {
  private gotEnd = false
  private gone = false
  private failure: NetworkError | undefined
  private ending = false

  constructor(
    loop: SelectLoop,
    private readonly stream: net.Socket,
    readonly remoteHost: string,
    readonly remotePort: number
  ) {
    const wake = () => loop.wake()
    stream.on("readable", () => {
      // Node only announces the end once read() has seen it.
      if (stream.readableLength === 0) stream.read()
      wake()
    })
    stream.on("drain", wake)
    stream.on("end", () => {
      this.gotEnd = true
      wake()
    })
    stream.on("error", (error) => {
      this.failure ??= new NetworkError({
        message: `select loop: ${remoteHost}:${remotePort} failed: ${(error as { code?: string }).code ?? error.message}`,
        cause: error
      })
      wake()
    })
    stream.on("close", () => {
      this.gone = true
      wake()
    })
  }

  readonly secure = false
  get localPort(): number {
    return this.stream.localPort ?? 0
  }
  get writableLength(): number {
    return this.stream.writableLength
  }

  /** select(2)'s "readable": read() would not return null. */
  readable(): boolean {
    return this.stream.readableLength > 0 || this.gotEnd || this.gone || this.failure !== undefined
  }

  /** select(2)'s "writable". */
  writable(): boolean {
    return !this.stream.writableNeedDrain || this.gone || this.ending || this.failure !== undefined
  }

  read(): Iops.ReadResult {
    const chunk: Buffer | null = this.stream.read()
    if (chunk !== null) return chunk
    if (this.failure !== undefined) return this.failure
    return this.gotEnd || this.gone ? EOF : null
  }

  write(bytes: Uint8Array): boolean {
    if (this.gone || this.ending || this.failure !== undefined) return false
    return this.stream.write(bytes)
  }

  close(): void {
    if (this.ending) return
    this.ending = true
    this.stream.end(() => this.stream.destroy())
  }

  destroy(): void {
    this.ending = true
    this.stream.destroy()
  }
}

/** The loop. */
export class SelectLoop implements Iops.Service {
  readonly name = "select"
  private readonly readers = new Set<IOEvent>()
  private readonly writers = new Set<IOEvent>()
  private timers: Array<SelectTimer> = []
  private running = false
  private sleeping: ReturnType<typeof setTimeout> | undefined
  private turnQueued = false
  /** Turns taken, for the tests' curiosity. */
  turns = 0

  readonly now = (): number => performance.now()

  readonly timerEventFactory = (): TimerEvent => new SelectTimer()

  readonly updateEvent = (event: IOEvent, action: number, flags: number): void => {
    this.readers.delete(event)
    this.writers.delete(event)
    if (action !== PYCBC_EVACTION_WATCH) return
    if (!(event.socket instanceof SelectSocket)) throw new TypeError("select loop: foreign socket")
    if ((flags & LCB_READ_EVENT) !== 0) this.readers.add(event)
    if ((flags & LCB_WRITE_EVENT) !== 0) this.writers.add(event)
    this.wake()
  }

  readonly updateTimer = (timer: TimerEvent, action: number, usecs: number): void => {
    const t = timer as SelectTimer
    this.timers = this.timers.filter((x) => x !== t)
    if (action !== PYCBC_EVACTION_WATCH) return
    t.exptime = this.now() + usecs / 1000
    this.timers.push(t)
    this.wake()
  }

  readonly startWatching = (): void => {
    if (this.running) return
    this.running = true
    this.wake()
  }

  /** Whether the loop runs (between `startWatching` and `stopWatching`). */
  get isRunning(): boolean {
    return this.running
  }

  readonly stopWatching = (): void => {
    this.running = false
    if (this.sleeping !== undefined) clearTimeout(this.sleeping)
    this.sleeping = undefined
  }

  readonly connect = (options: Iops.ConnectOptions): Effect.Effect<Iops.Socket, ConnectError> =>
    Effect.async<Iops.Socket, ConnectError>((resume) => {
      const stream = net.connect({ host: options.host, port: options.port })
      const onError = (error: Error) =>
        resume(
          Effect.fail(
            new ConnectError({ message: `select loop: cannot reach ${options.host}:${options.port}`, cause: error })
          )
        )
      stream.once("error", onError)
      stream.once("connect", () => {
        stream.off("error", onError)
        resume(Effect.succeed(new SelectSocket(this, stream, options.host, options.port)))
      })
      return Effect.sync(() => {
        stream.on("error", () => {})
        stream.destroy()
      })
    })

  /** Ends the current sleep: something may be ready (the select() returns). */
  wake(): void {
    if (!this.running || this.turnQueued) return
    if (this.sleeping !== undefined) clearTimeout(this.sleeping)
    this.sleeping = undefined
    this.turnQueued = true
    setImmediate(this.turn)
  }

  private readonly turn = (): void => {
    this.turnQueued = false
    if (!this.running) return
    this.turns++
    // select(): collect the ready set first, then deliver.
    const ready = new Map<IOEvent, number>()
    for (const event of this.readers) if ((event.socket as SelectSocket).readable()) ready.set(event, LCB_READ_EVENT)
    for (const event of this.writers) {
      if ((event.socket as SelectSocket).writable()) ready.set(event, (ready.get(event) ?? 0) | LCB_WRITE_EVENT)
    }
    for (const [event, flags] of ready) {
      // A delivery earlier in this turn may have unwatched this one.
      if (!this.readers.has(event) && !this.writers.has(event)) continue
      this.readers.delete(event)
      this.writers.delete(event)
      if (event.state === PYCBC_EVSTATE_ACTIVE) event.ready(flags)
    }
    const now = this.now()
    this.timers.sort((a, b) => a.exptime - b.exptime)
    const due = this.timers.filter((t) => t.exptime <= now)
    for (const timer of due) {
      if (!this.timers.includes(timer)) continue
      this.timers = this.timers.filter((t) => t !== timer)
      timer.ready(0)
    }
    this.sleep()
  }

  private sleep(): void {
    if (!this.running || this.turnQueued) return
    const anyReady =
      [...this.readers].some((e) => (e.socket as SelectSocket).readable()) ||
      [...this.writers].some((e) => (e.socket as SelectSocket).writable())
    if (anyReady) {
      this.wake()
      return
    }
    const next = this.timers.reduce((min, t) => Math.min(min, t.exptime), Number.POSITIVE_INFINITY)
    if (next === Number.POSITIVE_INFINITY) return // sockets will wake us
    this.sleeping = setTimeout(
      () => {
        this.sleeping = undefined
        this.wake()
      },
      Math.max(1, Math.ceil(next - this.now()))
    )
  }
}
