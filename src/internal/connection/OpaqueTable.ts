/**
 * The single-frame requests of a pipeline in flight, by opaque.
 *
 * A `Map` did this at a cost of about 130 bytes per operation: with every operation
 * adding one entry and deleting another, V8 keeps rebuilding the map's hash table.
 * Opaques are handed out in sequence, so a ring of slots indexed by the opaque's low
 * bits holds nearly every request where nothing is ever reallocated. A request whose
 * slot is still taken (an old request outlived a whole ring of newer ones) goes to an
 * overflow map, and the ring doubles once the overflow holds a quarter of its size.
 *
 * @internal
 */

/** What the table stores: anything that knows its own opaque. */
export interface HasOpaque {
  readonly opaque: number
}

const INITIAL_SLOTS = 256

/** See the module documentation. */
export class OpaqueTable<R extends HasOpaque> {
  private slots: Array<R | undefined> = new Array(INITIAL_SLOTS).fill(undefined)
  private mask = INITIAL_SLOTS - 1
  private readonly overflow = new Map<number, R>()
  private count = 0

  /** Entries in the table. */
  get size(): number {
    return this.count
  }

  /** Adds `request` under its opaque, which must not be in the table. */
  add(request: R): void {
    this.count++
    if (!this.place(request) && this.overflow.size > this.slots.length >> 2) this.grow()
  }

  /** Puts `request` in its slot, or in the overflow (false) when the slot is taken. */
  private place(request: R): boolean {
    const slot = request.opaque & this.mask
    if (this.slots[slot] === undefined) {
      this.slots[slot] = request
      return true
    }
    this.overflow.set(request.opaque, request)
    return false
  }

  /** The entry with `opaque`, if any. */
  get(opaque: number): R | undefined {
    const request = this.slots[opaque & this.mask]
    if (request !== undefined && request.opaque === opaque) return request
    return this.overflow.size === 0 ? undefined : this.overflow.get(opaque)
  }

  /** Removes the entry with `opaque`; false when there is none. */
  delete(opaque: number): boolean {
    const slot = opaque & this.mask
    const request = this.slots[slot]
    if (request !== undefined && request.opaque === opaque) {
      this.slots[slot] = undefined
      this.count--
      return true
    }
    if (this.overflow.size === 0 || !this.overflow.delete(opaque)) return false
    this.count--
    return true
  }

  /** Every entry (in no particular order). */
  values(): Array<R> {
    const all: Array<R> = []
    for (const request of this.slots) if (request !== undefined) all.push(request)
    for (const request of this.overflow.values()) all.push(request)
    return all
  }

  /** Removes every entry. */
  clear(): void {
    this.slots.fill(undefined)
    this.overflow.clear()
    this.count = 0
  }

  private grow(): void {
    const all = this.values()
    const length = this.slots.length * 2
    this.slots = new Array(length).fill(undefined)
    this.mask = length - 1
    this.overflow.clear()
    for (const request of all) this.place(request)
  }
}
