// Re-sharding: what a unit is and how it moves (issue 15, findings 5, 6, 8, 9 and 10) — one
// definition of a live row for every decision, a unit the new home refuses, tenures moving with
// their lock, units too large for one message, and what a drained previous home still costs.
// docs/resharding.md ("Spec: units", "Spec: messages") is what these check.
import { abortAllDurableObjects, env, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import type { QueueEntry } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState, type CloudflareDOStateAdapter, type CloudflareStateOptions } from "../ts/index.js";
import { Layout } from "../ts/worker/layout.js";
import { quiet, sleep, sql, stubFor } from "./helpers.js";

let run = 0;

async function adapter(options: Omit<CloudflareStateOptions, "namespace">): Promise<CloudflareDOStateAdapter> {
  const state = createCloudflareState({ namespace: env.CHAT_STATE, logger: quiet, ...options });
  await state.connect();
  return state;
}

/** Threads whose home under `shards: 4` of `base` is another object than `base`. */
/** The holder's final dequeue of `thread` is held until the newcomer's entry arrives, and gets it. */
async function finalDequeueHeldForEntry(holder: CloudflareDOStateAdapter, newcomer: CloudflareDOStateAdapter, thread: string) {
  let settled = false;
  const final = holder.dequeue(thread).finally(() => (settled = true));
  await sleep(150);
  expect(settled).toBe(false);
  await newcomer.enqueue(thread, entry(1), 10);
  expect(((await final) as unknown as { message: { n: number } } | null)?.message).toEqual({ n: 1 });
}

function movingThreads(base: string, n: number): { thread: string; home: string }[] {
  const next = new Layout({ name: base, shards: 4 }, "");
  const out: { thread: string; home: string }[] = [];
  for (let i = 0; out.length < n; i++) {
    const thread = `slack:C${base}:${1_000 + i}.0001`;
    const home = next.locate(thread, "thread", "threadId").object;
    if (home !== base) out.push({ thread, home });
  }
  return out;
}

const entry = (n: number) =>
  ({ enqueuedAt: Date.now(), expiresAt: Date.now() + 600_000, message: { n } }) as unknown as QueueEntry;

/** An expired list whose rows stay until the sweep: a long TTL first (the sweep's bound), then 1 ms. */
async function expiredList(state: CloudflareDOStateAdapter, key: string) {
  await state.appendToList(key, { old: 1 }, { ttlMs: 3_600_000 });
  await state.appendToList(key, { old: 2 }, { ttlMs: 1 });
  await sleep(5);
  expect(await state.getList(key)).toEqual([]);
}

describe("units whose only rows are expired (finding 5)", () => {
  it("have one owner: the new home; the previous home neither serves them nor waits for them", async () => {
    const base = `units-expired-${run++}`;
    const { thread, home } = movingThreads(base, 1)[0]!;
    const old = await adapter({ name: base });
    await expiredList(old, `msg-history:${thread!}`);

    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    // The new layout's caller takes the lock (its new home pulls: nothing live there).
    const lock = await grown.acquireLock(thread!, 60_000);
    expect(lock).not.toBeNull();
    // A Worker still on the old layout must not get a second one from the previous home.
    const behind = await adapter({ name: base });
    expect(await behind.acquireLock(thread!, 60_000)).toBeNull();
    expect(await sql(home!, "SELECT thread_id FROM locks")).toHaveLength(1);
    expect(await sql(base, "SELECT thread_id FROM locks")).toHaveLength(0);

    // The drain does not spin on it: one step finds nothing to move.
    const stub = stubFor(base);
    await runDurableObjectAlarm(stub);
    await runDurableObjectAlarm(stub);
    expect((await stub.inspect()).migration).toMatchObject({ drained: true, unitsToMove: 0 });
  });

  it("an expired list at the new home does not block the import of a live one", async () => {
    const base = `units-expired-${run++}`;
    const { thread, home } = movingThreads(base, 1)[0]!;
    const key = `msg-history:${thread!}`;
    // The new home once had this list (an earlier layout), expired, its rows not yet swept.
    await expiredList(await adapter({ name: home! }), key);
    const old = await adapter({ name: base });
    await old.appendToList(key, { live: 1 }, { ttlMs: 3_600_000 });

    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    expect(await grown.getList(key)).toEqual([{ live: 1 }]);
    expect(await sql(home!, "SELECT value FROM list_items WHERE list_key = ?", key)).toEqual([{ value: '{"live":1}' }]);
  });
});

describe("a unit its new home refuses (finding 6)", () => {
  it("is reported and skipped; the others move, the sweep runs, and it moves once the conflict is gone", async () => {
    const base = `units-stuck-${run++}`;
    const [a, b, c] = movingThreads(base, 3);
    const old = await adapter({ name: base });
    for (const { thread } of [a!, b!, c!]) {
      await old.subscribe(thread);
      await old.set(`thread-state:${thread}`, { from: "previous home" });
    }
    // The new home of `a` already holds a live row of its unit (the state a split leaves).
    await sql(a!.home, "INSERT INTO cache (key, value, expires_at) VALUES (?, ?, NULL)", `thread-state:${a!.thread}`, '"theirs"');
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    expect(await grown.isSubscribed(b!.thread)).toBe(true); // the migration reaches the previous home
    // An expired row the sweep must delete (on a key that stays on the previous home).
    const next = new Layout({ name: base, shards: 4 }, "");
    let stays = 0;
    while (next.locate(`plain-expired-${stays}`, "key", "key").object !== base) stays++;
    await old.set(`plain-expired-${stays}`, 1, 1);
    await sleep(5);

    const stub = stubFor(base);
    await runDurableObjectAlarm(stub).catch(() => {});
    expect(await sql(base, "SELECT key FROM cache WHERE key LIKE 'plain-expired-%'")).toEqual([]);
    const migration = (await stub.inspect()).migration;
    expect(migration.drained).toBe(false);
    expect(migration.stuckCount).toBe(1);
    expect(migration.stuckUnits[0]).toMatchObject({ routingKey: a!.thread, destination: a!.home });
    expect(migration.stuckUnits[0]!.reason).toMatch(/already holds some of its rows/);
    // The others moved; the refused one is served nowhere but its new home (nothing doubled).
    expect(await sql(c!.home, "SELECT thread_id FROM subscriptions WHERE thread_id = ?", c!.thread)).toHaveLength(1);
    expect(await sql(base, "SELECT thread_id FROM subscriptions WHERE thread_id = ?", c!.thread)).toHaveLength(0);
    expect(await grown.get(`thread-state:${a!.thread}`)).toBe("theirs");
    // drainMigration() does not spin on it: it reports it.
    const [status] = await grown.drainMigration();
    expect(status).toMatchObject({ objectName: base, drained: false, stuckUnits: 1 });

    // The conflict goes away (the new home's row is deleted): the next step moves it.
    await grown.delete(`thread-state:${a!.thread}`);
    for (let i = 0; i < 3 && !(await stub.inspect()).migration.drained; i++) await runDurableObjectAlarm(stub);
    expect((await stub.inspect()).migration).toMatchObject({ drained: true, stuckCount: 0 });
    expect(await grown.get(`thread-state:${a!.thread}`)).toEqual({ from: "previous home" });
    expect(await grown.isSubscribed(a!.thread)).toBe(true);
  });
});

describe("a lock's tenure moves with its unit (finding 8)", () => {
  it("the new home holds the holder's final dequeue for an announced newcomer, then hands the lock over", async () => {
    const base = `units-tenure-${run++}`;
    const { thread } = movingThreads(base, 1)[0]!;
    const holder = await adapter({ name: base });
    const lock = await holder.acquireLock(thread, 60_000);
    expect(lock).not.toBeNull();
    // A newcomer's acquire is refused at the previous home: it announces its coming enqueue.
    const newcomer = await adapter({ name: base });
    expect(await newcomer.acquireLock(thread, 60_000)).toBeNull();

    // The unit moves to its new home (a new-layout Worker touches the thread).
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    expect(await grown.isSubscribed(thread)).toBe(false);

    // The holder's final dequeue (its tenure's first, empty) follows the unit there, and is held
    // there for the newcomer's entry, as the previous home would have held it (chat#928).
    await finalDequeueHeldForEntry(holder, newcomer, thread);

    // The holder's drain goes on: an empty round, then its final dequeue; an acquire arriving
    // after it is granted at once (an early grant), not refused.
    expect(await holder.dequeue(thread)).toBeNull();
    expect(await holder.dequeue(thread)).toBeNull();
    const next = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    const handed = await next.acquireLock(thread, 60_000);
    expect(handed).not.toBeNull();
    expect(handed!.token).not.toBe(lock!.token);
  });
});

describe("a unit larger than one message (finding 9)", () => {
  it("moves in pages, pulled on use and pushed by the drain: every row arrives once, and reads back in order", async () => {
    const base = `units-large-${run++}`;
    const [a, b] = movingThreads(base, 2);
    const old = await adapter({ name: base });
    // 18 items of 1.9 MB: a 34 MB unit, past the 32 MiB one RPC carries.
    const big = (i: number) => ({ i, pad: "x".repeat(1_900_000) });
    for (const { thread } of [a!, b!]) {
      await old.subscribe(thread);
      await old.set(`thread-state:${thread}`, { turns: 18 });
      for (let i = 0; i < 18; i++) await old.appendToList(`msg-history:${thread}`, big(i), { maxLength: 100, ttlMs: 3_600_000 });
    }
    const items = (name: string, thread: string) =>
      sql<{ n: number; first: number; last: number }>(
        name,
        "SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last FROM list_items WHERE list_key = ?",
        `msg-history:${thread}`,
      );

    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    // Pulled on first use: the call waits for every page.
    expect(await grown.isSubscribed(a!.thread)).toBe(true);
    expect(await items(a!.home, a!.thread)).toEqual([{ n: 18, first: 0, last: 17 }]);
    expect((await stubFor(a!.home).inspect()).migration.partialImports).toBe(0);

    // Pushed by the previous home's drain.
    const stub = stubFor(base);
    for (let i = 0; i < 10 && !(await stub.inspect()).migration.drained; i++) await runDurableObjectAlarm(stub);
    expect((await stub.inspect()).migration).toMatchObject({ drained: true, stuckCount: 0 });
    expect(await items(b!.home, b!.thread)).toEqual([{ n: 18, first: 0, last: 17 }]);
    expect(await sql(base, "SELECT COUNT(*) AS n FROM list_items")).toEqual([{ n: 0 }]);

    // Both read back whole and in order (trimmed to two first: a 34 MB list is no reply either).
    for (const { thread } of [a!, b!]) {
      expect(await grown.get(`thread-state:${thread}`)).toEqual({ turns: 18 });
      await grown.appendToList(`msg-history:${thread}`, { i: 18 }, { maxLength: 2 });
      const list = await grown.getList<{ i: number }>(`msg-history:${thread}`);
      expect(list.map((x) => x.i)).toEqual([17, 18]);
    }
  }, 120_000);
});

/** Threads whose home under `shards: 4` of `base` is `base` itself (they stay). */
function stayingThreads(base: string, n: number): string[] {
  const next = new Layout({ name: base, shards: 4 }, "");
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const thread = `slack:C${base}:${5_000 + i}.0001`;
    if (next.locate(thread, "thread", "threadId").object === base) out.push(thread);
  }
  return out;
}

const required = async (name: string) =>
  (await sql<{ v: number }>(name, "SELECT MAX(version) AS v FROM _schema_version"))[0]!.v;

describe("a moved tenure's announcements are rows at the new home too", () => {
  it("a reset of every object after the move: the holder's final dequeue is still held for the newcomer", async () => {
    const base = `units-tenure-reset-${run++}`;
    const { thread, home } = movingThreads(base, 1)[0]!;
    const holder = await adapter({ name: base });
    expect(await holder.acquireLock(thread, 60_000)).not.toBeNull();
    const newcomer = await adapter({ name: base });
    expect(await newcomer.acquireLock(thread, 60_000)).toBeNull();
    const rows = (name: string) => sql<{ n: number }>(name, "SELECT COUNT(*) AS n FROM lock_announcements");
    expect(await rows(base)).toEqual([{ n: 1 }]);

    // The unit moves (a new-layout Worker touches the thread); the announcement goes with it,
    // in the unit's wire form, and the new home keeps it as a row (src/guarantees/announcements.rs).
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    expect(await grown.isSubscribed(thread)).toBe(false);
    expect(await rows(home)).toEqual([{ n: 1 }]);

    // Every object forgets its memory: the new home rebuilds the tenure from that row.
    await abortAllDurableObjects();
    await finalDequeueHeldForEntry(holder, newcomer, thread);
    expect(await rows(home)).toEqual([{ n: 0 }]);
  });
});

describe("what a migration leaves behind (finding 10)", () => {
  it("objects in the middle of a migration refuse builds without the protocol; the guard goes when it is over", async () => {
    const base = `units-guard-${run++}`;
    const { thread, home } = movingThreads(base, 1)[0]!;
    const old = await adapter({ name: base });
    await old.subscribe(thread);
    await old.subscribe(stayingThreads(base, 1)[0]!);
    expect(await required(base)).toBe(2);
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    expect(await grown.isSubscribed(thread)).toBe(true);
    // Builds before layout 5 refuse `_schema_version` 5 (src/base/schema.rs): the previous home holds
    // a sealed copy, the new home a unit it pulled while the previous home has not drained.
    expect(await required(base)).toBe(5);
    expect(await required(home)).toBe(5);
    const stub = stubFor(base);
    for (let i = 0; i < 5 && !(await stub.inspect()).migration.drained; i++) await runDurableObjectAlarm(stub);
    await grown.drainMigration();
    expect(await required(base)).toBe(2);
    expect(await required(home)).toBe(2);
  });

  it("a drained previous home runs no statement for admission of the keys that stay on it; its drain check reads keys in pages", async () => {
    const base = `units-cheap-${run++}`;
    const staying = stayingThreads(base, 400);
    const old = await adapter({ name: base });
    for (const t of staying) await old.subscribe(t);
    const { thread } = movingThreads(base, 1)[0]!;
    await old.subscribe(thread);
    const stub = stubFor(base);
    // The whole migration at the previous home — the pull, every drain step, the checks that
    // find nothing left: a few dozen statements, not one or two per staying key and step.
    const before = (await stub.rowCounts()).statements;
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    expect(await grown.isSubscribed(thread)).toBe(true);
    for (let i = 0; i < 5 && !(await stub.inspect()).migration.drained; i++) await runDurableObjectAlarm(stub);
    await grown.drainMigration();
    expect((await stub.inspect()).migration.drained).toBe(true);
    const statements = (await stub.rowCounts()).statements - before;
    console.log(`the migration at a previous home of 401 keys (400 staying): ${statements} statements`);
    expect(statements).toBeLessThan(staying.length);
    // After the drain, a call on a key that stays: served from memory, no statement at all.
    expect(await grown.isSubscribed(staying[0]!)).toBe(true);
    const settled = (await stub.rowCounts()).statements;
    expect(await grown.isSubscribed(staying[0]!)).toBe(true);
    expect((await stub.rowCounts()).statements - settled).toBe(0);
  });

  it("a drained shardKey previous home's markers expire a week after the drain", async () => {
    const base = `units-markers-${run++}`;
    const threads = [1, 2, 3].map((i) => `slack:C${base}:${i}.1`);
    const shardKey = (id: string) => `${base}-k-${id.split(":")[2]}`;
    const old = await adapter({ name: base });
    for (const t of threads) await old.set(`thread-state:${t}`, { t });
    const next = await adapter({ name: base, shardKey, migrateFrom: { name: base } });
    for (const t of threads) expect(await next.get(`thread-state:${t}`)).toEqual({ t });
    const [status] = await next.drainMigration();
    expect(status).toMatchObject({ objectName: base, drained: true });
    const stub = stubFor(base);
    expect((await stub.inspect()).migration.markers).toBe(3);
    // A week on (the drain's time moved back, the object restarted so it reads it again).
    await sql(base, "UPDATE handoff_out SET drained_at = drained_at - ?", 8 * 24 * 3_600_000);
    await evictDurableObject(stub).catch(() => {});
    await runDurableObjectAlarm(stubFor(base));
    expect((await stubFor(base).inspect()).migration.markers).toBe(0);
    expect(await required(base)).toBe(2);
  });
});
