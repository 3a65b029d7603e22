#!/usr/bin/env bash
# The test command (`npm test`, also what .ci/run runs): the Rust tests natively, the TypeScript
# type check, the vitest suite inside workerd, the packed npm package in a scratch Worker and in a
# Vite + @cloudflare/vite-plugin project, and a restart of the runtime on persisted storage. Every
# stage runs even if an earlier one failed; the last line is one "N passed, N failed" over all of
# them, and the exit code is non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() { echo "== $1 (at ${SECONDS} s)"; }
stage "set-up"
bash scripts/setup.sh
source scripts/env.sh

status=0
stage "cargo test"
cargo_log=$(mktemp)
cargo_status=0
cargo test --quiet 2>&1 | tee "$cargo_log" || cargo_status=1
rust_passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$cargo_log" | awk '{s+=$4} END {print s+0}')
rust_failed=$(grep -oE '[0-9]+ failed' "$cargo_log" | awk '{s+=$1} END {print s+0}')
# A build failure runs no test: count it as one failure so the closing line shows it.
if [ "$cargo_status" -ne 0 ]; then status=1; [ "$rust_failed" -gt 0 ] || rust_failed=1; fi

stage "tsc --noEmit"
tsc_failed=0
npx tsc --noEmit -p tsconfig.json || { status=1; tsc_failed=1; }

counts() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    // A file that fails outside a test (beforeAll, import) counts as a failure too — but only
    // then: numFailedTestSuites also counts the file and every describe around a failed test.
    const outside = r.testResults.filter((f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")).length;
    console.log(r.numPassedTests, r.numFailedTests + outside + (r.numRuntimeErrors ?? 0));
  ' "$1" 2>/dev/null || echo "0 1"
}

stage "vitest (inside workerd)"
report=.vitest-report.json
rm -f "$report"
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
read -r js_passed js_failed < <(counts "$report")

tap_counts() {
  local passed failed
  passed=$(grep -oE '^# pass [0-9]+' "$1" 2>/dev/null | awk '{s+=$3} END {print s+0}')
  failed=$(grep -oE '^# fail [0-9]+' "$1" 2>/dev/null | awk '{s+=$3} END {print s+0}')
  # No report, or one that counted nothing: the runner never got to a test; one failure.
  if [ "$((passed + failed))" -eq 0 ]; then failed=1; fi
  echo "$passed $failed"
}

stage "the packed npm package, installed into a scratch Worker (inside workerd) and a Vite project"
pack_report=.vitest-pack-report.json
vite_tap=.tools/pack-vite-report.tap
rm -f "$pack_report" "$vite_tap"
bash scripts/pack-test.sh || status=1
read -r pack_passed pack_failed < <(counts "$pack_report")
read -r vite_passed vite_failed < <(tap_counts "$vite_tap")
pack_passed=$((pack_passed + vite_passed))
pack_failed=$((pack_failed + vite_failed))

stage "restart of the runtime with persisted storage (wrangler dev, Node test runner)"
node_tap=.tools/node-test-report.tap
mkdir -p .tools
rm -f "$node_tap"
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$node_tap" "test-node/*.test.mjs" || status=1
read -r node_passed node_failed < <(tap_counts "$node_tap")

echo
stage "done"
echo "Rust: $rust_passed passed, $rust_failed failed; workerd: $js_passed passed, $js_failed failed; packed package: $pack_passed passed, $pack_failed failed (Vite: $vite_passed passed, $vite_failed failed); Node: $node_passed passed, $node_failed failed"
echo "$((rust_passed + js_passed + pack_passed + node_passed)) passed, $((rust_failed + tsc_failed + js_failed + pack_failed + node_failed)) failed"
exit "$status"
