#!/usr/bin/env bash
# `npm run bench`: benchmarks our adapter against the no-op RPC ceiling, the peers from npm and the
# in-process memory adapter, all in one run inside local workerd. Writes BENCHMARKS.md,
# bench/throughput.svg and bench/results.json, and prints the main table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

# The peers live in bench/'s own package so the root `npm ci` stays lean; installed on demand.
stamp=bench/node_modules/.lock-stamp
lock_sum=$(sha256sum bench/package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "Installing the peers for the benchmark (npm ci in bench/)..."
  (cd bench && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$stamp"
fi

node bench/run.mjs
