/**
 * The simulated-network transport of the embedded cluster: KV listeners bind on the
 * {@link SimulatedNetwork} directly; HTTP listeners hand each simulated connection,
 * wrapped as a `Duplex`, to a `node:http` server (`'connection'` accepts any duplex
 * stream), so the management and views ports run unchanged in memory.
 *
 * @internal
 */
import * as http from "node:http"
import { Duplex } from "node:stream"
import type { SimulatedNetwork } from "../../internal/iops/network.js"
import type { ServerSocket } from "../../internal/iops/serverSocket.js"
import type { ServerTransport } from "./Transport.js"

/** A simulated server socket as a Node `Duplex`, with the socket methods `node:http` may call. */
export const duplexOf = (socket: ServerSocket): Duplex => {
  let waitingDrain: (() => void) | undefined
  const duplex = new Duplex({
    read() {
      socket.resume()
    },
    write(chunk: Buffer, _encoding, callback) {
      if (socket.write(chunk)) callback()
      else waitingDrain = callback
    },
    final(callback) {
      socket.end()
      callback()
    },
    destroy(error, callback) {
      socket.destroy()
      callback(error)
    }
  })
  socket.onData((chunk) => {
    if (!duplex.push(chunk)) socket.pause()
  })
  socket.onDrain(() => {
    const callback = waitingDrain
    waitingDrain = undefined
    callback?.()
  })
  socket.onEnd(() => duplex.push(null))
  socket.onClose((error) => {
    if (!duplex.destroyed) duplex.destroy(error)
  })
  // node:http treats the stream as a socket: give it the no-op knobs and addresses it reads.
  Object.assign(duplex, {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    encrypted: socket.secure,
    setTimeout: () => duplex,
    setNoDelay: () => duplex,
    setKeepAlive: () => duplex
  })
  return duplex
}

/**
 * Listening on a simulated network. A TLS listener is a `secure` one: it accepts only
 * clients that connect with TLS (and plain listeners only plain clients), as real
 * ports do, but nothing is encrypted and the certificate is not used, so simulated
 * clients need no trust settings. HTTP over a secure listener is plain HTTP on a link
 * marked encrypted.
 */
export const simulatedTransport = (network: SimulatedNetwork.Service): ServerTransport => ({
  name: "simulated",
  listen: (host, port, onConnection, options = {}) =>
    network.listen(host, port, onConnection, { secure: options.tls !== undefined }),
  listenHttp: (host, port, handler, track, options = {}) => {
    const server = http.createServer(handler)
    return network.listen(
      host,
      port,
      (socket) => {
        const duplex = duplexOf(socket)
        track(duplex)
        server.emit("connection", duplex)
      },
      { secure: options.tls !== undefined }
    )
  }
})
