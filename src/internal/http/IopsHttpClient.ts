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
 *   the response body streams as it arrives (see {@link IopsClientResponse}).
 *
 * @internal
 */
import * as http from "node:http"
import type { Duplex } from "node:stream"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import { Cause, Effect, Either, Exit, type Fiber, type Scope } from "effect"
import type { Iops } from "../../Iops.js"
import { destroyTimer, makeTimerEvent, scheduleTimer } from "../iops/core.js"
import { IopsDuplex } from "../iops/IopsDuplex.js"
import { IopsClientResponse } from "./IopsClientResponse.js"

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

/**
 * What the connection's own HTTP users (its views) call instead of the `HttpClient`:
 * the same request over the same agents, without the `HttpClient`'s per-request span,
 * abort controller and response wrapping, and with the response timeout on an Iops
 * timer rather than a race of fibers (measured together: half the client's CPU of a
 * small view query).
 */
export interface DirectHttp {
  /**
   * Sends `request`; succeeds with its response once the head arrives, fails with
   * `onTimeout()` when it has not within `timeoutMs`. When the scope closes with the
   * body not read to its end, the request is destroyed (its socket is not reused).
   */
  readonly send: <E>(
    request: HttpClientRequest.HttpClientRequest,
    timeoutMs: number,
    onTimeout: () => E
  ) => Effect.Effect<IopsClientResponse, HttpClientError.RequestError | E, Scope.Scope>
}

const DIRECT = Symbol.for("effect-couchbase/IopsHttpClient/direct")

/** The direct interface of a client made by {@link makeIopsHttpClient}; undefined for any other client. */
export const directHttpOf = (client: HttpClient.HttpClient): DirectHttp | undefined =>
  (client as { readonly [DIRECT]?: DirectHttp })[DIRECT]

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
    /**
     * Sends `request` to `url` and reports its head as a response, or the failure to
     * get one; returns the outgoing request (undefined when nothing was sent).
     */
    const start = (
      request: HttpClientRequest.HttpClientRequest,
      url: URL,
      signal: AbortSignal | undefined,
      onHead: (result: Effect.Effect<IopsClientResponse, HttpClientError.RequestError>) => void
    ): http.ClientRequest | undefined => {
      if (closed) {
        onHead(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: closedError() })))
        return undefined
      }
      const body = bodyBytes(request)
      if (body instanceof Error) {
        onHead(Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", cause: body })))
        return undefined
      }
      const outgoing = http.request(url, {
        agent: url.protocol === "https:" ? agents.https : agents.http,
        method: request.method,
        headers: request.headers,
        ...(signal === undefined ? {} : { signal })
      })
      let response: IopsClientResponse | undefined
      // Before the head, an error fails the request; after it (a reset mid-body), the body.
      outgoing.on("error", (cause: Error) => {
        if (response !== undefined) response.fail(cause)
        else onHead(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))
      })
      outgoing.on("response", (message) => {
        response = new IopsClientResponse(request, message, options.iops)
        onHead(Effect.succeed(response))
      })
      outgoing.end(body)
      return outgoing
    }

    const direct: DirectHttp = {
      send: (request, timeoutMs, onTimeout) =>
        Effect.suspend(() => {
          const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
          if (Either.isLeft(url)) {
            return Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
          }
          let outgoing: http.ClientRequest | undefined
          let response: IopsClientResponse | undefined
          // A body not read to its end keeps its socket busy: the request is destroyed.
          const release = Effect.sync(() => {
            if (response === undefined || !response.ended) outgoing?.destroy()
          })
          const send = Effect.async<IopsClientResponse, HttpClientError.RequestError | ReturnType<typeof onTimeout>>(
            (resume) => {
              const iops = options.iops
              const timer = makeTimerEvent(iops)
              timer.onReady = () => {
                destroyTimer(iops, timer)
                outgoing?.destroy()
                resume(Effect.fail(onTimeout()))
              }
              outgoing = start(request, url.right, undefined, (result) => {
                destroyTimer(iops, timer)
                resume(Effect.tap(result, (r) => (response = r)))
              })
              if (outgoing === undefined) return
              try {
                scheduleTimer(iops, timer, timeoutMs * 1000)
              } catch (error) {
                destroyTimer(iops, timer)
                outgoing.destroy()
                resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: error })))
                return
              }
              return Effect.sync(() => {
                destroyTimer(iops, timer)
                outgoing?.destroy()
              })
            }
          )
          return Effect.zipRight(
            Effect.addFinalizer(() => release),
            send
          )
        })
    }

    const client = HttpClient.make((request, url, signal) =>
      Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
        const outgoing = start(request, url, signal, resume)
        if (outgoing !== undefined) return Effect.sync(() => outgoing.destroy())
      })
    )
    return Object.assign(client, { [DIRECT]: direct })
  })

const connectTimedOut = (host: string, port: number): Error =>
  new Error(`connecting to ${host}:${port} for an HTTP request timed out`)

const causeError = (cause: Cause.Cause<unknown>): Error => {
  // The typed failure of the connect (ConnectError, UnknownHostError, the timeout) is an Error.
  const squashed = Cause.squash(cause)
  return squashed instanceof Error ? squashed : new Error("the connection for an HTTP request failed")
}
