/**
 * Test helpers around an Iops: one with some of its functions replaced, one that
 * counts its connects, and a count of the client sockets Node itself creates (to
 * compare with the connects: every socket should be one the Iops opened).
 */
import * as diagnostics from "node:diagnostics_channel"
import { Effect, Layer, type Scope } from "effect"
import * as NodeIops from "../../src/Iops/Node.js"
import * as Iops from "../../src/Iops.js"

/** `base` with the functions `overrides` returns in place of its own. */
export const decorate = (
  base: Iops.Iops.Service,
  overrides: (base: Iops.Iops.Service) => Partial<Iops.Iops.Service>
): Iops.Iops.Service => Object.assign(Object.create(base), overrides(base))

/** `base`, counting the ports it connects to. */
export const countingConnects = (base: Iops.Iops.Service) => {
  const ports: Array<number> = []
  const service = decorate(base, (b) => ({
    connect: (options) => {
      ports.push(options.port)
      return b.connect(options)
    }
  }))
  return { ports, service }
}

/** Node's Iops with some functions replaced, as a layer. */
export const nodeLayerWith = (
  overrides: (base: Iops.Iops.Service) => Partial<Iops.Iops.Service>
): Layer.Layer<Iops.Iops> => Layer.sync(Iops.Iops, () => decorate(NodeIops.make(), overrides))

/** Counts the client sockets Node creates from now until the scope closes. */
export const nodeClientSockets: Effect.Effect<{ readonly count: number }, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const counter = { count: 0 }
    const onSocket = () => {
      counter.count++
    }
    diagnostics.subscribe("net.client.socket", onSocket)
    return { counter, onSocket }
  }),
  ({ onSocket }) => Effect.sync(() => diagnostics.unsubscribe("net.client.socket", onSocket))
).pipe(Effect.map(({ counter }) => counter))
