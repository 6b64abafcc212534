/**
 * Test helpers for the view engine and the View client: an in-memory bucket that
 * implements `ViewSource`, a capi-like `node:http` server on a free port, and the
 * beer-sample dataset loaded into such a bucket.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { installDesignDocuments, loadBeerSample } from "../../src/server/views/beerSample.js"
import { handleViewRequest } from "../../src/server/views/http.js"
import type { ViewEngineOptions } from "../../src/server/views/ViewEngine.js"
import type { ViewSource, ViewSourceItem } from "../../src/server/views/ViewSource.js"

/** An in-memory bucket: a map of items and a mutation counter. */
export class MemoryBucket implements ViewSource {
  readonly items = new Map<string, ViewSourceItem>()
  private counter = 0
  private cas = 1000n
  readonly changeCounter = (): number => this.counter

  documents(): Iterable<ViewSourceItem> {
    return this.items.values()
  }

  /** Stores a JSON document (or raw bytes with the given datatype). */
  upsert(
    id: string,
    value: unknown,
    options: { readonly raw?: boolean; readonly expiry?: number } = {}
  ): ViewSourceItem {
    const bytes = options.raw ? Buffer.from(value as Uint8Array) : Buffer.from(JSON.stringify(value), "utf8")
    const item: ViewSourceItem = {
      id,
      value: bytes,
      flags: options.raw ? 0x03000002 : 0x02000000,
      cas: this.cas++,
      expiry: options.expiry ?? 0,
      datatype: options.raw ? 0 : 1
    }
    this.items.set(id, item)
    this.counter++
    return item
  }

  remove(id: string): void {
    this.items.delete(id)
    this.counter++
  }
}

/** A bucket holding beer-sample, with the `beer` design document. */
export const beerBucket = async (options?: ViewEngineOptions): Promise<MemoryBucket> => {
  const bucket = new MemoryBucket()
  const sample = loadBeerSample()
  let cas = 1n
  for (const doc of sample.documents) {
    bucket.items.set(doc.id, {
      id: doc.id,
      value: doc.value,
      flags: doc.flags,
      cas: cas++,
      expiry: 0,
      datatype: doc.datatype
    })
  }
  await installDesignDocuments(bucket, sample, options)
  return bucket
}

/** A running capi-like server. */
export interface CapiServer {
  readonly url: string
  readonly port: number
  readonly requests: Array<{ readonly method: string; readonly url: string; readonly body: string }>
  close(): Promise<void>
}

/** Starts a server on 127.0.0.1 that serves `bucketName` from `bucket` through the view handler. */
export const startCapi = (bucketName: string, bucket: ViewSource): Promise<CapiServer> =>
  startServer(async (req, res) => {
    await handleViewRequest(req, res, bucketName, bucket)
  })

/** Starts a server with any handler; records each request (its body only when the handler did not read it). */
export const startServer = (
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>
): Promise<CapiServer> =>
  new Promise((resolve) => {
    const requests: Array<{ method: string; url: string; body: string }> = []
    const server = http.createServer((req, res) => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", body: "" })
      void handler(req, res)
    })
    const sockets = new Set<import("node:net").Socket>()
    server.on("connection", (s) => {
      sockets.add(s)
      s.on("close", () => sockets.delete(s))
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        requests,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          })
      })
    })
  })

/** GET (or another method) a path and parse the JSON answer. */
export const request = async (
  server: CapiServer,
  path: string,
  init: { readonly method?: string; readonly body?: string } = {}
): Promise<{ readonly status: number; readonly json: any; readonly text: string; readonly headers: Headers }> => {
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? "GET",
    ...(init.body !== undefined ? { body: init.body, headers: { "Content-Type": "application/json" } } : {})
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, json, text, headers: res.headers }
}

/** The beer-sample documents, parsed. */
export const beerDocs = (): ReadonlyArray<{ readonly id: string; readonly doc: any }> =>
  loadBeerSample().documents.map((d) => ({ id: d.id, doc: JSON.parse(d.value.toString("utf8")) }))

/** `?a=JSON(b)&…` from a record of values (strings are sent as they are). */
export const qs = (params: Record<string, unknown>): string =>
  `?${Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(typeof v === "string" ? v : JSON.stringify(v))}`)
    .join("&")}`
