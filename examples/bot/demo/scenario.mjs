// The scripted conversation, shared by the demo (which prints it) and the end-to-end test (which
// asserts on it). Every step is a real-format, signed Slack Events API delivery to the bot.
//
// The caller supplies the transport:
//   deliver(payload, { retryNum }) -> { status, done }   POSTs one webhook; `done` settles when
//                                                         the bot has finished processing it
//   inspect() -> per-object inspection array              the bot's `GET /state` (objects)
//   threadInfo(threadId) -> { objectName, subscribed }    where a thread lives (optional)
//   slack: FakeSlack                                      answers the bot's Web API calls
//   say(entry)                                            receives each transcript entry
import {
  BOT_USER_ID,
  CHANNEL_ID,
  USERS,
  appMentionEvent,
  eventCallback,
  messageEvent,
  nextTs,
  threadIdOf,
} from "./slack.mjs";

const ALICE = "U0ALICE001";
const BOB = "U0BOB00001";

/** How a message reads in a chat log: `<@U…>` mentions become `@name`. */
export function readable(text) {
  return text.replace(/<@([A-Z0-9]+)>/g, (_, id) => `@${USERS[id]?.name ?? id}`);
}

async function poll(what, check, timeoutMs = 20_000) {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function total(objects, field) {
  return objects.reduce((sum, o) => sum + o[field], 0);
}

/**
 * Runs the conversation. `previousThreadTs` (a thread from an earlier run) adds an opening step:
 * a follow-up there, without a mention, which the bot only answers if its subscription persisted.
 * Returns what happened, step by step, for assertions.
 */
export async function runScenario({ deliver, inspect, threadInfo, slack, say, previousThreadTs }) {
  const record = { steps: [], threadTs: undefined, threadId: undefined };
  let expectedPosts = slack.posts.length;

  const user = (id, text) => say({ kind: "user", who: USERS[id].name, text: readable(text) });
  const note = (text) => say({ kind: "note", text });
  const botPostsSince = (start) => {
    const posts = slack.posts.slice(start);
    for (const post of posts) say({ kind: "bot", who: "statebot", text: post.text });
    return posts;
  };

  /** Delivers `payload` (a user's message) and waits for the bot's `replies` posts. */
  async function exchange(name, payload, replies) {
    user(payload.event.user, payload.event.text);
    const before = slack.posts.length;
    const { status, done } = await deliver(payload);
    await done;
    expectedPosts += replies;
    await slack.waitForPosts(expectedPosts);
    const posts = botPostsSince(before);
    record.steps.push({ name, status, posts });
    return posts;
  }

  /** A delivery Slack repeats: the bot must not answer again. */
  async function duplicate(name, payload, retryNum, explanation) {
    const before = slack.posts.length;
    const { status, done } = await deliver(payload, { retryNum });
    await done;
    const posts = slack.posts.slice(before);
    record.steps.push({ name, status, posts });
    note(`${explanation} → ${posts.length === 0 ? "deduplicated, no reply" : `ANSWERED AGAIN (${posts.length})`}`);
  }

  if (previousThreadTs) {
    say({ kind: "header", text: `#general, thread ${previousThreadTs} from the previous run` });
    if (threadInfo) {
      const info = await threadInfo(threadIdOf(CHANNEL_ID, previousThreadTs));
      note(`isSubscribed() = ${info.subscribed} in ${info.objectName}: a reply there needs no mention`);
    }
    const text = "Morning! Where were we?";
    await exchange(
      "returning",
      eventCallback(messageEvent({ user: ALICE, text, ts: nextTs(), threadTs: previousThreadTs })),
      2,
    );
  }

  // 1. A mention starts a thread: the bot subscribes and answers.
  const rootTs = nextTs();
  record.threadTs = rootTs;
  record.threadId = threadIdOf(CHANNEL_ID, rootTs);
  say({ kind: "header", text: `#general, new thread ${rootTs}` });
  const mentionText = `<@${BOT_USER_ID}> can you keep track of the launch checklist?`;
  await exchange("mention", eventCallback(appMentionEvent({ user: ALICE, text: mentionText, ts: rootTs })), 1);

  // 2. Slack delivers the same message a second time, as a `message` event (the app subscribes
  //    to both app_mention and message.channels): chat's dedupe key stops it.
  await duplicate(
    "same message as a message event",
    eventCallback(messageEvent({ user: ALICE, text: mentionText, ts: rootTs })),
    0,
    "Slack delivers the same message again as a `message` event",
  );

  // 3. A follow-up in the thread, no mention: answered because the thread is subscribed.
  const followText = "I'll take the release notes.";
  const follow = eventCallback(messageEvent({ user: BOB, text: followText, ts: nextTs(), threadTs: rootTs }));
  await exchange("follow-up", follow, 1);

  // 4. Slack retries that exact delivery (same event_id, X-Slack-Retry-Num: 1).
  await duplicate("retried delivery", follow, 1, "Slack retries that delivery (X-Slack-Retry-Num: 1)");

  // 5. A question makes the handler slow (it posts "Thinking…" first; the fake Slack holds that
  //    call). Three messages arrive meanwhile: the thread's lock is taken, so they are queued,
  //    then handed to one handler run, oldest first.
  const hold = slack.holdPost((text) => text.startsWith("Thinking"));
  const questionText = "What's left on the list?";
  user(ALICE, questionText);
  const before = slack.posts.length;
  const question = await deliver(
    eventCallback(messageEvent({ user: ALICE, text: questionText, ts: nextTs(), threadTs: rootTs })),
  );
  await hold.reached;
  note("the handler is running (its “Thinking…” post is in flight) and holds the thread's lock");

  const burst = [
    [ALICE, "also the blog post"],
    [BOB, "and the changelog"],
    [ALICE, "ping me when it's done"],
  ];
  const queued = [];
  for (const [id, text] of burst) {
    user(id, text);
    const { status, done } = await deliver(
      eventCallback(messageEvent({ user: id, text, ts: nextTs(), threadTs: rootTs })),
    );
    await done;
    const depth = queued.length + 1;
    const objects = await poll(`queue depth ${depth}`, async () => {
      const objects = await inspect();
      return total(objects, "queuedEntries") >= depth ? objects : null;
    });
    queued.push({ status, objects });
    note(`queued (queue depth ${total(objects, "queuedEntries")}, live locks ${total(objects, "locks")})`);
  }
  const duringBurst = queued.at(-1).objects;

  hold.release();
  await question.done;
  expectedPosts += 3;
  await slack.waitForPosts(expectedPosts);
  const burstPosts = botPostsSince(before);
  const after = await poll("the lock to be released and the queue drained", async () => {
    const objects = await inspect();
    return total(objects, "locks") === 0 && total(objects, "queuedEntries") === 0 ? objects : null;
  });
  note("queue drained, lock released");
  record.steps.push({ name: "burst", status: question.status, posts: burstPosts, duringBurst, after });

  record.expectedPosts = expectedPosts;
  return record;
}
