#!/usr/bin/env bash
# Packs the npm package, installs the tarball into a scratch Worker project (.tools/pack-test/)
# and runs there, inside workerd, importing only "chat-state-cloudflare-do": the contract suite,
# chat's own calls through two Slack bots (test/chat-calls.test.ts), and the example bot end to
# end (test/e2e.test.ts), on the `exports` form of the configuration (test-pack/wrangler.jsonc);
# and one write-and-read smoke test on the `migrations` form (test-pack/smoke.test.ts on
# wrangler.migrations.jsonc). Then the same tarball in a Vite project (test-pack/vite.test.mjs).
# Proves the published artifact (dist/ + pkg/ wasm) loads and works, not just the repo sources.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
root=$PWD
work=.tools/pack-test
status=0
rm -rf "$work" && mkdir -p "$work/test" "$work/smoke" "$work/examples/bot/src" "$work/examples/bot/demo"

bash scripts/build-dist.sh >/dev/null
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$work")
echo "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KB)"

dev_version() { node -p "require('./package.json').devDependencies['$1']"; }
cat > "$work/package.json" <<JSON
{
  "name": "pack-test",
  "private": true,
  "type": "module",
  "dependencies": {
    "chat-state-cloudflare-do": "file:./$tarball",
    "chat": "$(dev_version chat)",
    "@chat-adapter/slack": "$(dev_version @chat-adapter/slack)"
  },
  "devDependencies": {
    "@cloudflare/vitest-plugin": "$(dev_version @cloudflare/vitest-plugin)",
    "@cloudflare/workers-types": "$(dev_version @cloudflare/workers-types)",
    "vitest": "$(dev_version vitest)"
  }
}
JSON
cp test-pack/worker.ts "$work/worker.ts"
cp test-pack/wrangler.jsonc "$work/wrangler.jsonc"
cp test-pack/wrangler.migrations.jsonc "$work/wrangler.migrations.jsonc"
cp test-pack/smoke.test.ts "$work/smoke/migrations.test.ts"
cp test-pack/vitest.config.ts "$work/vitest.config.ts"
# The same tests, importing the package by name instead of the repo's ts/.
for f in test/contract.test.ts test/chat-calls.test.ts test/e2e.test.ts test/helpers.ts; do
  sed -e 's#"\.\./ts/index\.js"#"chat-state-cloudflare-do"#g' "$f" > "$work/$f"
done
if grep -n '\.\./ts/' "$work"/test/*.ts; then echo "pack-test: a test still imports the repo's ts/" >&2; exit 1; fi
# The example bot as it is: it already imports the package by name.
cp examples/bot/src/index.ts "$work/examples/bot/src/index.ts"
cp examples/bot/demo/slack.mjs examples/bot/demo/scenario.mjs "$work/examples/bot/demo/"

vite_tap=.tools/pack-vite-report.tap
rm -f "$vite_tap"
# `&&`: errexit does not apply on the left of `||`.
(
  cd "$work" &&
    npm install --no-audit --no-fund --loglevel=error >/dev/null &&
    npx vitest run --reporter=default --reporter=json --outputFile="$root/.vitest-pack-report.json"
) || status=1

# The same tarball in a Vite + @cloudflare/vite-plugin Worker (test-pack/vite/, installed into
# .tools/pack-test-vite/): vite dev, vite build, then the build under vite preview and wrangler dev.
# A TAP report (.tools/pack-vite-report.tap) that scripts/test.sh counts with the packed package.
echo "== the packed package in a Vite + @cloudflare/vite-plugin Worker (Node test runner)"
PACK_TARBALL="$root/$work/$tarball" node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$vite_tap" test-pack/vite.test.mjs || status=1
exit "$status"
