/**
 * The `HttpClient` of a connection's HTTP requests (views): `node:http` frames them,
 * over sockets the connection's {@link Iops} opens, so views run wherever the KV
 * operations run (Node, the simulated network, an integrator's loop).
 *
 * - One keep-alive `http.Agent` per scheme whose `createConnection` connects through
 *   `Iops.connect` (TLS with the connection's settings for `https:` URLs) and hands
 *   `node:http` an {@link IopsDuplex}. Kept-alive sockets close when idle (a second
 *   before the server's keep-alive hint, at most 30 s) through the duplex's idle
 *   timer, an Iops timer.
 * - The agents live as long as the caller's scope: closing it destroys every socket.
 * - A request body is text or bytes (what the view and management requests send);
 *   the response body streams as it arrives, through a web `Response`.
 *
 * @internal
 */
import * as http from "node:http"
import type { Duplex } from "node:stream"
import { Readable } from "node:stream"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Cause, Effect, Exit, type Fiber, type Scope } from "effect"
import type { Iops } from "../../Iops.js"
import { IopsDuplex } from "../iops/IopsDuplex.js"

/** What the client needs from its connection. */
export interface IopsHttpOptions {
  readonly iops: Iops.Service
  /** TLS settings of `https:` connections (`true`: system defaults). */
  readonly tls: Iops.TlsOptions | boolean
  /** How long opening a socket may take, in milliseconds. */
  readonly connectTimeout: number
  /** Forks an Effect in the connection's runtime (its Clock and services). */
  readonly run: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void, never>
}

/** The cause of requests made once the connection is closed. */
const closedError = (): Error => new Error("the connection is closed; open a new one")

/**
 * How long a kept-alive socket may stay idle (sooner when the server's `Keep-Alive`
 * header announces a shorter timeout: a second before it).
 */
const MAX_IDLE_MS = 30_000

type ConnectCallback = (error: Error | null, socket: Duplex) => void

/** A keep-alive agent whose sockets are opened by the Iops. */
class IopsAgent extends http.Agent {
  constructor(
    readonly protocol: "http:" | "https:",
    private readonly open: (host: string, port: number, callback: ConnectCallback) => void
  ) {
    // Node applies a server's keep-alive hint only below the agent's own idle timeout.
    super({ keepAlive: true, timeout: MAX_IDLE_MS })
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback): undefined {
    const host = options.hostname ?? options.host ?? "localhost"
    // An IPv6 literal comes bracketed from the URL.
    this.open(host.replace(/^\[(.*)\]$/, "$1"), Number(options.port), callback!)
    return undefined
  }
}

const headersOf = (message: http.IncomingMessage): Headers => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(message.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v)
    else if (value !== undefined) headers.set(name, value)
  }
  return headers
}

const bodyBytes = (request: HttpClientRequest.HttpClientRequest): Uint8Array | string | undefined | Error => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
      return undefined
    case "Uint8Array":
      return body.body
    case "Raw":
      return typeof body.body === "string" || body.body instanceof Uint8Array
        ? body.body
        : new Error("only text or bytes can be sent")
    default:
      return new Error(`a ${body._tag} body cannot be sent`)
  }
}

/** See the module documentation. */
export const makeIopsHttpClient = (
  options: IopsHttpOptions
): Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> =>
  Effect.gen(function* () {
    let closed = false
    const open =
      (secure: boolean) =>
      (host: string, port: number, callback: ConnectCallback): void => {
        if (closed) {
          callback(closedError(), undefined as never)
          return
        }
        let answered = false
        const answer = (error: Error | null, socket?: Duplex) => {
          if (answered) return
          answered = true
          callback(error, socket as Duplex)
        }
        const connect = options.iops
          .connect({ host, port, tls: secure ? options.tls : undefined })
          .pipe(Effect.timeoutFail({ duration: options.connectTimeout, onTimeout: () => connectTimedOut(host, port) }))
        const fiber = options.run(
          Effect.map(Effect.exit(connect), (exit) => {
            if (Exit.isFailure(exit)) return answer(causeError(exit.cause))
            // A socket that connects after the close is not handed over.
            if (closed) {
              exit.value.destroy()
              return answer(closedError())
            }
            answer(null, new IopsDuplex(options.iops, exit.value))
          })
        )
        // Interrupted by the close before it connected.
        fiber.addObserver(() => answer(closedError()))
      }
    const agents = yield* Effect.acquireRelease(
      Effect.sync(() => ({ http: new IopsAgent("http:", open(false)), https: new IopsAgent("https:", open(true)) })),
      (agents) =>
        Effect.sync(() => {
          closed = true
          agents.http.destroy()
          agents.https.destroy()
        })
    )
    return HttpClient.make((request, url, signal) => {
      if (closed) {
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: closedError() }))
      }
      const body = bodyBytes(request)
      if (body instanceof Error) {
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", cause: body }))
      }
      return Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
        const outgoing = http.request(url, {
          agent: url.protocol === "https:" ? agents.https : agents.http,
          method: request.method,
          headers: request.headers,
          signal
        })
        const onError = (cause: Error) =>
          resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))
        outgoing.on("error", onError)
        outgoing.on("response", (message) => {
          outgoing.off("error", onError)
          const empty = message.statusCode === 204 || message.statusCode === 304 || request.method === "HEAD"
          const response = new Response(empty ? null : (Readable.toWeb(message) as ReadableStream<Uint8Array>), {
            status: message.statusCode ?? 0,
            statusText: message.statusMessage ?? "",
            headers: headersOf(message)
          })
          resume(Effect.succeed(HttpClientResponse.fromWeb(request, response)))
        })
        outgoing.end(body)
        return Effect.sync(() => outgoing.destroy())
      })
    })
  })

const connectTimedOut = (host: string, port: number): Error =>
  new Error(`connecting to ${host}:${port} for an HTTP request timed out`)

const causeError = (cause: Cause.Cause<unknown>): Error => {
  // The typed failure of the connect (ConnectError, UnknownHostError, the timeout) is an Error.
  const squashed = Cause.squash(cause)
  return squashed instanceof Error ? squashed : new Error("the connection for an HTTP request failed")
}
