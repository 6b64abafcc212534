/**
 * STAT: one response per statistic (key = name, value = ASCII value) and an empty
 * response to close the group. Groups: `""` (general counters, memcached's names),
 * `"vbucket"` (this node's role for each vBucket), `"memory"` (the memory used by this
 * node's items, with kv_engine's names). An unknown group is KEY_ENOENT, as on a node.
 *
 * @internal
 */

import { Status } from "../../internal/protocol/constants.js"
import type { Frame } from "../../internal/protocol/Frame.js"
import type { Session } from "../Session.js"
import { checkShape } from "./common.js"

const generalStats = (s: Session): Array<[string, string | number]> => {
  const now = s.now()
  const node = s.node
  const stats: Array<[string, string | number]> = [
    ["pid", process.pid],
    ["uptime", Math.max(0, Math.floor((now - node.startedAt) / 1000))],
    ["time", Math.floor(now / 1000)],
    ["version", s.cluster.version],
    ["pointer_size", 64],
    ["curr_connections", node.sessions.size],
    ["total_connections", node.stats.totalConnections],
    ["auth_cmds", node.stats.authCmds],
    ["auth_errors", node.stats.authErrors]
  ]
  const bucket = s.bucket
  if (bucket === undefined) return stats
  const c = node.stats.bucket(bucket.name)
  let active = 0
  let total = 0
  if (bucket.type === "memcached") {
    active = total = bucket.nodeStore(node.id).countLive(now)
  } else {
    for (const vb of bucket.vbuckets) {
      const at = vb.chain.indexOf(node.id)
      if (at < 0) continue
      const n = vb.copies.get(node.id)?.countLive(now) ?? 0
      total += n
      if (at === 0) active += n
    }
  }
  stats.push(
    ["curr_items", active],
    ["curr_items_tot", total],
    ["ep_bucket_type", bucket.type === "memcached" ? "memcached" : "persistent"],
    ["ep_num_replicas", bucket.numReplicas],
    ["cmd_get", c.cmd_get],
    ["get_hits", c.get_hits],
    ["get_misses", c.get_misses],
    ["cmd_set", c.cmd_set],
    ["delete_hits", c.delete_hits],
    ["delete_misses", c.delete_misses],
    ["incr_hits", c.incr_hits],
    ["incr_misses", c.incr_misses],
    ["decr_hits", c.decr_hits],
    ["decr_misses", c.decr_misses],
    ["cas_hits", c.cas_hits],
    ["cas_misses", c.cas_misses],
    ["cas_badval", c.cas_badval],
    ["cmd_touch", c.cmd_touch],
    ["touch_hits", c.touch_hits],
    ["touch_misses", c.touch_misses],
    ["cmd_flush", c.cmd_flush],
    ["cmd_lock", c.cmd_lock],
    ["lock_errors", c.lock_errors],
    ["ep_num_not_my_vbuckets", c.ep_num_not_my_vbuckets]
  )
  return stats
}

const vbucketStats = (s: Session): Array<[string, string | number]> | undefined => {
  const bucket = s.bucket
  if (bucket === undefined || bucket.type === "memcached") return undefined
  const stats: Array<[string, string | number]> = []
  for (const vb of bucket.vbuckets) {
    const at = vb.chain.indexOf(s.node.id)
    if (at >= 0) stats.push([`vb_${vb.id}`, at === 0 ? "active" : "replica"])
  }
  return stats
}

/** The per-item overhead kv_engine counts in `ep_kv_size` besides key and value (its StoredValue). */
const ITEM_OVERHEAD = 56

const memoryStats = (s: Session): Array<[string, string | number]> => {
  const now = s.now()
  const bucket = s.bucket
  let keys = 0
  let values = 0
  let items = 0
  const count = (store: { live(nowMs: number): Iterable<[string, { readonly value: Uint8Array }]> }) => {
    for (const [key, item] of store.live(now)) {
      items++
      keys += key.length
      values += item.value.length
    }
  }
  if (bucket !== undefined) {
    if (bucket.type === "memcached") count(bucket.nodeStore(s.node.id))
    else
      for (const vb of bucket.vbuckets) {
        const copy = vb.copies.get(s.node.id)
        if (copy !== undefined && vb.chain.includes(s.node.id)) count(copy)
      }
  }
  const kvSize = keys + values + items * ITEM_OVERHEAD
  const used = process.memoryUsage()
  return [
    ["mem_used", kvSize],
    ["ep_kv_size", kvSize],
    ["ep_value_size", values],
    ["ep_overhead", items * ITEM_OVERHEAD],
    ["total_heap_bytes", used.heapTotal],
    ["total_allocated_bytes", used.heapUsed]
  ]
}

/** STAT. */
export const stat = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "optional", value: "optional" })) return
  // The counters, the process id and the version are for the cluster's users, not for
  // whoever can open a socket to it (a memcached bucket's own port needs no login).
  if (s.user === undefined && s.boundBucket === undefined) {
    s.fail(f, Status.NoAccess, "STAT needs an authenticated connection: authenticate with SASL first")
    return
  }
  const group = f.key.toString("utf8")
  const stats =
    group === ""
      ? generalStats(s)
      : group === "vbucket"
        ? vbucketStats(s)
        : group === "memory"
          ? memoryStats(s)
          : undefined
  if (stats === undefined) {
    s.fail(f, Status.KeyNotFound, `unknown stat group ${JSON.stringify(group)}`)
    return
  }
  for (const [name, value] of stats) {
    s.reply(f, Status.Success, { key: Buffer.from(name), value: Buffer.from(String(value)) })
  }
  s.reply(f, Status.Success)
}
