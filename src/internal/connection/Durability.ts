/**
 * OBSERVE across the cluster, and durability polling on top of it.
 *
 * `observe` asks every node holding a copy of the keys (the master and, unless
 * `masterOnly`, each replica) with one OBSERVE per node for all the keys it holds,
 * and gathers each key's answers. A master that cannot answer fails the observe; a
 * replica that cannot is left out (it simply does not count).
 *
 * `endure` polls `observe` every interval until each key's requirement holds
 * (`evaluateDurability`), the key changes or disappears (that key fails at once), or
 * the timeout passes (`TimeoutError` saying how far it got).
 *
 * Not the hot path: plain Effects.
 *
 * @internal
 */
import { Effect, Either } from "effect"
import { type CouchbaseErrorBase, NetworkError, TimeoutError } from "../../Errors.js"
import type { ObserveInfo, OperationResult } from "../../Result.js"
import { now } from "../iops/core.js"
import { iopsSleep } from "../iops/IopsClock.js"
import { type DurabilityProgress, endured, evaluateDurability } from "../ops/observe.js"
import type { DurabilityRequirement } from "../ops/PreparedOp.js"
import type { Core } from "./Core.js"
import type { NodeConnection } from "./NodeConnection.js"
import { ObserveRequest, type ObserveTarget } from "./Requests.js"

/** A key to observe. */
export interface ObserveKey {
  readonly key: string
  readonly keyBytes: Uint8Array
}

/** Asks one node about its targets. */
const askNode = (
  node: NodeConnection,
  targets: ReadonlyArray<ObserveTarget>,
  deadline: number,
  about: string
): Effect.Effect<ReadonlyArray<readonly [number, ObserveInfo]>, CouchbaseErrorBase> =>
  Effect.async((resume) => {
    const request = new ObserveRequest(targets, deadline, about, resume)
    request.node = node
    node.send(request)
    return Effect.sync(() => node.cancel(request))
  })

/** Each key's answers (the master's first when it answered), by the keys' order. */
export const observeKeys = (
  core: Core,
  keys: ReadonlyArray<ObserveKey>,
  masterOnly: boolean,
  deadline: number
): Effect.Effect<Array<Array<ObserveInfo>>, CouchbaseErrorBase> =>
  Effect.suspend(() => {
    const router = core.router
    const groups = new Map<NodeConnection, { targets: Array<ObserveTarget>; master: boolean }>()
    for (let index = 0; index < keys.length; index++) {
      const { key, keyBytes } = keys[index]!
      const vbucket = router.vbucket(keyBytes)
      const copies = masterOnly ? 0 : router.numReplicas
      for (let copy = 0; copy <= copies; copy++) {
        const server = router.server(keyBytes, vbucket, copy)
        const node = server < 0 ? undefined : core.nodes[server]
        if (node === undefined) {
          if (copy > 0) continue
          core.requestRefresh()
          return Effect.fail(
            new NetworkError({
              key,
              message: `no node serves vBucket ${vbucket} right now (the cluster map is changing)`
            })
          )
        }
        let group = groups.get(node)
        if (group === undefined) groups.set(node, (group = { targets: [], master: false }))
        group.targets.push({ index, keyBytes, vbucket, fromMaster: copy === 0 })
        if (copy === 0) group.master = true
      }
    }
    const about = keys.length === 1 ? keys[0]!.key : `${keys.length} keys`
    const infos: Array<Array<ObserveInfo>> = keys.map(() => [])
    return Effect.forEach(
      groups,
      ([node, group]) => {
        const asked = askNode(node, group.targets, deadline, about)
        return Effect.map(group.master ? asked : Effect.orElseSucceed(asked, () => []), (answers) => {
          for (const [index, info] of answers) infos[index]!.push(info)
        })
      },
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.as(infos.map((list) => list.sort((a, b) => Number(b.fromMaster) - Number(a.fromMaster)))))
  })

/** One key to wait for. */
export interface EndureKey extends ObserveKey {
  /** 0: any version counts. */
  readonly cas: bigint
  readonly requirement: DurabilityRequirement
}

const describe = (r: DurabilityRequirement): string =>
  `${r.checkRemoved ? "removal " : ""}persistTo=${r.persistTo}, replicateTo=${r.replicateTo}`

/**
 * Waits until every key meets its requirement. Each key's outcome: its result (CAS =
 * the one checked, or the master's when none was given), or why it failed.
 */
export const endureKeys = (
  core: Core,
  keys: ReadonlyArray<EndureKey>,
  timeoutMillis: number,
  intervalMillis: number
): Effect.Effect<Array<Either.Either<OperationResult, CouchbaseErrorBase>>> =>
  Effect.gen(function* () {
    const deadline = now(core.iops) + timeoutMillis
    const outcomes: Array<Either.Either<OperationResult, CouchbaseErrorBase> | undefined> = keys.map(() => undefined)
    const last: Array<DurabilityProgress | undefined> = keys.map(() => undefined)
    const masterOnly = keys.every((k) => k.requirement.replicateTo === 0 && k.requirement.persistTo <= 1)
    let lastError: CouchbaseErrorBase | undefined
    for (;;) {
      const pending = keys.map((k, i) => [k, i] as const).filter(([, i]) => outcomes[i] === undefined)
      if (pending.length === 0) break
      const round = yield* Effect.either(
        observeKeys(
          core,
          pending.map(([k]) => k),
          masterOnly,
          deadline
        )
      )
      if (Either.isLeft(round)) lastError = round.left
      else {
        pending.forEach(([k, i], j) => {
          const infos = round.right[j]!
          const progress = evaluateDurability(k.key, k.requirement, k.cas, infos)
          last[i] = progress
          if (progress._tag === "Satisfied") {
            const master = infos.find((info) => info.fromMaster)
            outcomes[i] = Either.right(endured(k.key, k.cas !== 0n ? k.cas : (master?.cas ?? 0n)))
          } else if (progress._tag === "Failed") outcomes[i] = Either.left(progress.error)
        })
      }
      if (outcomes.every((o) => o !== undefined)) break
      if (now(core.iops) + intervalMillis >= deadline) {
        keys.forEach((k, i) => {
          if (outcomes[i] !== undefined) return
          const p = last[i]
          const reached = p?._tag === "Pending" ? `; reached persisted=${p.persisted}, replicated=${p.replicated}` : ""
          const cause = lastError === undefined ? "" : `; last error: ${lastError.message}`
          outcomes[i] = Either.left(
            new TimeoutError({
              key: k.key,
              message: `durability (${describe(k.requirement)}) was not reached within ${timeoutMillis} ms${reached}${cause}; the mutation itself succeeded`
            })
          )
        })
        break
      }
      yield* iopsSleep(core.iops, intervalMillis)
    }
    return outcomes as Array<Either.Either<OperationResult, CouchbaseErrorBase>>
  })
