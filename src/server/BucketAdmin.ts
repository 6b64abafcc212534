/**
 * Bucket management over the REST API, as ns_server serves it to SDKs' bucket
 * managers: create (`POST /pools/default/buckets`), update
 * (`POST /pools/default/buckets/<b>`) and drop (`DELETE /pools/default/buckets/<b>`),
 * with form-encoded settings and ns_server's answers (202 on create, 200 on update
 * and drop, 400 with `{"errors": {field: message}}` for settings it refuses, 404 for
 * an unknown bucket). Administrators only.
 *
 * The settings that change nothing in memory (RAM quota, eviction, compression,
 * durability minimum, maximum TTL) are kept and reported back; flush enabled is
 * honoured by the REST flush.
 *
 * @internal
 */
import type { IncomingMessage } from "node:http"
import type { BucketType } from "./Bucket.js"

/** The settings a bucket manager reads and writes, as ns_server names their values. */
export interface AdminSettings {
  ramQuotaMB: number
  flushEnabled: boolean
  maxTTL: number
  evictionPolicy: string
  compressionMode: string
  durabilityMinLevel: string
  conflictResolutionType: string
}

/** What a new bucket is, read from the create form. */
export interface NewBucket {
  readonly name: string
  readonly type: BucketType
  readonly numReplicas: number
  readonly settings: AdminSettings
}

/** The defaults of a bucket created without those settings (ns_server's). */
export const defaultAdminSettings = (type: BucketType): AdminSettings => ({
  ramQuotaMB: 100,
  flushEnabled: true,
  maxTTL: 0,
  evictionPolicy: type === "memcached" ? "noEviction" : "valueOnly",
  compressionMode: "passive",
  durabilityMinLevel: "none",
  conflictResolutionType: "seqno"
})

/** ns_server's refusal: one message per field. */
export type FieldErrors = Record<string, string>

/** The form of a management write (`application/x-www-form-urlencoded`), at most 64 KiB. */
export const readForm = (req: IncomingMessage): Promise<URLSearchParams> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > 64 * 1024) {
        req.destroy()
        reject(new Error("the form is larger than 64 KiB"))
      } else chunks.push(chunk)
    })
    req.on("end", () => resolve(new URLSearchParams(Buffer.concat(chunks).toString("utf8"))))
    req.on("error", reject)
  })

const oneOf = (errors: FieldErrors, form: URLSearchParams, field: string, allowed: ReadonlyArray<string>) => {
  const value = form.get(field)
  if (value !== null && !allowed.includes(value)) errors[field] = `${field} must be one of ${allowed.join(", ")}`
  return value ?? undefined
}

const integer = (errors: FieldErrors, form: URLSearchParams, field: string, min: number, max: number) => {
  const value = form.get(field)
  if (value === null) return undefined
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    errors[field] = `${field} must be an integer from ${min} to ${max}`
    return undefined
  }
  return Number(value)
}

/**
 * The settings a form changes on `base`, or the fields it gets wrong. Shared by
 * create and update; create adds the name, type and replicas.
 */
export const applySettings = (
  form: URLSearchParams,
  base: AdminSettings,
  type: BucketType
): { readonly settings: AdminSettings; readonly errors: FieldErrors } => {
  const errors: FieldErrors = {}
  const settings = { ...base }
  const ram = integer(errors, form, "ramQuotaMB", 100, 1_048_576) ?? integer(errors, form, "ramQuota", 100, 1_048_576)
  if (ram !== undefined) settings.ramQuotaMB = ram
  const flush = oneOf(errors, form, "flushEnabled", ["0", "1"])
  if (flush !== undefined) settings.flushEnabled = flush === "1"
  const maxTTL = integer(errors, form, "maxTTL", 0, 2_147_483_647)
  if (maxTTL !== undefined) settings.maxTTL = maxTTL
  const eviction = oneOf(
    errors,
    form,
    "evictionPolicy",
    type === "memcached" ? ["noEviction"] : ["valueOnly", "fullEviction"]
  )
  if (eviction !== undefined) settings.evictionPolicy = eviction
  const compression = oneOf(errors, form, "compressionMode", ["off", "passive", "active"])
  if (compression !== undefined) settings.compressionMode = compression
  const durability = oneOf(errors, form, "durabilityMinLevel", [
    "none",
    "majority",
    "majorityAndPersistActive",
    "persistToMajority"
  ])
  if (durability !== undefined) settings.durabilityMinLevel = durability
  const conflicts = oneOf(errors, form, "conflictResolutionType", ["seqno", "lww"])
  if (conflicts !== undefined) settings.conflictResolutionType = conflicts
  return { settings, errors }
}

/** A bucket name ns_server accepts: letters, digits, `.`, `_`, `%`, `-`, at most 100, not starting with `.`. */
const VALID_NAME = /^[A-Za-z0-9_%-][A-Za-z0-9._%-]{0,99}$/

/** The bucket a create form asks for, or the fields it gets wrong. */
export const newBucketFrom = (
  form: URLSearchParams,
  exists: (name: string) => boolean
): { readonly bucket?: NewBucket; readonly errors: FieldErrors } => {
  const errors: FieldErrors = {}
  const name = form.get("name") ?? ""
  if (name === "") errors.name = "Bucket name cannot be empty"
  else if (!VALID_NAME.test(name))
    errors.name =
      "Bucket name can only contain characters in range A-Z, a-z, 0-9 as well as underscore, period, dash & percent. Consult the documentation."
  else if (exists(name)) errors.name = "Bucket with given name already exists"
  const kind = form.get("bucketType") ?? "couchbase"
  let type: BucketType = "couchbase"
  if (kind === "memcached") type = "memcached"
  else if (kind !== "couchbase" && kind !== "membase") {
    errors.bucketType =
      kind === "ephemeral" ? "ephemeral buckets are not supported by the embedded cluster" : "invalid bucket type"
  }
  const replicas = integer(errors, form, "replicaNumber", 0, 3) ?? (type === "memcached" ? 0 : 1)
  const { settings, errors: settingErrors } = applySettings(form, defaultAdminSettings(type), type)
  Object.assign(errors, settingErrors)
  if (Object.keys(errors).length > 0) return { errors }
  return { bucket: { name, type, numReplicas: type === "memcached" ? 0 : replicas, settings }, errors }
}
