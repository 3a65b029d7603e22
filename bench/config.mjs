// The run's settings, shared by the running and the reporting side: where the repository is, how
// many rounds and rows (BENCH_QUICK=1 for a short run), which operations and implementations are
// measured and what they are called. Kept apart so the report can quote the same figures the run
// used without importing the code that drives wrangler.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const QUICK = process.env.BENCH_QUICK === "1";
export const ROUNDS = QUICK ? 1 : 6;
export const SEQ_BUDGET_MS = QUICK ? 250 : 220;
export const CONC_BUDGET_MS = QUICK ? 250 : 220;
export const SCALE_PASSES = QUICK ? 1 : 3;
export const CALLERS = 16;
export const SCALES = QUICK ? [1e3, 1e5] : [1e3, 1e5, 1e6];
export const PEER_SCALES = [1e3, 1e5];
export const SWEEP_ROWS = 1e5;
/** One chat message with faults on its state calls: [label, share failing before, share failing after]. */
export const FAULT_RATES = [
  ["none", 0, 0],
  ["5 % before + 5 % after", 0.05, 0.05],
  ["10 % before + 10 % after", 0.1, 0.1],
];
export const FAULT_UNITS = QUICK ? 100 : 400;
/** Re-sharding (bench/resharding.ts): threads stored before a 1 → 4 layout change, drain runs, calls per case. */
export const RESHARD_THREADS = QUICK ? 2_000 : 10_000;
export const RESHARD_DRAIN_RUNS = QUICK ? 1 : 2;
export const RESHARD_SAMPLES = QUICK ? 50 : 100;
/** Threads bench/resharding.ts writes through the adapter to check its preload against. */
export const ADAPTER_WRITTEN = 20;
/** The price of each guarantee: ms per implementation per round (retries on/off, interleaved). */
export const RETRY_BUDGET_MS = QUICK ? 400 : 300;
/** Queue strategy units (bench/queue.ts), alternating, in one run of this long. */
export const QUEUE_BUDGET_MS = QUICK ? 2_500 : 8_000;
/** A chat message across a layout change (bench/resharding.ts reshardMessage): messages per case. */
export const RESHARD_MESSAGES = QUICK ? 50 : 100;

export const OPS = [
  ["setIfNotExists", "setIfNotExists (new key)"],
  ["isSubscribed", "isSubscribed"],
  ["lockRelease", "acquireLock + releaseLock"],
  ["extendLock", "extendLock"],
  ["get", "get (hit)"],
  ["setTtl", "set with TTL"],
  ["appendToList", "appendToList (100 items, maxLength 100, TTL)"],
  ["getList", "getList (100 items)"],
  ["enqueueDequeue", "enqueue + dequeue"],
];
export const OP_LABEL = Object.fromEntries([...OPS, ["message", "one chat message"], ["noop", "no-op RPC"], ["write1", "1-row write RPC"]]);
/** Calls per unit that wait for a durable commit (their ceiling is the 1-row write RPC). */
export const WRITES_PER_UNIT = { setIfNotExists: 1, lockRelease: 2, extendLock: 1, setTtl: 1, appendToList: 1, enqueueDequeue: 2 };

// What each peer lacks (from its published package; checked again at run time by the calls).
const SEED_OPS = new Set(["isSubscribed", "lockRelease", "extendLock", "get", "setTtl"]);
export const IMPLS = ["ours", "seed", "agents", "memory"];
export const SHORT = { ours: "ours", seed: "seed 0.1.1", agents: "agents", memory: "memory", noop: "no-op" };
export const supports = (impl, op) => impl !== "seed" || SEED_OPS.has(op);
