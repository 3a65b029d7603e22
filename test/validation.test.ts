// Representative bad inputs through the adapter: a clear error naming the argument, nothing
// written, the object still serving. (test/bad-input.test.ts has the full matrix.)
import { describe, expect, it } from "vitest";
import { freshAdapter, sql } from "./helpers.js";

describe("bad input", () => {
  it("is rejected with the argument named and leaves the object untouched and serving", async () => {
    const name = `bad-${Date.now()}`;
    const state = await freshAdapter({ name });
    await state.set("existing", "kept", 60_000);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => state.set("", 1), /`key`.*non-empty/],
      [() => state.set(42 as never, 1), /`key`.*must be a string, got number/],
      [() => state.set("k", 1n), /`value`.*JSON/],
      [() => state.set("k", cyclic), /`value`.*JSON/],
      [() => state.set("k", undefined), /`value`/],
      [() => state.set("k", 1, Number.NaN), /`ttlMs`.*finite/],
      [() => state.set("k", 1, -1), /`ttlMs`.*negative/],
      [() => state.set("k", "x".repeat(2_100_000)), /`value`.*bytes/],
      [() => state.set("bad\uD800key", 1), /`key`.*lone surrogate/],
      [() => state.acquireLock("t", 0), /`ttlMs`/],
      [() => state.releaseLock(null as never), /`lock.threadId`/],
      [() => state.appendToList("l", 1, { maxLength: 1.5 }), /`options.maxLength`/],
      [() => state.enqueue("q", { message: {} } as never, 10), /`entry.expiresAt`/],
      [() => state.enqueue("q", { expiresAt: Date.now() + 1000, message: {} } as never, -1), /`maxSize`/],
    ];
    for (const [call, message] of cases) await expect(call()).rejects.toThrow(message);
    for (const table of ["subscriptions", "locks", "lists", "list_items", "queue_entries"]) {
      expect(await sql(name, `SELECT * FROM ${table}`)).toEqual([]);
    }
    expect(await sql(name, "SELECT key, value FROM cache")).toEqual([{ key: "existing", value: '"kept"' }]);
    expect(await state.get("existing")).toBe("kept");
  });
});
