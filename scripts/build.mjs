// Builds the package as Effect's own packages ship: ES modules in dist/esm, CommonJS in
// dist/cjs, each with .d.ts declarations and declaration maps back to src/, and the data
// files once in dist/samples.
//
// tsc compiles the ES modules and declarations; esbuild turns each ES module into
// CommonJS (no bundling: one file in, one file out, source maps chained to src/).
// The declarations are copied next to the CommonJS files so that a `require` resolves
// types of the CommonJS format (dist/cjs/package.json says "commonjs").
import { execFileSync } from "node:child_process"
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const dist = join(root, "dist")
const esm = join(dist, "esm")
const cjs = join(dist, "cjs")

rmSync(dist, { recursive: true, force: true })
execFileSync(
  process.execPath,
  [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json")],
  {
    stdio: "inherit"
  }
)

/** The files under `dir` (relative paths) whose names end with one of `suffixes`. */
const filesEndingWith = (dir, ...suffixes) =>
  readdirSync(dir, { recursive: true }).filter((f) => suffixes.some((s) => f.endsWith(s)))

const modules = filesEndingWith(esm, ".js")
// import.meta exists only in ES modules; the one use (locating the data files) gets the
// CommonJS equivalent, the module's own file URL.
const usesImportMeta = (file) => readFileSync(join(esm, file), "utf8").includes("import.meta")
const common = {
  outdir: cjs,
  outbase: esm,
  format: "cjs",
  platform: "node",
  target: "node20",
  bundle: false,
  sourcemap: true,
  logLevel: "warning"
}
await build({ ...common, entryPoints: modules.filter((f) => !usesImportMeta(f)).map((f) => join(esm, f)) })
await build({
  ...common,
  entryPoints: modules.filter(usesImportMeta).map((f) => join(esm, f)),
  define: { "import.meta.url": "__importMetaUrl" },
  // The banner comes before esbuild's own "use strict", which must stay the first statement.
  banner: { js: '"use strict";\nconst __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' }
})
writeFileSync(join(cjs, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`)
for (const file of filesEndingWith(esm, ".d.ts", ".d.ts.map")) {
  mkdirSync(dirname(join(cjs, file)), { recursive: true })
  cpSync(join(esm, file), join(cjs, file))
}

cpSync(join(root, "src/server/samples"), join(dist, "samples"), { recursive: true })
chmodSync(join(esm, "cli/main.js"), 0o755)
