/**
 * The TCP transport of the embedded cluster: Node's `net` / `tls` for KV (through the
 * Iops layer's `listenNode`) and `node:http` / `node:https` for the management and
 * views ports.
 *
 * @internal
 */
import * as http from "node:http"
import * as https from "node:https"
import type * as net from "node:net"
import { Effect } from "effect"
import { listenNode } from "../../internal/iops/nodeServer.js"
import { type ListenError, listenErrorFrom, type ServerListener } from "../../internal/iops/serverSocket.js"
import type { HttpHandler, ListenOptions, ServerTransport } from "./Transport.js"

// Clients keep management connections (streaming configs) open; idle ones go after 5 s.
const KEEP_ALIVE_TIMEOUT = 5000

const createHttpServer = (handler: HttpHandler, options: ListenOptions): http.Server =>
  options.tls === undefined
    ? http.createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT }, handler)
    : https.createServer(
        { keepAliveTimeout: KEEP_ALIVE_TIMEOUT, key: options.tls.key, cert: options.tls.cert },
        handler
      )

/** Real sockets on the host's TCP stack. */
export const tcpTransport: ServerTransport = {
  name: "tcp",
  listen: (host, port, onConnection, options = {}) => listenNode(host, port, onConnection, options),
  listenHttp: (host, port, handler, track, options = {}) =>
    Effect.acquireRelease(
      Effect.async<{ server: http.Server; listener: ServerListener }, ListenError>((resume) => {
        const server = createHttpServer(handler, options)
        // For HTTPS this is the raw TCP socket: destroying it also ends the TLS session.
        server.on("connection", (socket: net.Socket) => {
          socket.setNoDelay(true)
          track(socket)
        })
        server.once("error", (error) => resume(Effect.fail(listenErrorFrom(host, port, error))))
        server.listen(port, host, () => {
          const bound = (server.address() as net.AddressInfo).port
          resume(
            Effect.succeed({
              server,
              listener: { host, port: bound, address: `${host}:${bound}`, close: () => server.close() }
            })
          )
        })
      }),
      ({ server }) =>
        Effect.sync(() => {
          server.close()
          server.closeAllConnections()
        })
    ).pipe(Effect.map(({ listener }) => listener))
}
