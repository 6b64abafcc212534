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
  [0x86, "ETMPFAIL", "Temporary failure, try again", ["temp", "retry-now"]]
]

/** The highest error map format version served. */
export const ERROR_MAP_VERSION = 2

/** Revision of the map's content (bumped when a code is added). */
export const ERROR_MAP_REVISION = 1

/** The error map JSON for a client that understands versions up to `requested`. */
export const errorMapJson = (requested: number): string => {
  const errors: Record<string, { name: string; desc: string; attrs: ReadonlyArray<Attr> }> = {}
  for (const [code, name, desc, attrs] of ERRORS) errors[code.toString(16)] = { name, desc, attrs }
  return JSON.stringify({
    version: Math.max(1, Math.min(requested, ERROR_MAP_VERSION)),
    revision: ERROR_MAP_REVISION,
    errors
  })
}
