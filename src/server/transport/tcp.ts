/**
 * The TCP transport of the embedded cluster: Node's `net` for KV (through the Iops
 * layer's `listenNode`) and `node:http` for the management and views ports.
 *
 * @internal
 */
import * as http from "node:http"
import type * as net from "node:net"
import { Effect } from "effect"
import { listenNode } from "../../internal/iops/nodeServer.js"
import { type ListenError, listenErrorFrom, type ServerListener } from "../../internal/iops/serverSocket.js"
import type { ServerTransport } from "./Transport.js"

/** Real sockets on the host's TCP stack. */
export const tcpTransport: ServerTransport = {
  name: "tcp",
  listen: (host, port, onConnection) => listenNode(host, port, onConnection),
  listenHttp: (host, port, handler, track) =>
    Effect.acquireRelease(
      Effect.async<{ server: http.Server; listener: ServerListener }, ListenError>((resume) => {
        const server = http.createServer({ keepAliveTimeout: 5000 }, handler)
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
