/**
 * Big-endian loads and stores of header fields without Buffer's argument and range
 * checks, which were a third of the frame codec's time in a server profile. Callers
 * have sized or validated the buffer first; a typed-array store keeps the low 8 bits
 * of each shifted value, and a load past the end reads `undefined` (NaN after the
 * arithmetic), never throws.
 *
 * @internal
 */

/** Stores the low 16 bits of `value` at `offset`. */
export const put16 = (target: Uint8Array, offset: number, value: number): void => {
  target[offset] = value >>> 8
  target[offset + 1] = value
}

/** Stores the low 32 bits of `value` at `offset`. */
export const put32 = (target: Uint8Array, offset: number, value: number): void => {
  target[offset] = value >>> 24
  target[offset + 1] = value >>> 16
  target[offset + 2] = value >>> 8
  target[offset + 3] = value
}

/** The unsigned 16-bit value at `offset`. */
export const get16 = (source: Uint8Array, offset: number): number => (source[offset]! << 8) | source[offset + 1]!

/** The unsigned 32-bit value at `offset`. */
export const get32 = (source: Uint8Array, offset: number): number =>
  source[offset]! * 0x1000000 + ((source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!)
