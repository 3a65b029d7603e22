// Issue 18, problem 3: a whole-runtime reset (`abortAllDurableObjects()`) while a state call is
// inside an object. Locally the caller gets `Error("Application called abortAllDurableObjects().")`
// with neither `retryable` nor `durableObjectReset` set (nor `remote`), and the old retry policy,
// which read only those flags, rethrew it: chat logged "Message processing error" and the message
// never reached a handler. Here the call is held inside the object (FaultyChatStateDO.armHold)
// until the reset has happened — a forced interleaving, not a lucky timing — and a real Chat bot
// must still handle the message exactly once, the failed call retried (ts/retry.ts, isRetryable).
import { abortAllDurableObjects, env } from "cloudflare:test";
import type { Logger } from "chat";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createCloudflareState } from "../ts/index.js";
import type { ResettableMethod } from "./support/faulty-object.js";
import { RecordingBot, mockSlackFetch } from "./support/slack-bot.js";

beforeAll(() => void mockSlackFetch());
afterAll(() => vi.restoreAllMocks());

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
