// Issue 18, problem 3: a whole-runtime reset (`abortAllDurableObjects()`) while a state call is
// inside an object. Locally the caller gets `Error("Application called abortAllDurableObjects().")`
// with neither `retryable` nor `durableObjectReset` set (nor `remote`), and the old retry policy,
// which read only those flags, rethrew it: chat logged "Message processing error" and the message
// never reached a handler. Here the call is held inside the object (FaultyChatStateDO.armHold)
// until the reset has happened — a forced interleaving, not a lucky timing — and a real Chat bot
// must still handle the message exactly once, the failed call retried (ts/shared/retry.ts, isRetryable).
import { abortAllDurableObjects, env } from "cloudflare:test";
import type { Logger } from "chat";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CHANNEL_ID, nextTs, threadIdOf } from "../examples/bot/demo/slack.mjs";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import type { ResettableMethod } from "./support/faulty-object.js";
import { InstrumentedState, type Hook } from "./support/instrumented-state.js";
import { RecordingBot, mockSlackFetch, withMockedSlack } from "./support/slack-bot.js";

withMockedSlack();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let runs = 0;

/** A logger that keeps every warning and error with its context. */
function recordingLogger() {
  const lines: { level: string; message: string; context?: Record<string, unknown> }[] = [];
  const logger = {
    lines,
    debug() {},
    info() {},
    warn: (message: string, context?: Record<string, unknown>) => void lines.push({ level: "warn", message, context }),
    error: (message: string, context?: Record<string, unknown>) => void lines.push({ level: "error", message, context }),
    child: () => logger,
  };
  return logger as unknown as Logger & { lines: typeof lines };
}

/**
 * Both messages reached a handler exactly once, never two at a time, no error was logged, and
 * the object is left with no lock and no queued entry.
 */
async function expectBothHandledOnce(
  base: CloudflareDOStateAdapter,
  bot: RecordingBot,
  logger: ReturnType<typeof recordingLogger>,
  firstId: string,
  secondId: string,
) {
  expect(logger.lines.filter((l) => l.level === "error")).toEqual([]);
  expect(bot.handled.get(firstId)).toBe(1);
  expect(bot.handled.get(secondId)).toBe(1);
  expect(bot.overlaps).toBe(0);
  const [inspection] = await base.inspect();
  expect(inspection).toMatchObject({ locks: 0, queuedEntries: 0 });
}

function flagsOf(error: unknown) {
  const e = error as Record<string, unknown>;
  return { message: e?.message, retryable: e?.retryable, durableObjectReset: e?.durableObjectReset, remote: e?.remote, overloaded: e?.overloaded };
}

describe("a runtime reset while a call is inside the object", () => {
  it("reaches the caller with no flags at all (what the retry policy must recognise)", async () => {
    const name = `reset-probe-${runs++}`;
    const state = createCloudflareState({ namespace: env.FAULTY_STATE as never, name, retry: false });
    await state.connect();
    env.FAULTY_STATE.getByName(name).armHold("get", 2_000);
    const call = state.get("k").then(
      () => ({ failed: false as const }),
      (error: unknown) => ({ failed: true as const, error: flagsOf(error) }),
    );
    while (!(await env.FAULTY_STATE.getByName(name).holdEntered())) await sleep(5);
    await abortAllDurableObjects();
    const outcome = await call;
    console.log(`a call inside an object when abortAllDurableObjects() ran: ${JSON.stringify(outcome)}`);
    expect(outcome).toMatchObject({ failed: true, error: { message: "Application called abortAllDurableObjects()." } });
    if (outcome.failed) {
      expect(outcome.error.retryable).toBeUndefined();
      expect(outcome.error.durableObjectReset).toBeUndefined();
    }
  });

  // The calls of one chat message (queue strategy, a fresh thread): the dedupe, the lock, the
  // handler's subscribe, the holder's final dequeue and the release.
  // Held before the call runs (it never ran), or after it ran and committed (the reply is lost:
  // the retry must answer what the first attempt did — a dedupe key that landed must not make the
  // message a duplicate, a lock that was granted must come back to its caller).
  const methods: ResettableMethod[] = ["setIfNotExists", "acquireLock", "subscribe", "dequeue", "releaseLock"];
  const cases = [
    ...methods.map((method) => ({ method, after: false })),
    ...(["setIfNotExists", "acquireLock", "dequeue"] as const).map((method) => ({ method, after: true })),
  ];
  for (const { method, after } of cases) {
    const when = after ? "after it ran" : "before it ran";
    it(`${method} held in the object ${when} while every object is reset: retried, and the message is handled once`, async () => {
      const name = `reset-${method}-${after ? "after" : "before"}-${runs++}`;
      const logger = recordingLogger();
      const state = createCloudflareState({ namespace: env.FAULTY_STATE as never, name, logger });
      const bot = new RecordingBot(state, { concurrency: "queue", logger });
      const object = () => env.FAULTY_STATE.getByName(name);
      await object().armHold(method, 2_000, after);
      const mention = RecordingBot.mention();
      const done = bot.deliver(mention.payload);
      while (!(await object().holdEntered())) await sleep(5);
      await abortAllDurableObjects();
      await done;

      const retried = logger.lines.filter((l) => l.message === "Durable Object call failed; retrying");
      console.log(`${method}: retried ${JSON.stringify(retried.map((l) => l.context))}`);
      expect(logger.lines.filter((l) => l.level === "error")).toEqual([]);
      expect(retried.map((l) => l.context?.method)).toContain(method);
      expect(bot.handled.get(mention.id)).toBe(1);
      expect(bot.overlaps).toBe(0);
      // Nothing left behind: the lock is free and nothing is queued.
      const reader = createCloudflareState({ namespace: env.FAULTY_STATE as never, name });
      await reader.connect();
      const [inspection] = await reader.inspect();
      expect(inspection).toMatchObject({ locks: 0, queuedEntries: 0 });
      expect(await reader.get(`thread-state:${mention.threadId}`)).toEqual({ turns: 1 });
    });
  }
});

// A reset inside a contended tenure (issue 18, the reset soak's stranded message): the object
// kept which acquires it had refused in memory only, so after `abortAllDurableObjects()` the
// fresh instance answered the holder's final empty dequeue null at once while the refused
// newcomer's enqueue was still on its way, and that entry was stranded (chat#928 reopened).
// Forced with gates at the adapter's surface: the newcomer is refused while the holder is in its
// handler; every object is reset; the holder's final dequeue reaches the fresh instance before
// the newcomer's queueDepth and enqueue are let go. `heldFirst`: the reset comes while that
// dequeue is already held inside the object (its retry meets the fresh instance).
describe("a runtime reset inside a contended tenure", () => {
  for (const heldFirst of [false, true]) {
    const when = heldFirst ? "while the holder's final dequeue is held in the object" : "between the refusal and the holder's final dequeue";
    it(`${when}: the refused newcomer's entry is still handled, not stranded`, { timeout: 60_000 }, async () => {
      const name = `reset-tenure-${heldFirst ? "held" : "between"}-${runs++}`;
      const base = createCloudflareState({ namespace: env.CHAT_STATE as never, name, logger: recordingLogger() });
      await base.connect();
      const threadTs = nextTs();
      const threadId = threadIdOf(CHANNEL_ID, threadTs);
      await base.subscribe(threadId);

      const gate = () => {
        let open!: () => void;
        const promise = new Promise<void>((resolve) => (open = resolve));
        return { promise, open };
      };
      const holderInHandler = gate();
      const handlerMayFinish = gate();
      const newcomerRefused = gate();
      const holderDequeueSent = gate();
      const newcomerMayGoOn = gate();
      let dequeues = 0;
      const hook: Hook = async (method) => {
        if (method === "queueDepth") {
          // The newcomer's next call, after its refused acquire: it waits for the holder.
          newcomerRefused.open();
          await newcomerMayGoOn.promise;
        }
        if (method === "dequeue" && ++dequeues === 1) holderDequeueSent.open();
      };
      const state = new InstrumentedState(base, { hook });
      const logger = recordingLogger();
      const first = RecordingBot.reply(threadTs, "first");
      const second = RecordingBot.reply(threadTs, "second");
      const bot = new RecordingBot(state, {
        concurrency: "queue",
        threadState: false,
        logger,
        beforeHandler: async (_thread, ids) => {
          if (ids.includes(first.id)) {
            holderInHandler.open();
            await handlerMayFinish.promise;
          }
        },
      });
      const firstDone = bot.deliver(first.payload);
      await holderInHandler.promise;
      const secondDone = bot.deliver(second.payload);
      await newcomerRefused.promise; // refused while the holder is in its handler

      if (!heldFirst) await abortAllDurableObjects(); // memory of the refusal gone
      handlerMayFinish.open(); // the holder's handler ends: its drain's first dequeue is final
      await holderDequeueSent.promise;
      await sleep(100); // it reaches the object and finds the queue empty
      if (heldFirst) {
        await abortAllDurableObjects(); // the held call fails; the adapter retries it
        await sleep(600); // the retry (after its backoff) reaches the fresh instance
      }
      newcomerMayGoOn.open(); // only now the newcomer's queueDepth and enqueue
      await Promise.all([firstDone, secondDone]);
      await state.settled();

      const dequeue = state.calls.find((c) => c.method === "dequeue")!;
      const enqueue = state.calls.find((c) => c.method === "enqueue")!;
      expect(dequeue.sentAt!).toBeLessThan(enqueue.sentAt!);
      // The second one, before: undefined — the entry stayed queued, no handler ever saw it.
      await expectBothHandledOnce(base, bot, logger, first.id, second.id);
    });
  }
});

// The window a restart still opened (issue 18, the remaining stranded messages of the reset
// soak): the holder's final empty dequeue has been answered (in memory the tenure is drained and
// would grant the lock early), then every object is reset before its releaseLock. The fresh
// instance cannot know that dequeue was final; a newcomer's acquire arriving now used to be
// refused, its entry enqueued, and the holder's release left it queued with nobody draining.
// Forced with a gate on the holder's releaseLock at the adapter's surface.
describe("a runtime reset between the holder's final dequeue and its release", () => {
  it("the newcomer arriving in that window still has its message handled", { timeout: 60_000 }, async () => {
    const name = `reset-final-release-${runs++}`;
    const base = createCloudflareState({ namespace: env.CHAT_STATE as never, name, logger: recordingLogger() });
    await base.connect();
    const threadTs = nextTs();
    const threadId = threadIdOf(CHANNEL_ID, threadTs);
    await base.subscribe(threadId);

    let released!: () => void;
    const releaseReached = new Promise<void>((resolve) => (released = resolve));
    let letRelease!: () => void;
    const releaseMayGo = new Promise<void>((resolve) => (letRelease = resolve));
    let releases = 0;
    const hook: Hook = async (method) => {
      if (method === "releaseLock" && ++releases === 1) {
        released();
        await releaseMayGo;
      }
    };
    const state = new InstrumentedState(base, { hook });
    const logger = recordingLogger();
    const first = RecordingBot.reply(threadTs, "first");
    const second = RecordingBot.reply(threadTs, "second");
    const bot = new RecordingBot(state, { concurrency: "queue", threadState: false, logger });
    const firstDone = bot.deliver(first.payload);
    await releaseReached; // the holder's final empty dequeue was answered; its release waits
    await abortAllDurableObjects(); // the drained tenure is forgotten
    const secondDone = bot.deliver(second.payload);
    await sleep(300); // the newcomer's acquire reaches the fresh instance
    letRelease();
    await Promise.all([firstDone, secondDone]);
    await state.settled();

    expect(state.calls.filter((c) => c.method === "dequeue").length).toBeGreaterThan(0);
    // The second one, before: undefined — refused, enqueued, and left queued by the holder's release.
    await expectBothHandledOnce(base, bot, logger, first.id, second.id);
  });
});
