/**
 * The embedded cluster's users: who may authenticate and which buckets each may
 * select. SCRAM credentials (salted, RFC 5802 "stored key" / "server key") are derived
 * once per user and mechanism, on first use, so that an authentication costs a few
 * HMACs and the cluster starts without paying PBKDF2 for users nobody logs in as.
 *
 * @internal
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { deriveCredentials, type ScramCredentials, type ScramMechanism, sameBytes } from "../internal/sasl/scram.js"
import { DEFAULT_ITERATIONS } from "../internal/sasl/scramServer.js"

/** A user of the cluster. `buckets: "*"` is an administrator (every bucket, management included). */
export interface User {
  readonly username: string
  readonly buckets: "*" | ReadonlySet<string>
}

interface Entry {
  readonly user: User
  readonly password: Buffer
  readonly scram: Map<ScramMechanism, ScramCredentials>
}

/** A keyed digest of a password: every comparison is of 32 bytes, whatever the passwords' lengths. */
const DIGEST_KEY = randomBytes(32)
const passwordDigest = (password: Uint8Array): Buffer => createHmac("sha256", DIGEST_KEY).update(password).digest()

/** What an unknown user's password is compared with: matches no password (random, never a digest of one). */
const NO_PASSWORD = randomBytes(32)

/** The user database. */
export class UserDb {
  private readonly entries = new Map<string, Entry>()

  /** Adds a user, or widens an existing one's bucket access (its password must then be the same). */
  add(username: string, password: string, buckets: "*" | ReadonlyArray<string>): void {
    const existing = this.entries.get(username)
    if (existing !== undefined) {
      if (!sameBytes(existing.password, Buffer.from(password, "utf8"))) {
        throw new Error(`user ${JSON.stringify(username)} is declared twice with different passwords`)
      }
      const merged =
        existing.user.buckets === "*" || buckets === "*" ? "*" : new Set([...existing.user.buckets, ...buckets])
      this.entries.set(username, { ...existing, user: { username, buckets: merged } })
      return
    }
    this.entries.set(username, {
      user: { username, buckets: buckets === "*" ? "*" : new Set(buckets) },
      password: Buffer.from(password, "utf8"),
      scram: new Map()
    })
  }

  /** The user named `username`, if any. */
  get(username: string): User | undefined {
    return this.entries.get(username)?.user
  }

  /**
   * Checks a clear-text password (PLAIN, HTTP Basic). The same work is done whether
   * the user exists or not and whatever the lengths: fixed-size digests of the two
   * passwords are compared in constant time (an unknown user's against a digest no
   * password has), so the timing tells neither the length nor whether the user exists.
   */
  verifyPassword(username: string, password: string): User | undefined {
    const entry = this.entries.get(username)
    const given = passwordDigest(Buffer.from(password, "utf8"))
    const same = timingSafeEqual(given, entry === undefined ? NO_PASSWORD : passwordDigest(entry.password))
    return entry !== undefined && same ? entry.user : undefined
  }

  /** The SCRAM credentials of `username` for `mechanism`, derived on first use. */
  scramCredentials(username: string, mechanism: ScramMechanism): ScramCredentials | undefined {
    const entry = this.entries.get(username)
    if (entry === undefined) return undefined
    let credentials = entry.scram.get(mechanism)
    if (credentials === undefined) {
      credentials = deriveCredentials(entry.password.toString("utf8"), randomBytes(16), DEFAULT_ITERATIONS, mechanism)
      entry.scram.set(mechanism, credentials)
    }
    return credentials
  }
}

/** True when `user` may use bucket `bucket`. */
export const canAccess = (user: User | undefined, bucket: string): boolean =>
  user !== undefined && (user.buckets === "*" || user.buckets.has(bucket))

/** True when `user` is an administrator. */
export const isAdmin = (user: User | undefined): boolean => user !== undefined && user.buckets === "*"
