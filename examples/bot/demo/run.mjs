// `npm run demo`: runs the example bot in local workerd (wrangler dev, state persisted in
// .demo-state/), plays the scripted Slack conversation against it with a local fake Slack, and
// prints the transcript and what each state object holds. No account, no internet.
//
//   node examples/bot/demo/run.mjs [--fresh]     (--fresh wipes the persisted state first)
//
// test-node/demo.test.mjs runs it as it is, with DEMO_STATE_DIR and DEMO_PORTS (three loopback
// ports: bot, fake Slack, inspector) pointing it at a scratch directory and free ports.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runScenario } from "./scenario.mjs";
import { BOT_TOKEN, CHANNEL_ID, FakeSlack, SIGNING_SECRET, signedWebhook, threadIdOf } from "./slack.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const botDir = resolve(here, "..");
const root = resolve(botDir, "../..");
const stateDir = process.env.DEMO_STATE_DIR ? resolve(process.env.DEMO_STATE_DIR) : join(root, ".demo-state");
const sessionFile = join(stateDir, "demo-session.json");
const logFile = join(stateDir, "wrangler.log");

const HOST = "127.0.0.1";
const [BOT_PORT, SLACK_PORT, INSPECTOR_PORT] = process.env.DEMO_PORTS
  ? process.env.DEMO_PORTS.split(",").map(Number)
  : [8910, 8911, 8912];
const INSPECT_TOKEN = "demo-inspect-token";
let botUrl = `http://${HOST}:${BOT_PORT}`;

const fresh = process.argv.includes("--fresh");
const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const c = (code, text) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
const startedAt = Date.now();

// ---- the fake Slack Web API on loopback ----

const slack = new FakeSlack();
const slackServer = http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const request = new Request(`http://${HOST}:${SLACK_PORT}${req.url}`, {
      method: req.method,
      headers: req.headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
    });
    const response = await slack.handle(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
});

// ---- the bot, in wrangler dev ----

let wrangler;
let wranglerExited = null;
let wranglerOutput = "";

function startBot() {
  const log = createWriteStream(logFile);
  const bin = join(root, "node_modules", ".bin", "wrangler");
  wrangler = spawn(
    bin,
    [
      "dev",
      "-c", join(botDir, "wrangler.jsonc"),
      "--ip", HOST,
      "--port", String(BOT_PORT),
      "--inspector-port", String(INSPECTOR_PORT),
      "--persist-to", stateDir,
      "--show-interactive-dev-session=false",
      "--var", `SLACK_BOT_TOKEN:${BOT_TOKEN}`,
      "--var", `SLACK_SIGNING_SECRET:${SIGNING_SECRET}`,
      "--var", `SLACK_API_URL:http://${HOST}:${SLACK_PORT}/api/`,
      "--var", `INSPECT_TOKEN:${INSPECT_TOKEN}`,
    ],
    {
      cwd: botDir,
      detached: true, // its own process group, so stopping it also stops workerd
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" },
    },
  );
  for (const stream of [wrangler.stdout, wrangler.stderr]) {
    stream.on("data", (chunk) => {
      log.write(chunk);
      if (wranglerOutput.length < 100_000) wranglerOutput += chunk.toString();
    });
  }
  wrangler.on("exit", (code, signal) => (wranglerExited = { code, signal }));
}

/** Stops wrangler and its workerd processes (its own process group) and waits for them. */
async function stopBot() {
  if (!wrangler || wranglerExited !== null) return;
  const exited = new Promise((resolve) => wrangler.once("exit", resolve));
  const signal = (name) => {
    try {
      process.kill(-wrangler.pid, name);
    } catch {}
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

// wrangler runs in its own process group: on Ctrl-C, or a test stopping this script, stop it too.
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]]) {
  process.once(signal, () => {
    void stopBot().finally(() => process.exit(code));
  });
}

async function getState(threads = []) {
  const query = threads.map((t) => `thread=${encodeURIComponent(t)}`).join("&");
  const response = await fetch(`${botUrl}/state${query ? `?${query}` : ""}`, {
    headers: { authorization: `Bearer ${INSPECT_TOKEN}` },
  });
  if (!response.ok) throw new Error(`GET /state: HTTP ${response.status}`);
  return await response.json();
}

const inspect = async () => (await getState()).objects;
const threadInfo = async (threadId) => (await getState([threadId])).threads[0];

/** Waits for wrangler's "Ready on <url>" (the port it really bound), then for the bot to answer. */
async function waitForBot(timeoutMs = 120_000) {
  const start = Date.now();
  let ready = null;
  while (Date.now() - start < timeoutMs) {
    if (wranglerExited) throw new Error(`wrangler dev exited (${JSON.stringify(wranglerExited)})`);
    ready ??= /Ready on (http:\/\/[^\s]+)/.exec(wranglerOutput);
    if (ready) {
      botUrl = ready[1].replace(/\/$/, "");
      try {
        await inspect();
        return;
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the bot did not start within ${timeoutMs / 1000} s`);
}

/** POSTs one signed delivery; over HTTP the bot's background work is not observable, so `done`
 *  waits a moment (the scenario itself waits for the replies it expects). */
async function deliver(payload, { retryNum } = {}) {
  const request = await signedWebhook(`${botUrl}/api/webhooks/slack`, payload, { retryNum });
  const response = await fetch(request);
  await response.text();
  if (response.status !== 200) throw new Error(`webhook answered HTTP ${response.status}`);
  return { status: response.status, done: new Promise((r) => setTimeout(r, 400)) };
}

// ---- output ----

function say(entry) {
  switch (entry.kind) {
    case "header":
      console.log(`\n${c("1", entry.text)}`);
      break;
    case "user":
      console.log(`  ${c("36", entry.who.padEnd(9))} ${entry.text}`);
      break;
    case "bot":
      console.log(`  ${c("32", entry.who.padEnd(9))} ${entry.text}`);
      break;
    case "note":
      console.log(`  ${c("2", `${"·".padEnd(9)} ${entry.text}`)}`);
      break;
  }
}

function formatBytes(n) {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.round(n / 1024)} KB`;
}

function formatAlarm(at) {
  if (at === null || at === undefined) return "none";
  const s = (at - Date.now()) / 1000;
  if (s <= 0) return "due now";
  if (s < 120) return `in ${Math.round(s)} s`;
  if (s < 7200) return `in ${Math.round(s / 60)} min`;
  if (s < 172_800) return `in ${Math.round(s / 3600)} h`;
  return `in ${Math.round(s / 86_400)} days`;
}

function printSummary(objects, threadObjects) {
  const sum = (field) => objects.reduce((n, o) => n + o[field], 0);
  const columns = [
    ["object", (o) => o.objectName + (threadObjects.has(o.objectName) ? " *" : ""), "total"],
    ["subs", (o) => o.subscriptions, sum("subscriptions")],
    ["locks", (o) => o.locks, sum("locks")],
    ["cache", (o) => o.cacheEntries, sum("cacheEntries")],
    ["lists (items)", (o) => `${o.lists} (${o.listItems})`, `${sum("lists")} (${sum("listItems")})`],
    ["queued", (o) => o.queuedEntries, sum("queuedEntries")],
    ["db size", (o) => formatBytes(o.databaseBytes), formatBytes(sum("databaseBytes"))],
    ["next alarm", (o) => formatAlarm(o.nextAlarmAt), ""],
  ];
  const rows = objects.map((o) => columns.map(([, get]) => String(get(o))));
  const totals = columns.map(([, , total]) => String(total));
  const widths = columns.map(([title], i) => Math.max(title.length, totals[i].length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    "  " + cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  console.log(`\n${c("1", "State objects, from adapter.inspect() (shards: 4)")}`);
  console.log(c("1", line(columns.map(([title]) => title))));
  for (const row of rows) console.log(line(row));
  console.log(c("2", line(totals)));
  console.log(c("2", "  * the demo threads' object: a thread's subscription, lock, queue and thread-state rows route by"));
  console.log(c("2", "    its thread id; dedupe keys and per-user history route by their whole key, over all shards."));
}

// ---- main ----

async function main() {
  if (fresh && existsSync(stateDir)) rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const previous = existsSync(sessionFile) ? JSON.parse(readFileSync(sessionFile, "utf8")) : null;

  await new Promise((resolve, reject) => {
    slackServer.once("error", reject);
    slackServer.listen(SLACK_PORT, HOST, resolve);
  });
  startBot();
  console.log(c("2", `Starting the example bot (examples/bot) in local workerd: wrangler dev on ${botUrl}, fake Slack on http://${HOST}:${SLACK_PORT}, state in ${relative(root, stateDir) || "."}/ ...`));
  await waitForBot();

  const run = (previous?.runs ?? 0) + 1;
  console.log(
    `\n${c("1", `Run ${run}`)} ${previous ? `(state persisted from run ${previous.runs}; \`npm run demo -- --fresh\` starts over)` : "(fresh state)"}`,
  );

  const record = await runScenario({
    deliver,
    inspect,
    threadInfo,
    slack,
    say,
    previousThreadTs: previous?.threadTs,
  });

  const posts = slack.posts.length;
  if (posts !== record.expectedPosts) {
    throw new Error(`the bot posted ${posts} messages, expected ${record.expectedPosts}`);
  }
  writeFileSync(sessionFile, JSON.stringify({ runs: run, threadTs: record.threadTs }, null, 2));

  const threadIds = [record.threadId, ...(previous ? [threadIdOf(CHANNEL_ID, previous.threadTs)] : [])];
  const { objects, threads } = await getState(threadIds);
  printSummary(objects, new Set(threads.map((t) => t.objectName)));
  for (const t of threads) {
    console.log(c("2", `    ${t.threadId} → ${t.objectName} (subscribed: ${t.subscribed})`));
  }
  console.log(
    c("2", `\n${posts} bot replies, ${slack.calls.length} Slack API calls answered locally; ${((Date.now() - startedAt) / 1000).toFixed(1)} s. Run again to see the state persist.`),
  );
}

let status = 0;
try {
  await main();
} catch (error) {
  status = 1;
  console.error(`\n${c("31", "demo failed:")} ${error instanceof Error ? error.message : error}`);
  if (existsSync(logFile)) {
    const tail = readFileSync(logFile, "utf8").split("\n").slice(-40).join("\n");
    console.error(`\n--- last lines of ${logFile} ---\n${tail}`);
  }
} finally {
  await stopBot();
  slackServer.close();
  slackServer.closeAllConnections?.();
}
process.exit(status);
