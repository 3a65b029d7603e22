// chat's lock/queue race (vercel/chat#928), closed inside the object (src/guarantees/tenure/), tested with
// a real Chat 4.41.1 bot. Two messages on one thread: the one that gets the lock handles its own
// message and drains the queue; the other is refused the lock, asks queueDepth and enqueues.
// Without the object's early grant, the second message is stranded when its enqueue lands after the
// holder's final dequeue — or when its acquireLock lands between that dequeue and the release.
//
// First the two interleavings are forced from outside (each adapter call is held until the call
// it must follow has been made); then, for each queue strategy, random trials with network jitter
// on every state call, checked once every call of the trial has returned: no entry stranded, no
// two handlers at once, every message handed to a handler (debounce: the newest); then the same
// with Cloudflare-style faults on top.
//
// Measured with the object's early grant switched off (src/guarantees/tenure/ answering every dequeue at once
// and never handing over), on this kind of machine: the forced interleavings strand the second
// message; random trials strand 51 of 120 under `queue` (burst and debounce open the window
// rarely without faults: 0 of 120), and with faults 11, 5 and 7 of 60 under queue, burst and
// debounce. With it: 0 everywhere.
import { env } from "cloudflare:test";
import type { StateAdapter } from "chat";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CHANNEL_ID, nextTs, threadIdOf } from "../examples/bot/demo/slack.mjs";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { FaultyNamespace, randomFaults } from "./support/faulty-namespace.js";
import { InstrumentedState, type Hook } from "./support/instrumented-state.js";
import { faultSeed, seededRandom } from "./support/random.js";
import { sleep } from "./helpers.js";
import { RecordingBot, adapterOn, collectingLogger, gate, mockSlackFetch, withMockedSlack } from "./support/slack-bot.js";

const TRIALS = 120;
const DEBOUNCE_MS = 15;
/** Trials run side by side (more would make CPU contention, not the race, decide the timing). */
const PARALLEL = 2;
let runs = 0;

withMockedSlack();

/** A connected adapter, by default on a fresh object. */
const raceAdapter = (namespace: unknown, name = `race-${runs++}`, logger = collectingLogger()) => adapterOn(namespace, name, logger);

/** A fresh subscribed thread. */
async function thread(state: CloudflareDOStateAdapter) {
  const threadTs = nextTs();
  const threadId = threadIdOf(CHANNEL_ID, threadTs);
  await state.subscribe(threadId);
  return { threadTs, threadId };
}

/** What a trial left behind, read once every call has returned. */
async function leftovers(state: CloudflareDOStateAdapter, threadId: string) {
  const stranded = await state.queueDepth(threadId);
  const lock = await state.acquireLock(threadId, 1_000);
  if (lock) await state.releaseLock(lock);
  return { stranded, lockLeft: lock === null };
}

describe("chat's lock/queue race (vercel/chat#928)", () => {
  it("the exact #928 interleaving: the newcomer's enqueue lands after the holder's last empty dequeue", async () => {
    const base = await raceAdapter(env.CHAT_STATE);
    const { threadTs, threadId } = await thread(base);
    const newcomerRefused = gate();
    const holderDequeued = gate();
    let dequeues = 0;
    const hook: Hook = async (method) => {
      if (method === "dequeue" && ++dequeues === 1) {
        // The holder's first (and, with an empty queue, final) dequeue: after the refusal.
        await newcomerRefused.promise;
        holderDequeued.open();
      }
      if (method === "queueDepth") {
        // The newcomer's next calls wait until the holder's dequeue has been made.
        newcomerRefused.open();
        await holderDequeued.promise;
        await sleep(30); // long enough for that dequeue to reach the object and find the queue empty
      }
    };
    const state = new InstrumentedState(base, { hook });
    const bot = new RecordingBot(state, { concurrency: "queue" });
    const first = RecordingBot.reply(threadTs, "first");
    const second = RecordingBot.reply(threadTs, "second");
    const firstDone = bot.deliver(first.payload);
    // The second message starts once the first holds the lock.
    while (!state.calls.some((c) => c.method === "acquireLock" && c.returned)) await sleep(2);
    const secondDone = bot.deliver(second.payload);
    await Promise.all([firstDone, secondDone]);
    await state.settled();

    const order = state.calls.filter((c) => ["acquireLock", "dequeue", "queueDepth", "enqueue", "releaseLock"].includes(c.method));
    // The race happened as in #928: refused acquire < the holder's dequeue < the newcomer's enqueue.
    const refused = order.find((c) => c.method === "acquireLock" && c.returned === null)!;
    const dequeue = order.find((c) => c.method === "dequeue")!;
    const enqueue = order.find((c) => c.method === "enqueue")!;
    expect(refused.returnedAt!).toBeLessThanOrEqual(dequeue.sentAt!);
    expect(dequeue.sentAt!).toBeLessThan(enqueue.sentAt!);
    // The object held that dequeue until the entry came, so the second message was handled.
    expect((dequeue.returned as { message: { id: string } } | null)?.message.id).toBe(second.id);
    expect(bot.handled.get(first.id)).toBe(1);
    expect(bot.handled.get(second.id)).toBe(1);
    expect(bot.overlaps).toBe(0);
    expect(await leftovers(base, threadId)).toEqual({ stranded: 0, lockLeft: false });
  });

  it("a newcomer's acquire between the holder's final dequeue and its release is granted the lock early", async () => {
    const base = await raceAdapter(env.CHAT_STATE);
    const { threadTs, threadId } = await thread(base);
    const newcomerAcquired = gate();
    let releases = 0;
    let acquires = 0;
    const hook: Hook = async (method) => {
      if (method === "releaseLock" && ++releases === 1) await newcomerAcquired.promise; // the holder's
      if (method === "acquireLock") acquires++;
    };
    const state = new InstrumentedState(base, { hook });
    const bot = new RecordingBot(state, { concurrency: "queue" });
    const first = RecordingBot.reply(threadTs, "first");
    const second = RecordingBot.reply(threadTs, "second");
    const firstDone = bot.deliver(first.payload);
    // Wait until the holder's drain is over (its dequeue returned) and it is about to release.
    while (!state.calls.some((c) => c.method === "dequeue" && c.returnedAt !== undefined)) await sleep(2);
    const secondDone = bot.deliver(second.payload);
    while (acquires < 2 || state.calls.filter((c) => c.method === "acquireLock").some((c) => c.returnedAt === undefined)) {
      await sleep(2);
    }
    newcomerAcquired.open();
    await Promise.all([firstDone, secondDone]);
    await state.settled();

    const acquired = state.calls.filter((c) => c.method === "acquireLock").map((c) => c.returned !== null);
    // Today's contract would refuse the second acquire (the lock was still held) and strand it.
    expect(acquired).toEqual([true, true]);
    expect(state.calls.some((c) => c.method === "enqueue")).toBe(false);
    expect(bot.handled.get(first.id)).toBe(1);
    expect(bot.handled.get(second.id)).toBe(1);
    expect(bot.overlaps).toBe(0);
    expect(await leftovers(base, threadId)).toEqual({ stranded: 0, lockLeft: false });
  });
});

interface TrialFigures {
  trials: number;
  stranded: number;
  overlaps: number;
  unhandled: number;
  locksLeft: number;
  /** The longest time a dequeue took, ms (held dequeues included). */
  longestDequeueMs: number;
  /** Trials where a newcomer's enqueue came later than the bound the object waits for. */
  pastBound: number;
}

async function trials(
  strategy: "queue" | "debounce" | "burst",
  faults: { before: number; after: number },
  seed: number,
  count = TRIALS,
): Promise<TrialFigures> {
  const random = seededRandom(seed);
  const logger = collectingLogger();
  const name = `race-${runs++}`;
  // Jitter and faults where the network is: between the adapter and the object.
  const network = new FaultyNamespace(env.CHAT_STATE, randomFaults(seededRandom(seed + 1), faults), {
    maxConsecutive: 2,
    jitterMs: () => 3 * random(),
  });
  const base = await raceAdapter(network.namespace, name, logger);
  // Reads the outcome on the same objects, without faults.
  const reader = await raceAdapter(env.CHAT_STATE, name);
  const figures: TrialFigures = { trials: 0, stranded: 0, overlaps: 0, unhandled: 0, locksLeft: 0, longestDequeueMs: 0, pastBound: 0 };
  const concurrency =
    strategy === "queue" ? ("queue" as const) : { strategy, debounceMs: DEBOUNCE_MS };
  // A few trials at a time, each on its own fresh thread and bot.
  for (let batch = 0; batch < count / PARALLEL; batch++) {
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        const state = new InstrumentedState(base);
        // Handlers that only work (0-10 ms), as in the #928 report: the race window is widest.
        const bot = new RecordingBot(state as StateAdapter, {
          concurrency,
          handlerMs: () => 10 * random(),
          threadState: false,
          logger,
        });
        const threadTs = nextTs();
        const threadId = threadIdOf(CHANNEL_ID, threadTs);
        await reader.subscribe(threadId);
        const first = RecordingBot.reply(threadTs, "first");
        const second = RecordingBot.reply(threadTs, "second");
        const gap = 40 * random();
        const done = [bot.deliver(first.payload), sleep(gap).then(() => bot.deliver(second.payload))];
        await Promise.all(done);
        await state.settled();
        // Measured after every call of the trial has returned.
        const left = await leftovers(reader, threadId);
        figures.trials++;
        figures.stranded += left.stranded;
        figures.locksLeft += left.lockLeft ? 1 : 0;
        figures.overlaps += bot.overlaps;
        for (const c of state.calls.filter((c) => c.method === "dequeue")) {
          figures.longestDequeueMs = Math.max(figures.longestDequeueMs, (c.returnedAt ?? c.issuedAt) - c.issuedAt);
        }
        if (strategy === "debounce") {
          // The newest entry reaches a handler: the message of the last enqueue.
          const last = state.calls.filter((c) => c.method === "enqueue").at(-1);
          const newest = (last?.args[1] as { message: { id: string } } | undefined)?.message.id;
          if (newest === undefined || !bot.handled.has(newest)) figures.unhandled++;
        } else {
          figures.unhandled += [first.id, second.id].filter((id) => bot.handled.get(id) !== 1).length;
        }
        if (left.stranded > 0) {
          // Did the newcomer take longer than the object waited for it (2 × patience)?
          const refused = state.calls.find((c) => c.method === "acquireLock" && c.returned === null);
          const enqueue = state.calls.filter((c) => c.method === "enqueue").at(-1);
          if (refused && enqueue && enqueue.issuedAt - refused.issuedAt > 2 * 6_000) figures.pastBound++;
        }
      }),
    );
  }
  return figures;
}

describe("random trials: two messages per thread, 0-40 ms apart, 0-3 ms jitter per call, handlers of 0-10 ms", () => {
  for (const strategy of ["queue", "burst", "debounce"] as const) {
    it(`${strategy}: nothing stranded, never two handlers, every message handled`, { timeout: 300_000 }, async () => {
      const seed = faultSeed(env);
      const figures = await trials(strategy, { before: 0, after: 0 }, seed);
      console.log(`#928 trials, ${strategy} (seed ${seed}): ${JSON.stringify(figures)}`);
      expect(figures.trials).toBe(TRIALS);
      expect(figures.stranded).toBe(0);
      expect(figures.overlaps).toBe(0);
      expect(figures.unhandled).toBe(0);
      expect(figures.locksLeft).toBe(0);
    });
  }

  it("with 5 % + 5 % faults as well: never two handlers; strands only past the documented bound", { timeout: 600_000 }, async () => {
    const seed = faultSeed(env);
    const all: Record<string, TrialFigures> = {};
    for (const strategy of ["queue", "burst", "debounce"] as const) {
      all[strategy] = await trials(strategy, { before: 0.05, after: 0.05 }, seed, 60);
    }
    console.log(`#928 trials with faults (seed ${seed}): ${JSON.stringify(all)}`);
    for (const [strategy, f] of Object.entries(all)) {
      expect(f.overlaps, strategy).toBe(0);
      expect(f.stranded, strategy).toBeLessThanOrEqual(f.pastBound);
    }
  });
});
