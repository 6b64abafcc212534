/**
 * The error map returned by GET_ERROR_MAP (kv_engine `docs/ErrorMap.md`): for each
 * status the server can send, its name, a description and the attributes that tell a
 * client how to react (retry, refetch the config, reconnect…).
 *
 * @internal
 */

type Attr =
  | "success"
  | "item-only"
  | "invalid-input"
  | "fetch-config"
  | "conn-state-invalidated"
  | "auth"
  | "special-handling"
  | "support"
  | "temp"
  | "internal"
  | "retry-now"
  | "retry-later"
  | "item-locked"
  | "no-retry"
  | "auto-retry"

const ERRORS: ReadonlyArray<readonly [number, string, string, ReadonlyArray<Attr>]> = [
  [0x00, "SUCCESS", "Success", ["success"]],
  [0x01, "KEY_ENOENT", "Not Found", ["item-only"]],
  [0x02, "KEY_EEXISTS", "Data exists for key", ["item-only"]],
  [0x03, "E2BIG", "Value is too big", ["item-only", "invalid-input"]],
  [0x04, "EINVAL", "Invalid packet", ["internal", "invalid-input"]],
  [0x05, "NOT_STORED", "Not Stored", ["internal", "item-only"]],
  [0x06, "DELTA_BADVAL", "Existing document not a number", ["item-only", "invalid-input"]],
  [
    0x07,
    "NOT_MY_VBUCKET",
    "Server which received this command is not responsible for it",
    ["fetch-config", "invalid-input"]
  ],
  [0x08, "NO_BUCKET", "Not connected to a bucket", ["conn-state-invalidated"]],
  [0x09, "LOCKED", "Requested resource is locked", ["item-locked", "item-only", "retry-now"]],
  [0x0e, "NOT_LOCKED", "Requested resource is not locked", ["item-only"]],
  [0x1f, "AUTH_STALE", "Reauthentication required", ["conn-state-invalidated", "auth"]],
  [0x20, "AUTH_ERROR", "Authentication failed", ["conn-state-invalidated", "auth"]],
  [0x21, "AUTH_CONTINUE", "Authentication continue", ["special-handling"]],
  [0x22, "ERANGE", "Range error", ["invalid-input"]],
  [0x24, "EACCESS", "Not authorized for command", ["support"]],
  [0x25, "NOT_INITIALIZED", "Server not initialized", ["conn-state-invalidated"]],
  [0x80, "UNKNOWN_FRAME_INFO", "Unknown frame info in the request", ["support", "invalid-input"]],
  [0x81, "UNKNOWN_COMMAND", "Unknown command", ["support"]],
  [0x82, "ENOMEM", "Out of memory", ["temp", "retry-later"]],
  [0x83, "NOT_SUPPORTED", "Not supported", ["support"]],
  [0x84, "EINTERNAL", "Internal error", ["internal", "conn-state-invalidated"]],
  [0x85, "EBUSY", "Busy, try again", ["temp", "retry-now"]],
  [0x86, "ETMPFAIL", "Temporary failure, try again", ["temp", "retry-now"]],
  // The reserved test range (0xff00-0xffff, SDK RFC 0013): codes only the cluster
  // control's injectStatus produces, so that clients can be tested on statuses they
  // do not know, with each retry strategy, as with CouchbaseMock.
  [0xfff0, "DUMMY_ERROR_RETRY_CONSTANT", "Dummy retry error for constant backoff", ["auto-retry", "temp"]],
  [0xfff1, "DUMMY_ERROR_RETRY_LINEAR", "Dummy retry error for linear backoff", ["auto-retry", "temp"]],
  [0xfff2, "DUMMY_ERROR_RETRY_EXPONENTIAL", "Dummy retry error for exponential backoff", ["auto-retry", "temp"]],
  [
    0xfff3,
    "DUMMY_ERROR_RETRY_LATER",
    "Dummy error to retry later, without a retry specification",
    ["temp", "retry-later"]
  ],
  [0xfff4, "DUMMY_ERROR_NO_RETRY", "Dummy error that retrying cannot fix", ["internal"]],
  [
    0xfff5,
    "DUMMY_ERROR_FETCH_CONFIG",
    "Dummy error that asks for a newer cluster map",
    ["fetch-config", "temp", "retry-now"]
  ],
  [0xfff6, "DUMMY_ERROR_CONN_INVALIDATED", "Dummy error that invalidates the connection", ["conn-state-invalidated"]]
]

/** The retry specifications of the test codes (error map version 2). */
const RETRY: ReadonlyMap<number, Record<string, string | number>> = new Map([
  [0xfff0, { strategy: "constant", interval: 25, after: 10, "max-duration": 1500 }],
  [0xfff1, { strategy: "linear", interval: 10, after: 10, "max-duration": 1500, ceil: 200 }],
  [0xfff2, { strategy: "exponential", interval: 2, after: 10, "max-duration": 1500, ceil: 500 }]
])

/** The highest error map format version served. */
export const ERROR_MAP_VERSION = 2

/** Revision of the map's content (bumped when a code is added). */
export const ERROR_MAP_REVISION = 2

/** The error map JSON for a client that understands versions up to `requested`. */
export const errorMapJson = (requested: number): string => {
  const version = Math.max(1, Math.min(requested, ERROR_MAP_VERSION))
  const errors: Record<string, { name: string; desc: string; attrs: ReadonlyArray<Attr>; retry?: object }> = {}
  for (const [code, name, desc, attrs] of ERRORS) {
    // Version 1 has no retry specifications (nor the auto-retry attribute that points to them).
    const retry = version >= 2 ? RETRY.get(code) : undefined
    errors[code.toString(16)] = {
      name,
      desc,
      attrs: version >= 2 ? attrs : attrs.filter((a) => a !== "auto-retry"),
      ...(retry === undefined ? {} : { retry })
    }
  }
  return JSON.stringify({
    version,
    revision: ERROR_MAP_REVISION,
    errors
  })
}
