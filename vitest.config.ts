import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Soak runs raise the counts of the correctness tests: MODEL_SEQUENCES (model-based, default
// 1,000, with MODEL_SEED its fast-check seed; MODEL_FLOW_SEQUENCES, its several-flows-in-one-adapter part, default 60, with MODEL_FLOW_SEED its fast-check seed) and CONTENTION_ROUNDS (lock grants, default 1,000); FAULT_SEED replays the random faults
// of the fault tests. The chaos tests (test/chaos.test.ts, scripts/soak.mjs) take CHAOS_SEED (one
// seed to replay), CHAOS_SEEDS (a comma-separated list), CHAOS_STRATEGIES, CHAOS_MESSAGES,
// CHAOS_THREADS, CHAOS_ABORT_ALL (whole-runtime resets per run) and CHAOS_CALM (faults, resets and
// the layout change off). Tests in workerd read them as
// bindings.
const soak = Object.fromEntries(
  [
    "MODEL_SEQUENCES",
    "MODEL_SEED",
    "MODEL_FLOW_SEQUENCES",
    "MODEL_FLOW_SEED",
    "CONTENTION_ROUNDS",
    "FAULT_SEED",
    "CHAOS_SEED",
    "CHAOS_SEEDS",
    "CHAOS_STRATEGIES",
    "CHAOS_MESSAGES",
    "CHAOS_THREADS",
    "CHAOS_ABORT_ALL",
    "CHAOS_CALM",
  ].flatMap((name) => {
    const value = process.env[name];
    return value ? [[name, value]] : [];
  }),
);

export default defineConfig({
  plugins: [
    cloudflareTest({ wrangler: { configPath: "./wrangler.jsonc" }, miniflare: { bindings: soak } }),
  ],
  resolve: {
    // The example bot imports the package by name, as a user's Worker does; here that name is
    // the source (examples/bot/tsconfig.json maps it the same way for wrangler).
    alias: { "chat-state-cloudflare-do": join(dirname(fileURLToPath(import.meta.url)), "ts/index.ts") },
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    // Two files at a time, whatever the machine: vitest's default on a 2-core machine is one
    // (cores − 1), and most of this suite's time is spent waiting on timers (backoffs, holds,
    // debounce windows, TTLs), not on the CPU — two at a time takes the suite from ~10.5 to
    // ~4.5 minutes there. Each file runs in a workerd process of its own (the plugin's default
    // isolation), so one file's `abortAllDurableObjects()` never reaches another's objects. Each
    // file's own trials keep their parallelism low on purpose (chat-race.test.ts, PARALLEL).
    maxWorkers: 2,
  },
});
