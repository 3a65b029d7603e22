// What re-sharding costs, in what Cloudflare bills: RPCs (the adapter's, and those objects make to
// each other) and SQLite rows written, per call while a layout change is under way and after it
// has drained. Exact counts from workerd's cursor counters, so they are asserted: a change that
// makes the migration path write more, or leaves a cost behind after the drain, fails here.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { Layout } from "../ts/worker/layout.js";
import { FaultyNamespace } from "./support/faulty-namespace.js";
import { quiet } from "./helpers.js";

const stub = (name: string) => env.FAULTY_STATE.getByName(name);

interface Cost {
  /** RPCs the adapter made. */
  rpc: number;
  /** RPCs objects made to each other (handOver, handoffImport, …). */
  peer: number;
  /** Rows written at the key's previous home and at its new home. */
  writtenAtPrevious: number;
  writtenAtNew: number;
}

async function peerCalls(names: string[]): Promise<number> {
  let total = 0;
  for (const name of names) for (const n of Object.values(await stub(name).peerCallsReceived())) total += n ?? 0;
  return total;
}

async function written(name: string): Promise<number> {
  return (await stub(name).rowCounts()).rowsWritten;
}

describe("re-sharding costs", () => {
  it("a moved unit costs one pull and its rows once; nothing extra after the drain", async () => {
    const base = `reshard-costs-${Date.now()}`;
    const next = new Layout({ name: base, shards: 4 }, "");
    const objects = next.objectNames();
    // Threads whose new home is another object than the base (where all of them live today).
    const threads = Array.from({ length: 64 }, (_, i) => `slack:C${base}:${1_000 + i}.0001`).filter(
      (t) => next.locate(t, "thread", "threadId").object !== base,
    );
    const [busy, idle, laterA, laterB] = threads;
    const old = createCloudflareState({ namespace: env.FAULTY_STATE as never, name: base, logger: quiet });
    await old.connect();
    // One thread's worth of chat state per thread: subscription, thread state, 3-item history, a
    // dedupe key. `idle` has nothing.
    for (const t of [busy!, laterA!, laterB!]) {
      await old.subscribe(t);
      await old.set(`thread-state:${t}`, { turns: 1 }, 3_600_000);
      for (let m = 0; m < 3; m++) await old.appendToList(`msg-history:${t}`, { m }, { maxLength: 100, ttlMs: 3_600_000 });
    }

    const counted = new FaultyNamespace(env.FAULTY_STATE as never, () => null);
    const grown = createCloudflareState({ namespace: counted.namespace, name: base, shards: 4, migrateFrom: { name: base }, logger: quiet });
    await grown.connect();
    const measure = async (thread: string, op: (state: CloudflareDOStateAdapter) => Promise<unknown>): Promise<Cost> => {
      const home = next.locate(thread, "thread", "threadId").object;
      const [rpc, peer, atPrevious, atNew] = [counted.counts.calls, await peerCalls(objects), await written(base), await written(home)];
      await op(grown);
      return {
        rpc: counted.counts.calls - rpc,
        peer: (await peerCalls(objects)) - peer,
        writtenAtPrevious: (await written(base)) - atPrevious,
        writtenAtNew: (await written(home)) - atNew,
      };
    };

    const figures: Record<string, Cost> = {};
    // The first call on a unit still at its previous home pulls it: one object-to-object RPC;
    // the previous home seals it (1 row), hands it over and deletes its rows when it learns the
    // new home has them; the new home inserts them with one import record.
    figures["first call on a moved thread (isSubscribed)"] = await measure(busy!, (s) => s.isSubscribed(busy!));
    figures["next call on it (get thread-state)"] = await measure(busy!, (s) => s.get(`thread-state:${busy}`));
    figures["next write on it (set thread-state, TTL)"] = await measure(busy!, (s) => s.set(`thread-state:${busy}`, { turns: 2 }, 3_600_000));
    // A thread with nothing to move: still one pull, nothing written anywhere.
    figures["first call on a thread with nothing (isSubscribed)"] = await measure(idle!, (s) => s.isSubscribed(idle!));
    figures["next call on it (subscribe)"] = await measure(idle!, (s) => s.subscribe(idle!));
    console.log("re-sharding, per call during the migration:", JSON.stringify(figures, null, 2));

    expect(await grown.isSubscribed(busy!)).toBe(true);
    expect(await grown.getList(`msg-history:${busy}`)).toEqual([{ m: 0 }, { m: 1 }, { m: 2 }]);
    const first = figures["first call on a moved thread (isSubscribed)"]!;
    expect(first.rpc).toBe(1);
    expect(first.peer).toBe(1);
    // The previous home writes the seal (and, on the migration's first message, its one-row
    // record of the migration and the guard that refuses builds without the protocol,
    // src/sharding/guard.rs); the new home inserts the unit's rows once, plus an import record
    // (and, on its first import, the guard).
    expect(first.writtenAtPrevious).toBeLessThanOrEqual(3);
    expect(first.writtenAtNew).toBeGreaterThan(6);
    for (const next of ["next call on it (get thread-state)", "next call on it (subscribe)"]) expect(figures[next]!.peer, next).toBe(0);
    expect(figures["next call on it (get thread-state)"]).toEqual({ rpc: 1, peer: 0, writtenAtPrevious: 0, writtenAtNew: 0 });
    expect(figures["next write on it (set thread-state, TTL)"]).toEqual({ rpc: 1, peer: 0, writtenAtPrevious: 0, writtenAtNew: 2 });
    const nothing = figures["first call on a thread with nothing (isSubscribed)"]!;
    expect(nothing).toEqual({ rpc: 1, peer: 1, writtenAtPrevious: 0, writtenAtNew: 0 });
    expect(figures["next call on it (subscribe)"]).toEqual({ rpc: 1, peer: 0, writtenAtPrevious: 0, writtenAtNew: 1 });

    // The drain moves the rest from the previous home's alarm: every object's rows counted.
    const allWritten = async () => {
      let total = 0;
      for (const name of objects) total += await written(name);
      return total;
    };
    const beforeDrain = { peer: await peerCalls(objects), rows: await allWritten() };
    let steps = 0;
    while (!(await stub(base).inspect()).migration.drained && steps < 50) {
      await runDurableObjectAlarm(stub(base));
      steps++;
    }
    expect((await stub(base).inspect()).migration.drained).toBe(true);
    const drain = { alarms: steps, peer: (await peerCalls(objects)) - beforeDrain.peer, rowsWritten: (await allWritten()) - beforeDrain.rows };
    console.log("re-sharding, the drain (2 threads moved, 1 pulled one cleaned up):", JSON.stringify(drain));
    // Per unit moved: one handOver and its import; per pulled unit: one confirmation; per
    // destination at the end: one "source drained" message.
    expect(drain.peer).toBeLessThanOrEqual(2 * 2 + 1 + 3);
    // No row of the migration is left anywhere but the previous home's one-row record.
    for (const name of objects) {
      const { migration } = await stub(name).inspect();
      expect(migration.sealedUnits, name).toBe(0);
      expect(migration.importedRecords, name).toBe(0);
    }

    // After the drain: exactly the cost of a layout that never changed.
    const settled: Record<string, Cost> = {};
    settled["isSubscribed (drained)"] = await measure(laterA!, (s) => s.isSubscribed(laterA!));
    settled["set thread-state, TTL (drained)"] = await measure(laterA!, (s) => s.set(`thread-state:${laterA}`, { turns: 3 }, 3_600_000));
    settled["isSubscribed, nothing stored (drained)"] = await measure(threads[4]!, (s) => s.isSubscribed(threads[4]!));
    console.log("re-sharding, per call after the drain:", JSON.stringify(settled, null, 2));
    expect(settled["isSubscribed (drained)"]).toEqual({ rpc: 1, peer: 0, writtenAtPrevious: 0, writtenAtNew: 0 });
    expect(settled["set thread-state, TTL (drained)"]).toEqual({ rpc: 1, peer: 0, writtenAtPrevious: 0, writtenAtNew: 2 });
    expect(settled["isSubscribed, nothing stored (drained)"]).toEqual({ rpc: 1, peer: 0, writtenAtPrevious: 0, writtenAtNew: 0 });
    expect(await grown.getList(`msg-history:${laterB}`)).toEqual([{ m: 0 }, { m: 1 }, { m: 2 }]);
  });
});
