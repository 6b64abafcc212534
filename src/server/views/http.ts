/**
 * The view API of a node's capi port, as a request handler for `node:http`:
 *
 * - `GET|PUT|DELETE /<bucket>/_design/<name>`: design documents (`dev_` names too);
 * - `GET|POST /<bucket>/_design/<name>/_view/<view>`: view queries (POST takes
 *   `{"keys": […]}` in its body).
 *
 * Responses are streamed: rows are written in chunks (1 KiB first, then 32 KiB), and the handler
 * waits for `drain` whenever the client is slower than the engine, so a slow reader
 * slows the query instead of filling memory. A client that goes away stops the query.
 * Authentication is the caller's job (the capi server checks the request first).
 *
 * @since 0.1.0
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { DESIGN_PREFIX, viewEngineFor } from "./ViewEngine.js"
import { badRequest, notFound, ViewHttpError } from "./ViewHttpError.js"
import type { ViewRequestContext, ViewSource } from "./ViewSource.js"

/** The largest request body accepted (a design document or a POST of keys). */
export const MAX_REQUEST_BODY = 20 * 1024 * 1024

/**
 * Bytes gathered before a chunk of rows is written: a small first chunk, so that the
 * client has its first rows at once, then larger ones, because each write costs the
 * server a system call and the client a read (with 4 KiB chunks, a 700 KB query was
 * 180 of each).
 */
const FIRST_CHUNK_BYTES = 4096
const CHUNK_BYTES = 32 * 1024

const sendJson = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Cache-Control": "must-revalidate",
    "Content-Length": Buffer.byteLength(body),
    ...headers
  })
  res.end(body)
}

const sendError = (res: ServerResponse, error: ViewHttpError): void => sendJson(res, error.status, error.body)

/**
 * Resolves when `res` has drained its buffered writes or has closed, whichever comes
 * first (a client that went away never drains).
 *
 * @internal
 */
export const drainedOrClosed = (res: ServerResponse): Promise<void> =>
  new Promise<void>((resolve) => {
    const wake = () => {
      res.off("drain", wake)
      res.off("close", wake)
      resolve()
    }
    res.on("drain", wake)
    res.on("close", wake)
  })

const readBody = (req: IncomingMessage): Promise<string | ViewHttpError> =>
  new Promise((resolve) => {
    const parts: Array<Buffer> = []
    let size = 0
    let done = false
    req.on("data", (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > MAX_REQUEST_BODY) {
        done = true
        resolve(new ViewHttpError(413, "too_large", `the request body is larger than ${MAX_REQUEST_BODY} bytes`))
        req.resume()
        return
      }
      parts.push(chunk)
    })
    req.on("end", () => {
      if (!done) resolve(Buffer.concat(parts).toString("utf8"))
      done = true
    })
    req.on("error", () => {
      if (!done) resolve(badRequest("the request body could not be read"))
      done = true
    })
  })

const readJsonObject = async (
  req: IncomingMessage,
  emptyIsObject: boolean
): Promise<Record<string, unknown> | ViewHttpError> => {
  const text = await readBody(req)
  if (text instanceof ViewHttpError) return text
  if (text.trim() === "" && emptyIsObject) return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return badRequest(`invalid UTF-8 JSON: ${JSON.stringify(text.slice(0, 200))}`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return badRequest("Request body must be a JSON object")
  }
  return value as Record<string, unknown>
}

// Writes the pieces in chunks, waiting for the client whenever it falls behind.
const stream = async (res: ServerResponse, pieces: Iterable<string> | AsyncIterable<string>): Promise<void> => {
  let closed = false
  const onClose = () => {
    closed = true
  }
  res.on("close", onClose)
  res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "must-revalidate" })
  let buffer = ""
  let chunkBytes = FIRST_CHUNK_BYTES
  try {
    for await (const piece of pieces) {
      if (closed) return
      buffer += piece
      if (buffer.length < chunkBytes) continue
      const accepted = res.write(buffer)
      buffer = ""
      if (chunkBytes === FIRST_CHUNK_BYTES) {
        chunkBytes = CHUNK_BYTES
        // Node holds a response's writes until the next tick: without a turn of the
        // loop here the first rows left with the next 32 KB, not on their own.
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
      // The drain may have come during that turn: wait only if it is still owed.
      if (!accepted && res.writableNeedDrain && !closed) await drainedOrClosed(res)
    }
    if (!closed) res.end(buffer)
  } catch {
    // A bug while producing rows: the client sees a truncated body, never a hung request.
    res.destroy()
  } finally {
    res.off("close", onClose)
  }
}

const methodNotAllowed = (allowed: string): ViewHttpError =>
  new ViewHttpError(405, "method_not_allowed", `Only ${allowed} allowed`)

/**
 * Handles a view-API request for bucket `bucketName`, whose items `bucket` provides.
 * Never rejects: every failure becomes an HTTP answer.
 */
export const handleViewRequest = async (
  req: IncomingMessage,
  res: ServerResponse,
  bucketName: string,
  bucket: ViewSource,
  context?: ViewRequestContext
): Promise<void> => {
  try {
    const url = new URL(req.url ?? "/", "http://localhost")
    let segments: Array<string>
    try {
      segments = url.pathname.split("/").slice(1).map(decodeURIComponent)
    } catch {
      return sendError(res, badRequest("the request path is not correctly percent-encoded"))
    }
    // The path names the bucket (a node also accepts "<bucket>+<uuid>").
    if (segments[0] !== bucketName && !segments[0]!.startsWith(`${bucketName}+`)) {
      return sendError(res, notFound("no_db_file"))
    }
    if (segments.length < 3 || segments[1] !== "_design" || segments[2] === "") {
      return sendError(res, notFound("missing"))
    }
    const engine = viewEngineFor(bucket)
    const name = segments[2]!
    const id = DESIGN_PREFIX + name
    const method = req.method ?? "GET"
    if (segments.length === 3) {
      switch (method) {
        case "GET":
        case "HEAD": {
          const ddoc = engine.getDesignDocument(id)
          if (ddoc instanceof ViewHttpError) return sendError(res, ddoc)
          return sendJson(res, 200, JSON.stringify(ddoc.body), {
            "X-Couchbase-Meta": JSON.stringify({ id, rev: ddoc.rev, type: "json" })
          })
        }
        case "PUT": {
          const body = await readJsonObject(req, false)
          if (body instanceof ViewHttpError) return sendError(res, body)
          const stored = await engine.putDesignDocument(id, body)
          if (stored instanceof ViewHttpError) return sendError(res, stored)
          return sendJson(res, 201, JSON.stringify({ ok: true, id }))
        }
        case "DELETE": {
          const removed = engine.deleteDesignDocument(id)
          if (removed instanceof ViewHttpError) return sendError(res, removed)
          return sendJson(res, 200, JSON.stringify({ ok: true, id }))
        }
        default:
          return sendError(res, methodNotAllowed("GET,PUT,DELETE"))
      }
    }
    if (segments.length !== 5 || segments[3] !== "_view" || segments[4] === "") {
      return sendError(res, notFound("missing"))
    }
    if (method !== "GET" && method !== "POST") return sendError(res, methodNotAllowed("GET,POST"))
    const body = method === "POST" ? await readJsonObject(req, true) : undefined
    if (body instanceof ViewHttpError) return sendError(res, body)
    const query = [...url.searchParams.entries()]
    const result = await engine.query(name, segments[4]!, { query, body }, context)
    if (result instanceof ViewHttpError) return sendError(res, result)
    await stream(res, result.body)
  } catch (cause) {
    sendError(res, new ViewHttpError(500, "error", `the view engine failed: ${String(cause)}`))
  }
}
