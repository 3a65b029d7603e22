// White-box checks of expiry: the alarm's armed time, what a sweep deletes and keeps, and that
// reads are strict before any sweep runs.
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { alarmOf, freshAdapter, sleep, sql, stubFor } from "./helpers.js";

const MIN_SWEEP_INTERVAL_MS = 30_000;

function uniqueName(label: string): string {
  return `${label}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

describe("alarm scheduling", () => {
  it("arms at the earliest cache/list deadline and moves only for an earlier one", async () => {
    const name = uniqueName("arm");
    const state = await freshAdapter({ name });
    expect(await alarmOf(name)).toBeNull();

    const t1 = Date.now();
    await state.setIfNotExists("dedupe:a", true, 600_000);
    const first = (await alarmOf(name))!;
    expect(first).toBeGreaterThanOrEqual(t1 + 600_000);
    expect(first).toBeLessThanOrEqual(Date.now() + 600_000);

    // A later deadline leaves the alarm where it is.
    await state.set("thread-state:x", {}, 2_592_000_000);
    expect(await alarmOf(name)).toBe(first);

    // An earlier list deadline pulls it in.
    const t2 = Date.now();
    await state.appendToList("msg-history:x", 1, { ttlMs: 60_000 });
    const second = (await alarmOf(name))!;
    expect(second).toBeGreaterThanOrEqual(t2 + 60_000);
    expect(second).toBeLessThan(first);

    // Locks and queue entries never pull an armed alarm in.
    await state.acquireLock("x", 1_000);
    await state.enqueue("x", { enqueuedAt: Date.now(), expiresAt: Date.now() + 1_000, message: {} } as never, 10);
    expect(await alarmOf(name)).toBe(second);
  });

  it("a lock arms the alarm when none is armed, so an abandoned lock is still swept", async () => {
    const name = uniqueName("lockarm");
    const state = await freshAdapter({ name });
    const lock = await state.acquireLock("t", 40);
    expect(await alarmOf(name)).toBe(lock!.expiresAt);
    // Real alarms fire by themselves in workerd; run it by hand too in case it has not yet.
    await sleep(60);
    await runDurableObjectAlarm(stubFor(name));
    await waitFor(async () => (await sql(name, "SELECT * FROM locks")).length === 0);
    expect(await alarmOf(name)).toBeNull();
  });
});

describe("strict reads", () => {
  it("never return an expired row, whether or not a sweep has run", async () => {
    const name = uniqueName("strict");
    const state = await freshAdapter({ name });
    // Arm the alarm an hour out, then plant expired rows behind its back: no sweep will run.
    await state.set("live", 1, 3_600_000);
    const past = Date.now() - 1;
    await sql(name, "INSERT INTO cache (key, value, expires_at) VALUES ('dead', '1', ?1)", past);
    await sql(name, "INSERT INTO locks (thread_id, token, expires_at) VALUES ('t', 'cfdo_old', ?1)", past);
    await sql(name, "INSERT INTO lists (list_key, expires_at) VALUES ('l', ?1)", past);
    await sql(name, "INSERT INTO list_items (list_key, seq, value) VALUES ('l', 0, '\"old\"')");
    await sql(name, "INSERT INTO queue_entries (queue_key, seq, value, expires_at) VALUES ('q', 0, '{}', ?1)", past);

    expect(await state.get("dead")).toBeNull();
    expect(await state.setIfNotExists("dead", 2)).toBe(true);
    expect(await state.extendLock({ threadId: "t", token: "cfdo_old", expiresAt: past }, 1000)).toBe(false);
    expect(await state.acquireLock("t", 1000)).not.toBeNull();
    expect(await state.getList("l")).toEqual([]);
    await state.appendToList("l", "new");
    expect(await state.getList("l")).toEqual(["new"]);
    expect(await state.queueDepth("q")).toBe(0);
    expect(await state.dequeue("q")).toBeNull();
  });
});

describe("sweep", () => {
  it("deletes expired rows only, keeps live rows, and re-arms for the next deadline", async () => {
    const name = uniqueName("sweep");
    const state = await freshAdapter({ name });
    await state.set("live", 1, 3_600_000);
    await state.set("forever", 1);
    await state.acquireLock("live-lock", 3_600_000);
    await state.enqueue("q", { enqueuedAt: Date.now(), expiresAt: Date.now() + 3_600_000, message: { n: 2 } } as never, 0);
    for (let i = 0; i < 5; i++) await state.appendToList("live-list", i, { ttlMs: 7_200_000 });
    // Expired rows of every kind, planted directly so the (hour-away) alarm is the only sweeper.
    const past = Date.now() - 1;
    await sql(name, "INSERT INTO cache (key, value, expires_at) VALUES ('dead', '1', ?1)", past);
    await sql(name, "INSERT INTO locks (thread_id, token, expires_at) VALUES ('dead-lock', 'cfdo_x', ?1)", past);
    await sql(name, "INSERT INTO queue_entries (queue_key, seq, value, expires_at) VALUES ('q', -1, '{}', ?1)", past);
    await sql(name, "INSERT INTO lists (list_key, expires_at) VALUES ('dead-list', ?1)", past);
    await sql(
      name,
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4) INSERT INTO list_items (list_key, seq, value) SELECT 'dead-list', i, i FROM n",
    );

    const sweptAt = Date.now();
    expect(await runDurableObjectAlarm(stubFor(name))).toBe(true);

    expect((await sql<{ key: string }>(name, "SELECT key FROM cache ORDER BY key")).map((r) => r.key)).toEqual([
      "forever",
      "live",
    ]);
    expect((await sql<{ thread_id: string }>(name, "SELECT thread_id FROM locks")).map((r) => r.thread_id)).toEqual([
      "live-lock",
    ]);
    expect(await sql(name, "SELECT seq FROM queue_entries")).toEqual([{ seq: 0 }]);
    expect((await sql<{ list_key: string }>(name, "SELECT DISTINCT list_key FROM list_items")).map((r) => r.list_key)).toEqual([
      "live-list",
    ]);
    expect(await sql(name, "SELECT list_key FROM lists")).toEqual([{ list_key: "live-list" }]);
    expect(await state.getList("live-list")).toEqual([0, 1, 2, 3, 4]);
    expect(await state.get("live")).toBe(1);

    // Next alarm: exactly the earliest remaining deadline (an hour out, past the minimum interval).
    const [{ d }] = (await sql<{ d: number }>(
      name,
      "SELECT MIN(expires_at) AS d FROM (SELECT expires_at FROM cache WHERE expires_at IS NOT NULL UNION ALL SELECT expires_at FROM locks UNION ALL SELECT COALESCE(retain_until, expires_at) FROM queue_entries UNION ALL SELECT expires_at FROM lists)",
    )) as [{ d: number }];
    expect(await alarmOf(name)).toBe(d);
    expect(d).toBeGreaterThanOrEqual(sweptAt + MIN_SWEEP_INTERVAL_MS);
  });

  it("re-arms no sooner than the minimum interval when the next deadline is close", async () => {
    const name = uniqueName("interval");
    const state = await freshAdapter({ name });
    await state.set("b", 1, 2_000);
    await sql(name, "INSERT INTO cache (key, value, expires_at) VALUES ('a', '1', ?1)", Date.now() - 1);
    const before = Date.now();
    await runDurableObjectAlarm(stubFor(name));
    const next = (await alarmOf(name))!;
    expect(next).toBeGreaterThanOrEqual(before + MIN_SWEEP_INTERVAL_MS);
    expect(next).toBeLessThanOrEqual(Date.now() + MIN_SWEEP_INTERVAL_MS);
    expect(await sql(name, "SELECT key FROM cache")).toEqual([{ key: "b" }]);
  });

  it("disarms when nothing with a deadline is left", async () => {
    const name = uniqueName("disarm");
    const state = await freshAdapter({ name });
    await state.set("a", 1, 30);
    await state.set("keep", 1);
    await sleep(50);
    await runDurableObjectAlarm(stubFor(name));
    await waitFor(async () => (await sql(name, "SELECT key FROM cache")).length === 1);
    expect(await alarmOf(name)).toBeNull();
    expect(await state.get("keep")).toBe(1);
  });

  it("sweeps a backlog larger than one invocation's budget, keeping the live row", async () => {
    const name = uniqueName("backlog");
    const state = await freshAdapter({ name });
    await state.set("live", 1, 3_600_000);
    const liveDeadline = await alarmOf(name);
    // 25,000 expired rows: more than one invocation's budget (20 batches of 1,000).
    await sql(
      name,
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25000) INSERT INTO cache (key, value, expires_at) SELECT 'bulk:' || i, 'true', ?1 FROM n",
      Date.now() - 1,
    );
    await runDurableObjectAlarm(stubFor(name));
    // The first invocation re-armed itself to continue; the runtime fires it as soon as it is due.
    await waitFor(async () => (await sql(name, "SELECT key FROM cache")).length === 1);
    expect(await sql(name, "SELECT key FROM cache")).toEqual([{ key: "live" }]);
    await waitFor(async () => (await alarmOf(name)) === liveDeadline);
  });
});

/** Polls `condition` (bounded: 10 s) — for effects of alarms the runtime fires by itself. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not reached within 10 s");
    await sleep(20);
  }
}
