/**
 * The view engine of one bucket: its design documents, its indexes and the execution
 * of queries. One engine per {@link ViewSource} object ({@link viewEngineFor}), shared
 * by every node that serves the bucket.
 *
 * Indexes are built on demand and cached per (design document revision, view). A
 * cached index is current while the source's `changeCounter` has not moved and none
 * of its items has expired. `stale` is honoured as a node does: `false` brings the
 * index up to date first; `ok` answers from the index as it is; `update_after` (the
 * default) answers from the index as it is and then brings it up to date in the
 * background. A view that was never indexed is indexed before its first answer,
 * whatever `stale` says (a node's background indexer would have done it).
 *
 * @since 0.1.0
 */
import { compileDesignDocument, type DesignDocument } from "./DesignDocument.js"
import { parseMergeParams, parseQueryArgs, type QueryArgs, type RequestParams } from "./QueryArgs.js"
import { type QuerySource, responseBody } from "./responseBody.js"
import { notFound, ViewHttpError } from "./ViewHttpError.js"
import { buildIndex, type ViewIndex } from "./ViewIndex.js"
import type { ViewRequestContext, ViewSource } from "./ViewSource.js"

/** Options of a {@link ViewEngine}. */
export interface ViewEngineOptions {
  /** The time limit of each entry into design-document JavaScript, in ms (default 5000). */
  readonly timeoutMs?: number | undefined
  /** Documents per map batch, between which indexing yields to the event loop (default 256). */
  readonly batchSize?: number | undefined
  /** Rows one index may hold; the build stops mapping past it (default 5 000 000). */
  readonly maxIndexRows?: number | undefined
}

/** A successful query: the response body, produced as the client reads it. */
export interface ViewQueryResponse {
  readonly args: QueryArgs
  readonly body: Iterable<string> | AsyncIterable<string>
}

interface CachedIndex {
  readonly index: ViewIndex
  readonly counter: number | bigint | undefined
}

/** Design documents one bucket may hold. */
export const MAX_DESIGN_DOCUMENTS = 64

/** The prefix of design document IDs. */
export const DESIGN_PREFIX = "_design/"

/** The view engine of one bucket. */
export class ViewEngine {
  private readonly ddocs = new Map<string, DesignDocument>()
  private readonly deleted = new Set<string>()
  private readonly generations = new Map<string, number>()
  private readonly indexes = new Map<string, CachedIndex>()
  private readonly building = new Map<string, Promise<ViewIndex>>()
  private readonly timeoutMs: number
  private readonly batchSize: number
  private readonly maxIndexRows: number | undefined
  private closed = false

  constructor(
    /** The bucket's items. */
    readonly source: ViewSource,
    options: ViewEngineOptions = {}
  ) {
    this.timeoutMs = options.timeoutMs ?? 5000
    this.batchSize = options.batchSize ?? 256
    this.maxIndexRows = options.maxIndexRows
  }

  /** Stores (creates or replaces) a design document; `id` is `_design/<name>`. */
  async putDesignDocument(
    id: string,
    body: unknown
  ): Promise<{ readonly id: string; readonly rev: string } | ViewHttpError> {
    if (!id.startsWith(DESIGN_PREFIX) || id.length === DESIGN_PREFIX.length) {
      return new ViewHttpError(
        400,
        "bad_request",
        `a design document ID must be _design/<name>, not ${JSON.stringify(id)}`
      )
    }
    if (!this.ddocs.has(id) && this.ddocs.size >= MAX_DESIGN_DOCUMENTS) {
      // Each design document has a worker thread and its indexes: their number is bounded.
      return new ViewHttpError(
        400,
        "invalid_design_document",
        `the bucket already has ${MAX_DESIGN_DOCUMENTS} design documents; delete one first`
      )
    }
    const generation = (this.generations.get(id) ?? 0) + 1
    const ddoc = await compileDesignDocument(id, generation, body, { timeoutMs: this.timeoutMs })
    if (ddoc instanceof ViewHttpError) return ddoc
    if (this.closed) {
      await ddoc.sandbox.close()
      return new ViewHttpError(503, "service_unavailable", "the view engine is shutting down")
    }
    this.generations.set(id, generation)
    this.dropIndexes(id)
    void this.ddocs.get(id)?.sandbox.close()
    this.ddocs.set(id, ddoc)
    this.deleted.delete(id)
    return { id, rev: ddoc.rev }
  }

  /** A stored design document, or 404 `missing` / `deleted`. */
  getDesignDocument(id: string): DesignDocument | ViewHttpError {
    return this.ddocs.get(id) ?? notFound(this.deleted.has(id) ? "deleted" : "missing")
  }

  /** Deletes a design document and its indexes. */
  deleteDesignDocument(id: string): { readonly id: string; readonly rev: string } | ViewHttpError {
    const ddoc = this.getDesignDocument(id)
    if (ddoc instanceof ViewHttpError) return ddoc
    this.ddocs.delete(id)
    this.deleted.add(id)
    this.dropIndexes(id)
    void ddoc.sandbox.close()
    return { id, rev: ddoc.rev }
  }

  /** Ends the workers of every design document (the bucket goes away); later queries fail. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.ddocs.values()].map((ddoc) => ddoc.sandbox.close()))
  }

  /** Every stored design document. */
  designDocuments(): ReadonlyArray<DesignDocument> {
    return [...this.ddocs.values()]
  }

  /**
   * The design documents in the shape of the management API's
   * `GET /pools/default/buckets/<bucket>/ddocs` (what SDKs' view index managers read).
   */
  designDocumentsListing(): { readonly rows: ReadonlyArray<unknown> } {
    return {
      rows: this.designDocuments().map((ddoc) => ({
        doc: { meta: { id: ddoc.id, rev: ddoc.rev }, json: ddoc.body }
      }))
    }
  }

  private dropIndexes(id: string): void {
    for (const key of this.indexes.keys()) if (key.startsWith(`${id}\0`)) this.indexes.delete(key)
  }

  private isCurrent(cached: CachedIndex): boolean {
    const counter = this.source.changeCounter?.()
    if (counter === undefined || counter !== cached.counter) return false
    const expiry = cached.index.earliestExpiry
    return expiry === 0 || (this.source.nowSeconds?.() ?? Date.now() / 1000) < expiry
  }

  private rebuild(cacheKey: string, ddoc: DesignDocument, mapIndex: number): Promise<ViewIndex> {
    const inFlight = this.building.get(cacheKey)
    if (inFlight !== undefined) return inFlight
    const counter = this.source.changeCounter?.()
    const promise = buildIndex(ddoc.sandbox, mapIndex, this.source.documents(), {
      batchSize: this.batchSize,
      timeoutMs: this.timeoutMs,
      maxRows: this.maxIndexRows
    })
      .then((index) => {
        // A design document replaced meanwhile has new indexes; do not resurrect the old one.
        if (this.ddocs.get(ddoc.id) === ddoc) this.indexes.set(cacheKey, { index, counter })
        return index
      })
      .finally(() => this.building.delete(cacheKey))
    this.building.set(cacheKey, promise)
    return promise
  }

  private async indexFor(
    ddoc: DesignDocument,
    viewName: string,
    mapIndex: number,
    args: QueryArgs,
    context: ViewRequestContext | undefined
  ): Promise<ViewIndex> {
    const isDev = ddoc.id.startsWith(`${DESIGN_PREFIX}dev_`)
    if (isDev && !args.fullSet && context?.localDocuments !== undefined) {
      // A development view without full_set sees the receiving node's data only.
      return buildIndex(ddoc.sandbox, mapIndex, context.localDocuments(), {
        batchSize: this.batchSize,
        timeoutMs: this.timeoutMs,
        maxRows: this.maxIndexRows
      })
    }
    const cacheKey = `${ddoc.id}\0${ddoc.rev}\0${viewName}`
    const cached = this.indexes.get(cacheKey)
    if (cached === undefined || this.source.changeCounter === undefined) return this.rebuild(cacheKey, ddoc, mapIndex)
    if (this.isCurrent(cached) || args.stale === "ok") return cached.index
    if (args.stale === "update_after") {
      this.rebuild(cacheKey, ddoc, mapIndex).catch(() => undefined)
      return cached.index
    }
    return this.rebuild(cacheKey, ddoc, mapIndex)
  }

  /**
   * Runs a query on view `viewName` of design document `_design/<ddocName>`: validates
   * the request as a node does, brings the index to the freshness asked for, and
   * returns the response body to stream.
   */
  async query(
    ddocName: string,
    viewName: string,
    request: RequestParams,
    context?: ViewRequestContext
  ): Promise<ViewQueryResponse | ViewHttpError> {
    const merge = parseMergeParams(request)
    if (merge instanceof ViewHttpError) return merge
    const ddoc = this.getDesignDocument(DESIGN_PREFIX + ddocName)
    if (ddoc instanceof ViewHttpError) return ddoc
    const view = ddoc.views.get(viewName)
    if (view === undefined) return notFound("missing_named_view")
    const args = parseQueryArgs(request.query, view.reduce !== undefined, merge)
    if (args instanceof ViewHttpError) return args
    const index = await this.indexFor(ddoc, viewName, view.mapIndex, args, context)
    const source: QuerySource = {
      index,
      view,
      sandbox: ddoc.sandbox,
      debugInfo: args.debug
        ? {
            local: {
              design_document: ddoc.id,
              rev: ddoc.rev,
              view: viewName,
              indexed_documents: index.documents,
              rows: index.rows.length,
              map_errors: index.mapErrorCount,
              first_map_errors: index.mapErrors.slice(0, 10)
            }
          }
        : undefined
    }
    return { args, body: responseBody(source, args) }
  }
}

const engines = new WeakMap<ViewSource, ViewEngine>()

/** Closes the engine of `source`, if it has one (see {@link ViewEngine.close}). */
export const closeViewEngine = async (source: ViewSource): Promise<void> => {
  const engine = engines.get(source)
  if (engine === undefined) return
  engines.delete(source)
  await engine.close()
}

/** The engine of a bucket, created on first use. */
export const viewEngineFor = (source: ViewSource, options?: ViewEngineOptions): ViewEngine => {
  let engine = engines.get(source)
  if (engine === undefined) {
    engine = new ViewEngine(source, options)
    engines.set(source, engine)
  }
  return engine
}
