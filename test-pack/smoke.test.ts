// The packed package on the `migrations` form (wrangler.migrations.jsonc) in the vitest plugin:
// one write-and-read smoke test. Everything else runs on the `exports` form (wrangler.jsonc).
// scripts/pack-test.sh copies it to .tools/pack-test/smoke/migrations.test.ts.
import { env, runInDurableObject } from "cloudflare:test";
import { createCloudflareState } from "chat-state-cloudflare-do";
import { expect, it } from "vitest";

it("the packed package writes and reads back state on the `migrations` form", async () => {
  const name = `smoke-${Date.now()}`;
  const thread = "slack:C1:1.1";
  const writer = createCloudflareState({ namespace: env.CHAT_STATE, name });
  await writer.connect();
  await writer.subscribe(thread);
  const lock = await writer.acquireLock(thread, 60_000);
  expect(lock?.threadId).toBe(thread);
  await writer.set(`thread-state:${thread}`, { turns: 1 }, 60_000);
  await writer.appendToList(`msg-history:${thread}`, "a", { maxLength: 10 });
  await writer.enqueue(thread, { enqueuedAt: 1, expiresAt: Date.now() + 60_000, message: { n: 1 } }, 10);

  // A second adapter instance (as the next request has) reads it back from the object.
  const reader = createCloudflareState({ namespace: env.CHAT_STATE, name });
  await reader.connect();
  expect(await reader.isSubscribed(thread)).toBe(true);
  expect(await reader.acquireLock(thread, 1_000)).toBeNull();
  expect(await reader.get(`thread-state:${thread}`)).toEqual({ turns: 1 });
  expect(await reader.getList(`msg-history:${thread}`)).toEqual(["a"]);
  expect((await reader.dequeue(thread))?.message).toEqual({ n: 1 });
  expect(await reader.releaseLock(lock!)).toBeUndefined();
  // SQLite-backed, as `new_sqlite_classes` declares it: the adapter's tables are there.
  const tables = await runInDurableObject(env.CHAT_STATE.getByName(name), (_instance, state) =>
    state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'subscriptions'").toArray(),
  );
  expect(tables).toHaveLength(1);
});
