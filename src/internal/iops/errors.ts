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

/** The error of a connection attempt. */
export const connectFailure = (host: string, port: number, error: unknown): ConnectError | UnknownHostError => {
  const code = errorCode(error)
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") {
    return new UnknownHostError({
      message: `could not resolve ${host} (connecting to ${host}:${port}): ${code}; check the connection string`,
      cause: error
    })
  }
  return new ConnectError({
    message: `could not connect to ${host}:${port} (${code}): check the host, the port and that the server is running`,
    cause: error
  })
}
