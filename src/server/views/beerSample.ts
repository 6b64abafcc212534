/**
 * The beer-sample dataset (7303 documents: 5891 beers and 1412 breweries, and the
 * design document `beer` with the views `brewery_beers` and `by_location`), shipped
 * with the package as data files, ready to preload into a bucket of the embedded
 * cluster.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { findPackageFile, moduleDirectory } from "../../internal/packageFiles.js"
import { type ViewEngineOptions, viewEngineFor } from "./ViewEngine.js"
import { ViewHttpError } from "./ViewHttpError.js"
import type { ViewSource } from "./ViewSource.js"

/** The name a bucket holding the sample usually has. */
export const BEER_SAMPLE_BUCKET = "beer-sample"

/** One document of the sample, as it is stored: JSON bytes with the JSON common flags. */
export interface SampleDocument {
  readonly id: string
  /** The document's JSON, exactly as in the dataset. */
  readonly value: Buffer
  /** `FMT_JSON` common flags (0x02000000). */
  readonly flags: number
  /** The JSON datatype bit (0x01). */
  readonly datatype: number
}

/** A design document of the sample. */
export interface SampleDesignDocument {
  /** `_design/<name>`. */
  readonly id: string
  /** The body to store (without `_id`). */
  readonly body: Readonly<Record<string, unknown>>
}

/** A loaded sample dataset. */
export interface SampleDataset {
  readonly bucketName: string
  readonly documents: ReadonlyArray<SampleDocument>
  readonly designDocuments: ReadonlyArray<SampleDesignDocument>
}

const FMT_JSON = 0x02000000

/**
 * The dataset's folder. The sources keep it beside the server (`src/server/samples`);
 * the build puts it once at the root of `dist`, shared by both module formats.
 */
const sampleDirectory = (): string => {
  const found = findPackageFile("samples/beer-sample") ?? findPackageFile("server/samples/beer-sample")
  if (found !== undefined) return found
  throw new Error(
    `the beer-sample data files (a folder samples/beer-sample) are not in ${moduleDirectory() ?? "this module's folder"} ` +
      "or its 3 parent folders: an installed effect-couchbase has them in dist/samples; " +
      "a bundle needs that samples folder copied next to it"
  )
}

const sampleFile = (name: string): string => join(sampleDirectory(), name)

let cached: SampleDataset | undefined

/**
 * Reads the beer-sample dataset (once per process; later calls return the same
 * object). Throws if the files shipped with the package are missing or corrupt, which
 * is an installation defect, not a runtime condition.
 */
export const loadBeerSample = (): SampleDataset => {
  if (cached !== undefined) return cached
  const lines = gunzipSync(readFileSync(sampleFile("docs.jsonl.gz")))
    .toString("utf8")
    .split("\n")
  const documents: Array<SampleDocument> = []
  for (const line of lines) {
    if (line.trim() === "") continue
    const { id, doc } = JSON.parse(line) as { id: string; doc: unknown }
    // Keep the document's bytes as the dataset has them (e.g. "0.0" stays "0.0").
    const prefix = `{"id":${JSON.stringify(id)},"doc":`
    const text = line.startsWith(prefix) && line.endsWith("}") ? line.slice(prefix.length, -1) : JSON.stringify(doc)
    documents.push({ id, value: Buffer.from(text, "utf8"), flags: FMT_JSON, datatype: 0x01 })
  }
  const { _id, ...body } = JSON.parse(readFileSync(sampleFile("design_beer.json"), "utf8")) as {
    _id: string
    [member: string]: unknown
  }
  cached = { bucketName: BEER_SAMPLE_BUCKET, documents, designDocuments: [{ id: _id, body }] }
  return cached
}

/**
 * Stores a dataset's design documents in a bucket's view engine (the documents
 * themselves go in through the bucket's KV store). Throws if one is refused, which
 * would be a defect of the shipped dataset.
 */
export const installDesignDocuments = async (
  bucket: ViewSource,
  dataset: SampleDataset,
  options?: ViewEngineOptions
): Promise<void> => {
  const engine = viewEngineFor(bucket, options)
  for (const ddoc of dataset.designDocuments) {
    const stored = await engine.putDesignDocument(ddoc.id, ddoc.body)
    if (stored instanceof ViewHttpError) throw new Error(`cannot store ${ddoc.id}: ${stored.reason}`)
  }
}
