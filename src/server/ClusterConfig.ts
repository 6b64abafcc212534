/**
 * The cluster map in Couchbase's "terse" JSON format: what GET_CLUSTER_CONFIG,
 * NOT_MY_VBUCKET bodies, clustermap notifications and `/pools/default/b(s)/<bucket>`
 * return, and what the official SDKs parse (`nodesExt` with each node's service
 * ports, plain and TLS, `vBucketServerMap` whose indexes are positions in `nodesExt`).
 *
 * Only the nodes that are members of the cluster (not failed over, not added but yet
 * to be rebalanced in) are listed; a node's position in the list is its server index.
 *
 * @internal
 */
import type { ServerBucket } from "./Bucket.js"

/** What the config needs to know about a node. */
export interface ConfigNode {
  readonly id: number
  readonly host: string
  readonly kv: number
  readonly capi: number
  readonly mgmt: number
  /** TLS ports; 0 when the cluster does not serve TLS (they are then not advertised). */
  readonly kvSSL: number
  readonly capiSSL: number
  readonly mgmtSSL: number
}

/** Cluster-wide facts of the config. */
export interface ConfigCluster {
  readonly rev: number
  readonly revEpoch: number
  readonly uuid: string
}

/** Capabilities a couchbase bucket advertises (only what the embedded server implements). */
export const COUCHBASE_BUCKET_CAPABILITIES = [
  "cbhello",
  "touch",
  "couchapi",
  "cccp",
  "nodesExt",
  "xattr",
  "durableWrite",
  "collections"
] as const

/** Capabilities a memcached bucket advertises. */
export const MEMCACHED_BUCKET_CAPABILITIES = ["cbhello", "nodesExt"] as const

/**
 * A node's service ports under Couchbase Server's names: `kv`, `capi`, `mgmt` and,
 * when TLS is served, `kvSSL`, `capiSSL`, `mgmtSSL` (what SDKs pick for
 * `couchbases://`).
 */
export const servicePorts = (node: ConfigNode): Record<string, number> =>
  node.kvSSL === 0
    ? { mgmt: node.mgmt, kv: node.kv, capi: node.capi }
    : {
        mgmt: node.mgmt,
        mgmtSSL: node.mgmtSSL,
        kv: node.kv,
        kvSSL: node.kvSSL,
        capi: node.capi,
        capiSSL: node.capiSSL
      }

const nodeExt = (node: ConfigNode, thisNodeId: number | undefined): Record<string, unknown> => ({
  services: servicePorts(node),
  hostname: node.host,
  ...(node.id === thisNodeId ? { thisNode: true } : {})
})

/** The terse config of `bucket` as node `thisNodeId` (undefined over HTTP) reports it. */
export const bucketConfig = (
  cluster: ConfigCluster,
  bucket: ServerBucket,
  nodes: ReadonlyArray<ConfigNode>,
  thisNodeId: number | undefined
): Record<string, unknown> => {
  const position = new Map(nodes.map((n, i) => [n.id, i]))
  const common = {
    rev: cluster.rev,
    revEpoch: cluster.revEpoch,
    name: bucket.name,
    uuid: bucket.uuid,
    uri: `/pools/default/buckets/${encodeURIComponent(bucket.name)}?bucket_uuid=${bucket.uuid}`,
    streamingUri: `/pools/default/bucketsStreaming/${encodeURIComponent(bucket.name)}?bucket_uuid=${bucket.uuid}`,
    nodes: nodes.map((n) => ({
      couchApiBase: `http://${n.host}:${n.capi}/${encodeURIComponent(bucket.name)}`,
      hostname: `${n.host}:${n.mgmt}`,
      ports: { direct: n.kv },
      ...(n.id === thisNodeId ? { thisNode: true } : {})
    })),
    nodesExt: nodes.map((n) => nodeExt(n, thisNodeId)),
    clusterCapabilitiesVer: [1, 0],
    clusterCapabilities: {}
  }
  if (bucket.type === "memcached") {
    return {
      ...common,
      nodeLocator: "ketama",
      bucketCapabilitiesVer: "",
      bucketCapabilities: [...MEMCACHED_BUCKET_CAPABILITIES]
    }
  }
  return {
    ...common,
    nodeLocator: "vbucket",
    ddocs: { uri: `/pools/default/buckets/${encodeURIComponent(bucket.name)}/ddocs` },
    vBucketServerMap: {
      hashAlgorithm: "CRC",
      numReplicas: bucket.numReplicas,
      serverList: nodes.map((n) => `${n.host}:${n.kv}`),
      vBucketMap: bucket.vbuckets.map((vb) => vb.chain.map((id) => (id < 0 ? -1 : (position.get(id) ?? -1))))
    },
    bucketCapabilitiesVer: "",
    bucketCapabilities: [...COUCHBASE_BUCKET_CAPABILITIES]
  }
}

/** The global (bucket-less) config: the nodes and their services. */
export const globalConfig = (
  cluster: ConfigCluster,
  nodes: ReadonlyArray<ConfigNode>,
  thisNodeId: number | undefined
): Record<string, unknown> => ({
  rev: cluster.rev,
  revEpoch: cluster.revEpoch,
  nodesExt: nodes.map((n) => nodeExt(n, thisNodeId)),
  clusterCapabilitiesVer: [1, 0],
  clusterCapabilities: {}
})
