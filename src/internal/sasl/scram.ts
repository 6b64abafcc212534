/**
 * The SCRAM primitives of RFC 5802 shared by the server conversation and the client
 * helper: the hash per mechanism, `Hi` (PBKDF2), HMAC, attribute parsing and the
 * `saslname` escaping of user names. Couchbase offers SCRAM-SHA1, SCRAM-SHA256 and
 * SCRAM-SHA512 (without channel binding); all three differ only in the hash.
 *
 * @internal
 */
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from "node:crypto"
import { Data } from "effect"

/** The SCRAM mechanisms Couchbase knows, strongest first (the order a client prefers). */
export const SCRAM_MECHANISMS = ["SCRAM-SHA512", "SCRAM-SHA256", "SCRAM-SHA1"] as const

/** A SCRAM mechanism name as written on the wire. */
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number]

/** True when `name` is one of the SCRAM mechanisms. */
export const isScramMechanism = (name: string): name is ScramMechanism =>
  (SCRAM_MECHANISMS as ReadonlyArray<string>).includes(name)

/** Why a SASL exchange failed (malformed message, wrong proof, bad server signature). */
export class SaslError extends Data.TaggedError("SaslError")<{
  readonly reason: "Malformed" | "BadProof" | "BadServerSignature" | "UnknownMechanism" | "NonceMismatch"
  readonly message: string
}> {}

/** The Node hash name of a mechanism. */
export const hashOf = (mechanism: ScramMechanism): "sha512" | "sha256" | "sha1" =>
  mechanism === "SCRAM-SHA512" ? "sha512" : mechanism === "SCRAM-SHA256" ? "sha256" : "sha1"

const DIGEST_LENGTH = { sha512: 64, sha256: 32, sha1: 20 } as const

/** `Hi(password, salt, i)`: PBKDF2 with the mechanism's HMAC, one digest long. */
export const hi = (password: string, salt: Uint8Array, iterations: number, mechanism: ScramMechanism): Buffer => {
  const hash = hashOf(mechanism)
  return pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, DIGEST_LENGTH[hash], hash)
}

/** `HMAC(key, data)` with the mechanism's hash. */
export const hmac = (key: Uint8Array, data: string | Uint8Array, mechanism: ScramMechanism): Buffer =>
  createHmac(hashOf(mechanism), key).update(data).digest()

/** `H(data)` with the mechanism's hash. */
export const digest = (data: Uint8Array, mechanism: ScramMechanism): Buffer =>
  createHash(hashOf(mechanism)).update(data).digest()

/** Byte-wise XOR of two buffers of the same length. */
export const xor = (a: Uint8Array, b: Uint8Array): Buffer => {
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** Constant-time equality of two byte strings (false when the lengths differ). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b)

/** What a server stores per user and mechanism (RFC 5802 §3): never the password itself. */
export interface ScramCredentials {
  readonly salt: Buffer
  readonly iterations: number
  readonly storedKey: Buffer
  readonly serverKey: Buffer
}

/** Derives the stored credentials of `password` for one mechanism. */
export const deriveCredentials = (
  password: string,
  salt: Uint8Array,
  iterations: number,
  mechanism: ScramMechanism
): ScramCredentials => {
  const salted = hi(password, salt, iterations, mechanism)
  const clientKey = hmac(salted, "Client Key", mechanism)
  return {
    salt: Buffer.from(salt),
    iterations,
    storedKey: digest(clientKey, mechanism),
    serverKey: hmac(salted, "Server Key", mechanism)
  }
}

/**
 * Splits `a=1,b=2` into its attributes. Values may contain `=` (base64 padding); a
 * part without `x=` makes the message malformed. Repeated attributes keep the first.
 */
export const parseAttributes = (message: string): Map<string, string> | SaslError => {
  const out = new Map<string, string>()
  if (message.length === 0) return out
  for (const part of message.split(",")) {
    if (part.length < 2 || part[1] !== "=") {
      return new SaslError({ reason: "Malformed", message: `malformed SCRAM attribute ${JSON.stringify(part)}` })
    }
    const name = part[0]!
    if (!out.has(name)) out.set(name, part.slice(2))
  }
  return out
}

/** Escapes a user name as a SCRAM `saslname` (`=` → `=3D`, `,` → `=2C`). */
export const escapeSaslName = (name: string): string => name.replace(/=/g, "=3D").replace(/,/g, "=2C")

/** Reverses {@link escapeSaslName}; undefined when an `=` is not followed by `2C` or `3D`. */
export const unescapeSaslName = (name: string): string | undefined => {
  if (!/^(?:[^=]|=2C|=3D)*$/.test(name)) return undefined
  return name.replace(/=2C/g, ",").replace(/=3D/g, "=")
}
