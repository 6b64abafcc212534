/**
 * The client side of a SCRAM conversation (RFC 5802, no channel binding), shared by
 * the client Connection and the tests: build the client-first message, answer the
 * server-first challenge with the client-final message and its proof, then check the
 * server's signature so that a server which does not know the password is caught.
 *
 * @internal
 */
import { randomBytes } from "node:crypto"
import {
  digest,
  escapeSaslName,
  hi,
  hmac,
  parseAttributes,
  SaslError,
  type ScramMechanism,
  sameBytes,
  xor
} from "./scram.js"

/** Largest iteration count accepted from a server (a hostile one could ask for billions). */
export const MAX_ITERATIONS = 1_000_000

/** One client-side SCRAM exchange. */
export interface ScramClient {
  readonly mechanism: ScramMechanism
  /** The client-first message (GS2 header included), the payload of `SASL_AUTH`. */
  readonly clientFirst: string
  /** Answers the server-first message with the client-final message, the payload of `SASL_STEP`. */
  respond(serverFirst: string): string | SaslError
  /** Checks the server-final message (`v=…`, or `e=…` on failure). */
  verify(serverFinal: string): true | SaslError
}

/** Options of {@link scramClient}. */
export interface ScramClientOptions {
  readonly mechanism: ScramMechanism
  readonly username: string
  /** The password, unwrapped from its `Redacted` only here, at the wire. */
  readonly password: string
  /** Client nonce (tests pin it); default 24 random bytes in base64. */
  readonly nonce?: string | undefined
}

const GS2_HEADER = "n,,"

/** Starts a client-side SCRAM exchange. */
export const scramClient = (options: ScramClientOptions): ScramClient => {
  const { mechanism, username, password } = options
  const clientNonce = options.nonce ?? randomBytes(24).toString("base64")
  const clientFirstBare = `n=${escapeSaslName(username)},r=${clientNonce}`
  let serverSignature: Buffer | undefined
  return {
    mechanism,
    clientFirst: GS2_HEADER + clientFirstBare,
    respond(serverFirst) {
      const attrs = parseAttributes(serverFirst)
      if (attrs instanceof SaslError) return attrs
      const error = attrs.get("e")
      if (error !== undefined) return new SaslError({ reason: "BadProof", message: `the server refused: ${error}` })
      const nonce = attrs.get("r")
      const salt = attrs.get("s")
      const iterationsText = attrs.get("i")
      if (nonce === undefined || salt === undefined || iterationsText === undefined) {
        return new SaslError({ reason: "Malformed", message: "the server-first message lacks r=, s= or i=" })
      }
      if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) {
        return new SaslError({ reason: "NonceMismatch", message: "the server nonce does not extend the client nonce" })
      }
      const iterations = /^[1-9][0-9]{0,9}$/.test(iterationsText) ? Number(iterationsText) : Number.NaN
      if (!(iterations >= 1 && iterations <= MAX_ITERATIONS)) {
        return new SaslError({ reason: "Malformed", message: `unacceptable SCRAM iteration count ${iterationsText}` })
      }
      const saltedPassword = hi(password, Buffer.from(salt, "base64"), iterations, mechanism)
      const clientKey = hmac(saltedPassword, "Client Key", mechanism)
      const storedKey = digest(clientKey, mechanism)
      const withoutProof = `c=${Buffer.from(GS2_HEADER, "latin1").toString("base64")},r=${nonce}`
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`
      const clientSignature = hmac(storedKey, authMessage, mechanism)
      serverSignature = hmac(hmac(saltedPassword, "Server Key", mechanism), authMessage, mechanism)
      return `${withoutProof},p=${xor(clientKey, clientSignature).toString("base64")}`
    },
    verify(serverFinal) {
      const attrs = parseAttributes(serverFinal)
      if (attrs instanceof SaslError) return attrs
      const error = attrs.get("e")
      if (error !== undefined) return new SaslError({ reason: "BadProof", message: `the server refused: ${error}` })
      const signature = attrs.get("v")
      if (signature === undefined || serverSignature === undefined) {
        return new SaslError({ reason: "Malformed", message: "the server-final message lacks v=" })
      }
      if (!sameBytes(Buffer.from(signature, "base64"), serverSignature)) {
        return new SaslError({
          reason: "BadServerSignature",
          message: "the server's SCRAM signature is wrong: it does not know the password (possible impostor)"
        })
      }
      return true
    }
  }
}
