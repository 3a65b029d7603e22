// What Cloudflare bills: SQLite rows written per operation, from workerd's own cursor counters
// (ChatStateDO.rowCounts()). These are exact counts, not timings, so they are asserted: a change
// that makes a hot path write more rows must fail here.
import { describe, expect, it } from "vitest";
import { freshAdapter, stubFor } from "./helpers.js";

async function rowsWritten(name: string, op: () => Promise<unknown>): Promise<number> {
  const stub = stubFor(name);
  const before = await stub.rowCounts();
  await op();
  const after = await stub.rowCounts();
  return after.rowsWritten - before.rowsWritten;
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
    expect(figures["subscribe (new)"]).toBe(1);
    expect(figures["subscribe (again)"]).toBe(0);
    expect(figures["acquireLock"]).toBe(1);
    expect(figures["extendLock"]).toBe(1);
    expect(figures["releaseLock"]).toBe(1);
    expect(figures["setIfNotExists (new, TTL)"]).toBe(2);
    expect(figures["setIfNotExists (exists)"]).toBe(0);
    expect(figures["set (new, TTL)"]).toBe(2);
    expect(figures["set (new, no TTL)"]).toBe(1);
    expect(figures["appendToList (100 items, TTL)"]).toBeLessThanOrEqual(4);
    expect(figures["appendToList (100 items, no TTL)"]).toBe(2);
    expect(figures["enqueue"]).toBe(1);
    expect(figures["dequeue"]).toBe(1);
    for (const read of ["isSubscribed", "get", "getList (100)", "queueDepth"]) expect(figures[read]).toBe(0);
  });
});
