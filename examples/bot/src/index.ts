// A Slack bot on Cloudflare Workers whose Chat SDK state (subscriptions, locks, dedupe keys,
// thread state, per-user history, message queues) lives in SQLite-backed Durable Objects.
//
// It subscribes to a thread when mentioned, answers every follow-up there, keeps a per-thread
// counter in thread state and a per-user history, and queues messages that arrive while it is
// still answering (they are handed to the next handler run, oldest first).
import { createSlackAdapter } from "@chat-adapter/slack";
import { Chat, type Message, type Thread } from "chat";
import { ChatStateDO, createCloudflareState } from "chat-state-cloudflare-do";

// The Durable Object class must be exported from the Worker's main module.
export { ChatStateDO };

export interface Env {
  CHAT_STATE: DurableObjectNamespace<ChatStateDO>;
  SLACK_BOT_TOKEN: string;
  SLACK_SIGNING_SECRET: string;
  /** Optional: another Slack Web API base URL (the local demo points it at a fake Slack). */
  SLACK_API_URL?: string;
  /** Optional: enables `GET /state` (per-object counts) for callers presenting this bearer token. */
  INSPECT_TOKEN?: string;
}

/** What the bot remembers about each thread (`thread.state`, stored in the thread's object). */
interface ThreadState {
  startedBy: string;
  topic: string;
  turns: number;
}

function createBot(env: Env) {
  const state = createCloudflareState({ namespace: env.CHAT_STATE, shards: 4 });
  const bot = new Chat<{ slack: ReturnType<typeof createSlackAdapter> }, ThreadState>({
    userName: "statebot",
    adapters: {
      slack: createSlackAdapter({
        botToken: env.SLACK_BOT_TOKEN,
        signingSecret: env.SLACK_SIGNING_SECRET,
        apiUrl: env.SLACK_API_URL,
      }),
    },
    state,
    // Messages that arrive while a handler runs on the thread wait in the thread's queue.
    concurrency: "queue",
    // Per-user history (a list in the state adapter), keyed by the Slack user id.
    history: { user: { identity: ({ author }) => userKeyOf(author), retention: "30d" } },
  });

  // Adds a user's message to their history. Written as an explicit entry because chat resolves
  // `message.userKey` only for the message a handler is called with, not for `context.skipped`.
  const remember = (thread: Thread<ThreadState>, message: Message) =>
    bot.history.user.append(
      thread,
      { role: "user", text: message.text, platformMessageId: message.id },
      { userKey: userKeyOf(message.author) },
    );

  // Posts a reply and records it in the user's history as the assistant's turn.
  const reply = async (thread: Thread<ThreadState>, to: Message, text: string) => {
    await thread.post(text);
    await bot.history.user.append(thread, { role: "assistant", text }, { userKey: userKeyOf(to.author) });
  };

  bot.onNewMention(async (thread, message) => {
    await thread.subscribe();
    const topic = message.text.replace(/^@\S+\s*/, "");
    await thread.setState({ startedBy: message.author.userName, topic, turns: 1 });
    await remember(thread, message);
    await reply(
      thread,
      message,
      `Hi ${message.author.userName}! I'm following this thread now: reply here without mentioning me.`,
    );
  });

  bot.onSubscribedMessage(async (thread, message, context) => {
    // With the queue strategy, messages that arrived while a handler ran come in `skipped`.
    const batch = [...(context?.skipped ?? []), message];
    const previous = await thread.state;
    const turns = (previous?.turns ?? 0) + batch.length;
    await thread.setState({ turns });
    for (const m of batch) await remember(thread, m);

    const name = message.author.userName;
    let text: string;
    if (batch.length > 1) {
      const list = batch.map((m) => `${m.author.userName}: “${m.text}”`).join(", ");
      text = `While I was busy, ${batch.length} messages came in: ${list}. All noted, in that order.`;
    } else if (message.text.trim().endsWith("?")) {
      await thread.post("Thinking…"); // a real bot would call a model here
      text =
        `${name}, this thread is about “${previous?.topic ?? "?"}” (started by ` +
        `${previous?.startedBy ?? "someone"}); ${turns} messages so far.`;
    } else {
      const mine = await bot.history.user.list({
        userKey: userKeyOf(message.author),
        threadId: thread.id,
        roles: ["user"],
      });
      text = `Noted, ${name}: that's your message #${mine.length} in this thread (turn ${turns}).`;
    }
    await reply(thread, message, text);
  });

  return { bot, state };
}

/** The per-user history key (the identity resolver above). */
function userKeyOf(author: Message["author"]): string {
  return `slack:${author.userId}`;
}

/** Constant-time check of `Authorization: Bearer <token>`. */
function hasBearer(request: Request, token: string): boolean {
  const given = new TextEncoder().encode(request.headers.get("authorization") ?? "");
  const wanted = new TextEncoder().encode(`Bearer ${token}`);
  return given.byteLength === wanted.byteLength && crypto.subtle.timingSafeEqual(given, wanted);
}

// One Chat instance per isolate, built on the first request (bindings come with the request).
let instance: ReturnType<typeof createBot> | undefined;

export default {
  async fetch(request, env, ctx): Promise<Response> {
    instance ??= createBot(env);
    const { bot, state } = instance;
    const url = new URL(request.url);

    if (request.method === "POST" && url.pathname === "/api/webhooks/slack") {
      return bot.webhooks.slack(request, { waitUntil: (task) => ctx.waitUntil(task) });
    }

    // Read-only state inspection: per-object counts, plus where given threads live.
    if (request.method === "GET" && url.pathname === "/state" && env.INSPECT_TOKEN) {
      if (!hasBearer(request, env.INSPECT_TOKEN)) return new Response("Unauthorized", { status: 401 });
      await bot.initialize(); // connects the state adapter
      const threads = await Promise.all(
        url.searchParams.getAll("thread").map(async (threadId) => ({
          threadId,
          objectName: state.objectNameForThread(threadId),
          subscribed: await state.isSubscribed(threadId),
        })),
      );
      return Response.json({ objects: await state.inspect(), threads });
    }

    return new Response("Not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
