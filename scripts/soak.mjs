#!/usr/bin/env node
// The chaos soak (`npm run soak -- --seeds N`): runs test/chaos.test.ts (inside workerd) over many
// seeds, a batch of seeds per vitest run, prints each seed's result as it comes and the totals,
// and exits non-zero on any violation (or a seed that produced no result).
//
//   --seeds N         how many seeds (default 10)
//   --first S         the first seed (default: a random one; seeds are S, S+1, …)
//   --batch B         seeds per vitest run (default 5)
//   --strategies L    comma-separated subset of queue,debounce,burst (default all three)
//   --messages M      messages per run (default: the test's, 80)
//   --threads T       threads per run (default: the test's, 4)
//   --abort-all K     whole-runtime resets (abortAllDurableObjects) per run at random moments
//                     (default 2; safe here because only this file runs)
//   --cpu-load P      keep P busy Node processes running meanwhile (default 0); the soak starts
//                     and stops them itself
//   --calm            no faults, resets or layout change: the traffic and delays alone
//
// Each batch's whole vitest output (every failed property with its call-by-call trace) is kept in
// .tools/soak/batch-<first seed>.log.
//
// A failing seed replays with CHAOS_SEED=<seed> CHAOS_STRATEGIES=<strategy> npx vitest run test/chaos.test.ts
// (add CHAOS_ABORT_ALL=<K> to replay the whole-runtime resets too).
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function parseArgs(argv) {
  const options = { seeds: 10, first: undefined, batch: 5, strategies: undefined, messages: undefined, threads: undefined, abortAll: 2, cpuLoad: 0 };
  const names = { "--seeds": "seeds", "--first": "first", "--batch": "batch", "--strategies": "strategies", "--messages": "messages", "--threads": "threads", "--abort-all": "abortAll", "--cpu-load": "cpuLoad" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--calm") {
      options.calm = true;
      continue;
    }
    const [flag, inline] = argv[i].split("=", 2);
    const key = names[flag];
    if (!key) throw new Error(`unknown option ${flag} (see the comment at the top of scripts/soak.mjs)`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`option ${flag} needs a value`);
    if (key === "strategies") options.strategies = value;
    else {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`option ${flag} must be a whole number, got ${value}`);
      options[key] = n;
    }
  }
  if (options.seeds < 1 || options.batch < 1) throw new Error("--seeds and --batch must be at least 1");
  return options;
}

/** Busy processes for --cpu-load: each spins until killed. */
function startLoad(count) {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, ["-e", "for (;;) { Math.sqrt(Math.random()); }"], { stdio: "ignore" }),
  );
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Runs one vitest batch; calls onResult for each CHAOS-RESULT line; resolves with its exit code. */
function runBatch(seeds, options, onResult, onFailureText) {
  mkdirSync(join(root, ".tools/soak"), { recursive: true });
  const logPath = join(root, ".tools/soak", `batch-${seeds[0]}.log`);
  const logFile = createWriteStream(logPath);
  const env = { ...process.env, CHAOS_SEEDS: seeds.join(","), CHAOS_ABORT_ALL: String(options.abortAll) };
  if (options.strategies) env.CHAOS_STRATEGIES = options.strategies;
  if (options.messages !== undefined) env.CHAOS_MESSAGES = String(options.messages);
  if (options.threads !== undefined) env.CHAOS_THREADS = String(options.threads);
  if (options.calm) env.CHAOS_CALM = "1";
  return new Promise((resolve) => {
    const child = spawn("npx", ["vitest", "run", "test/chaos.test.ts", "--reporter=default"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let buffer = "";
    const failures = [];
    const onData = (chunk) => {
      logFile.write(chunk);
      buffer += chunk.toString();
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        // eslint-disable-next-line no-control-regex
        const line = buffer.slice(0, newline).replace(/\x1b\[[0-9;]*m/g, "");
        buffer = buffer.slice(newline + 1);
        const at = line.indexOf("CHAOS-RESULT ");
        if (at >= 0) {
          try {
            onResult(JSON.parse(line.slice(at + "CHAOS-RESULT ".length)));
          } catch {
            // a line cut by the reporter: the seed then counts as without result
          }
        }
        // The failed properties, for the end of the report.
        if (/^(lost|twice|overlapping|stranded|held dequeue|order|history of|thread state|lock left|processMessage error|an object rejected|chat's documented|the drain|drainMigration|delivery failed|objects hold)/.test(line.trim())) {
          failures.push(line.trim().slice(0, 300));
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("close", (code) => {
      logFile.end();
      if (failures.length > 0) failures.unshift(`(batch from seed ${seeds[0]}: full output in ${logPath})`);
      onFailureText(failures);
      resolve(code ?? 1);
    });
  });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const first = options.first ?? 1 + Math.floor(Math.random() * 2 ** 30);
  const seeds = Array.from({ length: options.seeds }, (_, i) => first + i);
  const strategies = (options.strategies ?? "queue,debounce,burst").split(",").map((s) => s.trim());
  const load = startLoad(options.cpuLoad);
  const stop = () => load.forEach((child) => child.kill("SIGKILL"));
  process.on("SIGINT", () => {
    stop();
    process.exit(130);
  });
  console.log(
    `soak: seeds ${first}..${first + seeds.length - 1} × ${strategies.join("/")}, ` +
      (options.calm ? "calm (no faults, resets or layout change), " : `${options.abortAll} whole-runtime resets per run, `) +
      `CPU load ${options.cpuLoad} busy processes`,
  );
  const results = [];
  const failureLines = [];
  let badExits = 0;
  const started = Date.now();
  try {
    for (let i = 0; i < seeds.length; i += options.batch) {
      const batch = seeds.slice(i, i + options.batch);
      const code = await runBatch(
        batch,
        options,
        (r) => {
          results.push(r);
          const bad = r.lost + r.twice + r.overlapping + r.stranded + r.locksLeft + r.errors + r.objectErrors + r.stuckDequeues + r.historyMissing + r.historyDuplicates + r.stateMismatches;
          console.log(
            `seed ${r.seed} ${r.strategy.padEnd(8)} ${bad === 0 && r.violations === 0 ? "ok  " : "FAIL"} ${r.messages} messages: ` +
              `lost ${r.lost}, twice ${r.twice}, overlapping ${r.overlapping}, stranded ${r.stranded}, locks ${r.locksLeft}, ` +
              `errors ${r.errors}/${r.objectErrors}, stuck ${r.stuckDequeues}, history ${r.historyMissing}/${r.historyDuplicates}, ` +
              `state ${r.stateMismatches}; held ${r.holds.count} (max ${r.holds.max} ms); ${r.resets} resets; ${(r.durationMs / 1000).toFixed(1)} s`,
          );
        },
        (lines) => failureLines.push(...lines),
      );
      if (code !== 0) badExits++;
    }
  } finally {
    stop();
  }

  const expected = seeds.length * strategies.length;
  const sum = (f) => results.reduce((n, r) => n + f(r), 0);
  const totals = {
    seeds: seeds.length,
    runs: results.length,
    messages: sum((r) => r.messages),
    lost: sum((r) => r.lost),
    twice: sum((r) => r.twice),
    overlapping: sum((r) => r.overlapping),
    stranded: sum((r) => r.stranded),
    locksLeft: sum((r) => r.locksLeft),
    errors: sum((r) => r.errors),
    objectErrors: sum((r) => r.objectErrors),
    stuckDequeues: sum((r) => r.stuckDequeues),
    misordered: sum((r) => r.misordered ?? 0),
    historyMissing: sum((r) => r.historyMissing),
    historyDuplicates: sum((r) => r.historyDuplicates),
    stateMismatches: sum((r) => r.stateMismatches),
    drops: sum((r) => r.drops.expired + r.drops.queueFull + r.drops.maxQueueSize + r.drops.retryBudget),
    violations: sum((r) => r.violations),
  };
  console.log("");
  console.log(
    `soak totals: ${totals.seeds} seeds, ${totals.runs}/${expected} runs, ${totals.messages} messages; ` +
      `lost ${totals.lost}, twice ${totals.twice}, overlapping ${totals.overlapping}, stranded ${totals.stranded}; ` +
      `locks left ${totals.locksLeft}, errors ${totals.errors} (object-side ${totals.objectErrors}), stuck dequeues ${totals.stuckDequeues}, misordered ${totals.misordered}, ` +
      `history missing/duplicated ${totals.historyMissing}/${totals.historyDuplicates}, state mismatches ${totals.stateMismatches}, ` +
      `documented drops ${totals.drops}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  for (const strategy of strategies) {
    const waits = results.filter((r) => r.strategy === strategy).flatMap((r) => r.holdWaits ?? []).sort((a, b) => a - b);
    console.log(
      `held dequeues, ${strategy}: ${waits.length}, wait p50 ${percentile(waits, 50)} ms, p99 ${percentile(waits, 99)} ms, max ${waits.at(-1) ?? 0} ms`,
    );
  }
  if (failureLines.length > 0) {
    console.log("\nfailed properties (first 40):");
    for (const line of failureLines.slice(0, 40)) console.log(`  ${line}`);
  }
  const failed = totals.violations > 0 || results.length < expected || badExits > 0;
  if (results.length < expected) console.log(`${expected - results.length} runs produced no result (a crash or a timeout)`);
  console.log(failed ? "soak: FAILED" : "soak: passed");
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
});
