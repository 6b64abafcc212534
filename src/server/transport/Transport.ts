/**
 * How the embedded cluster listens: a transport binds a KV listener (raw
 * {@link ServerSocket}s for the session core) and an HTTP listener (a `node:http`
 * request handler) on `host:port`. Node's TCP stack and the simulated network each
 * provide one, so the same server runs on both, and a cluster may listen on both at
 * once with the same port numbers. A listener may serve TLS ({@link ListenOptions});
 * on the simulated network that only marks the connections secure (nothing is
 * encrypted in memory), on TCP it is real TLS.
 *
 * @internal
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Effect, Scope } from "effect"
import type { ListenError, ServerListener, ServerSocket } from "../../internal/iops/serverSocket.js"

/** A `node:http` request handler. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void

/** An HTTP connection, as the cluster tracks it (to close it when its node stops). */
export interface Closable {
  destroy(): void
  once(event: "close", listener: () => void): unknown
}

/** The server side of TLS: the certificate chain (PEM) and its private key (PEM). */
export interface ServerTlsOptions {
  readonly key: string | Buffer
  readonly cert: string | Buffer
}

/** How a listener serves its connections. */
export interface ListenOptions {
  /** Serve TLS (KV over TLS, HTTPS) with this key and certificate. */
  readonly tls?: ServerTlsOptions | undefined
}

/** A way to listen; listeners are released (and their connections closed) with the scope. */
export interface ServerTransport {
  /** For messages: `tcp` or `simulated`. */
  readonly name: string
  /** Binds a KV listener (`port` 0 = a free port). */
  listen(
    host: string,
    port: number,
    onConnection: (socket: ServerSocket) => void,
    options?: ListenOptions
  ): Effect.Effect<ServerListener, ListenError, Scope.Scope>
  /** Binds an HTTP(S) listener; `track` sees each accepted connection (so a node stop can close them). */
  listenHttp(
    host: string,
    port: number,
    handler: HttpHandler,
    track: (connection: Closable) => void,
    options?: ListenOptions
  ): Effect.Effect<ServerListener, ListenError, Scope.Scope>
}
