/**
 * The health calls of a connection: `ping` (every endpoint of the current map checked
 * at once: a KV NOOP on each node's connection, an HTTP request to each node's views
 * port), `diagnostics` (each node's connection as it is, nothing sent) and
 * `waitUntilReady` (pings until every endpoint answers, within a time limit).
 *
 * Pings never fail for an endpoint that does not answer: the report says so. Every
 * wait is on the Iops's timers (the NOOP's deadline, the connection's clock for HTTP).
 *
 * @internal
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Redacted } from "effect"
import type { ClusterAccess, DiagnosticsReport, PingEndpoint, PingReport, PingService } from "../../Connection.js"
import { TimeoutError } from "../../Errors.js"
import { now } from "../iops/core.js"
import { iopsSleep } from "../iops/IopsClock.js"
import type { HealthCommand } from "../ops/health.js"
import { Opcode, Status } from "../protocol/constants.js"
import type { Core } from "./Core.js"
import type { NodeConnection } from "./NodeConnection.js"

const endpoint = (
  service: PingService,
  remote: string,
  state: PingEndpoint["state"],
  latencyMs: number | undefined,
  error: string | undefined
): PingEndpoint => ({ service, remote, state, latencyMs, error })

const round = (millis: number): number => Math.round(millis * 1000) / 1000

/** A NOOP on the node's connection. */
const pingKv = (core: Core, node: NodeConnection, timeoutMillis: number): Effect.Effect<PingEndpoint> =>
  Effect.suspend(() => {
    const pipeline = node.pipeline
    if (!node.ready || pipeline === undefined) {
      return Effect.succeed(endpoint("kv", node.address, "error", undefined, `not connected (${node.state})`))
    }
    const start = now(core.iops)
    return pipeline.exchange({ opcode: Opcode.Noop }, start + timeoutMillis).pipe(
      Effect.match({
        onSuccess: (frame) =>
          frame.status === Status.Success
            ? endpoint("kv", node.address, "ok", round(now(core.iops) - start), undefined)
            : endpoint("kv", node.address, "error", undefined, `NOOP answered status 0x${frame.status.toString(16)}`),
        onFailure: (error) =>
          error._tag === "TimeoutError"
            ? endpoint("kv", node.address, "timeout", undefined, `no answer within ${timeoutMillis} ms`)
            : endpoint("kv", node.address, "error", undefined, error.message)
      })
    )
  })

/** A request to the node's views port: any answer below 500 means the service is there. */
const pingViews = (cluster: ClusterAccess, base: string, timeoutMillis: number): Effect.Effect<PingEndpoint> => {
  const remote = base.replace(/^https?:\/\//, "")
  let request = HttpClientRequest.get(`${base}/`)
  if (cluster.username !== undefined) {
    request = HttpClientRequest.basicAuth(
      request,
      cluster.username,
      Redacted.value(cluster.password ?? Redacted.make(""))
    )
  }
  return Effect.gen(function* () {
    const start = cluster.clock.unsafeCurrentTimeMillis()
    const response = yield* cluster.httpClient.execute(request)
    yield* response.arrayBuffer
    const latency = round(cluster.clock.unsafeCurrentTimeMillis() - start)
    return response.status < 500
      ? endpoint("views", remote, "ok", latency, undefined)
      : endpoint("views", remote, "error", latency, `HTTP ${response.status}`)
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({ duration: timeoutMillis, onTimeout: () => "timeout" as const }),
    Effect.withClock(cluster.clock),
    Effect.catchAll((error) =>
      Effect.succeed(
        error === "timeout"
          ? endpoint("views", remote, "timeout", undefined, `no answer within ${timeoutMillis} ms`)
          : endpoint("views", remote, "error", undefined, error.message)
      )
    )
  )
}

/** See the module documentation. */
export const ping = (core: Core, cluster: ClusterAccess, command: HealthCommand): Effect.Effect<PingReport> =>
  Effect.gen(function* () {
    const timeoutMillis = command.timeoutMillis ?? core.settings.operationTimeout
    const services = command.services ?? (core.settings.memcached ? ["kv"] : ["kv", "views"])
    const checks: Array<Effect.Effect<PingEndpoint>> = []
    if (services.includes("kv")) for (const node of core.activeNodes) checks.push(pingKv(core, node, timeoutMillis))
    if (services.includes("views")) {
      for (const base of yield* cluster.capiBaseUrls) checks.push(pingViews(cluster, base, timeoutMillis))
    }
    const endpoints = yield* Effect.all(checks, { concurrency: "unbounded" })
    return {
      bucket: cluster.bucket,
      configRevision: core.config?.rev,
      endpoints,
      ok: endpoints.length > 0 && endpoints.every((e) => e.state === "ok")
    }
  })

/** See the module documentation. */
export const diagnostics = (core: Core, cluster: ClusterAccess): Effect.Effect<DiagnosticsReport> =>
  Effect.sync(() => {
    const t = now(core.iops)
    return {
      bucket: cluster.bucket,
      configRevision: core.config?.rev,
      nodes: core.activeNodes.map((node) => {
        const last = node.pipeline?.lastActivity
        return {
          remote: node.address,
          state: node.state,
          lastActivityMs: last === undefined || !node.ready ? undefined : round(t - last),
          inFlight: node.ready ? (node.pipeline?.pending ?? 0) : 0,
          waiting: node.queued
        }
      })
    }
  })

/** Between two pings while waiting for readiness. */
const RETRY_MILLIS = 50

/** See the module documentation. */
export const waitUntilReady = (
  core: Core,
  cluster: ClusterAccess,
  command: HealthCommand & { readonly timeoutMillis: number }
): Effect.Effect<PingReport, TimeoutError> =>
  Effect.gen(function* () {
    const deadline = now(core.iops) + command.timeoutMillis
    for (;;) {
      const left = deadline - now(core.iops)
      const report = yield* ping(core, cluster, {
        timeoutMillis: Math.max(1, Math.min(left, core.settings.operationTimeout)),
        services: command.services
      })
      if (report.ok) return report
      if (now(core.iops) + RETRY_MILLIS >= deadline) {
        const pending =
          report.endpoints.length === 0
            ? "no endpoint is known yet"
            : report.endpoints
                .filter((e) => e.state !== "ok")
                .map((e) => `${e.service} ${e.remote}: ${e.state}${e.error === undefined ? "" : ` (${e.error})`}`)
                .join("; ")
        return yield* new TimeoutError({
          message: `the cluster was not ready within ${command.timeoutMillis} ms: ${pending}`
        })
      }
      yield* iopsSleep(core.iops, RETRY_MILLIS)
    }
  })
