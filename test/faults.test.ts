// Faults inside workerd: eviction in the middle of a workload, an alarm whose sweep fails
// part-way (injected with a SQLite trigger, no production hook), and an upgrade of an object
// that holds the published 0.1.1 schema. (A restart of the runtime with persisted storage is
// test-node/restart.test.mjs: it needs a process of its own.)
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Lock, QueueEntry } from "chat";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { alarmOf, sleep, sql, stubFor } from "./helpers.js";
import { replaceTables, V1_SCHEMA } from "./support/old-schemas.js";

let runId = 0;
const faults = { evictions: 0, alarmFailures: 0, upgrades: 0 };

async function adapter(name: string): Promise<CloudflareDOStateAdapter> {
  const a = createCloudflareState({ namespace: env.CHAT_STATE, name });
  await a.connect();
  return a;
}

const entry = (message: unknown, expiresAt = Date.now() + 600_000) =>
  ({ enqueuedAt: Date.now(), expiresAt, message }) as unknown as QueueEntry;

/**
 * Object `name`, started (so it created the current tables), with its tables replaced by
 * `schema`'s and filled by `fill` as that release wrote them, then evicted so the next request
 * opens it afresh and upgrades it.
 */
async function openedOnOldTables(name: string, schema: string, fill: (q: SqlStorage, now: number) => void) {
  const stub = stubFor(name);
  const now = Date.now();
  await stub.inspect();
  await runInDurableObject(stub, (_instance, ctx) => {
    const q = ctx.storage.sql;
    replaceTables(q, schema);
    fill(q, now);
  });
  await evictDurableObject(stub);
  faults.upgrades++;
}

describe("faults", () => {
  it("eviction in the middle of a workload loses no acknowledged write", { timeout: 300_000 }, async () => {
    const name = `evict-mid-${runId++}`;
    const WRITERS = 4;
    const STEPS = 50;
    const writers = await Promise.all(Array.from({ length: WRITERS }, () => adapter(name)));
    const acked = { subscribe: [] as string[], set: new Map<string, unknown>(), append: new Map<string, number[]>() };
    const enqueued = new Map<string, number[]>();
    const locks: Lock[] = [];
    const rejected: string[] = [];

    const writer = async (w: number) => {
      const a = writers[w]!;
      for (let i = 0; i < STEPS; i++) {
        const step = async (what: string, call: () => Promise<unknown>, onAck: (r: unknown) => void) => {
          try {
            onAck(await call());
            ackOne();
          } catch (e) {
            rejected.push(`${what}: ${String(e)}`);
          }
        };
        switch (i % 5) {
          case 0:
            await step(`subscribe ${w}/${i}`, () => a.subscribe(`slack:C${w}:${i}`), () =>
              acked.subscribe.push(`slack:C${w}:${i}`),
            );
            break;
          case 1:
            await step(`set ${w}/${i}`, () => a.set(`thread-state:${w}:${i}`, { w, i }, i % 2 ? 3_600_000 : undefined), () =>
              acked.set.set(`thread-state:${w}:${i}`, { w, i }),
            );
            break;
          case 2:
            await step(`append ${w}/${i}`, () => a.appendToList(`msg-history:${w}`, i, { maxLength: 100, ttlMs: 3_600_000 }), () =>
              acked.append.set(`msg-history:${w}`, [...(acked.append.get(`msg-history:${w}`) ?? []), i]),
            );
            break;
          case 3:
            await step(`enqueue ${w}/${i}`, () => a.enqueue(`queue:${w}`, entry({ i }), 0), () =>
              enqueued.set(`queue:${w}`, [...(enqueued.get(`queue:${w}`) ?? []), i]),
            );
            break;
          default:
            await step(`acquireLock ${w}/${i}`, () => a.acquireLock(`lock:${w}:${i}`, 600_000), (lock) =>
              locks.push(lock as Lock),
            );
        }
      }
    };

    // Evict whenever another tenth of the workload has been acknowledged, without waiting: the
    // other writers' calls are in flight meanwhile. (A timer-driven evictor never runs here: the
    // stream of RPC completions starves timers.)
    let acks = 0;
    let mark = (WRITERS * STEPS) / 10;
    const evicting: Promise<boolean>[] = [];
    const ackOne = () => {
      acks++;
      if (acks >= mark) {
        mark += (WRITERS * STEPS) / 10;
        evicting.push(evictDurableObject(stubFor(name)).then(() => true, () => false));
      }
    };

    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    const evictions = (await Promise.all(evicting)).filter(Boolean).length;
    faults.evictions += evictions;
    expect(evictions).toBeGreaterThanOrEqual(5);

    // Every call was acknowledged (eviction drains in-flight requests first) ...
    expect(rejected).toEqual([]);
    // ... and every acknowledged write is there, read by a fresh adapter after one more eviction.
    await evictDurableObject(stubFor(name)).catch(() => {});
    const reader = await adapter(name);
    for (const t of acked.subscribe) expect(await reader.isSubscribed(t), t).toBe(true);
    for (const [key, value] of acked.set) expect(await reader.get(key), key).toEqual(value);
    for (const [key, items] of acked.append) expect(await reader.getList(key), key).toEqual(items);
    for (const [key, items] of enqueued) {
      const drained: number[] = [];
      for (let e = await reader.dequeue(key); e !== null; e = await reader.dequeue(key)) {
        drained.push((e.message as unknown as { i: number }).i);
      }
      expect(drained, key).toEqual(items);
    }
    for (const lock of locks) {
      expect(await reader.acquireLock(lock.threadId, 1_000), lock.threadId).toBeNull();
      expect(await reader.extendLock(lock, 600_000), lock.threadId).toBe(true);
    }
    const writes = acked.subscribe.length + acked.set.size + [...acked.append.values()].flat().length +
      [...enqueued.values()].flat().length + locks.length;
    expect(writes).toBe(WRITERS * STEPS);
    console.log(`eviction: ${evictions} evictions during ${writes} writes by ${WRITERS} callers; every write acknowledged and kept`);
  });

  it("an alarm that fails part-way through a sweep is retried and never deletes a live row", { timeout: 120_000 }, async () => {
    const name = `alarm-fault-${runId++}`;
    const state = await adapter(name);
    const stub = stubFor(name);
    const EXPIRED = 2_500;

    // Live state through the adapter.
    await state.subscribe("t-live");
    const liveLock = (await state.acquireLock("lock-live", 3_600_000))!;
    await state.set("live-ttl", { live: 1 }, 3_600_000);
    await state.set("live-forever", { live: 2 });
    for (let i = 0; i < 5; i++) await state.appendToList("list-live", i, { ttlMs: 3_600_000 });
    await state.enqueue("queue-live", entry("live"), 0);

    // Expired rows, seeded directly (2,500 cache rows: three sweep batches), ordered by deadline;
    // plus an expired lock, queue entry and list.
    const past = Date.now() - 60_000;
    await runInDurableObject(stub, (_instance, ctx) => {
      const q = ctx.storage.sql;
      for (let i = 0; i < EXPIRED; i++) {
        q.exec("INSERT INTO cache (key, value, expires_at) VALUES (?, '1', ?)", `dead:${String(i).padStart(4, "0")}`, past + i);
      }
      q.exec("INSERT INTO locks VALUES ('lock-dead', 'cfdo_dead', ?)", past);
      q.exec("INSERT INTO queue_entries (queue_key, seq, value, expires_at) VALUES ('queue-live', -1, '\"dead\"', ?)", past);
      q.exec("INSERT INTO lists VALUES ('list-dead', ?)", past);
      for (let i = 0; i < 3; i++) q.exec("INSERT INTO list_items (list_key, seq, value) VALUES ('list-dead', ?, '1')", i);
    });

    const live = () =>
      Promise.all([
        sql(name, "SELECT * FROM subscriptions"),
        sql(name, "SELECT * FROM locks WHERE thread_id = 'lock-live'"),
        sql(name, "SELECT * FROM cache WHERE key LIKE 'live-%' ORDER BY key"),
        sql(name, "SELECT * FROM lists WHERE list_key = 'list-live'"),
        sql(name, "SELECT * FROM list_items WHERE list_key = 'list-live' ORDER BY seq"),
        sql(name, "SELECT * FROM queue_entries WHERE seq >= 0 ORDER BY seq"),
      ]);
    const dead = async () =>
      (await sql<{ n: number }>(name, "SELECT COUNT(*) AS n FROM cache WHERE key LIKE 'dead:%'"))[0]!.n;
    const liveBefore = await live();
    expect(liveBefore.map((rows) => rows.length)).toEqual([1, 1, 2, 1, 5, 1]);

    // SQLite refuses to delete one expired row in the second batch: the first batch (1,000 rows,
    // its own transaction) commits, the second rolls back, the handler throws.
    const refuse = (victim: string) =>
      runInDurableObject(stub, (_instance, ctx) => {
        ctx.storage.sql.exec(
          `CREATE TRIGGER inject_fault BEFORE DELETE ON cache WHEN old.key = '${victim}'
           BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
        );
      });
    const allow = () =>
      runInDurableObject(stub, (_instance, ctx) => {
        ctx.storage.sql.exec("DROP TRIGGER inject_fault");
      });

    // 1. Run by the test helper.
    await refuse("dead:1500");
    expect(await alarmOf(name)).not.toBeNull();
    await expect(runDurableObjectAlarm(stub)).rejects.toThrow(/injected fault/);
    faults.alarmFailures++;
    expect(await dead()).toBe(EXPIRED - 1_000);
    expect(await live()).toEqual(liveBefore);
    // runDurableObjectAlarm runs and removes the alarm; a throw does not re-arm it (measured).
    expect(await alarmOf(name)).toBeNull();
    // Everything live still reads through the adapter, nothing expired does.
    expect(await state.get("live-ttl")).toEqual({ live: 1 });
    expect(await state.get("dead:2000")).toBeNull();
    expect(await state.getList("list-live")).toEqual([0, 1, 2, 3, 4]);
    expect(await state.getList("list-dead")).toEqual([]);
    expect(await state.queueDepth("queue-live")).toBe(1);
    expect(await state.acquireLock("lock-dead", 600_000)).not.toBeNull();
    await state.forceReleaseLock("lock-dead");
    await allow();

    // 2. Fired by the runtime, which retries a handler that threw. The write below finds no
    // alarm armed (the failed run left none) and arms one 50 ms out.
    await refuse("dead:2200");
    await state.set("arm", 1, 50);
    const armedAt = (await alarmOf(name))!;
    expect(armedAt).toBeGreaterThan(Date.now() - 1_000);
    // The first attempt deletes one batch (1,000 rows) and fails on the next.
    for (let i = 0; i < 200 && (await dead()) !== EXPIRED - 2_000; i++) await sleep(25);
    const failedAt = Date.now();
    expect(await dead()).toBe(EXPIRED - 2_000);
    faults.alarmFailures++;
    expect(await live()).toEqual(liveBefore);
    // A retry is pending: the runtime keeps the alarm armed.
    expect(await alarmOf(name)).not.toBeNull();
    await allow();
    // The retry completes the sweep.
    for (let i = 0; i < 600 && (await dead()) !== 0; i++) await sleep(25);
    const retriedAfter = Date.now() - failedAt;
    expect(await dead()).toBe(0);
    expect(await live()).toEqual(liveBefore);
    expect(await sql(name, "SELECT * FROM locks WHERE thread_id <> 'lock-live'")).toEqual([]);
    expect(await sql(name, "SELECT * FROM queue_entries WHERE seq < 0")).toEqual([]);
    expect(await sql(name, "SELECT * FROM list_items WHERE list_key = 'list-dead'")).toEqual([]);
    // And re-arms for what is left, no sooner than 30 s out.
    expect((await alarmOf(name))!).toBeGreaterThanOrEqual(Date.now() + 25_000);
    expect(await state.extendLock(liveLock, 3_600_000)).toBe(true);
    console.log(`alarm fault: failed run left ${EXPIRED - 2_000} expired rows and all live rows; runtime retry completed ${retriedAfter} ms later`);
  });

  it("an object holding the 0.1.1 schema is upgraded in place with every row", async () => {
    const name = `upgrade-${runId++}`;
    // The object starts (and creates the current schema); replace it with the 0.1.1 schema and
    // rows as that release wrote them, then evict so the next request opens it afresh.
    await openedOnOldTables(name, V1_SCHEMA, (q, now) => {
      for (let i = 0; i < 50; i++) q.exec("INSERT INTO subscriptions VALUES (?)", `slack:C1:${i}`);
      q.exec("INSERT INTO locks VALUES ('slack:C1:0', 'tok-held', ?)", now + 600_000);
      q.exec("INSERT INTO locks VALUES ('slack:C1:1', 'tok-expired', ?)", now - 1_000);
      for (let i = 0; i < 100; i++) {
        q.exec("INSERT INTO cache VALUES (?, ?, ?)", `thread-state:${i}`, JSON.stringify({ i, s: "é\u{1F600}" }), i % 2 ? now + 3_600_000 : null);
      }
      q.exec("INSERT INTO cache VALUES ('dedupe:old', 'true', ?)", now - 1_000);
    });

    const state = await adapter(name);
    const [inspection] = await state.inspect();
    expect(inspection).toMatchObject({ schemaVersion: 6, subscriptions: 50, locks: 1, cacheEntries: 100 });
    for (let i = 0; i < 50; i++) expect(await state.isSubscribed(`slack:C1:${i}`)).toBe(true);
    for (let i = 0; i < 100; i++) {
      expect(await state.get(`thread-state:${i}`)).toEqual({ i, s: "é\u{1F600}" });
    }
    expect(await state.get("dedupe:old")).toBeNull();
    expect(await state.acquireLock("slack:C1:0", 1_000)).toBeNull();
    expect(await state.extendLock({ threadId: "slack:C1:0", token: "tok-held", expiresAt: 0 }, 1_000)).toBe(true);
    expect(await state.acquireLock("slack:C1:1", 1_000)).not.toBeNull();
    // The copied rows are in the new tables (WITHOUT ROWID), the old ones are gone.
    const tables = await sql<{ name: string; sql: string }>(name, "SELECT name, sql FROM sqlite_master WHERE type = 'table'");
    for (const table of ["subscriptions", "locks", "cache"]) {
      expect(tables.find((t) => t.name === table)?.sql, table).toContain("WITHOUT ROWID");
    }
    expect(tables.map((t) => t.name).filter((n) => n.startsWith("v1_"))).toEqual([]);
    // The copied deadlines got an alarm.
    expect(await alarmOf(name)).not.toBeNull();
    console.log(
      `faults injected in workerd: ${faults.evictions} evictions mid-workload, ${faults.alarmFailures} failed sweeps, ` +
        `${faults.upgrades} schema upgrade(s)`,
    );
  });
});

describe("mixed versions during a deploy or a rollback", () => {
  it("a schema-version-2 object is upgraded in place to the current schema version with every row", async () => {
    const name = `upgrade-v2-${runId++}`;
    await openedOnOldTables(name, V2_SCHEMA, (q, now) => {
      q.exec("INSERT INTO subscriptions VALUES ('t1')");
      q.exec("INSERT INTO locks VALUES ('t1', 'cfdo_held0000000000000000000000', ?)", now + 600_000);
      q.exec("INSERT INTO cache VALUES ('thread-state:t1', '{\"turns\":3}', ?)", now + 3_600_000);
      q.exec("INSERT INTO lists VALUES ('msg-history:t1', ?)", now + 3_600_000);
      for (let i = 0; i < 3; i++) q.exec("INSERT INTO list_items VALUES ('msg-history:t1', ?, ?)", i, String(i));
      q.exec("INSERT INTO queue_entries VALUES ('t1', 0, '{\"message\":1}', ?)", now + 600_000);
    });

    const state = await adapter(name);
    const [inspection] = await state.inspect();
    expect(inspection).toMatchObject({ schemaVersion: 6, subscriptions: 1, locks: 1, cacheEntries: 1, listItems: 3, queuedEntries: 1 });
    expect(await state.get("thread-state:t1")).toEqual({ turns: 3 });
    expect(await state.getList("msg-history:t1")).toEqual([0, 1, 2]);
    expect(await state.extendLock({ threadId: "t1", token: "cfdo_held0000000000000000000000", expiresAt: 0 }, 1_000)).toBe(true);
    expect((await state.dequeue("t1"))?.message).toBe(1);
    // Schema versions 3 and 4 leave _schema_version at 2: a schema-version-2 build still opens the object.
    expect(await sql(name, "SELECT MAX(version) AS v FROM _schema_version")).toEqual([{ v: 2 }]);
    expect(await sql(name, "SELECT MAX(version) AS v FROM _schema_layout")).toEqual([{ v: 6 }]);
  });

  it("a schema-version-2 build's statements keep working on a current-schema object and never see a receipt", async () => {
    const name = `older-build-${runId++}`;
    const state = await adapter(name);
    const far = Date.now() + 600_000;
    await state.enqueue("t1", entry("first", far), 10);
    await state.enqueue("t1", entry("second", far), 10);
    expect((await state.dequeue("t1"))?.message).toBe("first"); // "first" is now a receipt
    await state.appendToList("l", "a");
    await state.setIfNotExists("d", true, 600_000);
    // What a schema-version-2 ChatStateDO runs (its SQL, verbatim), inside this object.
    const older = await runInDurableObject(stubFor(name), (_instance, ctx) => {
      const q = ctx.storage.sql;
      const now = Date.now();
      const version = q.exec("SELECT COALESCE(MAX(version), 0) AS v FROM _schema_version").one().v;
      const depth = q.exec("SELECT COUNT(*) AS n FROM queue_entries WHERE queue_key = ?1 AND expires_at > ?2", "t1", now).one().n;
      const next = q
        .exec(
          `DELETE FROM queue_entries WHERE queue_key = ?1 AND seq = (
             SELECT seq FROM queue_entries WHERE queue_key = ?1 AND expires_at > ?2 ORDER BY seq LIMIT 1)
           RETURNING value`,
          "t1",
          now,
        )
        .toArray();
      const seq = q.exec("SELECT MAX(seq) AS s FROM queue_entries WHERE queue_key = ?", "t1").one().s as number;
      q.exec("INSERT INTO queue_entries (queue_key, seq, value, expires_at) VALUES (?1, ?2, ?3, ?4)", "t1", seq + 1, JSON.stringify(entry("third", far)), far);
      q.exec(
        `INSERT INTO cache (key, value, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        "k",
        "1",
        null,
      );
      const last = q.exec("SELECT MAX(seq) AS s FROM list_items WHERE list_key = ?", "l").one().s as number;
      q.exec("INSERT INTO list_items (list_key, seq, value) VALUES (?1, ?2, ?3)", "l", last + 1, '"b"');
      return { version, depth, next: next.map((r) => JSON.parse(r.value as string).message) };
    });
    // It opens the object (version 2), counts one live entry, and takes "second", not the receipt.
    expect(older).toEqual({ version: 2, depth: 1, next: ["second"] });
    // And this build reads what it wrote.
    expect(await state.get("k")).toBe(1);
    expect(await state.getList("l")).toEqual(["a", "b"]);
    expect((await state.dequeue("t1"))?.message).toBe("third");
    expect(await state.dequeue("t1")).toBeNull();
  });

  it("an older build reads a schema-version-4 list's bound as its expiry: never before the exact one, at most a quarter TTL after", async () => {
    const name = `older-build-lists-${runId++}`;
    const state = await adapter(name);
    const ttlMs = 3_600_000;
    for (let i = 0; i < 5; i++) await state.appendToList("h", { i }, { maxLength: 3, ttlMs });
    const seen = await runInDurableObject(stubFor(name), (_instance, ctx) => {
      const q = ctx.storage.sql;
      // The exact expiry rides on the newest item; the `lists` row holds the bound.
      const exact = q.exec("SELECT expires_at AS e FROM list_items WHERE list_key = 'h' ORDER BY seq DESC LIMIT 1").one().e as number;
      const bound = q.exec("SELECT expires_at AS e FROM lists WHERE list_key = 'h'").one().e as number;
      // A schema-version-2/3 build's getList, verbatim, at a given time.
      const olderGetList = (now: number) =>
        q
          .exec(
            `SELECT value FROM list_items WHERE list_key = ?1
               AND NOT EXISTS (SELECT 1 FROM lists WHERE list_key = ?1 AND expires_at <= ?2) ORDER BY seq`,
            "h",
            now,
          )
          .toArray()
          .map((r) => JSON.parse(r.value as string).i);
      return { slack: bound - exact, beforeExact: olderGetList(exact - 1), atBound: olderGetList(bound) };
    });
    expect(seen.slack).toBeGreaterThanOrEqual(0);
    expect(seen.slack).toBeLessThanOrEqual(ttlMs / 4);
    expect(seen.beforeExact).toEqual([2, 3, 4]);
    expect(seen.atBound).toEqual([]);
    expect((await state.getList("h")).map((m) => (m as { i: number }).i)).toEqual([2, 3, 4]);
  });
});

/** Schema version 2 (schema::V2_TABLES_FOR_TESTS in src/base/schema.rs), as the previous build created it. */
const V2_SCHEMA = `
CREATE TABLE _schema_version (version INTEGER PRIMARY KEY);
INSERT INTO _schema_version VALUES (2);
CREATE TABLE subscriptions (thread_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE locks (thread_id TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) WITHOUT ROWID;
CREATE INDEX cache_expiry ON cache (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE lists (list_key TEXT PRIMARY KEY, expires_at INTEGER) WITHOUT ROWID;
CREATE INDEX lists_expiry ON lists (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE list_items (list_key TEXT NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (list_key, seq)) WITHOUT ROWID;
CREATE TABLE queue_entries (queue_key TEXT NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (queue_key, seq)) WITHOUT ROWID;
`;

