#!/usr/bin/env bash
# Idempotent set-up used by `npm test`, `npm run demo` and `npm run bench`: Node >= 22, npm
# packages (re-installed only when package-lock.json changed), and the wasm build.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.lock-stamp
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
  source scripts/env.sh
else
  # On a fresh machine the wasm toolchain (the wasm-bindgen CLI is built from crates.io) and the
  # wasm build, CPU work, run beside npm ci, mostly network: minutes saved. Its output is kept
  # apart and shown if it fails.
  mkdir -p .tools
  compile_log=.tools/wasm-compile.log
  bash scripts/build-wasm.sh compile > "$compile_log" 2>&1 &
  compile_pid=$!
  source scripts/env.sh # Node 24 when the system's is older: a download too
  echo "Installing npm packages (npm ci), the wasm toolchain and build beside it..."
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
  if ! wait "$compile_pid"; then
    cat "$compile_log"
    echo "the wasm build failed (above)" >&2
    exit 1
  fi
  cat "$compile_log"
fi

bash scripts/build-wasm.sh
