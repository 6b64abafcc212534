/**
 * Placement of vBuckets on nodes: the initial map, failover (promote a replica) and
 * rebalance (a fresh balanced map over the surviving nodes). A chain is
 * `[master, replica1, …]` of node ids, `-1` where no node holds that copy, always
 * `numReplicas + 1` long, as in the cluster map clients receive.
 *
 * @internal
 */

/** A balanced map: vBucket `v` is mastered by `nodes[v % n]`, its replica `r` by the next nodes round the ring. */
export const balancedMap = (
  numVBuckets: number,
  nodeIds: ReadonlyArray<number>,
  numReplicas: number
): Array<Array<number>> => {
  const n = nodeIds.length
  const map: Array<Array<number>> = []
  for (let vb = 0; vb < numVBuckets; vb++) {
    const chain: Array<number> = []
    for (let r = 0; r <= numReplicas; r++) chain.push(n > r ? nodeIds[(vb + r) % n]! : -1)
    map.push(chain)
  }
  return map
}

/**
 * The chain after `nodeId` fails over: it leaves the chain, the copies behind it move
 * up (the first replica becomes master) and the tail is padded with -1.
 */
export const failoverChain = (chain: ReadonlyArray<number>, nodeId: number): Array<number> => {
  const kept = chain.filter((id) => id !== nodeId && id !== -1)
  while (kept.length < chain.length) kept.push(-1)
  return kept
}
