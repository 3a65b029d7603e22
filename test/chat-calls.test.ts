// Chat's own calls: two Chat SDK bots (chat + @chat-adapter/slack, driven by signed Slack webhooks
// and answered by the demo's fake Slack) run on our adapter, and chat itself, not this test,
// makes every one of the 18 StateAdapter calls. Each method of CloudflareDOStateAdapter is spied
// on its prototype, so the test sees exactly what chat invoked, on which adapter, and with what
// outcome; the effect of each call is checked in the Durable Objects' tables.
//
//   bot "queue"  concurrency "queue", per-user history, Slack agent view (turn cancellation)
//   bot "force"  concurrency "drop" with onLockConflict "force"
//
// scripts/pack-test.sh runs this same file against the packed npm package (import rewritten to
// "chat-state-cloudflare-do").
import { env } from "cloudflare:test";
import { createSlackAdapter } from "@chat-adapter/slack";
import { Chat, ConsoleLogger, type Lock, type Message, type StateAdapter } from "chat";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  BOT_TOKEN,
  BOT_USER_ID,
  CHANNEL_ID,
  FakeSlack,
  SIGNING_SECRET,
  appMentionEvent,
  eventCallback,
  messageEvent,
  nextTs,
  signedWebhook,
  threadIdOf,
} from "../examples/bot/demo/slack.mjs";
import { CloudflareDOStateAdapter, createCloudflareState } from "../ts/index.js";
import { sql } from "./helpers.js";

/** The 18 methods of chat's StateAdapter interface. */
const STATE_ADAPTER_METHODS = [
  "connect",
  "disconnect",
  "subscribe",
  "unsubscribe",
  "isSubscribed",
  "acquireLock",
  "releaseLock",
  "extendLock",
  "forceReleaseLock",
  "get",
  "set",
  "setIfNotExists",
  "delete",
  "appendToList",
  "getList",
  "enqueue",
  "dequeue",
  "queueDepth",
] as const satisfies readonly (keyof StateAdapter)[];
type Method = (typeof STATE_ADAPTER_METHODS)[number];

const SLACK_API = "https://slack.test/api/";
const ALICE = "U0ALICE001";
const BOB = "U0BOB00001";
const quiet = () => new ConsoleLogger("warn");
const slack = new FakeSlack();

/** Who made a call: chat's core, the Slack adapter (it keeps its own caches in chat's state), or anything else. */
type Caller = "chat" | "slack" | "other";
interface Call {
  method: Method;
  adapter: unknown;
  args: unknown[];
  caller: Caller;
  /** The calling frame, for failure messages. */
  frame: string;
  returned: unknown;
}
const log: Call[] = [];

/** The frame that called the method (below the wrapper and vitest's spy): whose code it is. */
function callerOf(stack: string): { caller: Caller; frame: string } {
  const frames = stack.split("\n").slice(2); // the message line, then the wrapper below
  while (frames[0] !== undefined && /node_modules\/vitest\//.test(frames[0])) frames.shift();
  const frame = frames[0]?.trim() ?? "";
  if (/node_modules\/chat\/dist\//.test(frame)) return { caller: "chat", frame };
  if (/node_modules\/@chat-adapter\/slack\/dist\//.test(frame)) return { caller: "slack", frame };
  return { caller: "other", frame };
}

/** A promise with its resolver, to hold a handler until the test lets it go on. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** The calls chat's core made on `adapter`, in call order, with each settled outcome. */
async function chatCallsOn(adapter: StateAdapter) {
  const mine = log.filter((c) => c.adapter === adapter);
  const others = mine.filter((c) => c.caller === "other");
  expect(others.map((c) => `${c.method} from ${c.frame}`)).toEqual([]);
  const settled = await Promise.allSettled(mine.map((c) => c.returned));
  return mine
    .map((c, i) => {
      const outcome = settled[i];
      return { ...c, result: outcome?.status === "fulfilled" ? outcome.value : new Error(String(outcome?.reason)) };
    })
    .filter((c) => c.caller === "chat");
}

/** A Chat bot on Slack whose state is `state`; `deliver` POSTs a signed webhook and returns its work. */
function slackBot(state: StateAdapter, config: Partial<ConstructorParameters<typeof Chat>[0]>, agentView = false) {
  const bot = new Chat({
    userName: "statebot",
    adapters: {
      slack: createSlackAdapter({
        botToken: BOT_TOKEN,
        signingSecret: SIGNING_SECRET,
        apiUrl: SLACK_API,
        agentView,
        logger: quiet(),
      }),
    },
    state,
    logger: quiet(),
    ...config,
  });
  const deliver = async (payload: unknown, options: { retryNum?: number } = {}) => {
    const tasks: Promise<unknown>[] = [];
    const request = await signedWebhook("https://bot.test/api/webhooks/slack", payload, options);
    const response = await bot.webhooks.slack(request, { waitUntil: (task) => tasks.push(task) });
    expect(response.status).toBe(200);
    return Promise.all(tasks);
  };
  return { bot, deliver };
}

const uniqueName = (label: string) => `chat-calls-${label}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
/** Methods chat's core invoked, over all tests. */
const invokedByChat = new Set<Method>();

beforeAll(() => {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (request.url.startsWith(SLACK_API)) return slack.handle(request);
    throw new Error(`unexpected outbound fetch: ${request.method} ${request.url}`);
  });
  // Every StateAdapter method of our class, wrapped in place: the call goes through unchanged,
  // and the log keeps who called it, on which adapter, with what, and what it returned.
  const proto = CloudflareDOStateAdapter.prototype as unknown as Record<Method, (...args: unknown[]) => unknown>;
  for (const method of STATE_ADAPTER_METHODS) {
    const original = proto[method];
    vi.spyOn(proto, method).mockImplementation(function (this: unknown, ...args: unknown[]) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 30;
      const stack = new Error().stack ?? "";
      Error.stackTraceLimit = limit;
      const returned = original.apply(this, args);
      log.push({ method, adapter: this, args, ...callerOf(stack), returned });
      return returned;
    });
  }
});

afterAll(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("chat's own calls on the adapter", () => {
  // One object per bot (no sharding), so every row a bot leaves is in one set of tables.
  const queueName = uniqueName("queue");
  const forceName = uniqueName("force");
  const queueState = createCloudflareState({ namespace: env.CHAT_STATE, name: queueName, logger: quiet() });
  const forceState = createCloudflareState({ namespace: env.CHAT_STATE, name: forceName, logger: quiet() });
  type LockRow = { token: string; expires_at: number };

  it("queue bot: subscriptions, dedupe, lock + heartbeat, queue, thread state, history, turn markers", async () => {
    const mentionHeld = gate();
    const letMentionFinish = gate();
    const skippedSeen: string[][] = [];
    const userKey = (author: Message["author"]) => `slack:${author.userId}`;
    const { bot, deliver } = slackBot(
      queueState,
      {
        concurrency: "queue",
        history: { user: { identity: ({ author }) => userKey(author) } },
      },
      true, // Slack agent view: chat publishes, then clears, the thread's active-turn marker
    );
    bot.onNewMention(async (thread, message) => {
      await thread.subscribe();
      await thread.setState({ topic: message.text.replace(/^@\S+\s*/, "") });
      await bot.history.user.append(thread, message);
      mentionHeld.open();
      await letMentionFinish.promise;
      await thread.post("Following this thread.");
    });
    bot.onSubscribedMessage(async (thread, message, context) => {
      skippedSeen.push((context?.skipped ?? []).map((m) => m.text));
      await bot.history.user.append(thread, message);
      const mine = await bot.history.user.list({ userKey: userKey(message.author), threadId: thread.id });
      const { topic } = ((await thread.state) ?? {}) as { topic?: string };
      if (message.text === "stop") {
        await thread.unsubscribe();
        await thread.post("Unsubscribed.");
        return;
      }
      await thread.post(`On “${topic}”: your message #${mine.length} here.`);
    });

    // Before chat's first webhook nothing has connected the adapter (inspect() is not spied on).
    await expect(queueState.inspect()).rejects.toThrow(/not connected/);

    // chat's lock heartbeat is a setInterval (every 10 s): fake only that clock.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const threadTs = nextTs();
    const threadId = threadIdOf(CHANNEL_ID, threadTs);
    const mentionText = `<@${BOT_USER_ID}> launch checklist`;
    const mentionDone = deliver(eventCallback(appMentionEvent({ user: ALICE, text: mentionText, ts: threadTs })));
    await mentionHeld.promise;
    expect(await queueState.inspect()).toHaveLength(1); // connected now

    // The handler runs under chat's lock, subscribed, with the active-turn marker published.
    const [held] = await sql<LockRow>(queueName, "SELECT token, expires_at FROM locks WHERE thread_id = ?", threadId);
    expect(held).toBeDefined();
    expect(await sql(queueName, "SELECT key FROM cache WHERE key = ?", `active-turn:${threadId}`)).toHaveLength(1);
    expect(await sql(queueName, "SELECT thread_id FROM subscriptions WHERE thread_id = ?", threadId)).toHaveLength(1);

    // Slack also sends the mention as a plain message event: chat's dedupe key drops the twin.
    await deliver(eventCallback(messageEvent({ user: ALICE, text: mentionText, ts: threadTs })));

    // Ten seconds on, chat's heartbeat extends the lock it holds.
    const extendCalls = () => log.filter((c) => c.method === "extendLock");
    expect(extendCalls()).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(extendCalls()).toHaveLength(1);
    expect(await extendCalls()[0]?.returned).toBe(true);
    const [extended] = await sql<LockRow>(queueName, "SELECT token, expires_at FROM locks WHERE thread_id = ?", threadId);
    expect(extended?.token).toBe(held?.token);
    expect(extended?.expires_at).toBeGreaterThanOrEqual(held?.expires_at ?? Infinity);

    // A follow-up while the lock is held waits in the thread's queue. Slack's retry of that
    // delivery is dropped by the Slack adapter itself, from the marker it keeps in our state.
    const followUp = eventCallback(messageEvent({ user: ALICE, text: "what's left?", ts: nextTs(), threadTs }));
    await deliver(followUp);
    const marker = log.find((c) => c.method === "set" && c.args[0] === `slack:event-delivered:${followUp.event_id}`);
    await marker?.returned; // the adapter does not wait for it
    await deliver(followUp, { retryNum: 1 });
    expect(await sql(queueName, "SELECT seq FROM queue_entries WHERE queue_key = ? AND taken_by IS NULL", threadId)).toHaveLength(1);
    expect(slack.posts).toHaveLength(0);

    // Let the mention finish: chat drains the queue into the subscribed handler, then releases the lock.
    letMentionFinish.open();
    await mentionDone;
    vi.useRealTimers();
    expect(slack.posts.map((p) => p.text)).toEqual([
      "Following this thread.",
      "On “launch checklist”: your message #2 here.",
    ]);
    expect(skippedSeen).toEqual([[]]);
    expect(await sql(queueName, "SELECT * FROM locks")).toEqual([]);
    // No entry is left; the one chat dequeued stays two minutes as its dequeue's retry receipt.
    expect(await sql(queueName, "SELECT * FROM queue_entries WHERE taken_by IS NULL")).toEqual([]);
    expect(await sql(queueName, "SELECT expires_at FROM queue_entries")).toEqual([{ expires_at: 0 }]);
    expect(await sql(queueName, "SELECT key FROM cache WHERE key LIKE 'active-turn:%' OR key LIKE 'abort-turn:%'")).toEqual([]);

    // "stop" unsubscribes; after that, a plain reply in the thread reaches no handler.
    await deliver(eventCallback(messageEvent({ user: BOB, text: "stop", ts: nextTs(), threadTs })));
    expect(await sql(queueName, "SELECT * FROM subscriptions")).toEqual([]);
    await deliver(eventCallback(messageEvent({ user: BOB, text: "anyone?", ts: nextTs(), threadTs })));
    expect(slack.posts.map((p) => p.text).slice(2)).toEqual(["Unsubscribed."]);

    await bot.shutdown();
    await expect(queueState.inspect()).rejects.toThrow(/not connected/);

    // What chat called, with what outcome.
    const calls = await chatCallsOn(queueState);
    for (const c of calls) invokedByChat.add(c.method);
    expect(calls.filter((c) => c.result instanceof Error)).toEqual([]);
    expect(calls[0]?.method).toBe("connect");
    expect(calls.at(-1)?.method).toBe("disconnect");
    const of = (method: Method) => calls.filter((c) => c.method === method);
    const results = (method: Method) => of(method).map((c) => c.result);
    const keys = (method: Method) => of(method).map((c) => c.args[0]);
    // Dedupe: the mention, its message-event twin, the follow-up, "stop", "anyone?".
    expect(results("setIfNotExists")).toEqual([true, false, true, true, true]);
    expect(keys("setIfNotExists")[0]).toBe(`dedupe:slack:${threadTs}`);
    // Locks: the mention's, the follow-up finding it held, then "stop" and "anyone?".
    const locks = results("acquireLock") as (Lock | null)[];
    expect(locks.map((lock) => lock !== null)).toEqual([true, false, true, true]);
    expect(locks[0]?.token).toBe(held?.token);
    expect(results("extendLock")).toEqual([true]);
    expect(of("releaseLock").map((c) => (c.args[0] as Lock).token)).toEqual(locks.filter((l) => l).map((l) => l?.token));
    expect(results("queueDepth")).toEqual([0]);
    expect(results("enqueue")).toEqual([1]);
    // The drain after the mention (the follow-up, then empty twice), then one empty look per later message.
    expect(results("dequeue").map((e) => (e as { message: { text: string } } | null)?.message.text ?? null)).toEqual([
      "what's left?",
      null,
      null,
      null,
      null,
    ]);
    expect(keys("subscribe")).toEqual([threadId]);
    expect(keys("unsubscribe")).toEqual([threadId]);
    expect(results("isSubscribed")).toEqual([false, true, true, false]);
    // Thread state (get/set) and the turn marker (set/get/delete).
    expect(of("set").map((c) => c.args.slice(0, 2))).toContainEqual([`thread-state:${threadId}`, { topic: "launch checklist" }]);
    expect(keys("set")).toContain(`active-turn:${threadId}`);
    expect(of("get").filter((c) => c.args[0] === `thread-state:${threadId}`).map((c) => c.result)).toContainEqual({
      topic: "launch checklist",
    });
    expect(new Set(keys("delete"))).toEqual(new Set([`active-turn:${threadId}`]));
    // Per-user history: alice's mention and follow-up, bob's "stop".
    expect(keys("appendToList")).toEqual([
      `transcripts:user:slack:${ALICE}`,
      `transcripts:user:slack:${ALICE}`,
      `transcripts:user:slack:${BOB}`,
    ]);
    expect(of("getList").map((c) => [c.args[0], (c.result as unknown[]).length])).toEqual([
      [`transcripts:user:slack:${ALICE}`, 2],
      [`transcripts:user:slack:${BOB}`, 1],
    ]);
    expect(new Set(calls.map((c) => c.method))).toEqual(new Set(STATE_ADAPTER_METHODS.filter((m) => m !== "forceReleaseLock")));
  });

  it("force bot: a message that finds the thread locked force-releases the lock and runs", async () => {
    const firstHeld = gate();
    const letFirstFinish = gate();
    const { bot, deliver } = slackBot(forceState, { onLockConflict: "force" });
    bot.onNewMention(async (thread, message) => {
      if (message.text.endsWith("long job")) {
        firstHeld.open();
        await letFirstFinish.promise;
      }
      await thread.post(`done: ${message.text.replace(/^@\S+\s*/, "")}`);
    });

    const threadTs = nextTs();
    const threadId = threadIdOf(CHANNEL_ID, threadTs);
    const before = slack.posts.length;
    const firstDone = deliver(eventCallback(appMentionEvent({ user: ALICE, text: `<@${BOT_USER_ID}> long job`, ts: threadTs })));
    await firstHeld.promise;
    const [firstLock] = await sql<LockRow>(forceName, "SELECT token, expires_at FROM locks WHERE thread_id = ?", threadId);
    expect(firstLock).toBeDefined();

    // A second mention in the same thread takes the lock from the first, still-running handler.
    await deliver(eventCallback(appMentionEvent({ user: BOB, text: `<@${BOT_USER_ID}> cut in`, ts: nextTs(), threadTs })));
    expect(slack.posts.slice(before).map((p) => p.text)).toEqual(["done: cut in"]);
    expect(await sql(forceName, "SELECT * FROM locks")).toEqual([]); // the second released its own lock

    letFirstFinish.open();
    await firstDone;
    expect(slack.posts.slice(before).map((p) => p.text)).toEqual(["done: cut in", "done: long job"]);
    expect(await sql(forceName, "SELECT * FROM locks")).toEqual([]);
    await bot.shutdown();

    const calls = await chatCallsOn(forceState);
    for (const c of calls) invokedByChat.add(c.method);
    expect(calls.filter((c) => c.result instanceof Error)).toEqual([]);
    expect(calls.map((c) => c.method)).toEqual([
      "connect",
      "setIfNotExists",
      "acquireLock",
      "isSubscribed",
      "setIfNotExists",
      "acquireLock",
      "forceReleaseLock",
      "acquireLock",
      "isSubscribed",
      "releaseLock",
      "releaseLock",
      "disconnect",
    ]);
    const locks = calls.filter((c) => c.method === "acquireLock").map((c) => c.result as Lock | null);
    expect(locks[0]?.token).toBe(firstLock?.token);
    expect(locks[1]).toBeNull();
    expect(locks[2]?.token).not.toBe(firstLock?.token);
    expect(calls.filter((c) => c.method === "forceReleaseLock").map((c) => c.args)).toEqual([[threadId]]);
    // Each handler releases the lock it was given; the first one's token no longer holds anything.
    expect(calls.filter((c) => c.method === "releaseLock").map((c) => (c.args[0] as Lock).token)).toEqual([
      locks[2]?.token,
      locks[0]?.token,
    ]);
  });

  it("between them, chat called all 18 StateAdapter methods of our adapter", () => {
    expect([...invokedByChat].sort()).toEqual([...STATE_ADAPTER_METHODS].sort());
  });
});
