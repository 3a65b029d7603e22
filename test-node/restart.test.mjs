// A restart of the runtime with persisted storage keeps every subscription, lock, value, list and
// queue entry, and the armed alarm. Runs `wrangler dev --persist-to <dir>` (test-node/
// wrangler.jsonc), writes through the adapter over HTTP, stops the runtime (SIGTERM to the
// process group this test started), starts it again on the same directory and reads everything
// back, including through a 4-shard adapter (several objects). Run by scripts/test.sh:
//   node --test test-node/
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { readBackCalls, root, startWranglerDev, stop, stopAll, workerCalls as calls } from "./support.mjs";

const persist = join(root, ".tools", "restart-test", "state");
const config = join(root, "test-node", "wrangler.jsonc");
const startRuntime = () => startWranglerDev(config, { persistTo: persist });
const stopRuntime = (runtime) => stop(runtime.proc);

after(async () => {
  await stopAll();
  rmSync(join(root, "test-node", ".wrangler"), { recursive: true, force: true });
});

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
  const reads = await calls(runtime, sharded, readBackCalls(threads, shardLocks));
  assert.deepEqual(reads, threads.flatMap((_, i) => [true, { i }, [i], 1, null, true]));
  await stopRuntime(runtime);
  console.log(`restart: ${threads.length + 2} subscriptions, ${threads.length + 1} locks, values, lists and queues in 5 objects kept across a runtime restart`);
});
