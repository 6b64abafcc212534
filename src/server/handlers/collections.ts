/**
 * The collection commands: GET_COLLECTIONS_MANIFEST (0xba, the manifest as JSON),
 * GET_COLLECTION_ID (0xbb) and GET_SCOPE_ID (0xbc), which resolve `scope.collection`
 * (or `scope`) to the manifest uid and the id KV requests then carry in front of keys.
 * The path is read from the key, or from the value when the key is empty.
 *
 * @internal
 */
import { Datatype, Status } from "../../internal/protocol/constants.js"
import type { Frame } from "../../internal/protocol/Frame.js"
import type { Session } from "../Session.js"
import { checkShape, selectedBucket, unknownCollection } from "./common.js"

/** GET_COLLECTIONS_MANIFEST. */
export const getCollectionsManifest = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "none", value: "none" })) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  s.reply(f, Status.Success, {
    value: Buffer.from(JSON.stringify(bucket.collections.toJson())),
    datatype: s.features.json ? Datatype.Json : 0
  })
}

/** The `scope.collection` (or `scope`) a request names. */
const pathOf = (f: Frame): string => (f.key.length > 0 ? f.key : f.value).toString("utf8")

/** The 12 bytes of extras: the manifest uid, then the 4-byte id. */
const idExtras = (manifestUid: number, id: number): Buffer => {
  const extras = Buffer.alloc(12)
  extras.writeBigUInt64BE(BigInt(manifestUid), 0)
  extras.writeUInt32BE(id, 8)
  return extras
}

/** GET_COLLECTION_ID. */
export const getCollectionId = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "optional", value: "optional" })) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  const [scopeName = "", collectionName = "", ...rest] = pathOf(f).split(".")
  if (rest.length > 0 || collectionName === "") {
    s.fail(f, Status.Invalid, "the path must be scope.collection")
    return
  }
  const scope = bucket.collections.scopes.get(scopeName === "" ? "_default" : scopeName)
  if (scope === undefined) {
    unknownCollection(s, f, bucket, Status.UnknownScope)
    return
  }
  const collection = scope.collections.get(collectionName)
  if (collection === undefined) {
    unknownCollection(s, f, bucket)
    return
  }
  s.reply(f, Status.Success, { extras: idExtras(bucket.collections.uid, collection.uid) })
}

/** GET_SCOPE_ID. */
export const getScopeId = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "optional", value: "optional" })) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  const name = pathOf(f).split(".")[0] ?? ""
  const scope = bucket.collections.scopes.get(name === "" ? "_default" : name)
  if (scope === undefined) {
    unknownCollection(s, f, bucket, Status.UnknownScope)
    return
  }
  s.reply(f, Status.Success, { extras: idExtras(bucket.collections.uid, scope.uid) })
}
