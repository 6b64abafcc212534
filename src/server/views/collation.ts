/**
 * The order of view keys, as Couchbase's view engine compares emitted
 * JSON: `null` < `false` < `true` < numbers < strings < arrays < objects. Numbers by
 * value; strings by the Unicode Collation Algorithm (ICU root rules, tertiary
 * strength, so "abc123" < "ABC123" < "abc223"); arrays element by element, a prefix
 * first; objects member by member (name, then value), fewer members first. Document
 * IDs, which break ties between equal keys, compare by their UTF-8 bytes.
 *
 * @internal
 */

// ICU's root collation; "en" has the same rules and is always present in Node's ICU.
const collator = new Intl.Collator("en", { usage: "sort", sensitivity: "variant" })

const rank = (v: unknown): number => {
  if (v === null) return 0
  switch (typeof v) {
    case "boolean":
      return v ? 2 : 1
    case "number":
      return 3
    case "string":
      return 4
    case "object":
      return Array.isArray(v) ? 5 : 6
    default:
      // undefined and other non-JSON values never come out of JSON.parse; sort them first.
      return -1
  }
}

/** Compares two strings as view keys (Unicode collation). */
export const compareStrings = (a: string, b: string): number => (a === b ? 0 : collator.compare(a, b))

/** Compares two parsed JSON values in view-key order: negative, zero or positive. */
export const collate = (a: unknown, b: unknown): number => {
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra < rb ? -1 : 1
  switch (ra) {
    case 3:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
    case 4:
      return compareStrings(a as string, b as string)
    case 5: {
      const x = a as ReadonlyArray<unknown>
      const y = b as ReadonlyArray<unknown>
      const n = Math.min(x.length, y.length)
      for (let i = 0; i < n; i++) {
        const c = collate(x[i], y[i])
        if (c !== 0) return c
      }
      return x.length === y.length ? 0 : x.length < y.length ? -1 : 1
    }
    case 6: {
      const x = Object.entries(a as object)
      const y = Object.entries(b as object)
      const n = Math.min(x.length, y.length)
      for (let i = 0; i < n; i++) {
        const c = compareStrings(x[i]![0], y[i]![0]) || collate(x[i]![1], y[i]![1])
        if (c !== 0) return c
      }
      return x.length === y.length ? 0 : x.length < y.length ? -1 : 1
    }
    default:
      return 0
  }
}

/** Compares document IDs by their UTF-8 bytes (that is, by code point). */
export const compareDocIds = (a: string, b: string): number => {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // UTF-16 order differs from code point order only where a surrogate (U+D800–U+DFFF,
    // standing for U+10000 and up) meets a unit at or above U+E000.
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    if (xs !== ys && (xs ? y >= 0xe000 : x >= 0xe000)) return xs ? 1 : -1
    return x < y ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}
