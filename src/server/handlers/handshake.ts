/**
 * Connection-level commands: HELLO, SASL (LIST_MECHS, AUTH, STEP), SELECT_BUCKET,
 * GET_ERROR_MAP, GET_CLUSTER_CONFIG, VERSION, NOOP, QUIT and VERBOSITY.
 *
 * HELLO acknowledges only what this server implements: TCP_NODELAY, MUTATION_SEQNO,
 * XERROR, SELECT_BUCKET, JSON, DUPLEX with CLUSTERMAP_CHANGE_NOTIFICATION, ALT_REQUEST
 * and GET_CLUSTER_CONFIG_WITH_KNOWN_VERSION. Collections, snappy, xattrs, tracing,
 * synchronous replication and unordered execution are declined, and clients fall back
 * (the official SDK then uses the default collection without collection ids).
 *
 * @internal
 */

import { Datatype, HelloFeature, Opcode, Status } from "../../internal/protocol/constants.js"
import type { Frame } from "../../internal/protocol/Frame.js"
import { decodePlain } from "../../internal/sasl/plain.js"
import { isScramMechanism, SaslError } from "../../internal/sasl/scram.js"
import { ScramServer } from "../../internal/sasl/scramServer.js"
import { errorMapJson } from "../ErrorMap.js"
import type { Session, SessionFeatures } from "../Session.js"
import { canAccess, type User } from "../Users.js"
import { checkShape, type Shape } from "./common.js"

/** The mechanisms offered by SASL_LIST_MECHS, strongest first. */
export const SASL_MECHANISMS = ["SCRAM-SHA512", "SCRAM-SHA256", "SCRAM-SHA1", "PLAIN"] as const

const NOTHING: Shape = { extras: [0], key: "none", value: "none" }

/** The HELLO features this server acknowledges, with the session flag each sets. */
const SUPPORTED_FEATURES: ReadonlyMap<number, keyof SessionFeatures> = new Map([
  [HelloFeature.TcpNoDelay, "tcpNoDelay"],
  [HelloFeature.MutationSeqno, "mutationSeqno"],
  [HelloFeature.Xerror, "xerror"],
  [HelloFeature.SelectBucket, "selectBucket"],
  [HelloFeature.Json, "json"],
  [HelloFeature.Duplex, "duplex"],
  [HelloFeature.ClustermapChangeNotification, "clustermapNotification"],
  [HelloFeature.AltRequestSupport, "altRequest"],
  [HelloFeature.GetClusterConfigWithKnownVersion, "knownVersion"],
  [HelloFeature.SyncReplication, "syncReplication"],
  [HelloFeature.PreserveTtl, "preserveTtl"],
  [HelloFeature.Xattr, "xattr"],
  [HelloFeature.Collections, "collections"]
])

/** HELLO: negotiates features and records the agent name. */
export const hello = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "optional", value: "optional" })) return
  if (f.value.length % 2 !== 0) {
    s.fail(f, Status.Invalid, "the HELLO value must be a list of 2-byte features")
    return
  }
  s.agent = f.key.toString("utf8")
  const requested: Array<number> = []
  for (let at = 0; at < f.value.length; at += 2) requested.push(f.value.readUInt16BE(at))
  const features: SessionFeatures = {
    tcpNoDelay: false,
    mutationSeqno: false,
    xerror: false,
    selectBucket: false,
    json: false,
    duplex: false,
    clustermapNotification: false,
    altRequest: false,
    knownVersion: false,
    syncReplication: false,
    preserveTtl: false,
    xattr: false,
    collections: false
  }
  const acked: Array<number> = []
  const ack = (feature: number, name: keyof SessionFeatures): void => {
    if (features[name]) return
    features[name] = true
    acked.push(feature)
  }
  const duplexRequested = requested.includes(HelloFeature.Duplex)
  for (const feature of requested) {
    const name = SUPPORTED_FEATURES.get(feature)
    if (name === undefined) continue
    // Notifications are server-initiated requests: they need DUPLEX too.
    if (name === "clustermapNotification" && !duplexRequested) continue
    ack(feature, name)
  }
  s.setFeatures(features)
  const value = Buffer.allocUnsafe(acked.length * 2)
  acked.forEach((feature, i) => {
    value.writeUInt16BE(feature, i * 2)
  })
  s.reply(f, Status.Success, { value })
}

/** SASL_LIST_MECHS. */
export const listMechanisms = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, NOTHING)) return
  s.reply(f, Status.Success, { value: Buffer.from(SASL_MECHANISMS.join(" ")) })
}

const authenticated = (s: Session, f: Frame, user: User, mechanism: string, message: string): void => {
  s.node.stats.authenticated(mechanism)
  s.user = user
  s.sasl = undefined
  // As kv_engine does for pre-RBAC clients: a user named like a bucket lands in it.
  const own = s.cluster.bucket(user.username)
  if (own !== undefined && canAccess(user, own.name)) s.bucket = own
  else if (s.bucket !== undefined && s.bucket !== s.boundBucket && !canAccess(user, s.bucket.name)) {
    s.bucket = s.boundBucket
  }
  s.reply(f, Status.Success, { value: Buffer.from(message) })
}

const refused = (s: Session, f: Frame, reason: string): void => {
  s.node.stats.authErrors++
  s.user = undefined
  s.sasl = undefined
  s.bucket = s.boundBucket
  s.fail(f, Status.AuthError, reason)
}

/** SASL_AUTH: PLAIN in one step, or the first step of SCRAM. */
export const saslAuth = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "required", value: "optional" })) return
  s.node.stats.authCmds++
  const mechanism = f.key.toString("latin1")
  if (mechanism === "PLAIN") {
    const credentials = decodePlain(f.value)
    const user =
      credentials === undefined ? undefined : s.cluster.users.verifyPassword(credentials.username, credentials.password)
    if (user === undefined) {
      refused(s, f, "authentication failed: check the user name and password")
      return
    }
    authenticated(s, f, user, mechanism, "Authenticated")
    return
  }
  if (!isScramMechanism(mechanism)) {
    refused(s, f, `unsupported SASL mechanism ${JSON.stringify(mechanism)}`)
    return
  }
  const server = new ScramServer({
    mechanism,
    lookup: (username) => s.cluster.users.scramCredentials(username, mechanism)
  })
  const reply = server.start(f.value.toString("utf8"))
  if (reply instanceof SaslError) {
    refused(s, f, reply.message)
    return
  }
  s.sasl = server
  s.reply(f, Status.AuthContinue, { value: Buffer.from(reply.message, "utf8") })
}

/** SASL_STEP: the final step of SCRAM. */
export const saslStep = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "required", value: "optional" })) return
  const server = s.sasl
  if (server === undefined || server.mechanism !== f.key.toString("latin1")) {
    refused(s, f, "SASL_STEP without a matching SASL_AUTH")
    return
  }
  const result = server.finish(f.value.toString("utf8"))
  if (result instanceof SaslError) {
    refused(s, f, "authentication failed: check the user name and password")
    return
  }
  const user = s.cluster.users.get(result.username)
  if (user === undefined) {
    refused(s, f, "authentication failed")
    return
  }
  authenticated(s, f, user, server.mechanism, result.message)
}

/** SELECT_BUCKET: binds the connection to a bucket the user may access ("@no bucket@" unbinds). */
export const selectBucket = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "required", value: "none" })) return
  const name = f.key.toString("utf8")
  if (name === "@no bucket@") {
    s.bucket = s.boundBucket
    s.reply(f, Status.Success)
    return
  }
  const bucket = s.cluster.bucket(name)
  const allowed = bucket !== undefined && (bucket === s.boundBucket || canAccess(s.user, bucket.name))
  if (!allowed) {
    s.fail(f, Status.NoAccess, `no access to bucket ${JSON.stringify(name)} (it may not exist)`)
    return
  }
  s.bucket = bucket
  s.reply(f, Status.Success)
}

/** GET_ERROR_MAP. */
export const getErrorMap = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "none", value: "required" })) return
  if (f.value.length !== 2) {
    s.fail(f, Status.Invalid, "GET_ERROR_MAP takes a 2-byte version")
    return
  }
  const version = f.value.readUInt16BE(0)
  if (version === 0) {
    s.fail(f, Status.Invalid, "error map version 0 does not exist")
    return
  }
  s.reply(f, Status.Success, {
    value: Buffer.from(errorMapJson(version)),
    datatype: s.features.json ? Datatype.Json : 0
  })
}

/**
 * GET_CLUSTER_CONFIG: the selected bucket's map, or the global one before
 * SELECT_BUCKET. With the known-version extras, an empty body says "nothing newer".
 */
export const getClusterConfig = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0, 16], key: "none", value: "none" })) return
  if (s.user === undefined && s.bucket === undefined) {
    s.fail(f, Status.NoAccess, "authenticate before asking for the cluster configuration")
    return
  }
  if (f.extras.length === 16) {
    const { epoch, rev } = s.cluster.revision()
    const knownEpoch = f.extras.readBigInt64BE(0)
    const knownRev = f.extras.readBigInt64BE(8)
    if (knownEpoch > BigInt(epoch) || (knownEpoch === BigInt(epoch) && knownRev >= BigInt(rev))) {
      s.reply(f, Status.Success)
      return
    }
  }
  s.reply(f, Status.Success, {
    value: s.cluster.configJson(s.bucket, s.node),
    datatype: s.features.json ? Datatype.Json : 0
  })
}

/** VERSION. */
export const version = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, NOTHING)) return
  s.reply(f, Status.Success, { value: Buffer.from(s.cluster.version) })
}

/** NOOP: also the barrier clients put after a batch of quiet commands. */
export const noop = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, NOTHING)) return
  s.reply(f, Status.Success)
}

/** QUIT, QUITQ: answer (unless quiet) and close once the answers are sent. */
export const quit = (s: Session, f: Frame): void => {
  if (f.opcode === Opcode.Quit) s.reply(f, Status.Success)
  s.end()
}

/** VERBOSITY: accepted and ignored (there is no log level to change). */
export const verbosity = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [4], key: "none", value: "none" })) return
  s.reply(f, Status.Success)
}
