#!/usr/bin/env bash
# Idempotent set-up used by `npm test`, `npm run demo` and `npm run bench`: Node >= 22, npm
# packages (re-installed only when package-lock.json changed), and the wasm build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

stamp=node_modules/.lock-stamp
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "Installing npm packages (npm ci)..."
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

bash scripts/build-wasm.sh
