// A local stand-in for Slack, shared by the demo (`npm run demo`, on Node) and the end-to-end test
// (inside workerd): it builds Events API deliveries in Slack's real format, signs them the way
// Slack does, and answers the Web API calls the bot makes. Web-standard Request/Response/crypto
// only, so it runs in both places.

export const SIGNING_SECRET = "demo-signing-secret";
export const BOT_TOKEN = "xoxb-0000000000-demo";
export const TEAM_ID = "T0DEMO0001";
export const APP_ID = "A0DEMO0001";
export const BOT_USER_ID = "U0BOT00001";
export const BOT_ID = "B0BOT00001";
export const CHANNEL_ID = "C0GENERAL1";
export const CHANNEL_NAME = "general";

/** Workspace members the demo talks as. */
export const USERS = {
  U0ALICE001: { name: "alice", real_name: "Alice Martin" },
  U0BOB00001: { name: "bob", real_name: "Bob Okafor" },
  [BOT_USER_ID]: { name: "statebot", real_name: "State Bot", is_bot: true },
};

let tsCounter = 0;

/** A Slack message timestamp (`<unix seconds>.<6 digits>`), unique within this process. */
export function nextTs(nowMs = Date.now()) {
  tsCounter = (tsCounter + 1) % 1_000_000;
  return `${Math.floor(nowMs / 1000)}.${String(tsCounter).padStart(6, "0")}`;
}

/** The Chat SDK thread id of a Slack thread. */
export function threadIdOf(channel, threadTs) {
  return `slack:${channel}:${threadTs}`;
}

/** Slack's rich_text block for a message: `<@U…>` mentions become `user` elements, as Slack sends them. */
function blocksFor(text) {
  const elements = text
    .split(/(<@[A-Z0-9]+>)/)
    .filter((part) => part.length > 0)
    .map((part) => {
      const mention = /^<@([A-Z0-9]+)>$/.exec(part);
      return mention ? { type: "user", user_id: mention[1] } : { type: "text", text: part };
    });
  return [
    {
      type: "rich_text",
      block_id: Math.random().toString(36).slice(2, 7),
      elements: [{ type: "rich_text_section", elements }],
    },
  ];
}

/** The fields every user-written event shares; `thread` is what a reply in a thread adds. */
function userEvent(type, { user, text, ts, channel }, thread) {
  return {
    type,
    user,
    text,
    ts,
    ...thread,
    client_msg_id: crypto.randomUUID(),
    team: TEAM_ID,
    blocks: blocksFor(text),
    channel,
    event_ts: ts,
  };
}

/** An `app_mention` event: `user` wrote `text` (which starts with the bot's mention). */
export function appMentionEvent({ user, text, ts, threadTs, channel = CHANNEL_ID }) {
  return userEvent("app_mention", { user, text, ts, channel }, threadTs ? { thread_ts: threadTs } : {});
}

/** A `message` event (message.channels subscription), optionally a reply in a thread. */
export function messageEvent({ user, text, ts, threadTs, channel = CHANNEL_ID }) {
  return {
    ...userEvent("message", { user, text, ts, channel }, threadTs ? { thread_ts: threadTs, parent_user_id: user } : {}),
    channel_type: "channel",
  };
}

/** The Events API envelope Slack POSTs to the bot's request URL. */
export function eventCallback(event, eventId = `Ev${crypto.randomUUID().replace(/-/g, "").slice(0, 10).toUpperCase()}`) {
  return {
    token: "demo-verification-token",
    team_id: TEAM_ID,
    context_team_id: TEAM_ID,
    context_enterprise_id: null,
    api_app_id: APP_ID,
    event,
    type: "event_callback",
    event_id: eventId,
    event_time: Math.floor(Number(event.event_ts ?? Date.now() / 1000)),
    authorizations: [
      { enterprise_id: null, team_id: TEAM_ID, user_id: BOT_USER_ID, is_bot: true, is_enterprise_install: false },
    ],
    is_ext_shared_channel: false,
    event_context: `4-demo-${eventId}`,
  };
}

async function hmacHex(secret, text) {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The headers Slack sends with a delivery: `X-Slack-Signature: v0=HMAC-SHA256(secret,
 * "v0:<timestamp>:<body>")`, plus `X-Slack-Retry-Num`/`-Reason` on a redelivery.
 */
export async function slackHeaders(body, { secret = SIGNING_SECRET, timestamp, retryNum } = {}) {
  const ts = String(timestamp ?? Math.floor(Date.now() / 1000));
  const headers = {
    "content-type": "application/json",
    "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    "x-slack-request-timestamp": ts,
    "x-slack-signature": `v0=${await hmacHex(secret, `v0:${ts}:${body}`)}`,
  };
  if (retryNum) {
    headers["x-slack-retry-num"] = String(retryNum);
    headers["x-slack-retry-reason"] = "http_timeout";
  }
  return headers;
}

/** A signed webhook request for `payload`, ready for the bot's fetch handler. */
export async function signedWebhook(url, payload, options = {}) {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  return new Request(url, { method: "POST", headers: await slackHeaders(body, options), body });
}

async function readParams(request) {
  const type = request.headers.get("content-type") ?? "";
  const text = new TextDecoder().decode(await request.arrayBuffer());
  if (type.includes("application/json")) return text ? JSON.parse(text) : {};
  return Object.fromEntries(new URLSearchParams(text));
}

/**
 * Answers the Slack Web API methods the bot uses (auth.test, users.info, conversations.info,
 * chat.postMessage …) and records every call. Mount it at `<base>/api/`.
 */
export class FakeSlack {
  /** Every Web API call, in arrival order: `{ method, params }`. */
  calls = [];
  /** Every message the bot posted: `{ channel, threadTs, text, ts }`. */
  posts = [];
  #holds = [];
  #waiters = [];

  /**
   * Holds the response to the next chat.postMessage whose text satisfies `match`, as a slow
   * network would: `reached` resolves when the bot sent it, `release()` lets it complete.
   */
  holdPost(match) {
    let release;
    let reach;
    const hold = {
      match,
      reached: new Promise((resolve) => (reach = resolve)),
      gate: new Promise((resolve) => (release = resolve)),
    };
    hold.reach = reach;
    this.#holds.push(hold);
    return { reached: hold.reached, release: () => release() };
  }

  /** Resolves once the bot has posted at least `count` messages in total. */
  waitForPosts(count, timeoutMs = 20_000) {
    if (this.posts.length >= count) return Promise.resolve(this.posts.slice());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== resolve);
        reject(new Error(`expected ${count} bot posts, saw ${this.posts.length} after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push({ count, resolve, timer });
    });
  }

  async handle(request) {
    const url = new URL(request.url);
    const method = url.pathname.replace(/^.*\/api\//, "");
    const params = await readParams(request);
    this.calls.push({ method, params });
    const answer = (body) => Response.json({ ok: true, ...body });
    switch (method) {
      case "auth.test":
        return answer({
          url: "https://demo.slack.com/",
          team: "Demo",
          user: "statebot",
          team_id: TEAM_ID,
          user_id: BOT_USER_ID,
          bot_id: BOT_ID,
        });
      case "users.info": {
        const known = USERS[params.user];
        if (!known) return Response.json({ ok: false, error: "user_not_found" });
        return answer({
          user: {
            id: params.user,
            team_id: TEAM_ID,
            name: known.name,
            real_name: known.real_name,
            is_bot: known.is_bot ?? false,
            profile: { display_name: known.name, real_name: known.real_name },
          },
        });
      }
      case "conversations.info":
        return answer({ channel: { id: params.channel, name: CHANNEL_NAME, is_channel: true } });
      case "chat.postMessage": {
        const ts = nextTs();
        const text = params.text ?? params.markdown_text ?? "";
        const hold = this.#holds.find((h) => h.match(text));
        if (hold) {
          this.#holds.splice(this.#holds.indexOf(hold), 1);
          hold.reach();
          await hold.gate;
        }
        this.posts.push({ channel: params.channel, threadTs: params.thread_ts, text, ts });
        for (const w of this.#waiters.filter((w) => this.posts.length >= w.count)) {
          clearTimeout(w.timer);
          w.resolve(this.posts.slice());
        }
        this.#waiters = this.#waiters.filter((w) => this.posts.length < w.count);
        return answer({
          channel: params.channel,
          ts,
          message: { type: "message", user: BOT_USER_ID, bot_id: BOT_ID, text, ts, thread_ts: params.thread_ts },
        });
      }
      default:
        return answer({});
    }
  }
}
