// Issue 18, problem 1, as the issue describes it: a live bot (real Chat 4.41.1, queue strategy,
// maxQueueSize 64) grows from one object to four shards during traffic — 8 threads, 300 messages,
// up to 4 in flight per thread, 0–15 ms apart, 0–3 ms of jitter on every state call, 5 % of calls
// failing before and 5 % after reaching the object (at most 2 in a row) — while Workers on both
// layouts take messages on the same threads and the drain runs. On 0c0b5eb every seed here lost
// 2–5 messages (a retry redirected to the new home ran again there as a first attempt: a dequeue
// took the next entry, an append doubled; a second redirected call of one Worker sent `via.from`
// without `via.migration`) and one handled a message twice. The forced interleavings of each cause
// are in test/resharding-admission.test.ts; this checks that nothing else is left. Seeded
// (FAULT_SEED replays one).
import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createCloudflareState } from "../ts/index.js";
import { FaultyNamespace, randomFaults } from "./support/faulty-namespace.js";
import { faultSeed, seededRandom } from "./support/random.js";
import { RecordingBot, collectingLogger, mockSlackFetch, withMockedSlack } from "./support/slack-bot.js";

withMockedSlack();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const given = Number((env as unknown as Record<string, string | undefined>).FAULT_SEED);
const SEEDS = Number.isSafeInteger(given) && given > 0 ? [faultSeed(env)] : [11, 33];

describe("growing during traffic (issue 18, problem 1)", () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, { timeout: 300_000 }, async () => {
      const random = seededRandom(seed);
      const logger = collectingLogger();
      const name = `growth-${seed}-${Date.now()}`;
      const faulty = () =>
        new FaultyNamespace(env.CHAT_STATE, randomFaults(random, { before: 0.05, after: 0.05 }), {
          maxConsecutive: 2,
          jitterMs: () => Math.floor(random() * 4),
        });
      const oldNs = faulty();
      const newNs = faulty();
      const retry = { baseDelayMs: 5, maxDelayMs: 20 };
      const oldState = createCloudflareState({ namespace: oldNs.namespace, name, logger, retry });
      const newState = createCloudflareState({ namespace: newNs.namespace, name, shards: 4, migrateFrom: { name }, logger, retry });
      const concurrency = { strategy: "queue" as const, maxQueueSize: 64 };
      const oldBot = new RecordingBot(oldState, { concurrency, logger });
      const newBot = new RecordingBot(newState, { concurrency, logger });
      const threads = Array.from({ length: 8 }, () => RecordingBot.mention());
      const sent: string[] = [];
      const errors: string[] = [];
      for (const t of threads) {
        sent.push(t.id);
        await oldBot.deliver(t.payload);
      }
      let total = threads.length;
      let grown = false;
      let drainDone = false;
      const drainLoop = (async () => {
        while (!grown) await sleep(5);
        for (let i = 0; i < 200; i++) {
          const status = await newState.drainMigration().catch(() => []);
          if (status.length > 0 && status.every((s) => s.drained)) break;
          await sleep(10);
        }
        drainDone = true;
      })();
      await Promise.all(
        threads.map(async (t) => {
          const inflight = new Set<Promise<void>>();
          for (let n = 0; n < 37; n++) {
            while (inflight.size >= 4) await Promise.race(inflight);
            const reply = RecordingBot.reply(t.threadTs, `m${n}`);
            sent.push(reply.id);
            total++;
            if (total >= 100) grown = true;
            const bot = grown && random() < 0.5 ? newBot : oldBot;
            const p: Promise<void> = bot
              .deliver(reply.payload)
              .catch((e: unknown) => void errors.push(String(e)))
              .finally(() => inflight.delete(p));
            inflight.add(p);
            await sleep(Math.floor(random() * 16));
          }
          await Promise.all(inflight);
        }),
      );
      await drainLoop;
      for (let i = 0; i < 100; i++) await sleep(20);
      const lost = sent.filter((id) => (oldBot.handled.get(id) ?? 0) + (newBot.handled.get(id) ?? 0) === 0);
      const twice = sent.filter((id) => (oldBot.handled.get(id) ?? 0) + (newBot.handled.get(id) ?? 0) > 1);
      console.log(
        `seed ${seed}: ${sent.length} messages, lost ${lost.length}, twice ${twice.length}, overlaps ${oldBot.overlaps + newBot.overlaps}, ` +
          `drained ${drainDone}, errors ${JSON.stringify([...new Set([...errors, ...logger.errors.map(String)])].slice(0, 3))}`,
      );
      expect({ lost: lost.length, twice: twice.length, overlaps: oldBot.overlaps + newBot.overlaps }).toEqual({
        lost: 0,
        twice: 0,
        overlaps: 0,
      });
      expect(errors).toEqual([]);
    });
  }
});
