// Every row of the contract table (shared/docs/contract.md), through the public adapter API,
// against real Durable Objects in workerd.
import type { QueueEntry } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState } from "../ts/index.js";
import { env } from "cloudflare:test";
import { freshAdapter, sleep } from "./helpers.js";

const entry = (text: string, ttlMs = 90_000): QueueEntry =>
  ({
    enqueuedAt: Date.now(),
    expiresAt: Date.now() + ttlMs,
    message: { id: text, text } as unknown as QueueEntry["message"],
  }) as QueueEntry;

describe("connect / disconnect", () => {
  it("rejects every data call before connect() and after disconnect()", async () => {
    const state = createCloudflareState(env.CHAT_STATE);
    const calls: Array<() => Promise<unknown>> = [
      () => state.subscribe("t"),
      () => state.unsubscribe("t"),
      () => state.isSubscribed("t"),
      () => state.acquireLock("t", 1000),
      () => state.releaseLock({ threadId: "t", token: "x", expiresAt: 0 }),
      () => state.extendLock({ threadId: "t", token: "x", expiresAt: 0 }, 1000),
      () => state.forceReleaseLock("t"),
      () => state.get("k"),
      () => state.set("k", 1),
      () => state.setIfNotExists("k", 1),
      () => state.delete("k"),
      () => state.appendToList("k", 1),
      () => state.getList("k"),
      () => state.enqueue("t", entry("m"), 10),
      () => state.dequeue("t"),
      () => state.queueDepth("t"),
    ];
    for (const call of calls) await expect(call()).rejects.toThrow(/not connected/);
    await state.connect();
    await state.connect();
    expect(await state.isSubscribed("t")).toBe(false);
    await state.disconnect();
    await expect(state.get("k")).rejects.toThrow(/not connected/);
    await state.connect();
    expect(await state.get("k")).toBeNull();
  });
});

describe("subscriptions", () => {
  it("are an idempotent set that does not expire", async () => {
    const state = await freshAdapter();
    expect(await state.isSubscribed("slack:C1:1.1")).toBe(false);
    await state.subscribe("slack:C1:1.1");
    await state.subscribe("slack:C1:1.1");
    expect(await state.isSubscribed("slack:C1:1.1")).toBe(true);
    expect(await state.isSubscribed("slack:C1:2.2")).toBe(false);
    await state.unsubscribe("slack:C1:1.1");
    await state.unsubscribe("slack:C1:1.1");
    expect(await state.isSubscribed("slack:C1:1.1")).toBe(false);
  });
});

describe("locks", () => {
  it("acquireLock grants one holder with a fresh unguessable token", async () => {
    const state = await freshAdapter();
    const before = Date.now();
    const lock = await state.acquireLock("thread", 30_000);
    expect(lock).not.toBeNull();
    expect(lock!.threadId).toBe("thread");
    expect(lock!.token).toMatch(/^cfdo_[0-9a-f]{32}$/);
    expect(lock!.expiresAt).toBeGreaterThanOrEqual(before + 30_000);
    expect(lock!.expiresAt).toBeLessThanOrEqual(Date.now() + 30_000);
    expect(await state.acquireLock("thread", 30_000)).toBeNull();
    // Lock keys are arbitrary strings: channels and callback tokens lock independently.
    expect(await state.acquireLock("chat:callback:abc", 10_000)).not.toBeNull();
    await state.releaseLock(lock!);
    const next = await state.acquireLock("thread", 30_000);
    expect(next!.token).not.toBe(lock!.token);
  });

  it("an expired holder never blocks", async () => {
    const state = await freshAdapter();
    const old = await state.acquireLock("t", 40);
    await sleep(60);
    const fresh = await state.acquireLock("t", 30_000);
    expect(fresh).not.toBeNull();
    expect(fresh!.token).not.toBe(old!.token);
  });

  it("releaseLock with a wrong token or on a missing lock is a silent no-op", async () => {
    const state = await freshAdapter();
    await state.releaseLock({ threadId: "none", token: "cfdo_x", expiresAt: 0 });
    const lock = await state.acquireLock("t", 30_000);
    await state.releaseLock({ ...lock!, token: "cfdo_wrong" });
    expect(await state.acquireLock("t", 30_000)).toBeNull();
  });

  it("extendLock extends only a held, unexpired lock and never resurrects", async () => {
    const state = await freshAdapter();
    // Generous TTLs where a test needs a value to still be alive: RPCs on a loaded machine can
    // take tens of milliseconds. Only "must have expired" waits are short.
    const lock = await state.acquireLock("t", 1_000);
    expect(await state.extendLock(lock!, 30_000)).toBe(true);
    await sleep(1_100);
    // Still held thanks to the extension.
    expect(await state.acquireLock("t", 30_000)).toBeNull();
    expect(await state.extendLock({ ...lock!, token: "cfdo_wrong" }, 30_000)).toBe(false);
    expect(await state.extendLock({ threadId: "never", token: lock!.token, expiresAt: 0 }, 1000)).toBe(false);
    expect(await state.acquireLock("never", 1000)).not.toBeNull();

    const short = await state.acquireLock("s", 30);
    await sleep(60);
    expect(await state.extendLock(short!, 30_000)).toBe(false);
    // Not resurrected: a new caller gets it.
    expect(await state.acquireLock("s", 30_000)).not.toBeNull();
  });

  it("forceReleaseLock frees the lock and turns the old holder's release into a no-op", async () => {
    const state = await freshAdapter();
    await state.forceReleaseLock("absent");
    const old = await state.acquireLock("t", 30_000);
    await state.forceReleaseLock("t");
    const next = await state.acquireLock("t", 30_000);
    expect(next).not.toBeNull();
    await state.releaseLock(old!);
    expect(await state.extendLock(old!, 30_000)).toBe(false);
    expect(await state.acquireLock("t", 30_000)).toBeNull();
  });
});

describe("cache", () => {
  it("get returns null on a miss, never undefined", async () => {
    const state = await freshAdapter();
    expect(await state.get("missing")).toBeNull();
  });

  it("values round-trip as JSON copies", async () => {
    const state = await freshAdapter();
    const value = { a: 1, nested: { list: [1, "two", null, true] }, text: "héllo ✓ \u0000" };
    await state.set("k", value);
    const read = await state.get<typeof value>("k");
    expect(read).toEqual(value);
    expect(read).not.toBe(value);
    for (const scalar of [0, "", false, null, "str", 1.5, [], {}]) {
      await state.set("s", scalar);
      expect(await state.get("s")).toEqual(scalar);
    }
    // JSON semantics: undefined properties vanish, dates become strings.
    await state.set("d", { when: new Date(0), gone: undefined });
    expect(await state.get("d")).toEqual({ when: "1970-01-01T00:00:00.000Z" });
  });

  it("set overwrites and resets the TTL; 0 or no TTL never expires", async () => {
    const state = await freshAdapter();
    await state.set("k", 1, 50);
    await state.set("k", 2); // no TTL: the 50 ms one is gone
    await sleep(80);
    expect(await state.get("k")).toBe(2);
    await state.set("z", "zero", 0);
    await state.set("t", "ttl", 40);
    await sleep(60);
    expect(await state.get("z")).toBe("zero");
    expect(await state.get("t")).toBeNull();
  });

  it("setIfNotExists is true only when absent or expired", async () => {
    const state = await freshAdapter();
    expect(await state.setIfNotExists("dedupe:slack:m1", true, 600_000)).toBe(true);
    expect(await state.setIfNotExists("dedupe:slack:m1", "other", 600_000)).toBe(false);
    expect(await state.get("dedupe:slack:m1")).toBe(true);
    await state.set("short", 1, 30);
    await sleep(50);
    expect(await state.setIfNotExists("short", 2)).toBe(true);
    expect(await state.get("short")).toBe(2);
  });

  it("delete removes the value only; lists and queues are separate key spaces", async () => {
    const state = await freshAdapter();
    await state.set("same", "value");
    await state.appendToList("same", "item");
    await state.enqueue("same", entry("m"), 10);
    await state.delete("same");
    await state.delete("same");
    expect(await state.get("same")).toBeNull();
    expect(await state.getList("same")).toEqual(["item"]);
    expect(await state.queueDepth("same")).toBe(1);
  });
});

describe("lists", () => {
  it("append keeps insertion order and the newest maxLength", async () => {
    const state = await freshAdapter();
    expect(await state.getList("missing")).toEqual([]);
    for (let i = 0; i < 7; i++) await state.appendToList("l", { i }, { maxLength: 5 });
    expect(await state.getList("l")).toEqual([2, 3, 4, 5, 6].map((i) => ({ i })));
    // maxLength 1: tombstones.
    await state.appendToList("tomb", "a", { maxLength: 1 });
    await state.appendToList("tomb", "b", { maxLength: 1 });
    expect(await state.getList("tomb")).toEqual(["b"]);
    // No maxLength (or 0): unbounded.
    for (let i = 0; i < 3; i++) await state.appendToList("u", i, { maxLength: 0 });
    expect(await state.getList("u")).toEqual([0, 1, 2]);
  });

  it("a TTL sets the whole list's expiry; no TTL keeps it; an expired list starts fresh", async () => {
    const state = await freshAdapter();
    await state.appendToList("l", 1, { ttlMs: 1_000 });
    await state.appendToList("l", 2); // keeps the 1 s expiry
    expect(await state.getList("l")).toEqual([1, 2]);
    await sleep(1_100);
    expect(await state.getList("l")).toEqual([]);
    await state.appendToList("l", 3);
    expect(await state.getList("l")).toEqual([3]);
    // Refreshing: each append with a TTL pushes the expiry out.
    await state.appendToList("r", "a", { ttlMs: 1_000 });
    await sleep(600);
    await state.appendToList("r", "b", { ttlMs: 1_000 });
    await sleep(600);
    expect(await state.getList("r")).toEqual(["a", "b"]);
  });
});

describe("queues", () => {
  it("enqueue is FIFO, drops the oldest beyond maxSize, and returns the depth", async () => {
    const state = await freshAdapter();
    expect(await state.queueDepth("t")).toBe(0);
    expect(await state.dequeue("t")).toBeNull();
    const depths = [];
    for (const text of ["a", "b", "c", "d"]) depths.push(await state.enqueue("t", entry(text), 3));
    expect(depths).toEqual([1, 2, 3, 3]);
    expect(await state.queueDepth("t")).toBe(3);
    const drained: string[] = [];
    for (let e = await state.dequeue("t"); e; e = await state.dequeue("t")) drained.push(e.message.text);
    expect(drained).toEqual(["b", "c", "d"]);
    expect(await state.queueDepth("t")).toBe(0);
  });

  it("entries round-trip as JSON and expired entries are never returned", async () => {
    const state = await freshAdapter();
    const e = entry("hello");
    await state.enqueue("t", entry("stale", 30), 10);
    await state.enqueue("t", e, 10);
    await sleep(50);
    expect(await state.queueDepth("t")).toBe(1);
    expect(await state.dequeue("t")).toEqual(e);
    expect(await state.dequeue("t")).toBeNull();
  });

  it("queues are per key", async () => {
    const state = await freshAdapter();
    await state.enqueue("a", entry("1"), 0);
    await state.enqueue("b", entry("2"), 0);
    expect((await state.dequeue("b"))!.message.text).toBe("2");
    expect((await state.dequeue("a"))!.message.text).toBe("1");
  });
});
