/**
 * The server side of a connection, as in-process servers (the embedded cluster, test
 * peers) see it: a small event API that both the simulated network and Node's
 * `net.Server` (through `serverSocketFromNode`) provide, so one server handler runs
 * on either.
 *
 * @internal
 */
import { Data } from "effect"

/**
 * One accepted connection. Callbacks are registered once each (a second registration
 * replaces the first) and are never called from inside a method of the socket.
 * Bytes that arrive before `onData` is set, or while paused, are kept and delivered
 * in order later.
 *
 * Lifecycle: `onData`* → `onEnd` (the client finished sending; like Node's default
 * `allowHalfOpen: false`, the server side is then ended automatically once its
 * pending writes are sent) → `onClose(undefined)`. A reset, a `destroy()` by either
 * side or a network fault ends it with `onClose(error)` instead, possibly without
 * `onEnd`.
 */
export interface ServerSocket {
  /** Unique id of the connection (also a fault-injection target on the simulated network). */
  readonly id: number
  /** The client's address (IP or host name). */
  readonly remoteAddress: string
  /** The client's port. */
  readonly remotePort: number
  /** The address the listener is bound to. */
  readonly localAddress: string
  /** The listener's port. */
  readonly localPort: number
  /** Whether the client connected with TLS. */
  readonly secure: boolean
  /** Bytes accepted by `write` that have not been taken by the network yet. */
  readonly writableLength: number
  /**
   * Sends `bytes` (the socket keeps a reference: do not modify them afterwards).
   * Returns `false` when the buffer is full: stop writing until `onDrain`.
   * Writes after `end()`/`destroy()` or on a closed connection are dropped.
   */
  write(bytes: Uint8Array): boolean
  /** Called with each chunk of bytes from the client, in order. */
  onData(callback: (chunk: Buffer) => void): void
  /** Called when a full buffer has emptied enough to write again. */
  onDrain(callback: () => void): void
  /** Called once the client has finished sending (end-of-stream). */
  onEnd(callback: () => void): void
  /** Called once when the connection is gone; `error` when it ended abnormally. */
  onClose(callback: (error: Error | undefined) => void): void
  /** Stops `onData` deliveries (the client is throttled when the buffer fills). */
  pause(): void
  /** Resumes `onData` deliveries, starting with what arrived while paused. */
  resume(): void
  /** Sends end-of-stream after the pending writes. */
  end(): void
  /** Closes at once: pending bytes are dropped and the client sees a reset. */
  destroy(): void
}

/** A bound listener of in-process servers. */
export interface ServerListener {
  /** The bound host. */
  readonly host: string
  /** The bound port (the chosen one when 0 was asked). */
  readonly port: number
  /** `host:port`. */
  readonly address: string
  /** Stops accepting connections (idempotent); accepted connections stay open. */
  close(): void
}

/** A listener could not be bound. */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The `ListenError` of a Node server's `'error'` event, naming `host:port` and the
 * system code (EADDRINUSE, EACCES…) that says what to change.
 */
export const listenErrorFrom = (host: string, port: number, error: Error): ListenError =>
  new ListenError({
    host,
    port,
    message: `could not listen on ${host}:${port}: ${(error as { code?: string }).code ?? error.message}`,
    cause: error
  })
