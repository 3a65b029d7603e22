#!/usr/bin/env bash
# `npm run soak -- --seeds N [--cpu-load P] [--abort-all K] …`: the chaos tests over many seeds
# (scripts/soak.mjs has the options). Same set-up as `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
source scripts/env.sh
exec node scripts/soak.mjs "$@"
