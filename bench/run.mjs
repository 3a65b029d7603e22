// `npm run bench` (through bench/run.sh): drives the bench Worker (bench/worker.ts) in local workerd
// through `wrangler dev` on a loopback port, then writes bench/results.json, BENCHMARKS.md,
// bench/throughput.svg and bench/cost.svg and prints the main table. Every figure comes from this
// one run: ours, the no-op ceiling, the peers and the memory floor are measured in interleaved
// rounds so load from other processes falls on all of them alike.
// `node bench/run.mjs --render` rewrites BENCHMARKS.md and the charts from bench/results.json.
//
// The rooms: config.mjs (sizes, rounds, ops, implementations), wrangler.mjs (the Worker process
// and its HTTP endpoint), runner.mjs (the measuring rounds), stats.mjs (pure statistics),
// report.mjs (BENCHMARKS.md) with sections.mjs (its measured sections) and targets.mjs (its
// verdicts), charts.mjs (the SVGs), format.mjs (number formats, the progress log).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root } from "./config.mjs";
import { log } from "./format.mjs";
import { writeReport } from "./report.mjs";
import { measure } from "./runner.mjs";

const RESULTS = join(root, "bench/results.json");

async function main() {
  const summary = await measure();
  writeFileSync(RESULTS, JSON.stringify(summary, null, 2) + "\n");
  console.log(await writeReport(summary));
  log(`done in ${summary.seconds} s: BENCHMARKS.md, bench/throughput.svg, bench/cost.svg, bench/results.json`);
}

/** `node bench/run.mjs --render`: rewrites BENCHMARKS.md and the charts from bench/results.json. */
async function renderOnly() {
  console.log(await writeReport(JSON.parse(readFileSync(RESULTS, "utf8"))));
}

(process.argv.includes("--render") ? renderOnly() : main()).catch((error) => {
  console.error(error);
  process.exit(1);
});
