/**
 * Design documents: validation of what a client PUTs, and compilation of its views
 * into a {@link WorkerSandbox} (a worker thread of its own). A design document is
 * immutable once compiled; a PUT makes a new revision (and new indexes), and the
 * engine closes the worker of the revision it replaces.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { isSandboxFailure } from "./Sandbox.js"
import { badRequest, ViewHttpError } from "./ViewHttpError.js"
import { WorkerSandbox } from "./WorkerSandbox.js"

/** A built-in reduce function. */
export type BuiltinReduce = "_count" | "_sum" | "_stats"

/** How a view reduces: a built-in, or JavaScript reduce number `index` in the sandbox. */
export type ReduceSpec =
  | { readonly _tag: "builtin"; readonly name: BuiltinReduce }
  | { readonly _tag: "js"; readonly index: number }

/** A compiled view. */
export interface CompiledView {
  readonly name: string
  /** The map function's number in the sandbox. */
  readonly mapIndex: number
  readonly reduce: ReduceSpec | undefined
}

/** A stored, compiled design document. */
export interface DesignDocument {
  /** `_design/<name>`. */
  readonly id: string
  /** `<n>-<hash>`. */
  readonly rev: string
  /** The document as stored (what GET returns). */
  readonly body: Readonly<Record<string, unknown>>
  readonly views: ReadonlyMap<string, CompiledView>
  readonly sandbox: WorkerSandbox
}

const BUILTINS: ReadonlySet<string> = new Set(["_count", "_sum", "_stats"])

/** Views one design document may define. */
export const MAX_VIEWS = 64

const invalid = (reason: string): ViewHttpError => new ViewHttpError(400, "invalid_design_document", reason)

/** Options of {@link compileDesignDocument}. */
export interface CompileOptions {
  /** The time limit of each entry into the sandbox, in milliseconds. */
  readonly timeoutMs: number
}

/**
 * Validates a design document body and compiles its views. Fails with the answer a
 * Couchbase node gives: 400 `bad_request` for a body that is not a JSON object, 400
 * `invalid_design_document` for views that are not valid.
 */
export const compileDesignDocument = async (
  id: string,
  generation: number,
  body: unknown,
  options: CompileOptions
): Promise<DesignDocument | ViewHttpError> => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return badRequest("Document must be a JSON object")
  }
  const doc = body as Record<string, unknown>
  const language = doc.language
  if (language !== undefined && language !== "javascript") {
    return invalid(`language must be \`javascript\`, not ${JSON.stringify(language)}`)
  }
  const viewsField = doc.views ?? {}
  if (typeof viewsField !== "object" || viewsField === null || Array.isArray(viewsField)) {
    return invalid("`views` field must be a JSON object")
  }
  const sandbox = new WorkerSandbox(id, { timeoutMs: options.timeoutMs })
  const views = await compileViews(sandbox, viewsField as Record<string, unknown>, options.timeoutMs)
  if (views instanceof ViewHttpError) {
    await sandbox.close()
    return views
  }
  const rev = `${generation}-${createHash("md5").update(JSON.stringify(doc)).digest("hex").slice(0, 8)}`
  return { id, rev, body: doc, views, sandbox }
}

/** Compiles every view of a design document into `sandbox`, or says what is wrong. */
const compileViews = async (
  sandbox: WorkerSandbox,
  viewsField: Record<string, unknown>,
  timeoutMs: number
): Promise<Map<string, CompiledView> | ViewHttpError> => {
  // One time limit for all the document's definitions, not one per function: six views
  // that each spend just under the limit at definition time held a PUT for 30 s.
  const deadline = performance.now() + timeoutMs
  const left = () => Math.max(1, Math.floor(deadline - performance.now()))
  const overtime = (name: string) =>
    invalid(
      `the functions of the design document took longer than ${timeoutMs} ms to compile (at the view \`${name}\`)`
    )
  const views = new Map<string, CompiledView>()
  let reduceCount = 0
  const entries = Object.entries(viewsField)
  if (entries.length > MAX_VIEWS)
    return invalid(`a design document may have at most ${MAX_VIEWS} views, not ${entries.length}`)
  for (const [name, def] of entries) {
    if (typeof def !== "object" || def === null || Array.isArray(def)) {
      return invalid(`view \`${name}\` must be a JSON object`)
    }
    const { map, reduce } = def as { map?: unknown; reduce?: unknown }
    if (typeof map !== "string") return invalid(`view \`${name}\` must have a \`map\` field of type string`)
    const mapIndex = views.size
    const mapError = await sandbox.defineMap(mapIndex, map, left())
    if (isSandboxFailure(mapError)) {
      if (mapError.timeout) return overtime(name)
      return invalid(`Syntax error in the map function of the view \`${name}\`: ${mapError.reason}`)
    }
    let spec: ReduceSpec | undefined
    if (reduce !== undefined) {
      if (typeof reduce !== "string") return invalid(`the reduce field of view \`${name}\` must be a string`)
      const trimmed = reduce.trim()
      if (trimmed.startsWith("_")) {
        if (!BUILTINS.has(trimmed)) return invalid(`Unknown builtin reduce function \`${trimmed}\` in view \`${name}\``)
        spec = { _tag: "builtin", name: trimmed as BuiltinReduce }
      } else {
        const index = reduceCount++
        const reduceError = await sandbox.defineReduce(index, reduce, left())
        if (isSandboxFailure(reduceError)) {
          if (reduceError.timeout) return overtime(name)
          return invalid(`Syntax error in the reduce function of the view \`${name}\`: ${reduceError.reason}`)
        }
        spec = { _tag: "js", index }
      }
    }
    views.set(name, { name, mapIndex, reduce: spec })
  }
  return views
}
