#!/usr/bin/env bash
# `npm run demo`: the example Slack bot (examples/bot) in local workerd with persisted state, driven
# by a scripted, signed Slack conversation and a local fake Slack Web API (loopback ports
# 8910-8912, no account, no internet). Prints the transcript and what each state object holds.
# State persists in .demo-state/ between runs; `npm run demo -- --fresh` starts over.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

exec node examples/bot/demo/run.mjs "$@"
