// Admission and the client's duties across a redirect (docs/resharding.md, "Admission" and "The
// client across a redirect"): the cases a review of the protocol found wrong (issue 15, findings
// 1, 2, 3, 4 and 7; issue 18, growing during traffic). Each test forces its interleaving: a hooked
// namespace runs the other Worker's call between a lost reply and its retry, so none depends on a
// lucky schedule.
import { env } from "cloudflare:test";
import type { QueueEntry } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState, type CloudflareDOStateAdapter, type CloudflareStateOptions } from "../ts/index.js";
import { expectSubscribedOnlyIn, quiet, sql } from "./helpers.js";
import { retryableError } from "./support/faulty-namespace.js";
import { hooked as hookedNamespace, type NetworkHook } from "./support/hooked-namespace.js";

let run = 0;

async function adapter(options: Omit<CloudflareStateOptions, "namespace"> & { namespace?: unknown }): Promise<CloudflareDOStateAdapter> {
  const state = createCloudflareState({ namespace: env.CHAT_STATE, logger: quiet, ...options } as CloudflareStateOptions);
  await state.connect();
  return state;
}

const threads = (base: string, n: number) => Array.from({ length: n }, (_, i) => `slack:C${base}:${1_000 + i}.0001`);

const entry = (n: number) =>
  ({ enqueuedAt: Date.now(), expiresAt: Date.now() + 600_000, message: { n } }) as unknown as QueueEntry;

/** `env.CHAT_STATE` with every RPC passing through `hook(call, forward)` (./support/hooked-namespace.ts). */
const hooked = (hook: NetworkHook): unknown => hookedNamespace(env.CHAT_STATE, hook);

async function drained(state: CloudflareDOStateAdapter, labels: string[] = []) {
  for (let round = 0; round < 50; round++) {
    const status = await state.drainMigration({ labels });
    if (status.every((s) => s.drained)) return;
  }
  throw new Error("did not drain");
}

describe("the client across a redirect: one logical call, one retry identity, one budget", () => {
  // An old-layout Worker's call reaches the previous home and runs there, its reply is lost;
  // meanwhile a new-layout Worker moves the thread; the retry is redirected to the new home. It
  // must arrive there as a retry (the receipts moved with the unit), or it runs a second time.
  for (const method of ["dequeue", "enqueue", "appendToList", "acquireLock"] as const) {
    it(`${method}: a retry redirected to the new home counts once`, async () => {
      const base = `redirect-retry-${method}-${run++}`;
      const old = await adapter({ name: base });
      const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
      const t = threads(base, 16).find((x) => grown.objectNameForThread(x) !== base)!;
      for (let n = 1; n <= 2; n++) await old.enqueue(t, entry(n), 10);
      await old.subscribe(t);
      let lost = false;
      const namespace = hooked(async (call, forward) => {
        if (!lost && call.method === method && call.objectName === base) {
          lost = true;
          await forward(); // it ran at the previous home ...
          await grown.isSubscribed(t); // ... the new layout moves the thread meanwhile ...
          throw retryableError(); // ... and the reply is lost
        }
        return await forward();
      });
      const late = await adapter({ name: base, namespace, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
      if (method === "dequeue") {
        const got = await late.dequeue(t);
        expect((got?.message as unknown as { n: number }).n, "the entry the lost reply carried").toBe(1);
        expect(((await grown.dequeue(t))?.message as unknown as { n: number }).n).toBe(2);
        expect(await grown.dequeue(t)).toBeNull();
      } else if (method === "enqueue") {
        expect(await late.enqueue(t, entry(3), 10)).toBe(3);
        expect(await grown.queueDepth(t), "enqueued once").toBe(3);
      } else if (method === "appendToList") {
        await late.appendToList(`msg-history:${t}`, "once", { maxLength: 10 });
        expect(await grown.getList(`msg-history:${t}`), "appended once").toEqual(["once"]);
      } else {
        const lock = await late.acquireLock(t, 600_000);
        expect(lock, "the lock its first attempt took is its own").not.toBeNull();
        expect(await grown.acquireLock(t, 1_000), "and nobody else's").toBeNull();
        await late.releaseLock(lock!);
        expect(await grown.acquireLock(t, 1_000), "released: not orphaned").not.toBeNull();
      }
      expect(lost).toBe(true);
    });
  }

  it("the attempts of one call are counted across its hops, not afresh at each object", async () => {
    const base = `redirect-budget-${run++}`;
    const old = await adapter({ name: base });
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    const t = threads(base, 16).find((x) => grown.objectNameForThread(x) !== base)!;
    await old.subscribe(t);
    await grown.isSubscribed(t); // moved: the previous home redirects
    const failedAt: string[] = [];
    const namespace = hooked(async (call, forward) => {
      if (call.method === "isSubscribed" && !failedAt.includes(call.objectName)) {
        failedAt.push(call.objectName); // each object fails its first attempt, before it runs
        throw retryableError();
      }
      return await forward();
    });
    const late = await adapter({ name: base, namespace, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    // Two attempts in all: one failed at the previous home, the retry redirected, one failed at
    // the new home. A third would exceed the policy.
    await expect(late.isSubscribed(t)).rejects.toThrow(/Network connection lost/);
    expect(failedAt).toEqual([base, grown.objectNameForThread(t)]);
  });

  it("two calls of one Worker redirected at once both follow with the migration (issue 18)", async () => {
    const base = `redirect-concurrent-${run++}`;
    const old = await adapter({ name: base });
    const grown = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    const ids = threads(base, 32).filter((x) => grown.objectNameForThread(x) !== base);
    for (const t of ids.slice(0, 4)) await old.subscribe(t);
    await grown.isSubscribed(ids[0]!); // the base object is a previous home now
    // One old-layout Worker, several calls in flight: each is redirected; the first to return
    // adopts the new layout, the others must still carry the migration to the new home.
    const late = await adapter({ name: base });
    expect(await Promise.all(ids.slice(1, 4).map((t) => late.isSubscribed(t)))).toEqual([true, true, true]);
    expect(await Promise.all(ids.slice(4, 8).map((t) => late.subscribe(t)))).toHaveLength(4);
    for (const t of ids.slice(1, 8)) expect(await grown.isSubscribed(t), t).toBe(true);
  });
});

describe("admission", () => {
  it("after a drain into a shardKey layout, new keys are served (finding 1)", async () => {
    const base = `sk-drained-${run++}`;
    const shardKey = (id: string) => `${base}-${id.split(":")[1]}`;
    const old = await adapter({ name: base });
    const ids = threads(base, 4);
    for (const t of ids) {
      await old.subscribe(t);
      await old.set(`thread-state:${t}`, { t }, 3_600_000);
    }
    await old.setIfNotExists(`dedupe:slack:${base}:old`, true, 600_000);
    const grown = await adapter({ name: base, shardKey, migrateFrom: { name: base } });
    await drained(grown);
    // A new message: its dedupe key lives on the base object, which is also the previous home.
    expect(await grown.setIfNotExists(`dedupe:slack:${base}:new`, true, 600_000)).toBe(true);
    expect(await grown.setIfNotExists(`dedupe:slack:${base}:old`, true, 600_000)).toBe(false);
    await grown.set(`modal-context:${base}`, { m: 1 });
    expect(await grown.get(`modal-context:${base}`)).toEqual({ m: 1 });
    for (const t of ids) {
      expect(await grown.isSubscribed(t)).toBe(true);
      expect(await grown.get(`thread-state:${t}`)).toEqual({ t });
    }
  });

  it("shards → shardKey, drained: new keys are served on the objects that are both homes (finding 1)", async () => {
    const base = `sh-sk-${run++}`;
    const shardKey = (id: string) => `${base}-${id.split(":")[1]}`;
    const two = await adapter({ name: base, shards: 2 });
    for (const t of threads(base, 6)) await two.subscribe(t);
    const grown = await adapter({ name: base, shardKey, migrateFrom: { name: base, shards: 2 } });
    await drained(grown);
    expect(await grown.setIfNotExists(`dedupe:slack:${base}:new`, true, 600_000)).toBe(true);
    for (const t of threads(base, 6)) expect(await grown.isSubscribed(t)).toBe(true);
    // A Worker still on the old layout sends new keys to the shard that is no longer anyone's
    // home for them: it is told the base object, which keeps them.
    const dedupe = Array.from({ length: 16 }, (_, i) => `dedupe:slack:${base}:late-${i}`);
    const onShard = dedupe.filter((k) => two.objectNameForKey(k) !== base);
    expect(onShard.length).toBeGreaterThan(0);
    for (const k of onShard) expect(await (await adapter({ name: base, shards: 2 })).setIfNotExists(k, true, 600_000), k).toBe(true);
    for (const k of onShard) expect(await grown.setIfNotExists(k, true, 600_000), k).toBe(false);
    for (const k of onShard) expect((await sql(base, "SELECT 1 FROM cache WHERE key = ?", k)).length, k).toBe(1);
  });

  it("the 0.1.x upgrade path with a shardKey, drained: a new thread is served (finding 1)", async () => {
    const base = `legacy-drained-${run++}`;
    const shardKey = (id: string) => `${base}-${id.split(":")[1]}`;
    const [t1, t2] = [`slack:C1:1.1`, `slack:C1:2.2`];
    const label = shardKey(t1);
    // As 0.1.x placed them: thread-scoped rows on the label, every cache key on the base object.
    await (await adapter({ name: label })).subscribe(t1);
    await (await adapter({ name: base })).set(`thread-state:${t1}`, { turns: 7 }, 3_600_000);
    const state = await adapter({ name: base, shardKey, migrateFrom: { name: base, shardKey, legacy: "0.1" } });
    await drained(state, [label]);
    expect(await state.get(`thread-state:${t1}`)).toEqual({ turns: 7 });
    // A thread nobody has seen yet, on the label object (a previous home that has drained).
    expect(await state.isSubscribed(t2)).toBe(false);
    await state.subscribe(t2);
    await state.set(`thread-state:${t2}`, { turns: 1 }, 3_600_000);
    expect(await state.get(`thread-state:${t2}`)).toEqual({ turns: 1 });
    expect(await state.isSubscribed(t2)).toBe(true);
    expect(await state.setIfNotExists(`dedupe:slack:${base}:new`, true, 600_000)).toBe(true);
  });

  it("Workers one change behind are redirected during the next change, not refused (finding 2)", async () => {
    const base = `behind-${run++}`;
    const one = await adapter({ name: base });
    const ids = threads(base, 24);
    for (const [i, t] of ids.entries()) {
      await one.subscribe(t);
      await one.set(`thread-state:${t}`, { i }, 3_600_000);
    }
    const four = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    await drained(four);
    // 4 → 8 begins: the 4-layout objects become previous homes of the second change.
    const eight = await adapter({ name: base, shards: 8, migrateFrom: { name: base, shards: 4 } });
    for (const t of ids) expect(await eight.isSubscribed(t), `${t} on the 4 → 8 Worker`).toBe(true);
    // Workers still configured for the first change (a fresh isolate each: none has learned of
    // the second from a redirect yet) read and write every thread.
    for (const [i, t] of ids.entries()) {
      const behind = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
      expect(await behind.isSubscribed(t), `${t} on a Worker one change behind`).toBe(true);
      expect(await (await adapter({ name: base, shards: 4, migrateFrom: { name: base } })).get(`thread-state:${t}`), t).toEqual({ i });
      await (await adapter({ name: base, shards: 4, migrateFrom: { name: base } })).set(`thread-state:${t}`, { i, behind: true }, 3_600_000);
    }
    // The second change is not disturbed: it drains, and every thread is whole in its 8-home.
    await drained(eight);
    for (const [i, t] of ids.entries()) {
      expect(await eight.get(`thread-state:${t}`), t).toEqual({ i, behind: true });
      const home = eight.objectNameForThread(t);
      await expectSubscribedOnlyIn(t, home, Array.from({ length: 8 }, (_, s) => (s === 0 ? base : `${base}:shard-${s}`)));
    }
  });

  it("a second change before the first drained is refused where old and new homes coincide (finding 4)", async () => {
    const base = `coincide-${run++}`;
    const one = await adapter({ name: base });
    const ids = threads(base, 200);
    const four = await adapter({ name: base, shards: 4, migrateFrom: { name: base } });
    const eight = await adapter({ name: base, shards: 8, migrateFrom: { name: base, shards: 4 } });
    // A thread whose 4-home and 8-home are the same object X (not the base object), and another
    // thread on X that the first change has already moved there.
    const x = `${base}:shard-1`;
    const onX = ids.filter((t) => four.objectNameForThread(t) === x && eight.objectNameForThread(t) === x);
    const [moved, waiting] = onX;
    for (const t of [moved!, waiting!]) await one.subscribe(t);
    expect(await four.isSubscribed(moved!), "moved").toBe(true); // X has received a unit of 1 → 4
    // 1 → 4 has not drained: `waiting` is still on the base object. A 4 → 8 Worker must not
    // create it empty on X.
    await expect(eight.isSubscribed(waiting!)).rejects.toThrow(/still (moving|receiving) .*layout change/);
    await expect(eight.subscribe(waiting!)).rejects.toThrow(/still (moving|receiving) .*layout change/);
    expect(await four.isSubscribed(waiting!), "waiting, before the drain").toBe(true);
    await drained(four);
    expect(await four.isSubscribed(waiting!), "waiting, drained").toBe(true);
  });
});

describe("what identifies a layout change (finding 7)", () => {
  const f = (id: string) => `by-team-${id.split(":")[0]}`;
  const g = (id: string) => `by-channel-${id.split(":")[1]}`;

  it("a change between two shardKey functions needs both named, and refuses what cannot be told apart", () => {
    expect(() => createCloudflareState({ namespace: env.CHAT_STATE, shardKey: f, migrateFrom: { shardKey: g } })).toThrow(
      /shardKeyName/,
    );
    expect(() =>
      createCloudflareState({ namespace: env.CHAT_STATE, shardKey: f, shardKeyName: "team", migrateFrom: { shardKey: g } }),
    ).toThrow(/migrateFrom\.shardKeyName/);
    expect(() =>
      createCloudflareState({ namespace: env.CHAT_STATE, shardKey: f, shardKeyName: "x", migrateFrom: { shardKey: g, shardKeyName: "" } }),
    ).toThrow(/shardKeyName/);
    // Named: two layouts; the same name is the same layout (no change at all).
    createCloudflareState({ namespace: env.CHAT_STATE, shardKey: f, shardKeyName: "team", migrateFrom: { shardKey: g, shardKeyName: "channel" } });
    createCloudflareState({ namespace: env.CHAT_STATE, shardKey: f, shardKeyName: "team", migrateFrom: { shardKey: f, shardKeyName: "team" } });
    // The same function on both sides needs no name (nothing changes).
    createCloudflareState({ namespace: env.CHAT_STATE, shardKey: f, migrateFrom: { shardKey: f } });
  });

  it("shardKey A → B → C: each change has its own id and the state follows each", async () => {
    const base = `sk-chain-${run++}`;
    const layouts = [
      { shardKey: (id: string) => `${base}-a-${id.split(":")[1]}`, shardKeyName: "a" },
      { shardKey: (id: string) => `${base}-b-${id.split(":")[2]}`, shardKeyName: "b" },
      { shardKey: (id: string) => `${base}-c-${id.split(":")[1]}`, shardKeyName: "c" },
    ];
    const ids = [`slack:C1:1.1`, `slack:C1:2.2`, `slack:C2:3.3`];
    let state = await adapter({ name: base, ...layouts[0]! });
    for (const [i, t] of ids.entries()) {
      await state.subscribe(t);
      await state.set(`thread-state:${t}`, { i }, 3_600_000);
    }
    const seen = new Set<string>();
    for (let step = 1; step < layouts.length; step++) {
      const [from, to] = [layouts[step - 1]!, layouts[step]!];
      state = await adapter({ name: base, ...to, migrateFrom: { name: base, ...from } });
      const labels = [...new Set(ids.map((t) => from.shardKey(t)))];
      for (const [i, t] of ids.entries()) {
        expect(await state.isSubscribed(t), `${t} after change ${step}`).toBe(true);
        expect(await state.get(`thread-state:${t}`), `${t} after change ${step}`).toEqual({ i });
      }
      await drained(state, labels);
      const ids_ = (await state.inspect(labels)).map((o) => o.migration.previousHomeOf).filter((m): m is string => !!m);
      for (const id of new Set(ids_)) {
        expect(seen.has(id), `migration id ${id} reused`).toBe(false);
        seen.add(id);
      }
    }
    expect(seen.size).toBe(2);
  });
});
