/**
 * effect-couchbase: a Couchbase client for TypeScript on Effect.
 *
 * @since 0.1.0
 */
export * as AsyncResult from "./AsyncResult.js"
export * as AsyncViewBase from "./AsyncViewBase.js"
export * as Connection from "./Connection.js"
export * as ConnectionString from "./ConnectionString.js"
export * as EmbeddedCluster from "./EmbeddedCluster.js"
export * as Errors from "./Errors.js"
export * as Iops from "./Iops.js"
export * as Result from "./Result.js"
export * as Transcoder from "./Transcoder.js"
export * as View from "./View.js"
