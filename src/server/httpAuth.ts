/**
 * HTTP Basic authentication against the cluster's users (management and views ports).
 *
 * @internal
 */
import type { IncomingMessage } from "node:http"
import type { User, UserDb } from "./Users.js"

/** The user of a request's `Authorization: Basic …` header, when the credentials are right. */
export const basicAuth = (users: UserDb, req: IncomingMessage): User | undefined => {
  const header = req.headers.authorization
  if (header === undefined || !/^basic /i.test(header)) return undefined
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return undefined
  return users.verifyPassword(decoded.slice(0, colon), decoded.slice(colon + 1))
}
