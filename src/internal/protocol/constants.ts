/**
 * Numeric constants of the Couchbase binary key/value protocol (kv_engine
 * `docs/BinaryProtocol.md`). Kept as plain `const` objects so the hot path compares
 * small integers and nothing is allocated.
 *
 * @internal
 */

/** Header magic bytes. The "alt" (flexible framing) variants carry framing extras. */
export const Magic = {
  ClientRequest: 0x80,
  ClientResponse: 0x81,
  ServerRequest: 0x82,
  ServerResponse: 0x83,
  AltClientRequest: 0x08,
  AltClientResponse: 0x18
} as const

/** Every header is this many bytes. */
export const HEADER_LENGTH = 24

/** Returns true when `magic` is one of the protocol's known magics. */
export const isKnownMagic = (magic: number): boolean =>
  magic === 0x80 || magic === 0x81 || magic === 0x82 || magic === 0x83 || magic === 0x08 || magic === 0x18

/** True for the flexible-framing magics (one-byte key length, framing extras length in byte 2). */
export const isAltMagic = (magic: number): boolean => magic === 0x08 || magic === 0x18

/** True for magics that carry a status (responses) rather than a vBucket id. */
export const isResponseMagic = (magic: number): boolean => magic === 0x81 || magic === 0x18 || magic === 0x83

/**
 * Opcodes of the memcached binary protocol as Couchbase Server speaks it: the key/value
 * commands, plus the handshake (HELLO, SASL, error map) and cluster-management ones.
 */
export const Opcode = {
  Get: 0x00,
  Set: 0x01,
  Add: 0x02,
  Replace: 0x03,
  Delete: 0x04,
  Increment: 0x05,
  Decrement: 0x06,
  Quit: 0x07,
  Flush: 0x08,
  GetQ: 0x09,
  Noop: 0x0a,
  Version: 0x0b,
  GetK: 0x0c,
  GetKQ: 0x0d,
  Append: 0x0e,
  Prepend: 0x0f,
  Stat: 0x10,
  SetQ: 0x11,
  AddQ: 0x12,
  ReplaceQ: 0x13,
  DeleteQ: 0x14,
  IncrementQ: 0x15,
  DecrementQ: 0x16,
  QuitQ: 0x17,
  FlushQ: 0x18,
  AppendQ: 0x19,
  PrependQ: 0x1a,
  Verbosity: 0x1b,
  Touch: 0x1c,
  Gat: 0x1d,
  GatQ: 0x1e,
  Hello: 0x1f,
  SaslListMechs: 0x20,
  SaslAuth: 0x21,
  SaslStep: 0x22,
  GetReplica: 0x83,
  SelectBucket: 0x89,
  ObserveSeqno: 0x91,
  Observe: 0x92,
  EvictKey: 0x93,
  GetLocked: 0x94,
  UnlockKey: 0x95,
  GetMeta: 0xa0,
  GetCollectionsManifest: 0xba,
  GetCollectionId: 0xbb,
  GetScopeId: 0xbc,
  SubdocMultiLookup: 0xd0,
  RangeScanCreate: 0xda,
  RangeScanContinue: 0xdb,
  RangeScanCancel: 0xdc,
  SubdocMultiMutation: 0xd1,
  GetClusterConfig: 0xb5,
  GetErrorMap: 0xfe
} as const

/** A protocol opcode value. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode]

/** Response status codes. */
export const Status = {
  Success: 0x00,
  KeyNotFound: 0x01,
  KeyExists: 0x02,
  TooBig: 0x03,
  Invalid: 0x04,
  NotStored: 0x05,
  DeltaBadval: 0x06,
  NotMyVbucket: 0x07,
  NoBucket: 0x08,
  Locked: 0x09,
  /** kv_engine (with XERROR): unlock of a key that is not locked. */
  NotLocked: 0x0e,
  AuthStale: 0x1f,
  AuthError: 0x20,
  AuthContinue: 0x21,
  Range: 0x22,
  Rollback: 0x23,
  NoAccess: 0x24,
  NotInitialized: 0x25,
  /** Synchronous durability: a level the bucket cannot honour (or not 1 to 3). */
  DurabilityInvalidLevel: 0xa0,
  /** Synchronous durability: not enough copies are available for the level. */
  DurabilityImpossible: 0xa1,
  /** Collections: no collection of that id (or name) in the bucket's manifest. */
  UnknownCollection: 0x88,
  /** Collections: no scope of that name. */
  UnknownScope: 0x8c,
  UnknownFrameInfo: 0x80,
  UnknownCommand: 0x81,
  NoMemory: 0x82,
  NotSupported: 0x83,
  Internal: 0x84,
  Busy: 0x85,
  TemporaryFailure: 0x86
} as const

/** A response status value. */
export type Status = (typeof Status)[keyof typeof Status]

/** Datatype bits of byte 5 of the header. */
export const Datatype = {
  Raw: 0x00,
  Json: 0x01,
  Snappy: 0x02,
  Xattr: 0x04
} as const

/** HELLO feature codes (two bytes each in the HELLO value). */
export const HelloFeature = {
  Datatype: 0x01,
  Tls: 0x02,
  TcpNoDelay: 0x03,
  MutationSeqno: 0x04,
  TcpDelay: 0x05,
  Xattr: 0x06,
  Xerror: 0x07,
  SelectBucket: 0x08,
  Snappy: 0x0a,
  Json: 0x0b,
  Duplex: 0x0c,
  ClustermapChangeNotification: 0x0d,
  UnorderedExecution: 0x0e,
  Tracing: 0x0f,
  AltRequestSupport: 0x10,
  SyncReplication: 0x11,
  Collections: 0x12,
  PreserveTtl: 0x14,
  VAttr: 0x15,
  PiTR: 0x16,
  SubdocCreateAsDeleted: 0x17,
  SubdocDocumentMacroSupport: 0x18,
  SubdocReplaceBodyWithXattr: 0x19,
  ReportUnitUsage: 0x1a,
  NonBlockingThrottlingMode: 0x1b,
  SubdocReplicaRead: 0x1c,
  GetClusterConfigWithKnownVersion: 0x1d,
  DedupeNotMyVbucketClustermap: 0x1e,
  ClustermapChangeNotificationBrief: 0x1f,
  SubdocAllowsAccessOnMultipleXattrKeys: 0x20
} as const

/** The quiet twin of a loud opcode, or undefined when it has none. */
export const quietOpcode = (opcode: number): number | undefined => QUIET_OF[opcode]

const QUIET_OF: Record<number, number> = {
  [Opcode.Get]: Opcode.GetQ,
  [Opcode.GetK]: Opcode.GetKQ,
  [Opcode.Set]: Opcode.SetQ,
  [Opcode.Add]: Opcode.AddQ,
  [Opcode.Replace]: Opcode.ReplaceQ,
  [Opcode.Delete]: Opcode.DeleteQ,
  [Opcode.Increment]: Opcode.IncrementQ,
  [Opcode.Decrement]: Opcode.DecrementQ,
  [Opcode.Quit]: Opcode.QuitQ,
  [Opcode.Flush]: Opcode.FlushQ,
  [Opcode.Append]: Opcode.AppendQ,
  [Opcode.Prepend]: Opcode.PrependQ,
  [Opcode.Gat]: Opcode.GatQ
}

const LOUD_OF: Record<number, number> = Object.fromEntries(
  Object.entries(QUIET_OF).map(([loud, quiet]) => [quiet, Number(loud)])
)

/** The loud twin of a quiet opcode, or the opcode itself when it is not quiet. */
export const loudOpcode = (opcode: number): number => LOUD_OF[opcode] ?? opcode

/** True when the opcode is a quiet variant (the server answers only on failure, or on hit for gets). */
export const isQuietOpcode = (opcode: number): boolean => LOUD_OF[opcode] !== undefined
