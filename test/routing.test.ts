// Shard routing: rows land in the object the router names, and load spreads over shards.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createCloudflareState } from "../ts/index.js";
import { freshAdapter, sql } from "./helpers.js";

describe("routing", () => {
  it("without sharding everything goes to the one named object", async () => {
    const name = `single-${Date.now()}`;
    const state = await freshAdapter({ name });
    expect(state.objectNameForThread("slack:C1:1")).toBe(name);
    expect(state.objectNameForKey("dedupe:slack:m1")).toBe(name);
    await state.subscribe("slack:C1:1");
    await state.setIfNotExists("dedupe:slack:m1", true, 60_000);
    expect(await sql(name, "SELECT thread_id FROM subscriptions")).toEqual([{ thread_id: "slack:C1:1" }]);
    expect(await sql(name, "SELECT key FROM cache")).toEqual([{ key: "dedupe:slack:m1" }]);
  });

  it("with shards, a thread's lock, subscription, queue, state and history share its shard", async () => {
    const base = `sharded-${Date.now()}`;
    const state = await freshAdapter({ name: base, shards: 4 });
    const thread = "slack:C42:1700000000.000100";
    const home = state.objectNameForThread(thread);
    // Bucket 0 is the base object itself; buckets 1-3 are `name:shard-i` (names that do not
    // depend on the shard count, so growing moves only the keys jump hashing moves).
    expect(home).toMatch(new RegExp(`^${base}(:shard-[1-3])?$`));
    for (const key of [`thread-state:${thread}`, `msg-history:${thread}`, `active-turn:${thread}`, `abort-turn:${thread}`]) {
      expect(state.objectNameForKey(key)).toBe(home);
    }
    await state.subscribe(thread);
    const lock = await state.acquireLock(thread, 30_000);
    await state.set(`thread-state:${thread}`, { turns: 1 }, 60_000);
    await state.appendToList(`msg-history:${thread}`, { text: "hi" }, { maxLength: 100, ttlMs: 60_000 });
    await state.enqueue(thread, { enqueuedAt: Date.now(), expiresAt: Date.now() + 90_000, message: {} } as never, 10);
    expect(await sql(home, "SELECT thread_id FROM subscriptions")).toEqual([{ thread_id: thread }]);
    expect(await sql(home, "SELECT thread_id FROM locks")).toEqual([{ thread_id: thread }]);
    expect(await sql(home, "SELECT key FROM cache")).toEqual([{ key: `thread-state:${thread}` }]);
    expect(await sql(home, "SELECT list_key FROM lists")).toEqual([{ list_key: `msg-history:${thread}` }]);
    expect(await sql(home, "SELECT queue_key FROM queue_entries")).toEqual([{ queue_key: thread }]);
    await state.releaseLock(lock!);
    expect(await sql(home, "SELECT thread_id FROM locks")).toEqual([]);

    // The other shards hold nothing of this thread.
    const others = (await state.inspect()).filter((shard) => shard.objectName !== home);
    expect(others).toHaveLength(3);
    for (const shard of others) expect(shard.subscriptions + shard.cacheEntries + shard.listItems).toBe(0);
  });

  it("with shards, dedupe keys spread over every shard, about evenly", async () => {
    const base = `spread-${Date.now()}`;
    const state = await freshAdapter({ name: base, shards: 4 });
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const key = `dedupe:slack:m${i}`;
      const name = state.objectNameForKey(key);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    expect(counts.size).toBe(4);
    for (const n of counts.values()) expect(n).toBeGreaterThan(60);
    // And the rows really land there.
    for (let i = 0; i < 40; i++) await state.setIfNotExists(`dedupe:slack:m${i}`, true, 60_000);
    const perShard = await state.inspect();
    expect(perShard.reduce((sum, s) => sum + s.cacheEntries, 0)).toBe(40);
    for (const shard of perShard) {
      const keys = await sql<{ key: string }>(shard.objectName, "SELECT key FROM cache");
      for (const { key } of keys) expect(state.objectNameForKey(key)).toBe(shard.objectName);
    }
  });

  it("a shardKey function places thread-part calls and thread-derived keys on the object it names", async () => {
    // As chat-state-cloudflare-do 0.1.x named them: exactly shardKey(threadId), no prefix.
    const base = `custom-${Date.now()}`;
    const seen: string[] = [];
    const state = await freshAdapter({
      name: base,
      shardKey: (threadId) => {
        seen.push(threadId);
        return `${base}:${threadId.split(":")[1] ?? "none"}`;
      },
    });
    await state.subscribe("slack:TEAM1:1.1");
    await state.set("channel-state:slack:TEAM2", { topic: "x" });
    await state.setIfNotExists("dedupe:slack:m1", true, 60_000);
    expect(seen).toEqual(["slack:TEAM1:1.1", "slack:TEAM2"]);
    expect(await sql(`${base}:TEAM1`, "SELECT thread_id FROM subscriptions")).toEqual([{ thread_id: "slack:TEAM1:1.1" }]);
    expect(await sql(`${base}:TEAM2`, "SELECT key FROM cache")).toEqual([{ key: "channel-state:slack:TEAM2" }]);
    expect(await sql(base, "SELECT key FROM cache")).toEqual([{ key: "dedupe:slack:m1" }]);
    const inspected = await state.inspect([`${base}:TEAM1`, `${base}:TEAM2`]);
    expect(inspected.map((s) => [s.objectName, s.subscriptions, s.cacheEntries])).toEqual([
      [base, 0, 1],
      [`${base}:TEAM1`, 1, 0],
      [`${base}:TEAM2`, 0, 1],
    ]);
  });

  it("rejects contradictory or invalid options at construction", () => {
    const ns = env.CHAT_STATE;
    expect(() => createCloudflareState({ namespace: ns, shards: 4, shardKey: () => "x" })).toThrow(/either `shardKey` or `shards`/);
    expect(() => createCloudflareState({ namespace: ns, shards: 0 })).toThrow(/`shards`/);
    expect(() => createCloudflareState({ namespace: ns, shards: 2.5 })).toThrow(/`shards`/);
    expect(() => createCloudflareState({ namespace: ns, name: "" })).toThrow(/`name`/);
    expect(() => createCloudflareState({} as never)).toThrow(/`namespace`/);
  });

  it("a shardKey that returns a non-string is reported, not routed", async () => {
    const state = await freshAdapter({ shardKey: () => undefined as unknown as string });
    await expect(state.subscribe("t")).rejects.toThrow(/`shardKey`/);
  });

  it("locationHint produces working stubs", async () => {
    const state = createCloudflareState({
      namespace: env.CHAT_STATE,
      name: `placed-${Date.now()}`,
      locationHint: "weur",
    });
    await state.connect();
    await state.set("k", 1);
    expect(await state.get("k")).toBe(1);
  });
});
