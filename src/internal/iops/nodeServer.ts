/**
 * Node's `net.Server` behind the {@link ServerSocket} / {@link ServerListener}
 * interfaces, so an in-process server written once runs on real sockets and on the
 * simulated network alike.
 *
 * @internal
 */
import * as net from "node:net"
import * as tls from "node:tls"
import { Effect, type Scope } from "effect"
import { type ListenError, listenErrorFrom, type ServerListener, type ServerSocket } from "./serverSocket.js"

let nextId = 1

/** Wraps an accepted Node socket (the wrapper installs its own 'error' listener). */
export const serverSocketFromNode = (socket: net.Socket, secure = socket instanceof tls.TLSSocket): ServerSocket => {
  const id = nextId++
  let dataCallback: ((chunk: Buffer) => void) | undefined
  let drainCallback: (() => void) | undefined
  let endCallback: (() => void) | undefined
  let closeCallback: ((error: Error | undefined) => void) | undefined
  let failure: Error | undefined
  socket.on("error", (error) => {
    failure ??= error
  })
  socket.on("drain", () => drainCallback?.())
  socket.on("end", () => endCallback?.())
  socket.on("close", () => closeCallback?.(failure))
  return {
    id,
    remoteAddress: socket.remoteAddress ?? "",
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? "",
    localPort: socket.localPort ?? 0,
    secure,
    get writableLength() {
      return socket.writableLength
    },
    write: (bytes) => (socket.destroyed || socket.writableEnded ? false : socket.write(bytes)),
    onData: (callback) => {
      if (dataCallback !== undefined) socket.off("data", dataCallback)
      dataCallback = callback
      socket.on("data", callback)
    },
    onDrain: (callback) => {
      drainCallback = callback
    },
    onEnd: (callback) => {
      endCallback = callback
    },
    onClose: (callback) => {
      closeCallback = callback
    },
    pause: () => {
      socket.pause()
    },
    resume: () => {
      socket.resume()
    },
    end: () => {
      if (!socket.destroyed) socket.end()
    },
    destroy: () => {
      if (socket.destroyed) return
      // An RST, so that the client sees the abort as an error and not as a clean end.
      if (typeof socket.resetAndDestroy === "function" && !(socket instanceof tls.TLSSocket)) socket.resetAndDestroy()
      else socket.destroy()
    }
  }
}

/** Options of {@link listenNode}. */
export interface NodeListenOptions {
  /**
   * Serve TLS with this key / certificate. A client that fails the handshake (it
   * does not trust the certificate, or speaks plain TCP) is dropped before
   * `onConnection` sees it.
   */
  readonly tls?: tls.TlsOptions | undefined
}

/**
 * Binds a Node server on `host:port` (0 = a free port) and hands each accepted
 * connection to `onConnection`. Released with the scope: the listener closes and
 * every connection it accepted is destroyed, so tests never leak sockets.
 */
export const listenNode = (
  host: string,
  port: number,
  onConnection: (socket: ServerSocket) => void,
  options: NodeListenOptions = {}
): Effect.Effect<ServerListener, ListenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ listener: ServerListener; server: net.Server; sockets: Set<net.Socket> }, ListenError>((resume) => {
      const sockets = new Set<net.Socket>()
      const accept = (socket: net.Socket): void => {
        onConnection(serverSocketFromNode(socket, options.tls !== undefined))
      }
      const server =
        options.tls === undefined
          ? net.createServer({ noDelay: true }, accept)
          : tls.createServer({ noDelay: true, ...options.tls }, accept)
      // Tracked as raw TCP sockets from the start, so that a TLS handshake still in
      // progress when the scope closes is cut as well (destroying the raw socket ends
      // the TLS session on top of it).
      server.on("connection", (socket: net.Socket) => {
        sockets.add(socket)
        socket.once("close", () => sockets.delete(socket))
      })
      server.once("error", (error) => resume(Effect.fail(listenErrorFrom(host, port, error))))
      server.listen(port, host, () => {
        const bound = (server.address() as net.AddressInfo).port
        let closed = false
        resume(
          Effect.succeed({
            server,
            sockets,
            listener: {
              host,
              port: bound,
              address: `${host}:${bound}`,
              close: () => {
                if (closed) return
                closed = true
                server.close()
              }
            }
          })
        )
      })
    }),
    ({ listener, sockets }) =>
      Effect.sync(() => {
        listener.close()
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ listener }) => listener))
