// A bot moving from the `migrations` form to the `exports` form keeps its state, and re-shards
// under `exports`. README's two jsonc blocks (read from README.md, with `name`/`main` pointed at
// test-node/restart-worker.ts, the adapter over HTTP) run under `wrangler dev --persist-to` on one
// directory: first `migrations` writes a subscription, a held lock, values, a list and a queue
// and reads them back; then, as test-node/restart.test.mjs restarts the runtime, the runtime is
// stopped and started on the `exports` configuration, which reads everything back from the same
// storage. Then one layout change (1 object -> 4 shards, `migrateFrom`) moves units on first use
// and drains the rest: object-to-object handoff RPCs through `ctx.exports`, under `exports`.
// What this cannot show is Cloudflare's side of the switch (README: no local test runs a deploy).
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseJsonc, readBackCalls, readmeBlock, root, startWranglerDev, stop, stopAll, workerCalls as calls } from "./support.mjs";

const scratch = join(root, ".tools", "config-switch");
const persist = join(scratch, "state");

after(async () => {
  await stopAll();
});

/** README's block `name` as the configuration of the restart Worker. */
function config(name) {
  const { $schema: _, ...block } = parseJsonc(readmeBlock(name));
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "wrangler.json");
  // The same Worker name in both: a local object's storage is keyed by Worker and class name.
  writeFileSync(
    file,
    JSON.stringify({ ...block, name: "chat-state-config-switch", main: join(root, "test-node", "restart-worker.ts") }, null, 2),
  );
  return { file, block };
}

const single = { name: "switch" };
const resharded = { name: "switch", shards: 4, migrateFrom: { name: "switch" } };
const threads = Array.from({ length: 12 }, (_, i) => `slack:C${i}:1.${i}`);
const entry = (n) => ({ enqueuedAt: 1, expiresAt: Date.now() + 3_600_000, message: { n } });
/** Every key's state, read through `options`' layout; `locks` are the tokens taken at the start. */
const readAll = (runtime, options, locks) => calls(runtime, options, readBackCalls(threads, locks));
const expected = threads.flatMap((_, i) => [true, { i }, [`m${i}`], 1, null, true]);

test("state written under `migrations` is read under `exports`, then re-sharded there through ctx.exports", { timeout: 480_000 }, async () => {
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(persist, { recursive: true });
  const legacy = config("wrangler-migrations-jsonc");
  const current = config("wrangler-jsonc");
  assert.deepEqual(legacy.block.migrations, [{ tag: "v1", new_sqlite_classes: ["ChatStateDO"] }]);
  assert.equal(legacy.block.exports, undefined);
  assert.deepEqual(current.block.exports, { ChatStateDO: { type: "durable-object", storage: "sqlite" } });
  assert.equal(current.block.migrations, undefined);

  let runtime = await startWranglerDev(legacy.file, { persistTo: persist });
  const locks = await calls(runtime, single, threads.map((t) => ["acquireLock", t, 3_600_000]));
  assert.ok(locks.every((l) => l?.token));
  await calls(runtime, single, threads.flatMap((t, i) => [
    ["subscribe", t],
    ["set", `thread-state:${t}`, { i }, 3_600_000],
    ["appendToList", `msg-history:${t}`, `m${i}`, { maxLength: 5, ttlMs: 3_600_000 }],
    ["enqueue", t, entry(i), 10],
  ]));
  assert.deepEqual(await readAll(runtime, single, locks), expected, "read back under `migrations`");
  const [[before]] = await calls(runtime, single, [["inspect"]]);
  await stop(runtime.proc);

  runtime = await startWranglerDev(current.file, { persistTo: persist });
  const [[after]] = await calls(runtime, single, [["inspect"]]);
  assert.deepEqual(after, { ...before, databaseBytes: after.databaseBytes }, "the same object, rows and armed alarm");
  assert.deepEqual(await readAll(runtime, single, locks), expected, "read back under `exports`");

  // The layout change: the first calls move their units from "switch" to their new homes.
  assert.deepEqual(await readAll(runtime, resharded, locks), expected, "read through the new layout");
  let status;
  for (let round = 0; round < 10; round++) {
    status = await calls(runtime, resharded, [["drainMigration", { budgetMs: 20_000 }]]);
    if (status[0].every((s) => s.drained)) break;
  }
  assert.deepEqual(status[0].map(({ objectName, drained }) => ({ objectName, drained })), [{ objectName: "switch", drained: true }]);
  const [objects] = await calls(runtime, resharded, [["inspect"]]);
  const homes = objects.filter((o) => o.subscriptions > 0);
  assert.ok(homes.length > 1, `the threads now live in several objects: ${JSON.stringify(objects)}`);
  assert.equal(homes.reduce((n, o) => n + o.subscriptions, 0), threads.length);
  assert.equal(objects.find((o) => o.objectName === "switch").migration.drained, true);
  assert.deepEqual(await readAll(runtime, resharded, locks), expected, "after the drain");
  await stop(runtime.proc);
  console.log(`config-switch: ${threads.length} threads written under migrations, read under exports, re-sharded 1 -> 4 (${homes.length} objects hold them)`);
});
