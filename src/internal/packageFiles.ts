/**
 * Files the package ships beside its code (the sample datasets, package.json), found
 * from the location of this module. The same code runs from the TypeScript sources
 * (`src/internal/`), from the ES module build (`dist/esm/internal/`), from the
 * CommonJS build (`dist/cjs/internal/`) and from a user's bundle, so the file is looked
 * up in this module's folder and its first few ancestors rather than at one fixed
 * relative path.
 *
 * @since 0.1.0
 * @internal
 */
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** How far up to look: from `dist/esm/internal` to the package root is three levels. */
const MAX_LEVELS = 3

/**
 * The folder of this module: from `import.meta.url` in an ES module; in a CommonJS
 * bundle made from the ES modules, where bundlers leave `import.meta` empty, from the
 * bundle's own `__filename`.
 */
export const moduleDirectory = (): string | undefined => {
  const url: unknown = import.meta.url
  if (typeof url === "string") return dirname(fileURLToPath(url))
  return typeof __filename === "string" ? dirname(__filename) : undefined
}

/**
 * The absolute path of `relative` (a path inside the package, e.g.
 * `samples/beer-sample`) in the nearest of this module's folder and its ancestors that
 * has it and whose file `accept` takes, or `undefined` when none does (a broken
 * installation, or a bundle without the package's data files).
 */
export const findPackageFile = (
  relative: string,
  accept: (path: string) => boolean = () => true
): string | undefined => {
  let dir = moduleDirectory()
  for (let level = 0; dir !== undefined && level <= MAX_LEVELS; level++) {
    const candidate = join(dir, relative)
    if (existsSync(candidate) && accept(candidate)) return candidate
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return undefined
}
