// Model-based test of online re-sharding (fast-check): random operations through an adapter on
// the old layout and one on the new layout (with `migrateFrom`), interleaved with drain steps,
// evictions and crashes at named points of the handoff (the previous home resetting while it
// seals a unit, the new home while it imports one, before or after the step's write commits).
// After every step every read agrees with a reference model of one logical store; at the end,
// after a full drain, every row sits in its new home and the previous homes hold nothing of the
// keys that moved.
//
// The layouts per sequence: 1 → 4, 2 → 5, or a name change (a → b). Keys: three threads (their
// subscription, thread state, history and queue) and two plain keys; locks on two more threads.
// Values never expire here (the TTL model is test/model.test.ts's): what is checked is where the
// data lives and that it is never lost, doubled or served twice.
//
// A sequence may also make a second layout change (`change`: 4 → 8, 5 → 3, or b → b with 3
// shards) once the first has drained; from then on the Workers of the first change are one change
// behind — the long-lived one (it adopts the second layout at its first redirect) and fresh ones
// (another isolate each, which have learned nothing) — beside the second change's own. And half of
// the sequences lose replies and calls between adapter and object (`after`: the call ran, its
// reply is lost; `before`: it never arrived), most often on the previous homes, whose answers are
// redirects — and sometimes the unit moves while the reply of a call that ran at its previous home
// is lost: the retry is then redirected to the new home, and must count once there.
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { QueueEntry } from "chat";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CloudflareDOStateAdapter, CloudflareStateOptions } from "../ts/index.js";
import type { ResettableMethod } from "./support/faulty-object.js";
import { Layout } from "../ts/worker/layout.js";
import { callIdentity, FaultyNamespace, retryableError } from "./support/faulty-namespace.js";
import { hooked } from "./support/hooked-namespace.js";
import { seededRandom } from "./support/random.js";
import { faultyAdapter } from "./helpers.js";
import { DATA_METHODS } from "./support/adapter-methods.js";
import { HeldLocks } from "./model/tenure.js";

const SEQUENCES = Number((env as unknown as Record<string, string | undefined>).MODEL_SEQUENCES || 1000) / 5;
/**
 * A fixed fast-check seed: `npm test` is a gate and replays as it stands (README, "Soak"); the
 * soak's MODEL_SEED picks others, and a failure prints the seed and path to replay.
 */
const MODEL_SEED = Number((env as unknown as Record<string, string | undefined>).MODEL_SEED || 1818);

/** "old": a Worker still on the old layout (a fresh adapter each time: another isolate, which has
 * not yet learned the new layout from a redirect); "stale": one long-lived old-layout adapter
 * (it adopts the new layout at its first redirect); "new": the adapter with `migrateFrom`. */
type Side = "old" | "stale" | "new";
type Op =
  | { op: "subscribe" | "unsubscribe" | "isSubscribed"; side: Side; t: number }
  | { op: "set"; side: Side; k: number; v: number }
  | { op: "get" | "delete"; side: Side; k: number }
  | { op: "append"; side: Side; t: number; v: number }
  | { op: "getList"; side: Side; t: number }
  | { op: "enqueue"; side: Side; t: number; v: number }
  | { op: "dequeue" | "queueDepth"; side: Side; t: number }
  | { op: "acquire"; side: Side; l: number }
  | { op: "release" | "extend"; side: Side; l: number }
  | { op: "drain" }
  | { op: "change" }
  | { op: "evict"; which: number }
  | { op: "crash"; step: "handOver" | "handoffImport"; at: "before-commit" | "after-commit"; which: number };

const side = fc.constantFrom<Side>("old", "stale", "new");
const t = fc.nat({ max: 2 });
const k = fc.nat({ max: 4 });
const l = fc.nat({ max: 1 });
const v = fc.nat({ max: 99 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom("subscribe", "unsubscribe", "isSubscribed"), side, t }), weight: 10 },
  { arbitrary: fc.record({ op: fc.constant("set"), side, k, v }), weight: 10 },
  { arbitrary: fc.record({ op: fc.constantFrom("get", "delete"), side, k }), weight: 10 },
  { arbitrary: fc.record({ op: fc.constant("append"), side, t, v }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant("getList"), side, t }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("enqueue"), side, t, v }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constantFrom("dequeue", "queueDepth"), side, t }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant("acquire"), side, l }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constantFrom("release", "extend"), side, l }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant("drain") }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("change") }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("evict"), which: fc.nat({ max: 7 }) }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant("crash"),
      step: fc.constantFrom<"handOver" | "handoffImport">("handOver", "handoffImport"),
      at: fc.constantFrom<"before-commit" | "after-commit">("before-commit", "after-commit"),
      which: fc.nat({ max: 7 }),
    }),
    weight: 3,
  },
) as fc.Arbitrary<Op>;

type LayoutOpts = Omit<CloudflareStateOptions, "namespace">;
const LAYOUTS: { from: LayoutOpts; to: LayoutOpts; then: LayoutOpts }[] = [
  { from: {}, to: { shards: 4 }, then: { shards: 8 } },
  { from: { shards: 2 }, to: { shards: 5 }, then: { shards: 3 } },
  { from: {}, to: { name: "renamed" }, then: { name: "renamed", shards: 3 } },
];

const stats = {
  sequences: 0,
  operations: 0,
  drains: 0,
  evictions: 0,
  crashes: 0,
  crashesFired: 0,
  secondChanges: 0,
  callsBehind: 0,
  faultsAtPreviousHomes: 0,
  faultsElsewhere: 0,
  movedWhileLost: 0,
};

/** Methods the fault plan may fail (data calls and drain steps; never inspection or test hooks). */
const FAULTABLE = new Set<string>([
  ...DATA_METHODS.filter((m) => m !== "forceReleaseLock" && m !== "setIfNotExists"),
  "handoffDrain",
]);
let execution = 0;

async function runSequence(ops: Op[], faultSeed: number | null): Promise<void> {
  const run = execution++;
  const layouts = LAYOUTS[run % LAYOUTS.length]!;
  const prefix = `rm${run}-`;
  const from = { ...layouts.from, name: `${prefix}${layouts.from.name ?? "default"}` };
  const to = { ...layouts.to, name: `${prefix}${layouts.to.name ?? "default"}` };
  const then = { ...layouts.then, name: `${prefix}${layouts.then.name ?? "default"}` };
  // Where each layout puts a key, computed without an adapter (an adapter may adopt a newer one).
  const [l1, l2, l3] = [from, to, then].map((o) => new Layout({ name: o.name, shards: o.shards }, "")) as [Layout, Layout, Layout];
  const homeOfThread = (layout: Layout, x: string) => layout.locate(x, "thread", "threadId").object;
  const homeOfKey = (layout: Layout, x: string) => layout.locate(x, "key", "key").object;
  // Previous homes of the change under way: where redirects come from, so most faults go there.
  let redirecting = new Set<string>();
  const random = faultSeed === null ? null : seededRandom(faultSeed);
  const faults = new FaultyNamespace(
    env.FAULTY_STATE as never,
    ({ objectName, method }) => {
      if (random === null || !FAULTABLE.has(method)) return null;
      const atPrevious = redirecting.has(objectName);
      const r = random();
      if (r >= (atPrevious ? 0.25 : 0.05)) return null;
      if (atPrevious) stats.faultsAtPreviousHomes++;
      else stats.faultsElsewhere++;
      return r < (atPrevious ? 0.15 : 0.03) ? "after" : "before";
    },
    { maxConsecutive: 2 },
  );
  // The key moves while a reply is lost: a call that ran at a previous home loses its reply, and
  // before its retry a fault-free Worker of the change under way drains every unit, so the retry
  // is redirected to the unit's new home — where it must count as the retry it is. A unit moves
  // once: a call whose reply was lost this way is not lost so again before an attempt of it
  // comes back (its identity leaves out `via`, which names the hop, and the retry flag), so that
  // with the namespace's own faults (at most two in a row per object) a call fails at most five
  // times in a row — what the adapter's six attempts ride out.
  const movers: CloudflareDOStateAdapter[] = [];
  const movedFor = new Set<string>();
  const moveWhileLost = hooked(faults.namespace, async (call, forward) => {
    if (random === null || !FAULTABLE.has(call.method) || call.method === "handoffDrain" || !redirecting.has(call.objectName)) {
      return await forward();
    }
    const id = callIdentity("", call.method, call.args.slice(0, -1));
    if (movedFor.has(id)) {
      const answer = await forward();
      movedFor.delete(id);
      return answer;
    }
    if (random() >= 0.08) return await forward();
    movedFor.add(id);
    stats.movedWhileLost++;
    await forward();
    await movers.at(-1)!.drainMigration().catch(() => {});
    throw retryableError();
  });
  const make = (options: LayoutOpts) => faultyAdapter({ ...options, namespace: moveWhileLost } as LayoutOpts);
  movers.push(await faultyAdapter({ ...to, migrateFrom: { name: from.name, shards: from.shards } }));
  const adapters: Record<Side, CloudflareDOStateAdapter> & { next?: CloudflareDOStateAdapter } = {
    old: await make(from),
    stale: await make(from),
    new: await make({ ...to, migrateFrom: { name: from.name, shards: from.shards } }),
  };
  /** After the second change: the first change's Workers are one change behind. */
  let second = false;
  const threads = [0, 1, 2].map((i) => `slack:C${run}:${i}.1`);
  const lockKeys = [0, 1].map((i) => `lock:${run}:${i}`);
  const keys = [
    `thread-state:${threads[0]}`,
    `thread-state:${threads[1]}`,
    `channel-state:slack:C${run}`,
    `dedupe:slack:${run}:a`,
    `modal-context:${run}`,
  ];
  const homesUnder = (layout: Layout) => [
    ...new Set([...threads, ...lockKeys].map((x) => homeOfThread(layout, x)).concat(keys.map((x) => homeOfKey(layout, x)))),
  ];
  const allObjects = () => [...new Set([...homesUnder(l1), ...homesUnder(l2), ...(second ? homesUnder(l3) : [])])];
  // The model: one logical store.
  const m = {
    subs: new Set<number>(),
    cache: new Map<number, number>(),
    lists: new Map<number, number[]>(),
    queues: new Map<number, number[]>(),
    locks: new HeldLocks(),
  };
  const armedOn = new Set<string>();
  let newHomes = homesUnder(l2);
  let previousHomes = homesUnder(l1);
  redirecting = new Set(previousHomes);
  /** The adapter that drives the change under way. */
  const driver = () => (second ? adapters.next! : adapters.new);

  const drainOnce = async () => {
    await driver().drainMigration().catch(() => {});
    for (const name of previousHomes) {
      await runDurableObjectAlarm(env.FAULTY_STATE.getByName(name)).catch(() => {});
    }
  };
  const drainToTheEnd = async () => {
    for (let round = 0; round < 30; round++) {
      await drainOnce();
      const inspections = await Promise.all(previousHomes.map((n) => env.FAULTY_STATE.getByName(n).inspect()));
      if (inspections.every((i) => !i.migration.previousHomeOf || (i.migration.drained && i.migration.sealedUnits === 0))) return true;
    }
    return false;
  };

  for (const [step, op] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(op)}`;
    stats.operations++;
    if (op.op === "drain") {
      stats.drains++;
      await drainOnce();
      continue;
    }
    if (op.op === "evict") {
      const names = allObjects();
      await evictDurableObject(env.FAULTY_STATE.getByName(names[op.which % names.length]!)).then(
        () => stats.evictions++,
        () => {},
      );
      continue;
    }
    if (op.op === "change") {
      if (second) continue;
      // The second change may start once the first has drained (it is refused before).
      expect(await drainToTheEnd(), `${where}: the first change drains`).toBe(true);
      adapters.next = await make({ ...then, migrateFrom: { name: to.name, shards: to.shards } });
      movers.push(await faultyAdapter({ ...then, migrateFrom: { name: to.name, shards: to.shards } }));
      second = true;
      stats.secondChanges++;
      previousHomes = homesUnder(l2);
      newHomes = homesUnder(l3);
      redirecting = new Set(previousHomes);
      continue;
    }
    if (op.op === "crash") {
      // A previous home seals (handOver); a new home imports (handoffImport).
      const names = op.step === "handOver" ? previousHomes : newHomes;
      const target = names[op.which % names.length]!;
      stats.crashes++;
      armedOn.add(target);
      await env.FAULTY_STATE.getByName(target).armReset(op.step as ResettableMethod, op.at);
      continue;
    }
    // Before the second change: a fresh old-layout Worker, the long-lived one, the new one.
    // After it: a fresh Worker of the first change, the long-lived one of the first change (both
    // one change behind), the second change's.
    let a: CloudflareDOStateAdapter;
    if (!second) a = op.side === "old" ? await make(from) : adapters[op.side];
    else if (op.side === "new") a = adapters.next!;
    else {
      stats.callsBehind++;
      a = op.side === "old" ? await make({ ...to, migrateFrom: { name: from.name, shards: from.shards } }) : adapters.new;
    }
    switch (op.op) {
      case "subscribe":
        await a.subscribe(threads[op.t]!);
        m.subs.add(op.t);
        break;
      case "unsubscribe":
        await a.unsubscribe(threads[op.t]!);
        m.subs.delete(op.t);
        break;
      case "isSubscribed":
        expect(await a.isSubscribed(threads[op.t]!), where).toBe(m.subs.has(op.t));
        break;
      case "set":
        await a.set(keys[op.k]!, op.v);
        m.cache.set(op.k, op.v);
        break;
      case "get":
        expect(await a.get(keys[op.k]!), where).toBe(m.cache.get(op.k) ?? null);
        break;
      case "delete":
        await a.delete(keys[op.k]!);
        m.cache.delete(op.k);
        break;
      case "append":
        await a.appendToList(`msg-history:${threads[op.t]}`, op.v, { maxLength: 5 });
        m.lists.set(op.t, [...(m.lists.get(op.t) ?? []), op.v].slice(-5));
        break;
      case "getList":
        expect(await a.getList(`msg-history:${threads[op.t]}`), where).toEqual(m.lists.get(op.t) ?? []);
        break;
      case "enqueue": {
        const entry = { enqueuedAt: Date.now(), expiresAt: Date.now() + 3_600_000, message: { v: op.v } };
        const depth = await a.enqueue(threads[op.t]!, entry as unknown as QueueEntry, 0);
        m.queues.set(op.t, [...(m.queues.get(op.t) ?? []), op.v]);
        expect(depth, where).toBe(m.queues.get(op.t)!.length);
        break;
      }
      case "dequeue": {
        const got = await a.dequeue(threads[op.t]!);
        const queue = m.queues.get(op.t) ?? [];
        expect((got?.message as unknown as { v: number } | undefined)?.v ?? null, where).toBe(queue.shift() ?? null);
        m.queues.set(op.t, queue);
        break;
      }
      case "queueDepth":
        expect(await a.queueDepth(threads[op.t]!), where).toBe((m.queues.get(op.t) ?? []).length);
        break;
      case "acquire": {
        const got = await a.acquireLock(lockKeys[op.l]!, 3_600_000);
        m.locks.acquired(op.l, got, where);
        break;
      }
      case "release":
        await m.locks.release(a, op.l);
        break;
      case "extend":
        await m.locks.extend(a, op.l, where);
        break;
    }
  }

  // Drain to the end, then: every read agrees, and every row sits in its new home only.
  await drainToTheEnd();
  faults.enabled = false;
  const reader = driver();
  for (const [i, thread] of threads.entries()) {
    expect(await reader.isSubscribed(thread), `final ${thread}`).toBe(m.subs.has(i));
    expect(await reader.getList(`msg-history:${thread}`), `final list ${thread}`).toEqual(m.lists.get(i) ?? []);
    expect(await reader.queueDepth(thread), `final queue ${thread}`).toBe((m.queues.get(i) ?? []).length);
  }
  for (const [i, key] of keys.entries()) expect(await reader.get(key), `final ${key}`).toBe(m.cache.get(i) ?? null);
  for (const [i, key] of lockKeys.entries()) await m.locks.checkFinal(reader, i, key, `final lock ${key}`);
  const rows = (name: string, query: string, ...b: unknown[]) =>
    runInDurableObject(env.FAULTY_STATE.getByName(name), (_i, ctx) => ctx.storage.sql.exec(query, ...b).toArray().length);
  for (const name of allObjects()) {
    for (const thread of threads) {
      const expected = name === homeOfThread(second ? l3 : l2, thread) ? null : 0;
      const n =
        (await rows(name, "SELECT 1 FROM subscriptions WHERE thread_id = ?", thread)) +
        (await rows(name, "SELECT 1 FROM queue_entries WHERE queue_key = ?", thread)) +
        (await rows(name, "SELECT 1 FROM list_items WHERE list_key = ?", `msg-history:${thread}`));
      if (expected === 0) expect(n, `${thread}'s rows left in ${name}`).toBe(0);
    }
    for (const key of keys) {
      if (name !== homeOfKey(second ? l3 : l2, key)) {
        expect(await rows(name, "SELECT 1 FROM cache WHERE key = ?", key), `${key} left in ${name}`).toBe(0);
      }
    }
  }
  for (const name of armedOn) {
    if (!(await env.FAULTY_STATE.getByName(name).resetPending())) stats.crashesFired++;
  }
  stats.sequences++;
}

describe("model-based: online re-sharding keeps one logical store", () => {
  it(`${SEQUENCES} random sequences across a layout change`, { timeout: 900_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 4, maxLength: 30 }),
        fc.option(fc.integer({ min: 1, max: 2 ** 31 - 1 }), { freq: 2 }),
        async (ops, faultSeed) => {
          await runSequence(ops, faultSeed);
        },
      ),
      { numRuns: SEQUENCES, seed: MODEL_SEED },
    );
    console.log(
      `re-sharding model: ${stats.sequences} sequences, ${stats.operations} operations, ${stats.drains} drain steps, ` +
        `${stats.evictions} evictions, ${stats.crashes} crashes armed (${stats.crashesFired} objects reset mid-handoff), ` +
        `${stats.secondChanges} second changes with ${stats.callsBehind} calls one change behind, ` +
        `${stats.faultsAtPreviousHomes} faults at previous homes and ${stats.faultsElsewhere} elsewhere, ` +
        `${stats.movedWhileLost} units moved while a reply was lost`,
    );
    expect(stats.sequences).toBeGreaterThanOrEqual(SEQUENCES);
  });
});

describe("the fault kit stays within what the adapter rides out", () => {
  // Found by a random seed on CI: on the rename layout, fault seed 1062250774 failed one
  // appendToList six times in a row (two faults on its first attempt, two more on its retries,
  // which the namespace counted as another call because their retry flag differs, then the unit
  // moved twice while its reply was lost) — the adapter's six attempts were spent and the
  // harness, not the product, failed the sequence. Now a call fails at most twice in a row per
  // object and moves once (test/support/faulty-namespace.ts, callIdentity; moveWhileLost above).
  it("replays the counterexample of CI seed -915722302", { timeout: 120_000 }, async () => {
    const ops: Op[] = [
      { op: "acquire", side: "old", l: 0 },
      { op: "dequeue", side: "old", t: 0 },
      { op: "acquire", side: "old", l: 0 },
      { op: "acquire", side: "old", l: 0 },
      { op: "append", side: "old", t: 0, v: 0 },
      { op: "subscribe", side: "old", t: 0 },
      { op: "crash", step: "handOver", at: "before-commit", which: 0 },
      { op: "subscribe", side: "old", t: 0 },
    ];
    // The rename layout (a → renamed) is LAYOUTS[2]: the sequence's number picks it.
    execution += (2 - (execution % LAYOUTS.length) + LAYOUTS.length) % LAYOUTS.length;
    const before = stats.sequences;
    await runSequence(ops, 1062250774);
    expect(stats.sequences).toBe(before + 1);
  });
});

// ---- Expired-only units (issue 15, finding 5) ------------------------------------------------
// Units whose only rows, when the layout changes, are expired: a thread's history that expired
// before its rows were swept (a long TTL sets the sweep's bound, a 1 ms TTL the exact expiry).
// Random calls on the thread from every side (locks included) and drain steps: at most one lock
// is granted per thread, reads agree with a model in which the expired history is empty, the
// previous homes drain within a bounded number of steps, and no expired item is ever moved.

type ExpiredOp =
  | { op: "acquire" | "release" | "getList" | "isSubscribed"; side: Side; t: number }
  | { op: "append"; side: Side; t: number; v: number }
  | { op: "drain" }
  | { op: "evict"; which: number };

const expiredOpArb: fc.Arbitrary<ExpiredOp> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom("acquire", "release"), side, t }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constantFrom("getList", "isSubscribed"), side, t }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("append"), side, t, v }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("drain") }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("evict"), which: fc.nat({ max: 7 }) }), weight: 1 },
) as fc.Arbitrary<ExpiredOp>;

const expiredStats = { sequences: 0, operations: 0, grantsRefused: 0 };

async function runExpiredSequence(expired: boolean[], ops: ExpiredOp[]): Promise<void> {
  const run = execution++;
  const layouts = LAYOUTS[run % LAYOUTS.length]!;
  const prefix = `rx${run}-`;
  const from = { ...layouts.from, name: `${prefix}${layouts.from.name ?? "default"}` };
  const to = { ...layouts.to, name: `${prefix}${layouts.to.name ?? "default"}` };
  const threads = [0, 1, 2].map((i) => `slack:C${run}:${i}.1`);
  const setup = await faultyAdapter(from);
  for (const [i, thread] of threads.entries()) {
    if (!expired[i]) continue;
    await setup.appendToList(`msg-history:${thread}`, { old: i }, { ttlMs: 3_600_000 });
    await setup.appendToList(`msg-history:${thread}`, { old: i }, { ttlMs: 1 });
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
  const adapters: Record<Side, CloudflareDOStateAdapter> = {
    old: setup,
    stale: await faultyAdapter(from),
    new: await faultyAdapter({ ...to, migrateFrom: { name: from.name, shards: from.shards } }),
  };
  const previousHomes = [...new Set(threads.map((x) => adapters.old.objectNameForThread(x)))];
  const names = [...new Set(threads.flatMap((x) => [adapters.old.objectNameForThread(x), adapters.new.objectNameForThread(x)]))];
  const m = { locks: new HeldLocks(), lists: new Map<number, number[]>() };
  const drainOnce = async () => {
    // A short budget: a drain that cannot finish must fail the check below, not spin for 20 s.
    await adapters.new.drainMigration({ budgetMs: 500 }).catch(() => {});
    for (const name of previousHomes) await runDurableObjectAlarm(env.FAULTY_STATE.getByName(name)).catch(() => {});
  };
  for (const [step, op] of ops.entries()) {
    const where = `expired-only step ${step} ${JSON.stringify(op)}`;
    expiredStats.operations++;
    if (op.op === "drain") {
      await drainOnce();
      continue;
    }
    if (op.op === "evict") {
      await evictDurableObject(env.FAULTY_STATE.getByName(names[op.which % names.length]!)).catch(() => {});
      continue;
    }
    const a = op.side === "old" ? await faultyAdapter(from) : adapters[op.side];
    const thread = threads[op.t]!;
    switch (op.op) {
      case "acquire": {
        const got = await a.acquireLock(thread, 3_600_000);
        if (m.locks.acquired(op.t, got, where, `${where}: a second owner granted the lock`)) expiredStats.grantsRefused++;
        break;
      }
      case "release":
        await m.locks.release(a, op.t);
        break;
      case "getList":
        expect(await a.getList(`msg-history:${thread}`), where).toEqual(m.lists.get(op.t) ?? []);
        break;
      case "isSubscribed":
        expect(await a.isSubscribed(thread), where).toBe(false);
        break;
      case "append":
        await a.appendToList(`msg-history:${thread}`, op.v, { maxLength: 5 });
        m.lists.set(op.t, [...(m.lists.get(op.t) ?? []), op.v].slice(-5));
        break;
    }
  }
  // The previous homes drain in a bounded number of steps (an expired unit is nothing to move).
  let drained = false;
  for (let round = 0; round < 10 && !drained; round++) {
    await drainOnce();
    const inspections = await Promise.all(previousHomes.map((n) => env.FAULTY_STATE.getByName(n).inspect()));
    drained = inspections.every((i) => !i.migration.previousHomeOf || (i.migration.drained && i.migration.sealedUnits === 0));
  }
  expect(drained, "previous homes drained").toBe(true);
  for (const [i, thread] of threads.entries()) {
    expect(await adapters.new.getList(`msg-history:${thread}`), `final list ${thread}`).toEqual(m.lists.get(i) ?? []);
    await m.locks.checkFinal(adapters.new, i, thread, `final lock ${thread}`);
    // No expired item moved: the new home holds only items appended after the change.
    const home = adapters.new.objectNameForThread(thread);
    if (home !== adapters.old.objectNameForThread(thread)) {
      const moved = await runInDurableObject(env.FAULTY_STATE.getByName(home), (_i, ctx) =>
        ctx.storage.sql.exec("SELECT 1 FROM list_items WHERE list_key = ? AND value LIKE '{\"old\"%'", `msg-history:${thread}`).toArray().length,
      );
      expect(moved, `expired items of ${thread} moved to ${home}`).toBe(0);
    }
  }
  expiredStats.sequences++;
}

describe("model-based: units whose only rows are expired", () => {
  const runs = Math.max(10, Math.floor(SEQUENCES / 4));
  it(`${runs} random sequences across a layout change`, { timeout: 900_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.array(expiredOpArb, { minLength: 4, maxLength: 20 }),
        async (expired, ops) => {
          await runExpiredSequence(expired, ops);
        },
      ),
      { numRuns: runs, seed: MODEL_SEED },
    );
    console.log(
      `re-sharding model, expired-only units: ${expiredStats.sequences} sequences, ${expiredStats.operations} operations, ` +
        `${expiredStats.grantsRefused} second acquires refused`,
    );
    expect(expiredStats.sequences).toBeGreaterThanOrEqual(runs);
  });
});
