/**
 * Design-document JavaScript in a worker thread, the way CouchDB runs its query server
 * out of process: the same protocol as {@link Sandbox} (JSON text in, JSON text out,
 * the same prelude), across a thread boundary, so that nothing user code does reaches
 * the host's event loop.
 *
 * - A rejected promise or a dynamic `import()` is an unhandled rejection of the
 *   worker: the worker ends, the call in progress fails, the host goes on.
 * - Every call has a time budget kept by the host: past it the worker is terminated,
 *   whatever it was running (a loop in a map function, in a definition, in a finalizer
 *   that ran between two calls), and the call fails with `timeout: true`.
 * - The worker has a heap limit: an allocation bomb ends the worker, not the process.
 * - The prelude caps what a map function may emit (rows per document, characters per
 *   batch): past the cap that document fails, as a map function that throws.
 *
 * A worker that ended is replaced on the next call, and the definitions made so far
 * are compiled in it again (each within the budget). Calls run one at a time, in the
 * order they are made.
 *
 * The worker runs from source given as a string (`eval`), so it needs no file next to
 * this module in any build.
 *
 * @internal
 */
import { Worker } from "node:worker_threads"
import {
  failure,
  type MapBatchResult,
  type MapInput,
  readMapOutput,
  readReduceOutput,
  type SandboxFailure
} from "./Sandbox.js"
import { PRELUDE } from "./sandboxPrelude.js"

/** Limits of a {@link WorkerSandbox}. */
export interface WorkerSandboxOptions {
  /** Budget of each call (a definition, a batch of map calls, a reduce), in ms. */
  readonly timeoutMs: number
  /** The worker's old-generation heap limit, in MiB (default 64). */
  readonly heapMb?: number | undefined
}

// The worker: one vm context with the prelude, one message per call. User code gets
// the same realm as in-process, and the vm timeout is a second line behind the host's.
const WORKER_SOURCE = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
// A promise user code rejects (or a dynamic import, which the context cannot do) is
// its own business: it must not end the worker, let alone reach the host.
process.on("unhandledRejection", () => {});
const vm = require("node:vm");
const { types } = require("node:util");
const context = vm.createContext(Object.create(null), {
  codeGeneration: { strings: true, wasm: false },
  microtaskMode: "afterEvaluate"
});
vm.runInContext(workerData.prelude, context);
parentPort.postMessage({ ready: true });
const message = (e) => {
  if (typeof e !== "object" || e === null) return typeof e === "string" ? e : "exception";
  if (types.isProxy(e)) return "exception";
  const d = Object.getOwnPropertyDescriptor(e, "message");
  return d !== undefined && "value" in d && typeof d.value === "string" ? d.value : "exception";
};
parentPort.on("message", (call) => {
  try {
    if (call.input !== undefined) context.__in = call.input;
    const out = vm.runInContext(call.script, context, { timeout: call.timeoutMs });
    parentPort.postMessage({ id: call.id, out: typeof out === "string" ? out : "" });
  } catch (e) {
    if (e !== null && typeof e === "object" && !types.isProxy(e) && Object.getOwnPropertyDescriptor(e, "code")?.value === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
      parentPort.postMessage({ id: call.id, timeout: true });
    } else {
      parentPort.postMessage({ id: call.id, error: message(e) });
    }
  }
});`

/** How long a new worker may take to start (a busy machine starts threads slowly). */
const STARTUP_MS = 10_000

/** How long an idle worker may take to answer a ping before it is replaced. */
const PING_MS = 200

interface Reply {
  readonly id: number
  readonly out?: string
  readonly error?: string
  readonly timeout?: boolean
}

/** See the module documentation. */
export class WorkerSandbox {
  private worker: Worker | undefined = undefined
  /** The call waiting for the worker's answer, if any. */
  private waiting:
    | { readonly id: number; readonly timeoutMs: number; readonly settle: (reply: string | SandboxFailure) => void }
    | undefined
  private nextId = 1
  /** Calls run one after the other: each waits for the previous one. */
  private queue: Promise<unknown> = Promise.resolve()
  /** The definitions so far, compiled again in a replacement worker. */
  private readonly definitions: Array<string> = []
  private closed = false
  private readonly heapMb: number
  private started = 0

  constructor(
    readonly name: string,
    private readonly options: WorkerSandboxOptions
  ) {
    this.heapMb = options.heapMb ?? 64
  }

  /** Compiles a map function (`function (doc, meta) {…}`) as map number `index`. */
  defineMap(index: number, source: string, timeoutMs = this.options.timeoutMs): Promise<SandboxFailure | undefined> {
    return this.define(`__cb.defineMap(${index}, (${source}\n))`, timeoutMs)
  }

  /** Compiles a reduce function (`function (keys, values, rereduce) {…}`) as reduce number `index`. */
  defineReduce(index: number, source: string, timeoutMs = this.options.timeoutMs): Promise<SandboxFailure | undefined> {
    return this.define(`__cb.defineReduce(${index}, (${source}\n))`, timeoutMs)
  }

  /** Runs map number `index` over a batch of documents, all within one budget. */
  map(
    index: number,
    docs: ReadonlyArray<MapInput>,
    timeoutMs = this.options.timeoutMs
  ): Promise<MapBatchResult | SandboxFailure> {
    return this.enqueue(async () => {
      const out = await this.call(`__cb.map(${index})`, JSON.stringify(docs), timeoutMs)
      return typeof out === "string" ? readMapOutput(out, docs.length) : out
    })
  }

  /** Runs reduce number `index`; returns the JSON of its result. */
  reduce(
    index: number,
    keys: ReadonlyArray<unknown> | null,
    values: ReadonlyArray<unknown>,
    rereduce: boolean
  ): Promise<string | SandboxFailure> {
    return this.enqueue(async () => {
      const out = await this.call(
        `__cb.reduce(${index})`,
        JSON.stringify([keys, values, rereduce]),
        this.options.timeoutMs
      )
      return typeof out === "string" ? readReduceOutput(out) : out
    })
  }

  /** How many workers were started after the first: each one replaced a worker that failed. */
  get restarts(): number {
    return Math.max(0, this.started - 1)
  }

  /** Ends the worker; later calls fail. */
  async close(): Promise<void> {
    this.closed = true
    const worker = this.worker
    this.worker = undefined
    if (worker !== undefined) await worker.terminate()
  }

  private define(script: string, timeoutMs: number): Promise<SandboxFailure | undefined> {
    return this.enqueue(async () => {
      const out = await this.call(script, undefined, timeoutMs)
      if (typeof out !== "string") return out
      this.definitions.push(script)
      return undefined
    })
  }

  private enqueue<A>(task: () => Promise<A>): Promise<A> {
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => undefined)
    return run
  }

  /**
   * One call to a live worker (started, with the definitions replayed, when needed).
   * User code can keep a worker busy after its call has returned (a finalizer that
   * loops, a promise chain): a worker that does not answer a ping within
   * {@link PING_MS} is replaced first, so that the call is not charged for it.
   */
  private async call(script: string, input: string | undefined, timeoutMs: number): Promise<string | SandboxFailure> {
    if (this.closed) return failure("the view sandbox is closed")
    if (this.worker !== undefined) await this.send("0", undefined, PING_MS)
    if (this.worker === undefined) {
      const started = await this.start()
      if (started !== undefined) return started
    }
    return this.send(script, input, timeoutMs)
  }

  private async start(): Promise<SandboxFailure | undefined> {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { prelude: PRELUDE },
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 16 },
      // The host's stdout/stderr are not for user code (log() is a no-op anyway).
      stdout: true,
      stderr: true
    })
    worker.unref()
    this.started++
    worker.on("message", (reply: Reply) => {
      const waiting = this.waiting
      if (waiting === undefined || waiting.id !== reply.id) return
      this.waiting = undefined
      waiting.settle(
        reply.timeout === true
          ? failure(`timed out after ${waiting.timeoutMs} ms`, true)
          : reply.error !== undefined
            ? failure(reply.error)
            : (reply.out ?? "")
      )
    })
    const ended = (reason: string) => {
      if (this.worker !== worker) return
      this.worker = undefined
      const waiting = this.waiting
      this.waiting = undefined
      waiting?.settle(failure(reason))
    }
    // An error event is what the worker's own failures look like (an unhandled
    // rejection, running out of heap); the process is not affected.
    worker.on("error", (e) => ended(`the view sandbox stopped: ${describeWorkerError(e)}`))
    worker.on("exit", (code) => ended(`the view sandbox stopped (exit code ${code})`))
    // Starting a thread is not the user code's time: the budgets count from here.
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), STARTUP_MS)
      worker.once("message", () => {
        clearTimeout(timer)
        resolve(true)
      })
      worker.once("exit", () => resolve(false))
    })
    if (!ready) {
      void worker.terminate()
      return failure(`the view sandbox did not start within ${STARTUP_MS} ms`)
    }
    this.worker = worker
    for (const definition of this.definitions) {
      const out = await this.send(definition, undefined, this.options.timeoutMs)
      if (typeof out !== "string") return out
    }
    return undefined
  }

  private send(script: string, input: string | undefined, timeoutMs: number): Promise<string | SandboxFailure> {
    const worker = this.worker
    if (worker === undefined) return Promise.resolve(failure("the view sandbox stopped"))
    const id = this.nextId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.waiting?.id !== id) return
        // Whatever the worker is doing (a loop, a finalizer), it ends here.
        this.waiting = undefined
        this.worker = undefined
        void worker.terminate()
        resolve(failure(`timed out after ${timeoutMs} ms`, true))
      }, timeoutMs)
      timer.unref()
      this.waiting = {
        id,
        timeoutMs,
        settle: (reply) => {
          clearTimeout(timer)
          resolve(reply)
        }
      }
      worker.postMessage({ id, script, input, timeoutMs })
    })
  }
}

const describeWorkerError = (e: unknown): string => {
  const code = (e as { code?: unknown })?.code
  if (code === "ERR_WORKER_OUT_OF_MEMORY") return "it ran out of memory"
  return e instanceof Error ? e.message : String(e)
}
