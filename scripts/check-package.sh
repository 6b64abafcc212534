#!/usr/bin/env bash
# The package as a user gets it. Packs the tarball (prepack builds it), checks it with
# publint and arethetypeswrong, installs it with its peers from the registry into a
# fresh project outside the repository, and there:
#   - reports the installed size and package count a library user pays;
#   - runs a plain ES module script and a CommonJS script (cluster + upsert/get);
#   - type-checks consumer code and the examples under strict, with and without
#     exactOptionalPropertyTypes, skipLibCheck false, moduleResolution NodeNext and bundler;
#   - runs `npx effect-couchbase server` until its ready line;
#   - runs the examples/ programs (tsx, node and vitest).
#   - again with the lowest versions of the peer ranges (the suite passes there too).
# Set KEEP_CONSUMER=1 to keep the consumer project for a look afterwards.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/effect-couchbase-consumer.XXXXXX")"
if [ "${KEEP_CONSUMER:-}" = "1" ]; then echo "consumer kept in $work"; else trap 'rm -rf "$work"' EXIT; fi
step() { printf '\n== %s\n' "$*"; }
# The version the repository's own tests use, so that the consumer's tools match them.
devVersion() { node -p "require('$repo/package.json').devDependencies['$1']"; }
# The lowest version each peer range admits ("^3.21.2" and ">=0.88.2 <0.98.0" both start
# with it), as name@version arguments for npm install.
# Optional peers (the command line's) are left out: a library user does not install them.
lowest="$(node -p "const p = require('$repo/package.json'); Object.entries(p.peerDependencies).filter(([n]) => !p.peerDependenciesMeta?.[n]?.optional).map(([n, r]) => n + '@' + r.match(/\\d+\\.\\d+\\.\\d+/)[0]).join(' ')")"
# The command line's optional peers, at the versions the repository tests.
cliPeers="$(node -p "const p = require('$repo/package.json'); Object.keys(p.peerDependenciesMeta ?? {}).map((n) => n + '@' + p.devDependencies[n]).join(' ')")"

cd "$repo"
step "pack"
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -1)"
tar -tzf "$tarball" | sed 's|^package/||' | awk -F/ '{print $1 "/" $2}' | sort | uniq -c | sort -rn | head -12
ls -l "$tarball" | awk '{print "tarball:", $5, "bytes"}'
if tar -tzf "$tarball" | grep -E '^package/(test|bench|scripts|examples|\.ci)/'; then
  echo "the tarball ships files users do not need" >&2
  exit 1
fi

step "publint"
npx --no-install publint --strict
step "arethetypeswrong"
npx --no-install attw "$tarball"

step "install as a library user: the tarball, its peers from the registry"
mkdir "$work/consumer"
cd "$work/consumer"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' > package.json
npm install --no-audit --no-fund --loglevel=error "$tarball"
node -e '
  const fs = require("fs"), path = require("path")
  let count = 0, bytes = 0, scripts = []
  const size = (p) => { const s = fs.lstatSync(p); if (!s.isDirectory()) return s.size; return fs.readdirSync(p).reduce((n, f) => n + size(path.join(p, f)), 0) }
  const visit = (dir) => {
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith(".")) continue
      const p = path.join(dir, name)
      if (name.startsWith("@")) { visit(p); continue }
      const pkg = JSON.parse(fs.readFileSync(path.join(p, "package.json"), "utf8"))
      count++
      for (const s of ["preinstall", "install", "postinstall"]) if (pkg.scripts?.[s]) scripts.push(`${pkg.name} (${s})`)
      if (fs.existsSync(path.join(p, "node_modules"))) visit(path.join(p, "node_modules"))
    }
  }
  visit("node_modules")
  bytes = size("node_modules")
  const names = fs.readdirSync("node_modules").flatMap((n) => n.startsWith("@") ? fs.readdirSync(path.join("node_modules", n)).map((m) => `${n}/${m}`) : n.startsWith(".") ? [] : [n])
  console.log(`installed: ${count} packages, ${(bytes / 1048576).toFixed(1)} MiB in node_modules; install scripts: ${scripts.join(", ") || "none"}`)
  console.log(`top level: ${names.join(" ")}`)
  for (const banned of ["tsx", "esbuild", "@effect/cli", "@effect/platform-node", "typescript"]) {
    if (fs.existsSync(path.join("node_modules", banned))) { console.error(`a library user gets ${banned}`); process.exit(1) }
  }
'
npm ls effect @effect/platform

step "plain node: ES module and CommonJS"
cp "$repo"/scripts/consumer/esm.mjs "$repo"/scripts/consumer/cjs.cjs .
node esm.mjs
node cjs.cjs

step "the command line without its optional peers: one line saying what to install"
set +e
missing="$(npx --no-install effect-couchbase --version 2>&1)"; status=$?
set -e
echo "$missing (status $status)"
[ "$status" = 1 ] && echo "$missing" | grep -q "npm install @effect/cli"

step "the command line's optional peers: $cliPeers"
npm install --no-audit --no-fund --loglevel=error $cliPeers
npx --no-install effect-couchbase --version

step "npx effect-couchbase server"
node "$repo/scripts/consumer/server-ready.mjs"

step "type-check consumer code and the examples"
npm install --no-audit --no-fund --loglevel=error --save-dev \
  "typescript@$(devVersion typescript)" "@types/node@$(devVersion @types/node)" \
  "tsx@$(devVersion tsx)" "vitest@$(devVersion vitest)" "@effect/vitest@$(devVersion @effect/vitest)"
# What examples/opentelemetry.ts exports with.
otel=""
for name in @effect/opentelemetry @opentelemetry/api @opentelemetry/resources @opentelemetry/sdk-trace-base \
  @opentelemetry/sdk-trace-node @opentelemetry/sdk-metrics @opentelemetry/sdk-logs @opentelemetry/semantic-conventions; do
  otel="$otel $name@$(devVersion $name)"
done
npm install --no-audit --no-fund --loglevel=error --save-dev $otel
cp "$repo"/scripts/consumer/usage.mts "$repo"/scripts/consumer/usage.cts .
mkdir -p examples
cp "$repo"/examples/*.ts "$repo"/examples/*.mjs examples/
for resolution in NodeNext bundler; do
  for exact in false true; do
    module=$([ "$resolution" = NodeNext ] && echo NodeNext || echo preserve)
    cat > "tsconfig.$resolution-$exact.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022"],
    "module": "$module",
    "moduleResolution": "$resolution",
    "types": ["node"],
    "strict": true,
    "exactOptionalPropertyTypes": $exact,
    "skipLibCheck": false,
    "noEmit": true
  },
  "include": ["usage.mts", "usage.cts", "examples/*.ts"]
}
JSON
    echo "tsc: moduleResolution $resolution, exactOptionalPropertyTypes $exact"
    npx --no-install tsc -p "tsconfig.$resolution-$exact.json"
  done
done

step "examples"
npx --no-install tsx examples/kv-schema.ts
npx --no-install tsx examples/views-stream.ts
node examples/callbacks.mjs
node examples/plain-javascript.mjs
npx --no-install tsx examples/opentelemetry.ts
printf 'export default {}\n' > vitest.config.mjs
npx --no-install vitest run examples/

npx --no-install effect-couchbase quickstart > quickstart.log
tail -4 quickstart.log
grep -q "7303 rows" quickstart.log

step "the lowest peers the package claims: $lowest"
# (@effect/vitest 0.30 wants a newer effect; the example test ran above.)
# (and the command line's peers want the newest @effect/platform: a library user without them)
npm uninstall --no-audit --no-fund --loglevel=error @effect/vitest vitest $(echo "$otel" | sed -E 's/(@[^@ ]+\/[^@ ]+)@[0-9][^ ]*/\1/g') $(echo "$cliPeers" | sed -E 's/@[0-9][^ ]*//g')
npm install --no-audit --no-fund --loglevel=error $lowest
npm ls effect @effect/platform
node esm.mjs
node cjs.cjs
printf '{ "extends": "./tsconfig.NodeNext-true.json", "include": ["usage.mts", "usage.cts", "examples/kv-schema.ts", "examples/views-stream.ts"] }\n' > tsconfig.lowest.json
echo "tsc: moduleResolution NodeNext, exactOptionalPropertyTypes true (without the vitest example)"
npx --no-install tsc -p tsconfig.lowest.json

step "the package checks passed"
