import { describe, expect, it } from "vitest";
import { freshAdapter } from "./helpers.js";

describe("smoke", () => {
  it("round-trips a value", async () => {
    const state = await freshAdapter();
    await state.set("k", { a: 1 }, 1000);
    expect(await state.get("k")).toEqual({ a: 1 });
    const lock = await state.acquireLock("t", 1000);
    expect(lock).not.toBeNull();
  });
});
