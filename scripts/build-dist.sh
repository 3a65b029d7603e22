#!/usr/bin/env bash
# Compiles the TypeScript shell to dist/ (JS + .d.ts). dist/ imports the wasm-bindgen output from
# ../pkg/, which ships in the npm package beside it; wrangler bundles the `.wasm` import as a
# compiled WebAssembly.Module.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
rm -rf dist
npx tsc -p tsconfig.build.json
mkdir -p dist/shared && cp ts/shared/wasm-module.d.ts dist/shared/wasm-module.d.ts
echo "dist/: $(ls dist | tr '\n' ' ')"
