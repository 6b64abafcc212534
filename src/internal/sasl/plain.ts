/**
 * SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`. It sends the password in
 * clear, so a client offers it only over TLS or when explicitly forced.
 *
 * @internal
 */

/** The PLAIN payload for `username` / `password` (no authorization identity). */
export const encodePlain = (username: string, password: string): Buffer =>
  Buffer.from(`\0${username}\0${password}`, "utf8")

/** The parts of a PLAIN payload. */
export interface PlainCredentials {
  readonly authzid: string
  readonly username: string
  readonly password: string
}

/** Parses a PLAIN payload; undefined when it does not have exactly two NUL separators. */
export const decodePlain = (payload: Uint8Array): PlainCredentials | undefined => {
  const parts = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8").split("\0")
  if (parts.length !== 3 || parts[1] === "") return undefined
  return { authzid: parts[0]!, username: parts[1]!, password: parts[2]! }
}
