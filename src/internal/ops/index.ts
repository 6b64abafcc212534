/**
 * The transport-independent half of the key/value operations: argument checks,
 * request builders, response decoders and multi-result assembly. See
 * `PreparedOp.ts` for how the pipeline uses them.
 *
 * @internal
 */
export * from "./args.js"
export * from "./counter.js"
export * from "./get.js"
export * from "./multi.js"
export * from "./observe.js"
export * from "./PreparedOp.js"
export * from "./remove.js"
export * as Request from "./requests.js"
export * from "./stats.js"
export * from "./status.js"
export * from "./store.js"
export * from "./ttl.js"
export * from "./validate.js"
