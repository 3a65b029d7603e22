// The measuring rounds: one run of the bench Worker (bench/worker.ts) in local workerd, phase by
// phase — the per-operation rounds (ceilings, ours, the peers and the memory floor interleaved, so
// load from other processes falls on all of them alike), the stored-size scale, a message under
// faults, the price of each guarantee, the alarm sweep, time inside the object and in the Worker,
// the footprint, and re-sharding last. `measure()` answers the summary that bench/results.json
// keeps; the figures are merged here (bench/stats.mjs) and rendered elsewhere (bench/report.mjs).
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  root,
  ROUNDS,
  SEQ_BUDGET_MS,
  CONC_BUDGET_MS,
  SCALE_PASSES,
  CALLERS,
  SCALES,
  PEER_SCALES,
  SWEEP_ROWS,
  FAULT_RATES,
  FAULT_UNITS,
  RESHARD_THREADS,
  RESHARD_DRAIN_RUNS,
  RESHARD_SAMPLES,
  RETRY_BUDGET_MS,
  QUEUE_BUDGET_MS,
  RESHARD_MESSAGES,
  OPS,
  WRITES_PER_UNIT,
  IMPLS,
  supports,
} from "./config.mjs";
import { log } from "./format.mjs";
import { quantile, callFigures, caseFigures, queueSummary, merge } from "./stats.mjs";
import { PORT, startWorker, stopWorker, post } from "./wrangler.mjs";

/** A failure's message, as results.json keeps it. */
const errorText = (error) => String(error.message ?? error);

const runId = Date.now().toString(36);
let cellNo = 0;

function spec(op, impl, callers, budgetMs, home) {
  const memory = impl === "memory";
  return {
    op,
    tag: `${runId}-${++cellNo}`,
    home,
    callers,
    // The memory adapter does no I/O, so the runtime clock cannot stop it: it gets a fixed count.
    units: memory ? (callers === 1 ? 20_000 : 2_000) : 100_000,
    budgetMs,
    warmup: callers === 1 ? 3 : 1,
  };
}

async function cell(impl, op, callers, budgetMs, object, home) {
  return await post({ action: "cell", impl, object, spec: spec(op, impl, callers, budgetMs, home) });
}

/**
 * The per-op rounds: ceiling, ours, peers, memory, interleaved; order rotates per round.
 * Answers results[op][impl] = { seq: [cells], conc: [cells] } and failures[impl][op] = message;
 * an implementation that failed an op is not asked for it again.
 */
async function perOpRounds() {
  const results = {};
  const failures = {};
  const record = (op, impl, mode, value) => {
    results[op] ??= {};
    results[op][impl] ??= { seq: [], conc: [] };
    results[op][impl][mode].push(value);
  };
  const fail = (impl, op, error, what) => {
    failures[impl] ??= {};
    failures[impl][op] = errorText(error);
    log(`  ${what} failed: ${failures[impl][op]}`);
  };
  const opsWithMessage = [...OPS.map(([op]) => op), "message"];
  for (let round = 0; round < ROUNDS; round++) {
    const order = [...IMPLS.slice(round % IMPLS.length), ...IMPLS.slice(0, round % IMPLS.length)];
    for (const op of opsWithMessage) {
      log(`round ${round + 1}/${ROUNDS}: ${op}`);
      const object = `main-${runId}`;
      const home = `home-${runId}`; // lists are filled once per implementation and reused
      // 1 caller: the ceilings, ours and the seed alternate call by call in one cell (same load
      // at the same moments); agents (which runs inside its parent Agent) and memory on their own.
      const entries = [
        { impl: "noop", op: "noop", key: [op, "ceiling:noop"], pooled: ["noop", "noop"] },
        ...(WRITES_PER_UNIT[op] ? [{ impl: "noop", op: "write1", key: [op, "ceiling:write1"], pooled: ["write1", "noop"] }] : []),
        ...(failures.ours?.[op] ? [] : [{ impl: "ours", op, key: [op, "ours"] }]),
        ...(supports("seed", op) && !failures.seed?.[op] ? [{ impl: "seed", op, key: [op, "seed"] }] : []),
      ];
      try {
        const figures = await post({
          action: "interleaved",
          object,
          impls: entries.map(({ impl, op }) => ({ impl, op })),
          spec: { ...spec(op, "ours", 1, 150 * entries.length, home), warmup: 3 },
        });
        entries.forEach((e, k) => {
          record(e.key[0], e.key[1], "seq", figures[k]);
          if (e.pooled) record(e.pooled[0], e.pooled[1], "seq", figures[k]);
        });
      } catch (error) {
        fail("ours", op, error, `interleaved ${op}`);
      }
      for (const impl of ["agents", "memory"]) {
        if (failures[impl]?.[op]) continue;
        try {
          record(op, impl, "seq", await cell(impl, op, 1, SEQ_BUDGET_MS, object, home));
        } catch (error) {
          fail(impl, op, error, `${impl} ${op}`);
        }
      }
      // 16 callers: one implementation at a time (their Durable Objects would compete for the
      // same two cores otherwise); ceilings twice a round.
      if (op === opsWithMessage[0] || op === "getList") {
        for (const ceilingOp of ["noop", "write1"]) {
          record(ceilingOp, "noop", "conc", await cell("noop", ceilingOp, CALLERS, CONC_BUDGET_MS, object, home));
        }
      }
      for (const impl of order) {
        if (!supports(impl, op) || failures[impl]?.[op] || !results[op]?.[impl]) continue;
        try {
          record(op, impl, "conc", await cell(impl, op, CALLERS, CONC_BUDGET_MS, object, home));
        } catch (error) {
          fail(impl, op, error, `${impl} ${op} (16 callers)`);
        }
      }
    }
  }
  return { results, failures };
}

/**
 * The scale: the same ops with rows already stored. Every object is preloaded first, then
 * each op is measured at every size back to back (twice), so load drift hits all sizes alike.
 */
async function scaleRuns(failures) {
  const scaleOps = OPS.map(([op]) => op);
  const scaleObjects = [];
  for (const rows of SCALES) {
    for (const impl of ["ours", "seed", "agents"]) {
      if (impl !== "ours" && !PEER_SCALES.includes(rows)) continue;
      const object = `scale-${rows}-${runId}`;
      log(`scale: preloading ${rows} rows into ${impl}`);
      const t0 = Date.now();
      for (let offset = 0; offset < rows; offset += 100_000) {
        const count = Math.min(100_000, rows - offset);
        await post({ action: "preload", impl, object, count, offset });
      }
      scaleObjects.push({ rows, impl, object, preloadMs: Date.now() - t0 });
    }
  }
  const scaleCells = new Map();
  const keep = (entry, figures) => {
    const key = `${entry.rows}|${entry.impl}|${entry.op}`;
    if (!scaleCells.has(key)) scaleCells.set(key, { rows: entry.rows, impl: entry.impl, op: entry.op, preloadMs: entry.preloadMs, cells: [] });
    scaleCells.get(key).cells.push(figures);
  };
  for (let pass = 0; pass < SCALE_PASSES; pass++) {
    for (const op of scaleOps) {
      log(`scale pass ${pass + 1}: ${op}`);
      // Ours at every size and the seed at its sizes alternate call by call in one cell.
      const entries = scaleObjects
        .filter(({ impl }) => impl !== "agents" && supports(impl, op) && !failures[impl]?.[op])
        .map((o) => ({ ...o, op }));
      try {
        const figures = await post({
          action: "interleaved",
          object: entries[0].object,
          impls: entries.map(({ impl, object }) => ({ impl, op, object })),
          spec: { ...spec(op, "ours", 1, 100 * entries.length, `scale-${runId}`), warmup: 2 },
        });
        entries.forEach((e, k) => keep(e, figures[k]));
      } catch (error) {
        for (const e of entries) scaleCells.set(`${e.rows}|${e.impl}|${e.op}`, { rows: e.rows, impl: e.impl, op, error: errorText(error) });
      }
      for (const o of scaleObjects.filter(({ impl }) => impl === "agents")) {
        if (failures.agents?.[op]) continue;
        try {
          keep({ ...o, op }, await cell("agents", op, 1, 150, o.object, `scale-${runId}`));
        } catch (error) {
          scaleCells.set(`${o.rows}|agents|${op}`, { rows: o.rows, impl: "agents", op, error: errorText(error) });
        }
      }
    }
  }
  return [...scaleCells.values()].map(({ cells, ...rest }) => (cells ? { ...rest, ...merge(cells) } : rest));
}

/** One chat message with and without faults on its state calls. */
async function faultRuns() {
  const faults = [];
  for (const [label, before, after] of FAULT_RATES) {
    log(`one chat message, faults: ${label}`);
    const cellSpec = { ...spec("message", "ours", 1, 300_000, `faults-${runId}`), units: FAULT_UNITS, warmup: 2 };
    faults.push({ label, before, after, ...(await post({ action: "faults", object: `faults-${runId}`, spec: cellSpec, before, after, seed: 1_000 + faults.length })) });
  }
  return faults;
}

/** The price of retries: on vs off, interleaved message by message, on two objects. */
async function retryRounds() {
  const retry = { on: [], off: [] };
  for (let round = 0; round < ROUNDS; round++) {
    log(`guarantees: retries on / off, round ${round + 1}/${ROUNDS}`);
    const home = `retry-${runId}`;
    const [on, off] = await post({
      action: "interleaved",
      object: `retry-on-${runId}`,
      impls: [
        { impl: "ours", op: "message", object: `retry-on-${runId}` },
        { impl: "ours-noretry", op: "message", object: `retry-off-${runId}` },
      ],
      spec: { ...spec("message", "ours", 1, 2 * RETRY_BUDGET_MS, home), warmup: 2 },
    });
    retry.on.push(on);
    retry.off.push(off);
  }
  return retry;
}

/** Chat's queue strategy with and without a second message during the lock (bench/queue.ts). */
async function queueRun() {
  log("guarantees: chat's queue strategy, alone and with a second message during the lock");
  try {
    return await post({ action: "queue", object: `queue-${runId}`, budgetMs: QUEUE_BUDGET_MS, warmup: 2 });
  } catch (error) {
    const queue = { error: errorText(error) };
    log(`  queue failed: ${queue.error}`);
    return queue;
  }
}

/** Re-sharding: a 1 → 4 layout change drained, and what one call costs during and after it. */
async function reshardingRuns() {
  const resharding = { threads: RESHARD_THREADS, drains: [], calls: null };
  try {
    for (let run = 0; run < RESHARD_DRAIN_RUNS; run++) {
      log(`re-sharding: drain of ${RESHARD_THREADS} threads, run ${run + 1}/${RESHARD_DRAIN_RUNS}`);
      const figures = await post({ action: "reshard-drain", object: `${runId}-${run}`, threads: RESHARD_THREADS, samples: RESHARD_SAMPLES });
      resharding.drains.push({ ...figures, after: { moved: callFigures(figures.after.moved), nothing: callFigures(figures.after.nothing) } });
    }
    log("re-sharding: per-call costs during the migration, then the alarm's drain");
    const calls = await post({ action: "reshard-calls", object: runId, threads: RESHARD_THREADS, samples: RESHARD_SAMPLES });
    resharding.calls = {
      ...calls,
      firstTouch: callFigures(calls.firstTouch),
      again: callFigures(calls.again),
      nothing: callFigures(calls.nothing),
    };
  } catch (error) {
    resharding.error = errorText(error);
    log(`  re-sharding failed: ${resharding.error}`);
  }
  return resharding;
}

/** One chat message before, during and after a layout change (bench/resharding.ts reshardMessage). */
async function reshardMessageRun() {
  try {
    log("re-sharding: one chat message before, during and after a layout change");
    const m = await post({ action: "reshard-message", object: runId, threads: 6 * RESHARD_MESSAGES, samples: RESHARD_MESSAGES });
    return { ...m, ...Object.fromEntries(["baseline", "firstTouch", "again", "after"].map((k) => [k, caseFigures(m[k])])) };
  } catch (error) {
    const reshard = { error: errorText(error) };
    log(`  re-sharding message failed: ${reshard.error}`);
    return reshard;
  }
}

/** Every phase in order, against the bench Worker started by `measure()`. */
async function phases() {
  const { results, failures } = await perOpRounds();
  const scale = await scaleRuns(failures);
  const faults = await faultRuns();
  const retry = await retryRounds();
  const queue = await queueRun();
  log(`sweep of ${SWEEP_ROWS} expired rows`);
  const sweep = await post({ action: "sweep", object: `sweep-${runId}`, count: SWEEP_ROWS });
  log("time inside the object per call");
  const inObject = await post({ action: "cpu" });
  log("time per call in the Worker (the adapter's own work, no RPC)");
  const split = await post({ action: "split" });
  const footprint = await post({ action: "footprint" });
  // Re-sharding last, so nothing it leaves running in the background can touch the other figures.
  const resharding = await reshardingRuns();
  const reshard = await reshardMessageRun();
  return { results, failures, scale, faults, retry, queue, reshard, sweep, inObject, split, footprint, resharding };
}

/** Starts the bench Worker, runs every phase, stops it, and answers the summary (bench/results.json). */
export async function measure() {
  const started = Date.now();
  const stateDir = mkdtempSync(join(tmpdir(), "chat-state-bench-"));
  const load0 = loadavg();
  log(`starting wrangler dev on 127.0.0.1:${PORT}`);
  const { child } = await startWorker(stateDir);
  let measured;
  try {
    measured = await phases();
  } finally {
    stopWorker(child);
    rmSync(stateDir, { recursive: true, force: true });
  }
  const { results, failures, scale, faults, retry, queue, reshard, sweep, inObject, split, footprint, resharding } = measured;

  const wasm = readFileSync(join(root, "pkg/chat_state_bg.wasm"));
  const compile = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    await WebAssembly.compile(wasm);
    compile.push(performance.now() - t0);
  }
  return {
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? "unknown",
      memGiB: Math.round(totalmem() / 2 ** 30),
      loadBefore: load0,
      loadAfter: loadavg(),
      node: process.version,
    },
    versions: versions(),
    results: Object.fromEntries(
      Object.entries(results).map(([op, byImpl]) => [
        op,
        Object.fromEntries(
          Object.entries(byImpl).map(([impl, { seq, conc }]) => [
            impl,
            { seq: merge(seq), conc: conc.length ? merge(conc) : null },
          ]),
        ),
      ]),
    ),
    failures,
    faults,
    scale,
    sweep,
    resharding,
    guarantees: {
      retry: retry.on.length ? { on: merge(retry.on), off: merge(retry.off) } : null,
      queue: queueSummary(queue),
      reshard,
    },
    inObject,
    split,
    footprint: {
      ...footprint,
      wasmRaw: wasm.length,
      wasmGzip: gzipSync(wasm, { level: 9 }).length,
      compileMs: quantile(compile, 0.5),
    },
  };
}

function versions() {
  const pkg = (p) => {
    try {
      return JSON.parse(readFileSync(join(root, p, "package.json"), "utf8")).version;
    } catch {
      return "?";
    }
  };
  return {
    wrangler: pkg("node_modules/wrangler"),
    workerd: pkg("node_modules/workerd"),
    chat: pkg("node_modules/chat"),
    stateMemory: pkg("node_modules/@chat-adapter/state-memory"),
    seed: pkg("bench/node_modules/seed-chat-state-do"),
    agents: pkg("bench/node_modules/agents"),
  };
}

