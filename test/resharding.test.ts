// Online re-sharding in workerd (src/sharding/, docs/resharding.md): state written under one
// layout is found under the next, moved as it is used and drained in the background; a lock held
// across the move keeps working, a queue drains across it, expired data stays behind, Workers
// still on the old layout follow the keys, and a second layout change before the first drained
// is refused.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import type { Lock, QueueEntry } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState, type CloudflareDOStateAdapter, type CloudflareStateOptions } from "../ts/index.js";
import { expectSubscribedOnlyIn, faultyAdapter, quiet, sleep, sql, stubFor } from "./helpers.js";
import { replaceTables, V1_SCHEMA } from "./support/old-schemas.js";

let run = 0;

async function adapter(options: Omit<CloudflareStateOptions, "namespace">): Promise<CloudflareDOStateAdapter> {
  const state = createCloudflareState({ namespace: env.CHAT_STATE, logger: quiet, ...options });
  await state.connect();
  return state;
}

const entry = (n: number, ttl = 600_000) =>
  ({ enqueuedAt: Date.now(), expiresAt: Date.now() + ttl, message: { n } }) as unknown as QueueEntry;

const threads = (base: string, n: number) => Array.from({ length: n }, (_, i) => `slack:C${base}:${1_000 + i}.0001`);

/** Writes a thread's worth of chat state. */
async function writeThread(state: CloudflareDOStateAdapter, thread: string, i: number) {
  await state.subscribe(thread);
  await state.set(`thread-state:${thread}`, { turns: i }, 3_600_000);
  for (let m = 0; m < 3; m++) await state.appendToList(`msg-history:${thread}`, { i, m }, { maxLength: 100, ttlMs: 3_600_000 });
  await state.setIfNotExists(`dedupe:slack:${thread}`, true, 600_000);
}

async function readThread(state: CloudflareDOStateAdapter, thread: string) {
  return {
    subscribed: await state.isSubscribed(thread),
    turns: (await state.get<{ turns: number }>(`thread-state:${thread}`))?.turns,
    history: await state.getList(`msg-history:${thread}`),
    dedupe: await state.setIfNotExists(`dedupe:slack:${thread}`, true, 600_000),
  };
}

/** Runs every previous home's alarm until each reports drained. */
async function drainAll(names: string[]) {
  for (let round = 0; round < 200; round++) {
    let pending = 0;
    for (const name of names) {
      const stub = stubFor(name);
      const inspection = await stub.inspect();
      if (inspection.migration.previousHomeOf && !inspection.migration.drained) {
        pending++;
        await runDurableObjectAlarm(stub);
      }
    }
    if (pending === 0) return round;
  }
  throw new Error("did not drain");
}

/** `n` threads of `base`, each written (writeThread) through an adapter on one object. */
async function writtenThreads(open: (options: { name: string }) => Promise<CloudflareDOStateAdapter>, base: string, n: number) {
  const old = await open({ name: base });
  const ids = threads(base, n);
  for (const [i, t] of ids.entries()) await writeThread(old, t, i);
  return { old, ids };
}

describe("online re-sharding", () => {
  it("1 → 4: every kind of state is found under the new layout, moved on use and drained in the background", async () => {
    const base = `grow-${run++}`;
    const { old, ids } = await writtenThreads(adapter, base, 24);
    const lock = (await old.acquireLock(ids[0]!, 600_000))!;
    for (let n = 0; n < 3; n++) await old.enqueue(ids[1]!, entry(n), 10);

    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    // Used keys move on first use: the state reads back whole (and the dedupe key is there).
    for (const [i, t] of ids.slice(0, 12).entries()) {
      expect(await readThread(grown, t), t).toEqual({
        subscribed: true,
        turns: i,
        history: [0, 1, 2].map((m) => ({ i, m })),
        dedupe: false,
      });
    }
    // A lock taken before the move keeps working wherever it lives now.
    expect(await grown.acquireLock(ids[0]!, 1_000)).toBeNull();
    expect(await grown.extendLock(lock, 600_000)).toBe(true);
    await grown.releaseLock(lock);
    expect(await grown.acquireLock(ids[0]!, 1_000)).not.toBeNull();
    // A queue drains across the move, in order, nothing lost or doubled.
    const drained: number[] = [];
    for (let e = await grown.dequeue(ids[1]!); e; e = await grown.dequeue(ids[1]!)) drained.push((e.message as unknown as { n: number }).n);
    expect(drained).toEqual([0, 1, 2]);

    // The rest drains in the background; afterwards every row sits in its new home.
    const objects = grown.inspect.bind(grown);
    const rounds = await drainAll([base]);
    for (const [i, t] of ids.entries()) {
      const home = grown.objectNameForThread(t);
      const rows = await sql<{ n: number }>(home, "SELECT COUNT(*) AS n FROM subscriptions WHERE thread_id = ?", t);
      expect(rows[0]!.n, `${t} in ${home}`).toBe(1);
      if (i >= 12) expect((await grown.get<{ turns: number }>(`thread-state:${t}`))?.turns).toBe(i);
    }
    const inspected = await objects();
    expect(inspected.map((o) => o.objectName)).toEqual([base, `${base}:shard-1`, `${base}:shard-2`, `${base}:shard-3`]);
    // The previous home kept only the keys whose new home is itself (bucket 0).
    for (const t of ids) {
      const here = (await sql(base, "SELECT 1 FROM subscriptions WHERE thread_id = ?", t)).length;
      expect(here, t).toBe(grown.objectNameForThread(t) === base ? 1 : 0);
    }
    // Drained: no seal, no import record left anywhere.
    for (const o of inspected) {
      expect([o.objectName, o.migration.sealedUnits, o.migration.importedRecords]).toEqual([o.objectName, 0, 0]);
    }
    expect(inspected[0]!.migration).toMatchObject({ drained: true, unitsToMove: 0 });
    console.log(`1 → 4: ${ids.length} threads, drained in ${rounds} alarm rounds`);
  });

  it("expired data is not carried over", async () => {
    const base = `expired-${run++}`;
    const old = await adapter({ name: base });
    const t = "slack:CX:1.1";
    await old.set(`thread-state:${t}`, { gone: true }, 30);
    await old.appendToList(`msg-history:${t}`, "gone", { ttlMs: 30 });
    await old.enqueue(t, entry(1, 30), 10);
    await old.subscribe(t); // lives forever: it moves
    await sleep(60);
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    const home = grown.objectNameForThread(t);
    expect(await grown.isSubscribed(t)).toBe(true);
    if (home !== base) {
      expect(await sql(home, "SELECT key FROM cache")).toEqual([]);
      expect(await sql(home, "SELECT list_key FROM list_items")).toEqual([]);
      expect(await sql(home, "SELECT queue_key FROM queue_entries")).toEqual([]);
    }
    expect(await grown.get(`thread-state:${t}`)).toBeNull();
    expect(await grown.getList(`msg-history:${t}`)).toEqual([]);
    expect(await grown.queueDepth(t)).toBe(0);
  });

  it("Workers still on the old layout follow the keys and lose nothing", async () => {
    const base = `mixed-${run++}`;
    const { old, ids } = await writtenThreads(adapter, base, 16);
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    // The new layout moves half of the threads by using them ...
    for (const t of ids.slice(0, 8)) await grown.set(`thread-state:${t}`, { turns: 100 }, 3_600_000);
    // ... while a Worker still on the old layout writes all of them: it is told where each lives.
    const late = await adapter({ name: base });
    for (const t of ids) await late.appendToList(`msg-history:${t}`, "late", { maxLength: 100, ttlMs: 3_600_000 });
    for (const t of ids.slice(8)) await late.set(`thread-state:${t}`, { turns: 200 }, 3_600_000);
    await drainAll([base]);
    for (const [i, t] of ids.entries()) {
      expect(await grown.get<{ turns: number }>(`thread-state:${t}`), t).toEqual({ turns: i < 8 ? 100 : 200 });
      const history = await grown.getList(`msg-history:${t}`);
      expect(history.at(-1), t).toBe("late");
      expect(history.length, t).toBe(4);
      // And the old Worker reads the same.
      expect(await late.getList(`msg-history:${t}`), t).toEqual(history);
    }
  });

  it("2 → 5 moves only the keys jump hashing moves", async () => {
    const base = `two-five-${run++}`;
    const two = await adapter({ name: base, shards: 2 });
    const ids = threads(base, 40);
    for (const [i, t] of ids.entries()) await writeThread(two, t, i);
    const five = await adapter({ name: base, shards: 5, migrateFrom: { name: base, shards: 2 } });
    const moved = ids.filter((t) => two.objectNameForThread(t) !== five.objectNameForThread(t));
    // Keys only move into the new buckets.
    for (const t of moved) expect(five.objectNameForThread(t)).toMatch(/:shard-[234]$/);
    expect(moved.length).toBeGreaterThan(10);
    expect(moved.length).toBeLessThan(36);
    // No call has touched the old shards yet: drainMigration() tells them to start draining.
    const status = await five.drainMigration();
    expect(status.map((s) => s.objectName)).toEqual([base, `${base}:shard-1`]);
    await drainAll([base, `${base}:shard-1`]);
    expect((await five.drainMigration()).every((s) => s.drained && s.unitsToMove === 0)).toBe(true);
    for (const [i, t] of ids.entries()) {
      expect((await five.get<{ turns: number }>(`thread-state:${t}`))?.turns, t).toBe(i);
      const home = five.objectNameForThread(t);
      await expectSubscribedOnlyIn(t, home, [base, `${base}:shard-1`, `${base}:shard-2`, `${base}:shard-3`, `${base}:shard-4`]);
    }
  });

  it("a second layout change before the first has drained is refused with a clear error", async () => {
    const base = `twice-${run++}`;
    const { old, ids } = await writtenThreads(adapter, base, 8);
    const first = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    const moving = ids.find((t) => first.objectNameForThread(t) !== base)!;
    await first.isSubscribed(moving); // the base object is now a previous home of 1 → 4
    const second = await adapter({ name: base, shards: 8, migrateFrom: { name: base, shards: 4 } });
    const elsewhere = ids.find((t) => second.objectNameForThread(t) !== base && first.objectNameForThread(t) === base);
    if (elsewhere) {
      await expect(second.isSubscribed(elsewhere)).rejects.toThrow(/still (moving|receiving) .*layout change/);
    }
    // The first migration is unaffected.
    expect(await first.isSubscribed(moving)).toBe(true);
  });

  it("changes one after another (a → b → a → b): the state follows every time", async () => {
    const tag = run++;
    const [a, b] = [`hop-a-${tag}`, `hop-b-${tag}`];
    const ids = threads(`hop${tag}`, 6);
    let state = await adapter({ name: a });
    for (const [i, t] of ids.entries()) await writeThread(state, t, i);
    const changes: [string, string][] = [[a, b], [b, a], [a, b]];
    for (const [step, [from, to]] of changes.entries()) {
      state = await adapter({ name: to, migrateFrom: { name: from } });
      // Half the threads move on use and are written there; the rest move in the drain.
      for (const [i, t] of ids.slice(0, 3).entries()) {
        expect((await readThread(state, t)).turns, `${t} after change ${step}`).toBe(i + step * 10);
        await state.set(`thread-state:${t}`, { turns: i + (step + 1) * 10 }, 3_600_000);
      }
      const status = await state.drainMigration();
      expect(status, `change ${step}`).toEqual([expect.objectContaining({ objectName: from, drained: true })]);
      for (const [i, t] of ids.slice(3).entries()) {
        expect((await readThread(state, t)).turns, `${t} after change ${step}`).toBe(i + 3);
      }
      for (const t of ids) expect((await sql(from, "SELECT 1 FROM subscriptions WHERE thread_id = ?", t)).length, t).toBe(0);
    }
  });
});


/** Replaces an object's tables with 0.1.1's, holding the rows given, and restarts it. */
async function as011(name: string, rows: string[]) {
  const { runInDurableObject, evictDurableObject } = await import("cloudflare:test");
  const stub = stubFor(name);
  await stub.inspect();
  await runInDurableObject(stub, (_instance, ctx) => {
    replaceTables(ctx.storage.sql, V1_SCHEMA);
    for (const row of rows) ctx.storage.sql.exec(row);
  });
  await evictDurableObject(stub);
}

describe("an upgrade from chat-state-cloudflare-do 0.1.1 with a shardKey", () => {
  it("keeps subscriptions, locks and every cache key, and moves thread state to the thread's object", async () => {
    const tag = run++;
    const team = `team${tag}`;
    const shardKey = (id: string) => `${id.split(":")[0]}-${tag}`;
    const base = `legacy-${tag}`;
    const t1 = `${team}:C1:1.1`;
    const t2 = `${team}:C1:2.2`;
    const label = shardKey(t1);
    const far = Date.now() + 3_600_000;
    // As 0.1.1 left them: thread parts on shardKey(threadId), every cache key on `name`.
    await as011(label, [
      `INSERT INTO subscriptions VALUES ('${t1}')`,
      `INSERT INTO subscriptions VALUES ('${t2}')`,
      `INSERT INTO locks VALUES ('${t1}', 'tok-011', ${far})`,
    ]);
    await as011(base, [
      `INSERT INTO cache VALUES ('thread-state:${t1}', '{"turns":7}', ${far})`,
      `INSERT INTO cache VALUES ('channel-state:${team}:C1', '{"topic":"launch"}', NULL)`,
      `INSERT INTO cache VALUES ('modal-context:abc', '{"m":1}', ${far})`,
      `INSERT INTO cache VALUES ('dedupe:slack:m1', 'true', ${far})`,
      `INSERT INTO cache VALUES ('slack:installation', '{"token":"x"}', NULL)`,
    ]);

    const state = await adapter({ name: base, shardKey, migrateFrom: { name: base, shardKey, legacy: "0.1" } });
    // Thread parts never move: the objects are named as 0.1.1 named them.
    expect(state.objectNameForThread(t1)).toBe(label);
    expect(await state.isSubscribed(t1)).toBe(true);
    expect(await state.isSubscribed(t2)).toBe(true);
    expect(await state.extendLock({ threadId: t1, token: "tok-011", expiresAt: 0 } as Lock, 60_000)).toBe(true);
    // Thread-derived keys follow their thread to its object, fetched from the base object on use.
    expect(state.objectNameForKey(`thread-state:${t1}`)).toBe(label);
    expect(await state.get(`thread-state:${t1}`)).toEqual({ turns: 7 });
    expect(await state.get(`channel-state:${team}:C1`)).toEqual({ topic: "launch" });
    expect((await sql(label, "SELECT key FROM cache ORDER BY key")).map((r) => r.key)).toEqual([
      `channel-state:${team}:C1`,
      `thread-state:${t1}`,
    ]);
    // Other keys stay on the base object.
    expect(state.objectNameForKey("modal-context:abc")).toBe(base);
    expect(await state.get("modal-context:abc")).toEqual({ m: 1 });
    expect(await state.setIfNotExists("dedupe:slack:m1", true, 600_000)).toBe(false);
    expect(await state.get("slack:installation")).toEqual({ token: "x" });

    // A 0.1.1 Worker still running during the deploy calls its own method names on the base
    // object: it cannot follow a redirect, so the moved key is served for it from its new home.
    const oldWorker = stubFor(base) as unknown as { cacheGet(k: string): Promise<string | null> };
    expect(await oldWorker.cacheGet(`thread-state:${t1}`)).toBe('{"turns":7}');
    expect(await oldWorker.cacheGet("modal-context:abc")).toBe('{"m":1}');

    // drainMigration moves what no call touched (here: nothing thread-derived is left).
    const status = await state.drainMigration({ labels: [label] });
    expect(status.find((s) => s.objectName === base)).toMatchObject({ drained: true, unitsToMove: 0 });
    expect((await sql(base, "SELECT key FROM cache ORDER BY key")).map((r) => r.key)).toEqual([
      "dedupe:slack:m1",
      "modal-context:abc",
      "slack:installation",
    ]);
  });
});

describe("crashes in the middle of a handoff", () => {
  // Objects of the FaultyChatStateDO class reset themselves at the point armed (before or after
  // the write of the step commits); the protocol must recover with nothing lost or doubled.
  const faulty = faultyAdapter;
  const rowsIn = async (name: string, query: string, ...bindings: unknown[]) =>
    (await import("cloudflare:test")).runInDurableObject(env.FAULTY_STATE.getByName(name), (_i, ctx) =>
      ctx.storage.sql.exec(query, ...bindings).toArray(),
    );

  for (const [step, at] of [
    ["handOver", "before-commit"],
    ["handOver", "after-commit"],
    ["handoffImport", "before-commit"],
    ["handoffImport", "after-commit"],
  ] as const) {
    it(`${step}, reset ${at}`, async () => {
      const base = `crash-${step}-${at}-${run++}`;
      const { old, ids } = await writtenThreads(faulty, base, 12);
      const lock = (await old.acquireLock(ids[0]!, 600_000))!;
      const grown = await faulty({ name: base, shards: 4, migrateFrom: { name: base } });
      const moving = ids.filter((t) => grown.objectNameForThread(t) !== base);
      if (step === "handOver") {
        // The previous home resets while sealing a unit a new home pulls.
        await env.FAULTY_STATE.getByName(base).armReset("handOver", at);
        const t = moving[0]!;
        expect(await readThread(grown, t)).toMatchObject({ subscribed: true, dedupe: false });
      } else {
        // A new home resets while importing a unit the previous home pushes (draining).
        await env.FAULTY_STATE.getByName(grown.objectNameForThread(moving[0]!)).armReset("handoffImport", at);
        await grown.drainMigration().catch(() => {}); // its first step meets the reset
      }
      const armedOn = step === "handOver" ? base : grown.objectNameForThread(moving[0]!);
      expect(await env.FAULTY_STATE.getByName(armedOn).resetPending(), "the reset fired").toBe(false);
      // Drain everything (the alarm retries what failed), then check every unit once, in place.
      for (let round = 0; round < 100; round++) {
        const inspection = await env.FAULTY_STATE.getByName(base).inspect();
        if (inspection.migration.drained) break;
        await runDurableObjectAlarm(env.FAULTY_STATE.getByName(base)).catch(() => {});
      }
      expect((await env.FAULTY_STATE.getByName(base).inspect()).migration.drained).toBe(true);
      for (const [i, t] of ids.entries()) {
        expect(await readThread(grown, t), t).toEqual({
          subscribed: true,
          turns: i,
          history: [0, 1, 2].map((m) => ({ i, m })),
          dedupe: false,
        });
        for (const name of [base, `${base}:shard-1`, `${base}:shard-2`, `${base}:shard-3`]) {
          const subs = await rowsIn(name, "SELECT 1 FROM subscriptions WHERE thread_id = ?", t);
          expect([t, name, subs.length]).toEqual([t, name, name === grown.objectNameForThread(t) ? 1 : 0]);
        }
      }
      // The lock taken before the move still belongs to its holder, and nobody else.
      expect(await grown.acquireLock(ids[0]!, 1_000)).toBeNull();
      expect(await grown.extendLock(lock, 60_000)).toBe(true);
    });
  }

  it("a new home resets while told the previous home drained: told again, no record left behind", async () => {
    const base = `crash-notify-${run++}`;
    const { old, ids } = await writtenThreads(faulty, base, 8);
    const grown = await faulty({ name: base, shards: 4, migrateFrom: { name: base } });
    const told = grown.objectNameForThread(ids.find((t) => grown.objectNameForThread(t) !== base)!);
    // The previous home records that it drained, then tells each new home; one resets meanwhile.
    await env.FAULTY_STATE.getByName(told).armReset("handoffSourceDrained", "before-commit");
    for (let round = 0; round < 20 && (await env.FAULTY_STATE.getByName(told).resetPending()); round++) {
      await grown.drainMigration().catch(() => {});
    }
    expect(await env.FAULTY_STATE.getByName(told).resetPending(), "the reset fired").toBe(false);
    // The next drain step (alarm or drainMigration) tells it again.
    const status = await grown.drainMigration();
    expect(status.every((s) => s.drained)).toBe(true);
    for (const name of [base, `${base}:shard-1`, `${base}:shard-2`, `${base}:shard-3`]) {
      const { migration } = await env.FAULTY_STATE.getByName(name).inspect();
      expect([name, migration.importedRecords, migration.receivingFrom]).toEqual([name, 0, []]);
    }
    for (const [i, t] of ids.entries()) expect((await readThread(grown, t)).turns, t).toBe(i);
  });
});
