// What Cloudflare bills: SQLite rows written per operation, from workerd's own cursor counters
// (ChatStateDO.rowCounts()). These are exact counts, not timings, so they are asserted: a change
// that makes a hot path write more rows must fail here.
import { env } from "cloudflare:test";
import type { QueueEntry } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState } from "../ts/index.js";
import { FaultyNamespace } from "./support/faulty-namespace.js";
import { freshAdapter, quiet, sql, stubFor } from "./helpers.js";

async function rows(name: string, op: () => Promise<unknown>): Promise<{ read: number; written: number }> {
  const stub = stubFor(name);
  const before = await stub.rowCounts();
  await op();
  const after = await stub.rowCounts();
  return { read: after.rowsRead - before.rowsRead, written: after.rowsWritten - before.rowsWritten };
}

async function rowsWritten(name: string, op: () => Promise<unknown>): Promise<number> {
  return (await rows(name, op)).written;
}

describe("rows written per call", () => {
  it("stays minimal and independent of how much is stored", async () => {
    const name = `costs-${Date.now()}`;
    const state = await freshAdapter({ name });
    const figures: Record<string, number> = {};

    figures["subscribe (new)"] = await rowsWritten(name, () => state.subscribe("t1"));
    figures["subscribe (again)"] = await rowsWritten(name, () => state.subscribe("t1"));
    figures["isSubscribed"] = await rowsWritten(name, () => state.isSubscribed("t1"));
    let lock = null as Awaited<ReturnType<typeof state.acquireLock>>;
    figures["acquireLock"] = await rowsWritten(name, async () => {
      lock = await state.acquireLock("t1", 30_000);
    });
    figures["extendLock"] = await rowsWritten(name, () => state.extendLock(lock!, 30_000));
    figures["releaseLock"] = await rowsWritten(name, () => state.releaseLock(lock!));
    figures["setIfNotExists (new, TTL)"] = await rowsWritten(name, () =>
      state.setIfNotExists("dedupe:slack:m1", true, 600_000),
    );
    figures["setIfNotExists (exists)"] = await rowsWritten(name, () =>
      state.setIfNotExists("dedupe:slack:m1", true, 600_000),
    );
    figures["set (new, TTL)"] = await rowsWritten(name, () => state.set("thread-state:t1", { a: 1 }, 2_592_000_000));
    figures["set (overwrite, TTL)"] = await rowsWritten(name, () =>
      state.set("thread-state:t1", { a: 2 }, 2_592_000_000),
    );
    figures["set (new, no TTL)"] = await rowsWritten(name, () => state.set("install", { token: "x" }));
    figures["get"] = await rowsWritten(name, () => state.get("thread-state:t1"));
    for (let i = 0; i < 100; i++) {
      await state.appendToList("msg-history:t1", { i }, { maxLength: 100, ttlMs: 604_800_000 });
    }
    figures["appendToList (100 items, TTL)"] = await rowsWritten(name, () =>
      state.appendToList("msg-history:t1", { i: 100 }, { maxLength: 100, ttlMs: 604_800_000 }),
    );
    figures["appendToList (100 items, no TTL)"] = await rowsWritten(name, () =>
      state.appendToList("msg-history:t1", { i: 101 }, { maxLength: 100 }),
    );
    figures["getList (100)"] = await rowsWritten(name, () => state.getList("msg-history:t1"));
    figures["enqueue"] = await rowsWritten(name, () =>
      state.enqueue("t1", { enqueuedAt: Date.now(), expiresAt: Date.now() + 90_000, message: {} } as never, 10),
    );
    figures["queueDepth"] = await rowsWritten(name, () => state.queueDepth("t1"));
    figures["dequeue"] = await rowsWritten(name, () => state.dequeue("t1"));
    console.log("rows written per call:", JSON.stringify(figures, null, 2));

    // WITHOUT ROWID tables: one b-tree row per insert; the partial expiry index adds one only
    // for rows that have a TTL.
    const expected: Record<string, number> = {
      "subscribe (new)": 1,
      "subscribe (again)": 0,
      acquireLock: 1,
      extendLock: 1,
      releaseLock: 1,
      "setIfNotExists (new, TTL)": 2,
      "setIfNotExists (exists)": 0,
      "set (new, TTL)": 2,
      "set (new, no TTL)": 1,
      // The new item (carrying the list's exact expiry) and the trimmed oldest; the `lists` row's
      // bound is still ahead of the new deadline (src/model/lists.rs).
      "appendToList (100 items, TTL)": 2,
      "appendToList (100 items, no TTL)": 2,
      enqueue: 1,
      dequeue: 1,
    };
    for (const [call, rows] of Object.entries(expected)) expect(figures[call], call).toBe(rows);
    for (const read of ["isSubscribed", "get", "getList (100)", "queueDepth"]) expect(figures[read]).toBe(0);
  });
});

describe("rows read by a read the object already knows", () => {
  it("is 0: isSubscribed and get are answered from the read cache, exactly", async () => {
    const name = `costs-reads-${Date.now()}`;
    const state = await freshAdapter({ name });
    await state.subscribe("t1");
    await state.set("thread-state:t1", { turn: 1 }, 60_000);
    // Known from the writes: no row read, and the answers are the written ones.
    expect(await rows(name, async () => expect(await state.isSubscribed("t1")).toBe(true))).toEqual({ read: 0, written: 0 });
    expect(await rows(name, async () => expect(await state.get("thread-state:t1")).toEqual({ turn: 1 }))).toEqual({ read: 0, written: 0 });
    // Negative answers are kept too.
    expect(await state.isSubscribed("t2")).toBe(false);
    expect(await rows(name, async () => expect(await state.isSubscribed("t2")).toBe(false))).toEqual({ read: 0, written: 0 });
    await state.unsubscribe("t1");
    await state.delete("thread-state:t1");
    expect(await state.isSubscribed("t1")).toBe(false);
    expect(await state.get("thread-state:t1")).toBeNull();
  });
});

describe("rows read by queue calls on a busy thread", () => {
  it("stay bounded however many dequeue receipts the last two minutes left", async () => {
    const name = `costs-receipts-${Date.now()}`;
    const state = await freshAdapter({ name });
    const entry = (i: number): QueueEntry => ({ message: { i } as never, enqueuedAt: Date.now(), expiresAt: Date.now() + 90_000 });
    const cycle = async (i: number) => {
      await state.enqueue("t1", entry(i), 10);
      expect(await state.queueDepth("t1")).toBe(1);
      expect((await state.dequeue("t1"))?.message).toEqual({ i });
    };
    for (let i = 0; i < 20; i++) await cycle(i);
    const few = await rows(name, () => cycle(20));
    for (let i = 21; i < 400; i++) await cycle(i); // 400 receipts now, within their window
    const many = await rows(name, () => cycle(400));
    // The receipts are there (a retry of any of those dequeues gets its entry back)...
    const kept = await sql<{ n: number }>(name, "SELECT COUNT(*) AS n FROM queue_entries WHERE taken_by IS NOT NULL");
    expect(kept[0]!.n).toBeGreaterThan(350);
    // ...but an enqueue, a depth and a dequeue read about as many rows as with 20 of them.
    expect(many.read).toBeLessThanOrEqual(few.read + 20);
  });
});

describe("bytes an append keeps for retries", () => {
  it("is its own receipt, not the list's whole window (a busy list's items stay small)", async () => {
    const name = `costs-receipt-bytes-${Date.now()}`;
    const state = await freshAdapter({ name });
    for (let i = 0; i < 150; i++) await state.appendToList("msg-history:c1", { i }, { maxLength: 100, ttlMs: 600_000 });
    const [newest] = await sql<{ requests: string }>(name, "SELECT requests FROM list_items WHERE list_key = 'msg-history:c1' ORDER BY seq DESC LIMIT 1");
    // Its own `id@ms` entry and the one of the item it trimmed (appended inside the window, so
    // its receipt moved here) — before: every id of the last two minutes, ~5 KB here.
    expect(newest!.requests.split(",")).toHaveLength(2);
    expect(newest!.requests.length).toBeLessThan(160);
  });
});

describe("one chat message", () => {
  it("costs 8 RPCs and 10 rows written once its thread and channel histories exist", async () => {
    const name = `costs-message-${Date.now()}`;
    const counting = new FaultyNamespace(env.CHAT_STATE, () => null);
    const state = createCloudflareState({ namespace: counting.namespace, name, logger: quiet });
    await state.connect();
    const week = 604_800_000;
    // As chat 4.41 handles one message with a lock strategy and thread history (and the bench's
    // "one chat message"): dedupe, subscription, lock, thread state, two histories, release.
    const message = async (i: number) => {
      expect(await state.setIfNotExists(`dedupe:slack:m${i}`, true, 300_000)).toBe(true);
      await state.isSubscribed("slack:C1:t1");
      const lock = await state.acquireLock("slack:C1:t1", 30_000);
      const current = (await state.get<Record<string, number>>("thread-state:slack:C1:t1")) ?? {};
      await state.set("thread-state:slack:C1:t1", { ...current, turn: i }, 2_592_000_000);
      await state.appendToList("msg-history:slack:C1:t1", { i }, { maxLength: 100, ttlMs: week });
      await state.appendToList("msg-history:slack:C1", { i }, { maxLength: 100, ttlMs: week });
      await state.releaseLock(lock!);
    };
    for (let i = 0; i < 101; i++) await message(i); // histories full: every append trims
    const calls = counting.counts.calls;
    const cost = await rows(name, () => message(101));
    // dedupe 2 (row + expiry index), lock 1 + release 1, thread state 2, each append 2 (the new
    // item carrying the list's expiry, the trimmed oldest).
    expect(cost.written).toBe(10);
    expect(counting.counts.calls - calls).toBe(8); // (rowCounts() is not a data call: not counted)
  });
});

describe("a contended message (a newcomer refused while the lock is held)", () => {
  it("costs one row more at the refusal and one more at its enqueue: the announcement that survives a reset", async () => {
    const name = `costs-contended-${Date.now()}`;
    const holder = await freshAdapter({ name });
    const newcomer = await freshAdapter({ name });
    const entry = { enqueuedAt: Date.now(), expiresAt: Date.now() + 90_000, message: { n: 1 } } as unknown as QueueEntry;
    const figures: Record<string, number> = {};
    let lock = null as Awaited<ReturnType<typeof holder.acquireLock>>;
    figures["acquireLock (holder)"] = await rowsWritten(name, async () => {
      lock = await holder.acquireLock("t1", 30_000);
    });
    // chat's newcomer: refused, asks the depth, enqueues (src/guarantees/announcements.rs).
    figures["acquireLock (refused)"] = await rowsWritten(name, async () => {
      expect(await newcomer.acquireLock("t1", 30_000)).toBeNull();
    });
    figures["queueDepth (newcomer)"] = await rowsWritten(name, () => newcomer.queueDepth("t1"));
    figures["enqueue (newcomer)"] = await rowsWritten(name, () => newcomer.enqueue("t1", entry, 10));
    // The holder's drain: the entry (kept as a receipt), then the final empty dequeue, release.
    figures["dequeue (entry)"] = await rowsWritten(name, async () => {
      expect((await holder.dequeue("t1"))?.message).toEqual({ n: 1 });
    });
    figures["dequeue (final)"] = await rowsWritten(name, async () => expect(await holder.dequeue("t1")).toBeNull());
    figures["releaseLock"] = await rowsWritten(name, () => holder.releaseLock(lock!));
    console.log("rows written by a contended message's lock and queue calls:", JSON.stringify(figures));
    // Before the announcements were rows: 0 for the refusal and 1 for the enqueue (4 in all).
    expect(figures).toEqual({
      "acquireLock (holder)": 1,
      "acquireLock (refused)": 1, // the announcement's row
      "queueDepth (newcomer)": 0,
      "enqueue (newcomer)": 2, // the entry, and the announcement's row deleted
      "dequeue (entry)": 1,
      "dequeue (final)": 0,
      releaseLock: 1,
    });
    expect(await sql(name, "SELECT COUNT(*) AS n FROM lock_announcements")).toEqual([{ n: 0 }]);
  });
});

describe("rows a retry costs", () => {
  it("a retry after a lost reply reads a bounded number of rows and writes none, whatever is stored", async () => {
    const name = `costs-retry-${Date.now()}`;
    // Every call's first attempt runs and loses its reply; the adapter's retry is what we measure.
    // Faults are keyed by the call's arguments, and a retry carries `retry: true`, so "the same
    // call's first failure" would fail the first retry as well: fail each method's first attempt
    // only (each is measured once through `state`).
    const failed = new Set<string>();
    const faulty = new FaultyNamespace(env.CHAT_STATE, ({ method }) => (failed.has(method) ? null : (failed.add(method), "after")));
    const state = createCloudflareState({ namespace: faulty.namespace, name, logger: quiet, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
    const clean = await freshAdapter({ name });
    await state.connect();
    const entry = (i: number) => ({ enqueuedAt: Date.now(), expiresAt: Date.now() + 600_000, message: { i } }) as unknown as QueueEntry;
    // Plenty stored: a 2,000-item list without maxLength, 200 queued entries, 500 cache keys.
    for (let i = 0; i < 2_000; i++) await clean.appendToList("transcripts:user:u1", { i });
    for (let i = 0; i < 200; i++) await clean.enqueue("t1", entry(i), 0);
    for (let i = 0; i < 500; i++) await clean.set(`k${i}`, i, 600_000);
    // One call through `state` before measuring: here the object has been seen to restart (its
    // in-memory row counters back to 0) at the first call through the faulty namespace, which
    // would make the first figure a difference across two instances.
    await state.isSubscribed("warm-up");

    // Each figure is first attempt + retry; the first attempt alone is measured beside it.
    const figures: Record<string, { read: number; written: number }> = {};
    const once: Record<string, { read: number; written: number }> = {};
    figures["acquireLock"] = await rows(name, () => state.acquireLock("t1", 30_000));
    once["acquireLock"] = await rows(name, () => clean.acquireLock("t2", 30_000));
    figures["setIfNotExists"] = await rows(name, () => state.setIfNotExists("dedupe:slack:m1", true, 600_000));
    once["setIfNotExists"] = await rows(name, () => clean.setIfNotExists("dedupe:slack:m2", true, 600_000));
    figures["appendToList (2,000 items, no maxLength)"] = await rows(name, () => state.appendToList("transcripts:user:u1", { i: -1 }));
    once["appendToList (2,000 items, no maxLength)"] = await rows(name, () => clean.appendToList("transcripts:user:u1", { i: -2 }));
    figures["enqueue (200 queued)"] = await rows(name, () => state.enqueue("t1", entry(-1), 0));
    once["enqueue (200 queued)"] = await rows(name, () => clean.enqueue("t1", entry(-2), 0));
    figures["dequeue (200 queued)"] = await rows(name, () => state.dequeue("t1"));
    once["dequeue (200 queued)"] = await rows(name, () => clean.dequeue("t1"));
    console.log("rows per call, first attempt + retry after a lost reply:", JSON.stringify(figures));
    console.log("rows per call, first attempt alone:", JSON.stringify(once));

    for (const [call, both] of Object.entries(figures)) {
      const first = once[call]!;
      // The retry writes nothing ...
      expect(both.written, call).toBe(first.written);
      // ... and reads a handful of rows: never the list's 2,000 items (a list's retry reads its
      // newest items until its own). A queue's retry looks for its id among that queue's own
      // rows (chat's queues hold at most 10; here 200), nothing else.
      const bound = call.startsWith("enqueue") || call.startsWith("dequeue") ? 2 * 202 + 5 : 8;
      expect(both.read - first.read, call).toBeLessThanOrEqual(bound);
    }
    // Nothing was doubled.
    expect((await clean.getList("transcripts:user:u1")).length).toBe(2_002);
    expect(await clean.queueDepth("t1")).toBe(200);
  });
});

