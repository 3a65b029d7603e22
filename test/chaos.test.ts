// Every guarantee at once (issue 18): real Chat 4.41.1 bots under `queue`, `debounce` and `burst`
// (maxQueueSize 64) on several Workers of two layouts, contention on the same threads, delays
// and lost calls/replies everywhere, object resets, and a layout change from one object to four
// shards during the traffic with the drain running and finished. test/support/chaos/runner.ts
// says exactly what is injected and what is judged; each run prints a one-line summary (with the
// wait of every dequeue the objects held, p50/p99/max) and, on failure, the seed and every
// failed property with a short trace.
//
// `npm test` runs a few seeds; `npm run soak -- --seeds N` many (scripts/soak.mjs). Replay one:
//   CHAOS_SEED=<seed> npx vitest run test/chaos.test.ts
// Bindings (vitest.config.ts): CHAOS_SEED, CHAOS_SEEDS (comma-separated), CHAOS_STRATEGIES,
// CHAOS_MESSAGES, CHAOS_THREADS, CHAOS_ABORT_ALL (whole-runtime resets per run: only in a run of
// this file alone, since they reset every object of the runtime, other files' included), and
// CHAOS_CALM=1: no faults, no resets, no layout change — only the bots, the contention and the
// delays, to tell what the faults add from what the traffic alone does.
import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, it, vi } from "vitest";
import { runChaos, summary } from "./support/chaos/runner.js";
import { DEFAULTS } from "./support/chaos/scenario.js";
import type { Strategy } from "./support/chaos/bot.js";
import { mockSlackFetch, withMockedSlack } from "./support/slack-bot.js";

const bindings = env as unknown as Record<string, string | undefined>;
const number = (name: string): number | undefined => {
  const value = Number(bindings[name]);
  return bindings[name] !== undefined && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
};

/**
 * The seeds: CHAOS_SEEDS, else CHAOS_SEED or FAULT_SEED, else two fixed ones — `npm test` is a
 * gate and must be replayable as it stands; fresh seeds are the soak's job (scripts/soak.mjs).
 */
function seeds(): number[] {
  const list = (bindings.CHAOS_SEEDS ?? "")
    .split(",")
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isSafeInteger(n) && n > 0);
  if (list.length > 0) return list;
  const one = number("CHAOS_SEED") ?? number("FAULT_SEED");
  if (one) return [one];
  return [1818, 427579913];
}

const strategies = (bindings.CHAOS_STRATEGIES ?? "queue,debounce,burst")
  .split(",")
  .map((s) => s.trim())
  .filter((s): s is Strategy => s === "queue" || s === "debounce" || s === "burst");

const none = { before: 0, after: 0 };

withMockedSlack();

describe("chaos: every guarantee at once", () => {
  for (const seed of seeds()) {
    for (const strategy of strategies) {
      it(`seed ${seed}, ${strategy}: nothing lost, doubled, overlapping, stranded or held`, { timeout: 240_000 }, async () => {
        const report = await runChaos({
          ...DEFAULTS,
          seed,
          strategy,
          messages: number("CHAOS_MESSAGES") ?? DEFAULTS.messages,
          threads: number("CHAOS_THREADS") ?? DEFAULTS.threads,
          abortAll: number("CHAOS_ABORT_ALL") ?? DEFAULTS.abortAll,
          ...(bindings.CHAOS_CALM === "1"
            ? { faults: none, peerFaults: none, resets: 0, abortAll: 0, growAt: 1, afterDrain: 0, fillerKeys: 0 }
            : {}),
        });
        console.log(summary(report));
        // For scripts/soak.mjs: the figures of this run on one line.
        console.log(`CHAOS-RESULT ${JSON.stringify({ ...report, violations: report.violations.length })}`);
        if (report.violations.length > 0) {
          throw new Error(
            `chaos seed ${seed} (${strategy}) failed ${report.violations.length} properties; replay with ` +
              `CHAOS_SEED=${seed} CHAOS_STRATEGIES=${strategy} npx vitest run test/chaos.test.ts\n` +
              report.violations.join("\n"),
          );
        }
      });
    }
  }
});
