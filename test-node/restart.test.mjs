// A restart of the runtime with persisted storage keeps every subscription, lock, value, list and
// queue entry, and the armed alarm. Runs `wrangler dev --persist-to <dir>` (test-node/
// wrangler.jsonc), writes through the adapter over HTTP, stops the runtime (SIGTERM to the
// process group this test started), starts it again on the same directory and reads everything
// back, including through a 4-shard adapter (several objects). Run by scripts/test.sh:
//   node --test test-node/
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const persist = join(root, ".tools", "restart-test", "state");
const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const running = new Set();

/** A free loopback port in 20000-29999 (checked by binding it). */
async function freePort() {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const free = await new Promise((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

async function startRuntime() {
  const port = await freePort();
  const inspector = await freePort();
  const child = spawn(
    process.execPath,
    [
      wrangler, "dev", "-c", join(root, "test-node", "wrangler.jsonc"),
      "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector),
      "--persist-to", persist, "--log-level", "error", "--show-interactive-dev-session=false",
    ],
    { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const runtime = { child, port, exited };
  running.add(runtime);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      if (response.ok) return runtime;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not start in 120 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function stopRuntime(runtime) {
  if (runtime.child.exitCode === null) {
    // The process group we started: wrangler and the workerd it spawned.
    try {
      process.kill(-runtime.child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    let timer;
    const killed = await Promise.race([
      runtime.exited.then(() => true),
      new Promise((resolve) => (timer = setTimeout(() => resolve(false), 10_000))),
    ]);
    clearTimeout(timer);
    if (!killed) {
      try {
        process.kill(-runtime.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await runtime.exited;
    }
  }
  running.delete(runtime);
}

after(async () => {
  for (const runtime of running) await stopRuntime(runtime);
  rmSync(join(root, "test-node", ".wrangler"), { recursive: true, force: true });
});

/** Runs adapter calls in the Worker; returns their values, throwing on any error. */
async function calls(runtime, options, list) {
  const response = await fetch(`http://127.0.0.1:${runtime.port}/`, {
    method: "POST",
    body: JSON.stringify({ options, calls: list }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const results = await response.json();
  return results.map((r, i) => {
    if ("error" in r) throw new Error(`${JSON.stringify(list[i])}: ${r.error}`);
    return r.value;
  });
}

test("a runtime restart with persisted storage keeps all state", { timeout: 300_000 }, async () => {
  rmSync(persist, { recursive: true, force: true });
  mkdirSync(persist, { recursive: true });
  const single = { name: "restart" };
  const sharded = { name: "restart-sharded", shards: 4 };
  const entry = (n) => ({ enqueuedAt: 1, expiresAt: Date.now() + 3_600_000, message: { n } });
  const threads = Array.from({ length: 12 }, (_, i) => `slack:C${i}:1.${i}`);

  let runtime = await startRuntime();
  const [lock] = await calls(runtime, single, [["acquireLock", "slack:C1:1.1", 3_600_000]]);
  assert.ok(lock?.token);
  await calls(runtime, single, [
    ["subscribe", "slack:C1:1.1"],
    ["subscribe", "teams:c2"],
    ["set", "thread-state:slack:C1:1.1", { mode: "x", n: 1 }, 3_600_000],
    ["set", "slack:installation:T1", { token: "xoxb", bytes: "é\u{1F600}" }],
    ["setIfNotExists", "dedupe:slack:m1", true, 600_000],
    ["appendToList", "msg-history:slack:C1:1.1", "a", { maxLength: 10, ttlMs: 3_600_000 }],
    ["appendToList", "msg-history:slack:C1:1.1", "b", { maxLength: 10 }],
    ["appendToList", "transcripts:user:u1", { t: 1 }],
    ["enqueue", "slack:C1:1.1", entry(1), 10],
    ["enqueue", "slack:C1:1.1", entry(2), 10],
    ["enqueue", "slack:C1:1.1", entry(3), 10],
  ]);
  const shardLocks = await calls(runtime, sharded, threads.map((t) => ["acquireLock", t, 3_600_000]));
  await calls(runtime, sharded, threads.flatMap((t, i) => [
    ["subscribe", t],
    ["set", `thread-state:${t}`, { i }],
    ["appendToList", `msg-history:${t}`, i, { maxLength: 5, ttlMs: 3_600_000 }],
    ["enqueue", t, entry(i), 10],
  ]));
  const [[before]] = await calls(runtime, single, [["inspect"]]);
  const [shardsBefore] = await calls(runtime, sharded, [["inspect"]]);
  assert.ok(before.nextAlarmAt !== null && before.nextAlarmAt !== undefined);

  await stopRuntime(runtime);
  runtime = await startRuntime();

  const [
    subscribed1, subscribed2, lockRefused, extended, value, installation, dedupe, list, transcript, depth,
  ] = await calls(runtime, single, [
    ["isSubscribed", "slack:C1:1.1"],
    ["isSubscribed", "teams:c2"],
    ["acquireLock", "slack:C1:1.1", 1_000],
    ["extendLock", lock, 3_600_000],
    ["get", "thread-state:slack:C1:1.1"],
    ["get", "slack:installation:T1"],
    ["setIfNotExists", "dedupe:slack:m1", true, 600_000],
    ["getList", "msg-history:slack:C1:1.1"],
    ["getList", "transcripts:user:u1"],
    ["queueDepth", "slack:C1:1.1"],
  ]);
  assert.deepEqual(
    { subscribed1, subscribed2, lockRefused, extended, value, installation, dedupe, list, transcript, depth },
    {
      subscribed1: true,
      subscribed2: true,
      lockRefused: null,
      extended: true,
      value: { mode: "x", n: 1 },
      installation: { token: "xoxb", bytes: "é\u{1F600}" },
      dedupe: false,
      list: ["a", "b"],
      transcript: [{ t: 1 }],
      depth: 3,
    },
  );
  // The restarted object knows the armed alarm (read back from storage, not re-derived).
  const [[afterRestart]] = await calls(runtime, single, [["inspect"]]);
  assert.deepEqual(afterRestart, { ...before, databaseBytes: afterRestart.databaseBytes });
  const drained = await calls(runtime, single, [["dequeue", "slack:C1:1.1"], ["dequeue", "slack:C1:1.1"], ["dequeue", "slack:C1:1.1"], ["dequeue", "slack:C1:1.1"]]);
  assert.deepEqual(drained.map((e) => e?.message.n ?? null), [1, 2, 3, null]);

  // Four objects behind the sharded adapter.
  const [shardsAfter] = await calls(runtime, sharded, [["inspect"]]);
  assert.deepEqual(
    shardsAfter.map(({ databaseBytes, ...rest }) => rest),
    shardsBefore.map(({ databaseBytes, ...rest }) => rest),
  );
  assert.equal(shardsAfter.filter((s) => s.subscriptions > 0).length > 1, true, "spread over several objects");
  const reads = await calls(runtime, sharded, threads.flatMap((t, i) => [
    ["isSubscribed", t],
    ["get", `thread-state:${t}`],
    ["getList", `msg-history:${t}`],
    ["queueDepth", t],
    ["acquireLock", t, 1_000],
    ["extendLock", shardLocks[i], 3_600_000],
  ]));
  assert.deepEqual(reads, threads.flatMap((_, i) => [true, { i }, [i], 1, null, true]));
  await stopRuntime(runtime);
  console.log(`restart: ${threads.length + 2} subscriptions, ${threads.length + 1} locks, values, lists and queues in 5 objects kept across a runtime restart`);
});
