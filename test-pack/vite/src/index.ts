// A user's Worker in a Vite + @cloudflare/vite-plugin project, on the installed npm tarball:
// the Durable Object and the adapter both come from "chat-state-cloudflare-do", and a real Chat
// SDK bot (@chat-adapter/slack, multi-workspace mode: no Slack call at start-up) uses it.
//
// GET /          "ready" (the test polls it until the server is up)
// GET /first     writes through the adapter and through chat, returns what the calls returned
// GET /second    a later request: reads it all back, then frees what /first held
// Both take ?run=<id>: the object's name, so each run (dev, preview, wrangler dev) starts empty.
import { createSlackAdapter } from "@chat-adapter/slack";
import { Chat } from "chat";
import { ChatStateDO, createCloudflareState, type ChatStateNamespace } from "chat-state-cloudflare-do";

export { ChatStateDO };

interface Env {
  CHAT_STATE: ChatStateNamespace;
}

const THREAD = "slack:C0VITE001:1700000000.000100";
const OTHER = "slack:C0VITE001:1700000000.000200";
const HOUR = 3_600_000;
const entry = (n: number) => ({ enqueuedAt: Date.now(), expiresAt: Date.now() + HOUR, message: { n } });

function bot(env: Env, run: string) {
  const state = createCloudflareState({ namespace: env.CHAT_STATE, name: run });
  const chat = new Chat({
    userName: "vitebot",
    adapters: { slack: createSlackAdapter({ signingSecret: "vite-test-secret" }) },
    state,
    logger: "error",
  });
  return { state, chat };
}

async function first(env: Env, run: string) {
  const { state, chat } = bot(env, run);
  await state.connect();
  await state.subscribe(THREAD);
  const lock = await state.acquireLock(THREAD, HOUR);
  const lockWhileHeld = await state.acquireLock(THREAD, HOUR);
  const dedupeFirst = await state.setIfNotExists("dedupe:slack:m1", true, HOUR);
  const dedupeAgain = await state.setIfNotExists("dedupe:slack:m1", true, HOUR);
  await state.set("installation:T1", { bytes: "é\u{1F600}" });
  await state.appendToList("history:u1", "a", { maxLength: 10, ttlMs: HOUR });
  await state.appendToList("history:u1", "b", { maxLength: 10, ttlMs: HOUR });
  const depths = [
    await state.enqueue(THREAD, entry(1), 10),
    await state.enqueue(THREAD, entry(2), 10),
  ];
  // chat's own calls: initialize() connects the state, the thread subscribes and keeps state.
  await chat.initialize();
  const thread = chat.thread(OTHER);
  await thread.subscribe();
  await thread.setState({ turns: 1 });
  return {
    subscribed: await state.isSubscribed(THREAD),
    lockGranted: lock !== null && typeof lock.token === "string",
    lockWhileHeld,
    dedupeFirst,
    dedupeAgain,
    list: await state.getList("history:u1"),
    depths,
    chatSubscribed: await thread.isSubscribed(),
    chatState: await thread.state,
  };
}

async function second(env: Env, run: string) {
  const { state, chat } = bot(env, run);
  await state.connect();
  const lockStillHeld = await state.acquireLock(THREAD, HOUR);
  const dedupe = await state.setIfNotExists("dedupe:slack:m1", true, HOUR);
  const dequeued = [
    (await state.dequeue(THREAD))?.message,
    (await state.dequeue(THREAD))?.message,
    (await state.dequeue(THREAD)) ?? null,
  ];
  await chat.initialize();
  const thread = chat.thread(OTHER);
  const result = {
    subscribed: await state.isSubscribed(THREAD),
    lockStillHeld,
    dedupe,
    installation: await state.get("installation:T1"),
    list: await state.getList("history:u1"),
    dequeued,
    chatSubscribed: await thread.isSubscribed(),
    chatState: await thread.state,
  };
  // Free the lock /first left held; then it can be taken and released again.
  await state.forceReleaseLock(THREAD);
  const lock = await state.acquireLock(THREAD, HOUR);
  if (lock) await state.releaseLock(lock);
  await state.unsubscribe(THREAD);
  return { ...result, lockAfterRelease: lock !== null, subscribedAfter: await state.isSubscribed(THREAD) };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const run = url.searchParams.get("run") ?? "default";
    try {
      if (url.pathname === "/first") return Response.json(await first(env, run));
      if (url.pathname === "/second") return Response.json(await second(env, run));
    } catch (error) {
      return Response.json({ error: String((error as Error)?.stack ?? error) }, { status: 500 });
    }
    return new Response("ready");
  },
};
