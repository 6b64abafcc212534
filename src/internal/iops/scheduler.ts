/**
 * The simulated network's clock-driven task queue.
 *
 * Every delivery, timer and callback of the simulation is a task with a due time on
 * Effect's `Clock` and a sequence number; one fiber runs the due tasks in
 * (time, sequence) order and then sleeps on the `Clock` until the next one. Under
 * `TestClock` the sleep ends only when the test adjusts the clock, so time costs
 * nothing and the order of everything is fixed by the script alone. A task scheduled
 * "now" still runs later, on the loop fiber: nothing the simulation does is
 * re-entrant inside the call that caused it.
 *
 * Time is kept in whole microseconds (the contract's timer unit), so that delays add
 * up exactly and a replayed script gives the same times whatever the clock's base.
 *
 * @internal
 */
import { type Clock, Duration, Effect } from "effect"

/** A queued callback; `run` is cleared when it runs or is cancelled. */
export interface Task {
  /** Due time in whole microseconds on the clock. */
  readonly time: number
  readonly seq: number
  run: (() => void) | undefined
}

/** How many tasks run before the loop yields to other fibers. */
const BUDGET = 4096

const before = (a: Task, b: Task): boolean => a.time < b.time || (a.time === b.time && a.seq < b.seq)

/** A binary min-heap of tasks by (time, seq). */
class TaskHeap {
  private readonly items: Array<Task> = []

  peek(): Task | undefined {
    return this.items[0]
  }

  push(task: Task): void {
    const items = this.items
    let i = items.length
    items.push(task)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(task, items[parent]!)) break
      items[i] = items[parent]!
      i = parent
    }
    items[i] = task
  }

  pop(): Task | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    let i = 0
    const n = items.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && before(items[r]!, items[l]!) ? r : l
      if (!before(items[child]!, last)) break
      items[i] = items[child]!
      i = child
    }
    items[i] = last
    return top
  }
}

/** The task queue and its loop; `loop` must be forked for anything to happen. */
export class Scheduler {
  private readonly heap = new TaskHeap()
  private seq = 0
  private running = false
  private current: number | undefined = undefined
  private sleepingUntil = Number.POSITIVE_INFINITY
  private wakePending = false
  private resume: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  private readonly failures: Array<unknown> = []

  constructor(private readonly clock: Clock.Clock) {}

  /**
   * The current time in whole microseconds. Inside a task it is the task's own due
   * time, so what the task schedules is placed relative to logical time. Otherwise
   * the clock, rounded rather than truncated: TestClock keeps fractional
   * milliseconds, and their conversion must not lose a microsecond.
   */
  nowMicros(): number {
    if (this.current !== undefined) return this.current
    return Math.round(Number(this.clock.unsafeCurrentTimeNanos()) / 1000)
  }

  /** The current time in milliseconds. */
  now(): number {
    return this.nowMicros() / 1000
  }

  /** Runs `run` at `time` (whole microseconds on the clock), after the tasks already due then. */
  at(time: number, run: () => void): Task {
    const task: Task = { time, seq: this.seq++, run }
    this.heap.push(task)
    if (!this.running && time < this.sleepingUntil) this.wake()
    return task
  }

  /** Runs `run` after `delayMicros` (rounded up; 0 = as soon as the loop gets to it). */
  after(delayMicros: number, run: () => void): Task {
    return this.at(this.nowMicros() + Math.max(0, Math.ceil(delayMicros)), run)
  }

  /** Cancels a task that has not run yet (no-op otherwise). */
  cancel(task: Task | undefined): void {
    if (task !== undefined) task.run = undefined
  }

  /** The loop: run what is due, sleep on the clock until the next task or a wake-up. */
  readonly loop: Effect.Effect<never> = Effect.suspend(() => this.iteration()).pipe(Effect.forever)

  private iteration(): Effect.Effect<void> {
    this.wakePending = false
    this.running = true
    let more: boolean
    try {
      more = this.runDue()
    } finally {
      this.running = false
    }
    const report =
      this.failures.length === 0
        ? Effect.void
        : Effect.logError("simulated network: a callback threw", ...this.failures.splice(0))
    if (more) return Effect.zipRight(report, Effect.yieldNow())
    const next = this.peekLive()
    if (next === undefined) {
      this.sleepingUntil = Number.POSITIVE_INFINITY
      return Effect.zipRight(report, this.waitWake)
    }
    this.sleepingUntil = next.time
    const delay = next.time - this.nowMicros()
    if (delay <= 0) return report
    return Effect.zipRight(report, Effect.raceFirst(this.clock.sleep(Duration.micros(BigInt(delay))), this.waitWake))
  }

  private peekLive(): Task | undefined {
    let top = this.heap.peek()
    while (top !== undefined && top.run === undefined) {
      this.heap.pop()
      top = this.heap.peek()
    }
    return top
  }

  /** Runs the due tasks; `true` when the budget ran out with more due. */
  private runDue(): boolean {
    const limit = this.nowMicros()
    let budget = BUDGET
    for (;;) {
      const top = this.peekLive()
      if (top === undefined || top.time > limit) return false
      if (budget-- === 0) return true
      this.heap.pop()
      const run = top.run!
      top.run = undefined
      this.current = top.time
      try {
        run()
      } catch (error) {
        this.failures.push(error)
      } finally {
        this.current = undefined
      }
    }
  }

  private wake(): void {
    const resume = this.resume
    if (resume === undefined) {
      this.wakePending = true
      return
    }
    this.resume = undefined
    resume(Effect.void)
  }

  private readonly waitWake: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.wakePending) {
      this.wakePending = false
      resume(Effect.void)
      return
    }
    this.resume = resume
    return Effect.sync(() => {
      if (this.resume === resume) this.resume = undefined
    })
  })
}
