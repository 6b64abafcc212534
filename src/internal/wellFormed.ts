/**
 * Whether a string is well-formed UTF-16 (no lone surrogate), so that its UTF-8 is
 * exactly its text: `String.prototype.isWellFormed` (ES2024), which every Node this
 * package supports has (it needs `zlib.crc32`, Node 20.15+), while the configured lib
 * is ES2022.
 *
 * @internal
 */
export const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
