/**
 * How socket failures become the library's typed errors, shared by every Iops
 * implementation so that messages read the same whatever the network underneath.
 *
 * @internal
 */
import { ConnectError, NetworkError, UnknownHostError } from "../../Errors.js"

/** The system error code of `error` (`ECONNRESET`, …), else its message. */
export const errorCode = (error: unknown): string => {
  const e = error as { code?: unknown; message?: unknown } | undefined
  if (typeof e?.code === "string") return e.code
  return typeof e?.message === "string" ? e.message : String(error)
}

/** An Error carrying a system error code, as Node would raise it. */
export const systemError = (code: string, message: string): Error => Object.assign(new Error(message), { code })

/** The error of a connection that failed after it was established. */
export const socketFailure = (host: string, port: number, error: unknown): NetworkError =>
  new NetworkError({
    message: `the connection to ${host}:${port} failed (${errorCode(error)}); operations in flight on it may or may not have been applied`,
    cause: error
  })

// Failures of the TCP connection itself, before TLS has a say.
const TCP_FAILURES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"])
// The peer hung up during the handshake: typically a port that does not serve TLS.
const HANGUPS: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE"])

/**
 * The error of a connection attempt. With `secure` (a TLS connect) a failure past the
 * TCP connect is reported as the TLS handshake's, with what to check.
 */
export const connectFailure = (
  host: string,
  port: number,
  error: unknown,
  secure = false
): ConnectError | UnknownHostError => {
  const code = errorCode(error)
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") {
    return new UnknownHostError({
      message: `could not resolve ${host} (connecting to ${host}:${port}): ${code}; check the connection string`,
      cause: error
    })
  }
  if (secure && HANGUPS.has(code)) {
    return new ConnectError({
      message: `TLS handshake with ${host}:${port} failed (${code}): the server closed the connection; check that this port serves TLS (the key/value TLS port is 11207, kvSSL in the cluster map)`,
      cause: error
    })
  }
  if (secure && !TCP_FAILURES.has(code)) {
    const reason = (error as { message?: unknown } | undefined)?.message
    return new ConnectError({
      message: `TLS handshake with ${host}:${port} failed (${code}${typeof reason === "string" && reason !== code ? `: ${reason}` : ""}): check that the server's certificate is signed by a trusted CA (tls.ca or certpath=...) and names the host connected to`,
      cause: error
    })
  }
  return new ConnectError({
    message: `could not connect to ${host}:${port} (${code}): check the host, the port and that the server is running`,
    cause: error
  })
}
