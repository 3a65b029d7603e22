// End to end: the example bot (examples/bot/src/index.ts, a real Chat SDK + @chat-adapter/slack
// Worker) plays the demo's scripted Slack conversation inside workerd, with real signed webhook
// deliveries, real Durable Objects behind the state adapter (shards: 4), and the Slack Web API
// answered by the same fake Slack the demo uses. Then the state is checked row by row.
import { createExecutionContext, env, evictDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import worker, { type Env } from "../examples/bot/src/index.js";
import { runScenario, type ObjectInspection, type ScenarioRecord, type TranscriptEntry } from "../examples/bot/demo/scenario.mjs";
import {
  BOT_TOKEN,
  CHANNEL_ID,
  FakeSlack,
  SIGNING_SECRET,
  eventCallback,
  messageEvent,
  nextTs,
  signedWebhook,
} from "../examples/bot/demo/slack.mjs";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { alarmOf, sql, stubFor } from "./helpers.js";

const SLACK_API = "https://slack.test/api/";
const INSPECT_TOKEN = "e2e-inspect-token";
const botEnv: Env = {
  CHAT_STATE: env.CHAT_STATE,
  SLACK_BOT_TOKEN: BOT_TOKEN,
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_API_URL: SLACK_API,
  INSPECT_TOKEN,
};
const ALICE = "U0ALICE001";
const BOB = "U0BOB00001";

const slack = new FakeSlack();
const transcript: TranscriptEntry[] = [];
let record: ScenarioRecord;
let state: CloudflareDOStateAdapter;

async function deliver(payload: unknown, { retryNum }: { retryNum?: number } = {}) {
  const request = await signedWebhook("https://bot.test/api/webhooks/slack", payload, { retryNum });
  const ctx = createExecutionContext();
  const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, botEnv, ctx);
  return { status: response.status, done: waitOnExecutionContext(ctx) };
}

async function inspect(): Promise<ObjectInspection[]> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request("https://bot.test/state", { headers: { authorization: `Bearer ${INSPECT_TOKEN}` } }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    botEnv,
    ctx,
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { objects: ObjectInspection[] }).objects;
}

const posts = (step: string) => record.steps.find((s) => s.name === step)?.posts.map((p) => p.text);

beforeAll(async () => {
  vi.spyOn(console, "info").mockImplementation(() => {}); // chat's info logs (warnings stay)
  // The Slack Web API calls the bot makes (axios' fetch adapter) go to the fake Slack; nothing
  // else may leave the test.
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (request.url.startsWith(SLACK_API)) return slack.handle(request);
    throw new Error(`unexpected outbound fetch: ${request.method} ${request.url}`);
  });
  state = createCloudflareState({ namespace: env.CHAT_STATE, shards: 4 });
  await state.connect();
});

afterAll(() => {
  vi.restoreAllMocks();
});

describe("example bot, end to end", () => {
  // The conversation runs once; the tests below check what it left behind (and fail if it broke).
  it("plays the demo's scripted Slack conversation", async () => {
    record = await runScenario({ deliver, inspect, slack, say: (entry) => transcript.push(entry) });
    expect(slack.posts).toHaveLength(record.expectedPosts);
  });

  it("rejects a delivery whose signature does not match", async () => {
    const payload = JSON.stringify(eventCallback(messageEvent({ user: ALICE, text: "forged", ts: nextTs() })));
    const request = await signedWebhook("https://bot.test/api/webhooks/slack", payload, { secret: "wrong-secret" });
    const ctx = createExecutionContext();
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, botEnv, ctx);
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(401);
  });

  it("serves GET /state only with the inspection token", async () => {
    for (const authorization of [undefined, "Bearer wrong", `Bearer ${INSPECT_TOKEN}x`]) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      const response = await worker.fetch(
        new Request("https://bot.test/state", { headers }) as Request<unknown, IncomingRequestCfProperties>,
        botEnv,
        createExecutionContext(),
      );
      expect(response.status).toBe(401);
    }
  });

  it("answers the mention once and subscribes, despite the duplicate delivery", async () => {
    expect(record.steps.every((s) => s.status === 200)).toBe(true);
    expect(posts("mention")).toEqual([expect.stringMatching(/^Hi alice! I'm following this thread/)]);
    expect(posts("same message as a message event")).toEqual([]);
    const replies = slack.posts.filter((p) => p.text.startsWith("Hi alice!"));
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ channel: CHANNEL_ID, threadTs: record.threadTs });
    expect(await state.isSubscribed(record.threadId)).toBe(true);
  });

  it("answers a follow-up once, despite Slack's retry of the same event", async () => {
    expect(posts("follow-up")).toEqual([expect.stringMatching(/^Noted, bob: that's your message #1 .*\(turn 2\)/)]);
    expect(posts("retried delivery")).toEqual([]);
    expect(slack.posts.filter((p) => p.text.startsWith("Noted, bob"))).toHaveLength(1);
  });

  it("queues the burst behind the running handler and hands it over in order", async () => {
    const burst = record.steps.find((s) => s.name === "burst");
    const threadObject = state.objectNameForThread(record.threadId);
    const during = burst?.duringBurst?.find((o) => o.objectName === threadObject);
    // While the question's handler ran: its lock and the three queued messages, in the thread's object.
    expect(during).toMatchObject({ locks: 1, queuedEntries: 3 });
    expect(burst?.duringBurst?.filter((o) => o.objectName !== threadObject).every((o) => o.queuedEntries === 0)).toBe(true);
    expect(burst?.posts.map((p) => p.text)).toEqual([
      "Thinking…",
      expect.stringMatching(/^alice, this thread is about “can you keep track of the launch checklist\?” .* 3 messages so far/),
      "While I was busy, 3 messages came in: alice: “also the blog post”, bob: “and the changelog”, " +
        "alice: “ping me when it's done”. All noted, in that order.",
    ]);
    // Per-user history (a list in the state adapter) got them in arrival order too.
    const history = await state.getList<{ text: string; role: string; threadId: string }>(`transcripts:user:slack:${ALICE}`);
    expect(history.filter((e) => e.role === "user" && e.threadId === record.threadId).map((e) => e.text)).toEqual([
      "@statebot can you keep track of the launch checklist?",
      "What's left on the list?",
      "also the blog post",
      "ping me when it's done",
    ]);
  });

  it("releases the lock after the handler and leaves no queue behind", async () => {
    const threadObject = state.objectNameForThread(record.threadId);
    const after = await inspect();
    expect(after.reduce((n, o) => n + o.locks + o.queuedEntries, 0)).toBe(0);
    expect(await sql(threadObject, "SELECT * FROM locks WHERE thread_id = ?", record.threadId)).toEqual([]);
    // No entry is left; the three chat dequeued stay two minutes as retry receipts (expires_at 0).
    expect(
      await sql(threadObject, "SELECT * FROM queue_entries WHERE queue_key = ? AND taken_by IS NULL", record.threadId),
    ).toEqual([]);
    expect(
      await sql(threadObject, "SELECT expires_at FROM queue_entries WHERE queue_key = ?", record.threadId),
    ).toEqual([{ expires_at: 0 }, { expires_at: 0 }, { expires_at: 0 }]);
    // The lock is free: a new holder gets it at once.
    const lock = await state.acquireLock(record.threadId, 1000);
    expect(lock).not.toBeNull();
    if (lock) await state.releaseLock(lock);
  });

  it("keeps each row in the object routing names", async () => {
    const threadObject = state.objectNameForThread(record.threadId);
    const names = (await inspect()).map((o) => o.objectName);
    expect(names).toEqual(["default", "default:shard-1", "default:shard-2", "default:shard-3"]);
    for (const name of names) {
      const subscribed = await sql(name, "SELECT thread_id FROM subscriptions WHERE thread_id = ?", record.threadId);
      const threadState = await sql(name, "SELECT key FROM cache WHERE key = ?", `thread-state:${record.threadId}`);
      const expected = name === threadObject ? 1 : 0;
      expect([name, subscribed.length, threadState.length]).toEqual([name, expected, expected]);
    }
    const stored = await sql<{ value: string }>(threadObject, "SELECT value FROM cache WHERE key = ?", `thread-state:${record.threadId}`);
    expect(JSON.parse(stored[0]?.value ?? "null")).toMatchObject({ startedBy: "alice", turns: 6 });
    // Keys that name no thread route by the whole key: chat's per-message dedupe key, the history list.
    const dedupeKey = `dedupe:slack:${record.threadTs}`;
    expect(await sql(state.objectNameForKey(dedupeKey), "SELECT key FROM cache WHERE key = ?", dedupeKey)).toHaveLength(1);
    const historyKey = `transcripts:user:slack:${BOB}`;
    expect(await sql(state.objectNameForKey(historyKey), "SELECT list_key FROM lists WHERE list_key = ?", historyKey)).toHaveLength(1);
  });

  it("still knows the thread after its object is evicted from memory", async () => {
    const threadObject = state.objectNameForThread(record.threadId);
    await evictDurableObject(stubFor(threadObject));
    const before = slack.posts.length;
    const { status, done } = await deliver(
      eventCallback(messageEvent({ user: BOB, text: "Back after a restart.", ts: nextTs(), threadTs: record.threadTs })),
    );
    await done;
    expect(status).toBe(200);
    expect(slack.posts.slice(before).map((p) => p.text)).toEqual([
      "Noted, bob: that's your message #3 in this thread (turn 7).",
    ]);
  });

  it("inspect() agrees with the tables and the armed alarm of every object", async () => {
    const now = Date.now();
    const count = async (name: string, query: string) =>
      (await sql<{ n: number }>(name, query, now))[0]?.n;
    for (const o of await inspect()) {
      const name = o.objectName;
      expect({ name, ...o }).toMatchObject({
        name,
        subscriptions: await count(name, "SELECT COUNT(*) AS n FROM subscriptions WHERE ?1 = ?1"),
        locks: await count(name, "SELECT COUNT(*) AS n FROM locks WHERE expires_at > ?"),
        cacheEntries: await count(name, "SELECT COUNT(*) AS n FROM cache WHERE expires_at IS NULL OR expires_at > ?"),
        lists: await count(
          name,
          "SELECT COUNT(DISTINCT i.list_key) AS n FROM list_items i LEFT JOIN lists l USING (list_key) WHERE l.expires_at IS NULL OR l.expires_at > ?",
        ),
        queuedEntries: await count(name, "SELECT COUNT(*) AS n FROM queue_entries WHERE expires_at > ?"),
        nextAlarmAt: await alarmOf(name),
      });
      expect(o.subscriptions + o.cacheEntries + o.lists).toBeGreaterThan(0); // every shard got used
    }
  });

  it("produced a readable transcript", () => {
    const lines = transcript.filter((e) => e.kind === "note").map((e) => e.text);
    expect(lines.filter((l) => l.includes("deduplicated, no reply"))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith("queued"))).toHaveLength(3);
  });
});
