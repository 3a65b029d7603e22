// A live bot grows from one object to four shards while messages keep arriving (a real Chat
// 4.41.1 bot, queue strategy, thread state): some Workers switch to `shards: 4, migrateFrom: {}`
// while others stay on the old layout for a while, and one thread has messages queued in its old
// home when the layout changes. Subscriptions, thread state and queued messages carry over, and
// every message is handled exactly once.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createCloudflareState } from "../ts/index.js";
import { stubFor } from "./helpers.js";
import { RecordingBot, collectingLogger, mockSlackFetch, withMockedSlack } from "./support/slack-bot.js";

withMockedSlack();

const THREADS = 8;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("growing a live bot from one object to four shards", () => {
  it("loses no subscription, state or queued message, and handles every message once", { timeout: 120_000 }, async () => {
    const logger = collectingLogger();
    // The default layout is the base object "default"; the bot runs in its own namespace names.
    const name = `live-${Date.now()}`;
    const oldState = createCloudflareState({ namespace: env.CHAT_STATE, name, logger });
    const newState = createCloudflareState({ namespace: env.CHAT_STATE, name, shards: 4, migrateFrom: { name }, logger });
    const held = gate();
    let holding: string | undefined;
    const handled = new Map<string, number>();
    const record = (bot: RecordingBot) => bot.handled;
    const oldBot = new RecordingBot(oldState, {
      concurrency: "queue",
      logger,
      beforeHandler: async (threadId) => {
        if (threadId === holding) await held.promise;
      },
    });
    const newBot = new RecordingBot(newState, { concurrency: "queue", logger });

    // Before: the bot on one object. Every thread starts with a mention (it subscribes).
    const threads = Array.from({ length: THREADS }, () => RecordingBot.mention());
    const sent = new Map<string, string[]>(threads.map((t) => [t.threadId, [t.id]]));
    await Promise.all(threads.map((t) => oldBot.deliver(t.payload)));
    for (const t of threads) {
      for (let i = 0; i < 2; i++) {
        const reply = RecordingBot.reply(t.threadTs, `before ${i}`);
        sent.get(t.threadId)!.push(reply.id);
        await oldBot.deliver(reply.payload);
      }
    }

    // A handler is still running on the old layout on a thread that moves to another shard, and
    // two messages queue behind it in the old home.
    const busy = threads.find((t) => newState.objectNameForThread(t.threadId) !== name)!;
    holding = busy.threadId;
    const busyMessage = RecordingBot.reply(busy.threadTs, "busy");
    sent.get(busy.threadId)!.push(busyMessage.id);
    const busyDone = oldBot.deliver(busyMessage.payload);
    await sleep(30);
    const queued = [RecordingBot.reply(busy.threadTs, "queued 1"), RecordingBot.reply(busy.threadTs, "queued 2")];
    for (const q of queued) {
      sent.get(busy.threadId)!.push(q.id);
      await oldBot.deliver(q.payload);
    }
    expect(await oldState.queueDepth(busy.threadId)).toBe(2);

    // The deploy: new Workers route with four shards, old ones still with one object, both
    // taking messages at once on every thread.
    // The busy thread included: its unit (lock, queue) moves to its new home while the old
    // Worker's handler holds the lock; the new Worker's message queues there behind it.
    const during = threads.flatMap((t) =>
      [0, 1, 2].map((i) => {
        const reply = RecordingBot.reply(t.threadTs, `during ${i}`);
        sent.get(t.threadId)!.push(reply.id);
        return { t, reply, bot: i % 2 === 0 ? newBot : oldBot };
      }),
    );
    for (const { reply, bot } of during) await bot.deliver(reply.payload);
    // The old Worker's handler finishes and drains its queue across the move.
    held.open();
    await busyDone;
    // After the deploy: only the new layout, and the previous home drains in the background.
    for (const t of threads) {
      const reply = RecordingBot.reply(t.threadTs, "after");
      sent.get(t.threadId)!.push(reply.id);
      await newBot.deliver(reply.payload);
    }
    await newState.drainMigration();
    for (let round = 0; round < 50; round++) {
      const base = await stubFor(name).inspect();
      if (base.migration.drained) break;
      await runDurableObjectAlarm(stubFor(name));
    }

    // Every message reached a handler once (on either bot), every counter saw every message.
    for (const [threadId, ids] of sent) {
      for (const id of ids) handled.set(id, (record(oldBot).get(id) ?? 0) + (record(newBot).get(id) ?? 0));
      expect(ids.map((id) => handled.get(id)), threadId).toEqual(ids.map(() => 1));
      const counter = await newState.get<{ turns: number }>(`thread-state:${threadId}`);
      expect(counter?.turns, threadId).toBe(ids.length);
      expect(await newState.isSubscribed(threadId), threadId).toBe(true);
      expect(await newState.queueDepth(threadId), threadId).toBe(0);
    }
    expect(oldBot.overlaps + newBot.overlaps).toBe(0);
    expect(logger.errors).toEqual([]);
    // The busy thread's queue was drained across the move by the old Worker: its messages were
    // handled by the old bot, after its held handler, in one batch with the new Worker's.
    expect(oldBot.dispatched.get(busy.threadId)?.length).toBeGreaterThanOrEqual(2);
    const objects = await newState.inspect();
    expect(objects.reduce((n, o) => n + o.locks + o.queuedEntries, 0)).toBe(0);
    expect(objects[0]!.migration).toMatchObject({ drained: true, unitsToMove: 0, sealedUnits: 0 });
    expect(objects.every((o) => o.migration.importedRecords === 0)).toBe(true);
    // The threads now live on all four shards.
    const homes = new Set(threads.map((t) => newState.objectNameForThread(t.threadId)));
    expect(homes.size).toBeGreaterThan(1);
    console.log(
      `live growth 1 → 4: ${[...sent.values()].flat().length} messages over ${THREADS} threads, ` +
        `homes ${[...homes].join(", ")}; all handled once`,
    );
  });
});
