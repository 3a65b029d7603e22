// A real Chat 4.41.1 bot (queue strategy, thread state) on the adapter while Cloudflare-style
// faults hit its state calls: 8 threads × 26 messages, a message at a time per thread, with at
// least 5 % of calls failing before they reach the object and 5 % losing their reply after they
// ran (injected at 6.5 % each so that the shares measured clear 5 % whatever the seed; the
// same call fails at most twice in a row, as transient faults do). With the default retry policy
// every message must reach a handler exactly once, every thread's counter must have seen every
// message, and no lock or queue entry may be left behind. The same run with `retry: false` shows
// what the faults do without this work (and proves they bite).
import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createCloudflareState, type RetryOptions } from "../ts/index.js";
import { FaultyNamespace, randomFaults } from "./support/faulty-namespace.js";
import { faultSeed, seededRandom } from "./support/random.js";
import { RecordingBot, collectingLogger, mockSlackFetch, withMockedSlack } from "./support/slack-bot.js";

const THREADS = 8;
const PER_THREAD = 26;
let runs = 0;

withMockedSlack();

async function run(retry: false | RetryOptions | undefined, seed: number) {
  const faulty = new FaultyNamespace(env.CHAT_STATE, randomFaults(seededRandom(seed), { before: 0.065, after: 0.065 }), {
    maxConsecutive: 2,
  });
  const logger = collectingLogger();
  const name = `chat-faults-${runs++}-${seed}`;
  const state = createCloudflareState({
    namespace: faulty.namespace,
    name,
    shards: 4,
    retry,
    logger,
  });
  const bot = new RecordingBot(state, { concurrency: "queue", logger });
  const sent: { threadId: string; ids: string[] }[] = [];
  await Promise.all(
    Array.from({ length: THREADS }, async (_, t) => {
      const mention = RecordingBot.mention(`<@U0BOT00001> thread ${t}`);
      const ids = [mention.id];
      sent.push({ threadId: mention.threadId, ids });
      await bot.deliver(mention.payload);
      for (let i = 1; i < PER_THREAD; i++) {
        const reply = RecordingBot.reply(mention.threadTs, `message ${i}`);
        ids.push(reply.id);
        await bot.deliver(reply.payload);
      }
    }),
  );

  // Read the outcome without faults.
  faulty.enabled = false;
  const reader = createCloudflareState({ namespace: env.CHAT_STATE, name, shards: 4 });
  await reader.connect();
  const all = sent.flatMap((s) => s.ids);
  const lost = all.filter((id) => !bot.handled.has(id)).length;
  const twice = all.filter((id) => (bot.handled.get(id) ?? 0) > 1).length;
  const counters = await Promise.all(
    sent.map(async (s) => ((await reader.get<{ turns: number }>(`thread-state:${s.threadId}`)) ?? { turns: 0 }).turns),
  );
  const objects = await reader.inspect();
  return {
    messages: all.length,
    lost,
    twice,
    counters,
    liveLocks: objects.reduce((n, o) => n + o.locks, 0),
    queued: objects.reduce((n, o) => n + o.queuedEntries, 0),
    faults: faulty.counts,
    errors: logger.errors.length,
    overlaps: bot.overlaps,
  };
}

describe("a Chat bot under 5 % + 5 % faults (or more)", () => {
  it("handles every message exactly once with the default retries", { timeout: 180_000 }, async () => {
    const seed = faultSeed(env);
    const result = await run(undefined, seed);
    console.log(
      `chat under faults (seed ${seed}), retries on: ${result.messages} messages, ${result.faults.calls} state calls, ` +
        `${result.faults.before} failed before and ${result.faults.after} after reaching the object; ` +
        `${result.lost} lost, ${result.twice} handled twice, ${result.errors} processing errors`,
    );
    expect(result.faults.before / result.faults.calls, "share failed before").toBeGreaterThanOrEqual(0.05);
    expect(result.faults.after / result.faults.calls, "share failed after").toBeGreaterThanOrEqual(0.05);
    expect(result.lost, `seed ${seed}`).toBe(0);
    expect(result.twice, `seed ${seed}`).toBe(0);
    expect(result.errors).toBe(0);
    expect(result.counters).toEqual(Array.from({ length: THREADS }, () => PER_THREAD));
    expect(result.liveLocks).toBe(0);
    expect(result.queued).toBe(0);
    expect(result.overlaps).toBe(0);
  });

  it("without retries the same faults lose messages (what this work prevents)", { timeout: 180_000 }, async () => {
    const seed = faultSeed(env);
    const result = await run(false, seed);
    console.log(
      `chat under faults (seed ${seed}), retries off: ${result.messages} messages, ${result.lost} never handled, ` +
        `${result.errors} processing errors, ${result.liveLocks} locks and ${result.queued} queue entries left`,
    );
    expect(result.lost).toBeGreaterThan(0);
  });
});
