/**
 * The server side of a SCRAM conversation (RFC 5802, no channel binding), as the
 * embedded cluster runs it for `SASL_AUTH` (client-first → server-first) and
 * `SASL_STEP` (client-final → server-final).
 *
 * The client nonce is an opaque string: clients differ (hex, base64, words separated by
 * spaces…) and only its echo matters. An unknown user gets a believable challenge (a salt derived
 * from the name, the usual iteration count) and fails at the proof, like a wrong
 * password, so the exchange does not reveal which user names exist.
 *
 * @internal
 */
import { createHmac, randomBytes } from "node:crypto"
import {
  digest,
  hmac,
  parseAttributes,
  SaslError,
  type ScramCredentials,
  type ScramMechanism,
  sameBytes,
  unescapeSaslName,
  xor
} from "./scram.js"

/** Iterations used for the decoy challenge of unknown users (and the default for real ones). */
export const DEFAULT_ITERATIONS = 4096

/** Options of {@link ScramServer}. */
export interface ScramServerOptions {
  readonly mechanism: ScramMechanism
  /** The stored credentials of `username` for this mechanism, undefined when the user does not exist. */
  readonly lookup: (username: string) => ScramCredentials | undefined
  /** Server nonce generator (tests pin it); default 24 random bytes in base64. */
  readonly nonce?: (() => string) | undefined
}

/** The outcome of a successful step: the message to send back. */
export interface ScramReply {
  readonly message: string
}

/** The outcome of the final step: the server-final message and the authenticated user. */
export interface ScramSuccess extends ScramReply {
  readonly username: string
}

const malformed = (message: string): SaslError => new SaslError({ reason: "Malformed", message })

/** A key only this process knows, so decoy salts are stable per name but not predictable. */
const DECOY_KEY = randomBytes(32)

/** One SCRAM exchange with one client. */
export class ScramServer {
  readonly mechanism: ScramMechanism
  private readonly lookup: (username: string) => ScramCredentials | undefined
  private readonly makeNonce: () => string
  private state: "initial" | "challenged" | "done" = "initial"
  private username = ""
  private credentials: ScramCredentials | undefined
  private known = false
  private gs2Header = ""
  private clientFirstBare = ""
  private serverFirst = ""
  private combinedNonce = ""

  constructor(options: ScramServerOptions) {
    this.mechanism = options.mechanism
    this.lookup = options.lookup
    this.makeNonce = options.nonce ?? (() => randomBytes(24).toString("base64"))
  }

  /** Handles the client-first message; returns the server-first message. */
  start(clientFirst: string): ScramReply | SaslError {
    if (this.state !== "initial") return malformed("the SCRAM exchange was already started")
    this.state = "done"
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const first = clientFirst.indexOf(",")
    const second = first < 0 ? -1 : clientFirst.indexOf(",", first + 1)
    if (second < 0) return malformed("the client-first message has no GS2 header")
    const flag = clientFirst.slice(0, first)
    if (flag !== "n" && flag !== "y") {
      return malformed(
        flag.startsWith("p=")
          ? "channel binding is not supported"
          : `invalid GS2 channel-binding flag ${JSON.stringify(flag)}`
      )
    }
    const authzid = clientFirst.slice(first + 1, second)
    if (authzid !== "" && !authzid.startsWith("a=")) return malformed("invalid GS2 authzid")
    this.gs2Header = clientFirst.slice(0, second + 1)
    this.clientFirstBare = clientFirst.slice(second + 1)
    const attrs = parseAttributes(this.clientFirstBare)
    if (attrs instanceof SaslError) return attrs
    if (this.clientFirstBare.startsWith("m=")) return malformed("SCRAM extensions are not supported")
    const name = attrs.get("n")
    const clientNonce = attrs.get("r")
    if (name === undefined || clientNonce === undefined) return malformed("the client-first message lacks n= or r=")
    if (!this.clientFirstBare.startsWith("n=")) return malformed("the client-first message must start with n=")
    const username = unescapeSaslName(name)
    if (username === undefined || username === "") return malformed("invalid user name encoding")
    // The nonce is opaque: clients differ (the official C++ core sends hex words separated by spaces).
    if (clientNonce === "") return malformed("the client nonce is empty")
    this.username = username
    const credentials = this.lookup(username)
    this.known = credentials !== undefined
    this.credentials = credentials ?? {
      salt: createHmac("sha256", DECOY_KEY).update(`${this.mechanism}:${username}`).digest().subarray(0, 16),
      iterations: DEFAULT_ITERATIONS,
      storedKey: randomBytes(64),
      serverKey: randomBytes(64)
    }
    this.combinedNonce = clientNonce + this.makeNonce()
    this.serverFirst = `r=${this.combinedNonce},s=${this.credentials.salt.toString("base64")},i=${this.credentials.iterations}`
    this.state = "challenged"
    return { message: this.serverFirst }
  }

  /** Handles the client-final message; returns the server-final message when the proof is right. */
  finish(clientFinal: string): ScramSuccess | SaslError {
    if (this.state !== "challenged") return malformed("SASL step without a started SCRAM exchange")
    this.state = "done"
    const proofAt = clientFinal.lastIndexOf(",p=")
    if (proofAt < 0) return malformed("the client-final message has no proof")
    const withoutProof = clientFinal.slice(0, proofAt)
    const attrs = parseAttributes(clientFinal)
    if (attrs instanceof SaslError) return attrs
    const binding = attrs.get("c")
    const nonce = attrs.get("r")
    const proof = attrs.get("p")
    if (binding === undefined || nonce === undefined || proof === undefined) {
      return malformed("the client-final message lacks c=, r= or p=")
    }
    if (Buffer.from(binding, "base64").toString("latin1") !== this.gs2Header) {
      return malformed("the channel binding does not match the GS2 header")
    }
    if (nonce !== this.combinedNonce) {
      return new SaslError({ reason: "NonceMismatch", message: "the client-final nonce does not match" })
    }
    const credentials = this.credentials!
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`
    const clientSignature = hmac(credentials.storedKey, authMessage, this.mechanism)
    const proofBytes = Buffer.from(proof, "base64")
    if (!this.known || proofBytes.length !== clientSignature.length) {
      return new SaslError({ reason: "BadProof", message: "authentication failed" })
    }
    const clientKey = xor(proofBytes, clientSignature)
    if (!sameBytes(digest(clientKey, this.mechanism), credentials.storedKey)) {
      return new SaslError({ reason: "BadProof", message: "authentication failed" })
    }
    const serverSignature = hmac(credentials.serverKey, authMessage, this.mechanism)
    return { message: `v=${serverSignature.toString("base64")}`, username: this.username }
  }
}
