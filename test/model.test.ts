// Model-based test through the real path: adapter -> RPC -> ChatStateDO -> wasm -> SQLite.
//
// fast-check generates sequences of all 18 StateAdapter operations (plus sleeps that let TTLs
// run out mid-sequence, and evictions of the object) over a three-key space shared by the cache,
// lists, queues, locks and subscriptions, with random JSON values (any code unit, lone
// surrogates included), TTLs and sizes, through two adapter instances. Every result is compared
// with a small reference model of the contract (Redis semantics). A failure is shrunk to a
// minimal sequence, which fast-check prints with its seed.
//
// Time: TTLs are real (25-50 ms, or an hour). The model knows each deadline to within the
// duration of the call that set it (see ./model/clock.ts) and sleeps past a deadline it is about
// to come close to, so every compared result is unambiguous. A sequence in which one call took
// so long that it straddled a deadline anyway is discarded (counted and reported), never
// guessed. The exact-clock model, with boundaries to the millisecond, sweeps and injected
// faults, is the Rust proptest in src/model_tests.rs.
//
// Faults are commands too: `fault` makes the next call's first attempt fail before reaching the
// object, lose its reply after running, or reset the object (ctx.abort()) before or after its write
// commits — the adapter retries, and the model expects exactly the fault-free result — or find the
// object overloaded, where the call must reject with nothing changed. The objects are
// FaultyChatStateDO (test/support/faulty-object.ts) behind a FaultyNamespace
// (test/support/faulty-namespace.ts).
//
// MODEL_SEQUENCES sets the number of sequences (default 1,000).
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Lock, QueueEntry } from "chat";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { clearOf, seenBy, sleep, type Window } from "./model/clock.js";
import type { ResettableMethod } from "./support/faulty-object.js";
import { FaultyNamespace, type FaultKind } from "./support/faulty-namespace.js";

const SEQUENCES = Number((env as unknown as Record<string, string | undefined>).MODEL_SEQUENCES || 1000);
const GUARD_MS = 30;
const KEY_COUNT = 3;

type Who = 0 | 1;
type Op =
  | { op: "connect" | "disconnect"; who: Who }
  | { op: "subscribe" | "unsubscribe" | "isSubscribed" | "forceReleaseLock"; who: Who; k: number }
  | { op: "get" | "delete" | "getList" | "dequeue" | "queueDepth"; who: Who; k: number }
  | { op: "acquireLock"; who: Who; k: number; ttl: number }
  | { op: "releaseLock"; who: Who; k: number; token: TokenPick }
  | { op: "extendLock"; who: Who; k: number; token: TokenPick; ttl: number }
  | { op: "set" | "setIfNotExists"; who: Who; k: number; value: unknown; ttl: number | undefined }
  | {
      op: "appendToList";
      who: Who;
      k: number;
      value: unknown;
      maxLength: number | undefined;
      ttl: number | undefined;
    }
  | { op: "enqueue"; who: Who; k: number; value: unknown; expiresIn: number; maxSize: number }
  | { op: "sleep"; ms: number }
  | { op: "evict" }
  | { op: "fault"; kind: Fault };
type Fault = FaultKind | "before-commit" | "after-commit";
type TokenPick = "current" | "wrong" | number;

const who = fc.constantFrom<Who>(0, 1);
const k = fc.nat({ max: KEY_COUNT - 1 });
// Strings of any code point, plus lone surrogates (JSON.stringify escapes them).
const unit = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), weight: 9 },
  { arbitrary: fc.constantFrom("\uD800", "\uDBFF", "\uDC00", "\uDFFF"), weight: 1 },
);
const value = fc.jsonValue({ maxDepth: 2, stringUnit: unit });
const lockTtl = fc.constantFrom(25, 50, 3_600_000);
const ttl = fc.constantFrom(undefined, 0, 25, 50, 3_600_000);
const token = fc.oneof(
  { arbitrary: fc.constant<TokenPick>("current"), weight: 6 },
  { arbitrary: fc.constant<TokenPick>("wrong"), weight: 1 },
  { arbitrary: fc.nat({ max: 5 }), weight: 3 },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom("connect", "disconnect"), who }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constantFrom("subscribe", "unsubscribe", "isSubscribed", "forceReleaseLock"),
      who,
      k,
    }),
    weight: 16,
  },
  {
    arbitrary: fc.record({
      op: fc.constantFrom("get", "delete", "getList", "dequeue", "queueDepth"),
      who,
      k,
    }),
    weight: 24,
  },
  { arbitrary: fc.record({ op: fc.constant("acquireLock"), who, k, ttl: lockTtl }), weight: 12 },
  { arbitrary: fc.record({ op: fc.constant("releaseLock"), who, k, token }), weight: 8 },
  { arbitrary: fc.record({ op: fc.constant("extendLock"), who, k, token, ttl: lockTtl }), weight: 8 },
  {
    arbitrary: fc.record({ op: fc.constantFrom("set", "setIfNotExists"), who, k, value, ttl }),
    weight: 16,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("appendToList"),
      who,
      k,
      value,
      maxLength: fc.constantFrom(undefined, 0, 1, 2, 3),
      ttl,
    }),
    weight: 12,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("enqueue"),
      who,
      k,
      value,
      expiresIn: fc.constantFrom(-1, 60, 3_600_000),
      maxSize: fc.constantFrom(0, 1, 2, 3, 10),
    }),
    weight: 12,
  },
  { arbitrary: fc.record({ op: fc.constant("sleep"), ms: fc.constantFrom(1, 20, 60) }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constant("fault"),
      kind: fc.constantFrom<Fault>("before", "after", "overloaded", "before-commit", "after-commit"),
    }),
    weight: 14,
  },
  { arbitrary: fc.record({ op: fc.constant("evict") }), weight: 1 } as {
    arbitrary: fc.Arbitrary<Op>;
    weight: number;
  },
) as fc.Arbitrary<Op>;

interface Model {
  connected: [boolean, boolean];
  subscriptions: Set<number>;
  locks: Map<number, { token: string; expires: Window }>;
  cache: Map<number, { json: string; expires: Window | null }>;
  lists: Map<number, { items: string[]; expires: Window | null }>;
  queues: Map<number, { json: string; expires: Window }[]>;
  issued: string[];
}

const THREAD_SCOPED = new Set([
  "subscribe",
  "unsubscribe",
  "isSubscribed",
  "acquireLock",
  "releaseLock",
  "extendLock",
  "forceReleaseLock",
  "enqueue",
  "dequeue",
  "queueDepth",
]);
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as never;

const stats = { sequences: 0, operations: 0, discarded: 0, sleptMs: 0, evictions: 0, expiries: 0, faults: 0 };
let execution = 0;

/** The deadlines a call's result depends on. */
function relevant(m: Model, op: Op): (Window | null)[] {
  if (!("k" in op)) return [];
  switch (op.op) {
    case "acquireLock":
    case "extendLock":
      return [m.locks.get(op.k)?.expires ?? null];
    case "get":
    case "setIfNotExists":
      return [m.cache.get(op.k)?.expires ?? null];
    case "appendToList":
    case "getList":
      return [m.lists.get(op.k)?.expires ?? null];
    case "enqueue":
    case "dequeue":
    case "queueDepth":
      return (m.queues.get(op.k) ?? []).map((e) => e.expires);
    default:
      return [];
  }
}

function windowAfter(ttlMs: number | undefined, before: number, after: number): Window | null {
  if (ttlMs === undefined || ttlMs === 0) return null;
  const ms = Math.ceil(ttlMs);
  return { lo: before + ms, hi: after + ms };
}

class Inconclusive extends Error {}

async function runSequence(ops: Op[]): Promise<void> {
  const run = execution++;
  // One object per few runs (and a 3-shard layout for every fourth), keys unique to this run.
  const options =
    run % 4 === 3
      ? { name: `model-sharded-${run % 8}`, shards: 3 }
      : { name: `model-${run % 8}` };
  // The next call's first attempt fails this way (armed by a `fault` command).
  let pendingFault: FaultKind | null = null;
  const faulty = new FaultyNamespace(env.FAULTY_STATE as never, () => {
    const fault = pendingFault;
    pendingFault = null;
    return fault;
  });
  const retry = { baseDelayMs: 1, maxDelayMs: 4 };
  const adapters: [CloudflareDOStateAdapter, CloudflareDOStateAdapter] = [
    createCloudflareState({ namespace: faulty.namespace, ...options, retry, logger: quiet }),
    createCloudflareState({ namespace: faulty.namespace, ...options, retry, logger: quiet }),
  ];
  let armed: Fault | null = null;
  const keys = [`r${run}:a`, `r${run}:b`, `thread-state:r${run}:c`];
  await Promise.all(adapters.map((a) => a.connect()));
  const m: Model = {
    connected: [true, true],
    subscriptions: new Set(),
    locks: new Map(),
    cache: new Map(),
    lists: new Map(),
    queues: new Map(),
    issued: [],
  };
  const objectNames = () => [
    ...new Set(keys.flatMap((key) => [adapters[0].objectNameForKey(key), adapters[0].objectNameForThread(key)])),
  ];

  for (const [step, op] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(op)}`;
    if (op.op === "sleep") {
      await sleep(op.ms);
      continue;
    }
    if (op.op === "fault") {
      armed = op.kind;
      continue;
    }
    if (op.op === "evict") {
      for (const name of objectNames()) {
        // Rejects when the object is not running: nothing to evict then.
        await evictDurableObject(env.FAULTY_STATE.getByName(name)).then(
          () => stats.evictions++,
          () => {},
        );
      }
      // Start the objects again now, so the next timed call does not pay for it.
      await Promise.all(objectNames().map((name) => env.FAULTY_STATE.getByName(name).queueDepth("warm-up")));
      continue;
    }
    const adapter = adapters[op.who];
    if (op.op === "connect" || op.op === "disconnect") {
      await adapter[op.op]();
      m.connected[op.who] = op.op === "connect";
      continue;
    }
    if (!("k" in op)) throw new Error(`unhandled ${JSON.stringify(op)}`);

    const deadlines = relevant(m, op);
    stats.sleptMs += await clearOf(deadlines, GUARD_MS);
    const key = keys[op.k]!;
    const keyIndex = op.k;
    const lockToken = (pick: TokenPick): string =>
      pick === "current"
        ? (m.locks.get(keyIndex)?.token ?? m.issued.at(-1) ?? "cfdo_none")
        : pick === "wrong" || m.issued.length === 0
          ? "cfdo_00000000000000000000000000000000"
          : m.issued[pick % m.issued.length]!;
    let call: () => Promise<unknown>;
    let expiresAt = 0;
    let usedToken = "";
    switch (op.op) {
      case "subscribe":
      case "unsubscribe":
      case "isSubscribed":
      case "forceReleaseLock":
      case "get":
      case "delete":
      case "getList":
      case "dequeue":
      case "queueDepth":
        call = () => adapter[op.op](key);
        break;
      case "acquireLock":
        call = () => adapter.acquireLock(key, op.ttl);
        break;
      case "releaseLock":
        usedToken = lockToken(op.token);
        call = () => adapter.releaseLock({ threadId: key, token: usedToken, expiresAt: 0 });
        break;
      case "extendLock":
        usedToken = lockToken(op.token);
        call = () => adapter.extendLock({ threadId: key, token: usedToken, expiresAt: 0 }, op.ttl);
        break;
      case "set":
      case "setIfNotExists":
        call = () => adapter[op.op](key, op.value, op.ttl);
        break;
      case "appendToList":
        call = () => adapter.appendToList(key, op.value, { maxLength: op.maxLength, ttlMs: op.ttl });
        break;
      case "enqueue":
        call = () => {
          expiresAt = Date.now() + op.expiresIn;
          const entry = { enqueuedAt: Date.now(), expiresAt, message: op.value } as unknown as QueueEntry;
          return adapter.enqueue(key, entry, op.maxSize);
        };
        break;
    }

    const fault = m.connected[op.who] ? armed : null;
    armed = null;
    if (fault !== null) {
      stats.faults++;
      if (fault === "before-commit" || fault === "after-commit") {
        const objectName = THREAD_SCOPED.has(op.op) ? adapter.objectNameForThread(key) : adapter.objectNameForKey(key);
        await env.FAULTY_STATE.getByName(objectName).armReset(op.op as ResettableMethod, fault);
      } else {
        pendingFault = fault;
      }
    }

    const before = Date.now();
    let result: unknown;
    let error: unknown;
    try {
      result = await call();
    } catch (e) {
      error = e;
    }
    const after = Date.now();
    stats.operations++;

    if (!m.connected[op.who]) {
      expect(String(error), where).toMatch(/not connected/);
      continue;
    }
    if (fault === "overloaded") {
      // Refused before it ran: the caller sees the error, the model (the state) is unchanged.
      expect(error, where).toMatchObject({ overloaded: true });
      continue;
    }
    if (error !== undefined) throw new Error(`${where}: unexpected error ${String(error)}`);

    const seen = (w: Window | null) => {
      const s = seenBy(w, before, after);
      if (s === "unknown") throw new Inconclusive(where);
      if (s === "expired" && w !== null) stats.expiries++;
      return s;
    };
    switch (op.op) {
      case "subscribe":
        m.subscriptions.add(op.k);
        break;
      case "unsubscribe":
        m.subscriptions.delete(op.k);
        break;
      case "isSubscribed":
        expect(result, where).toBe(m.subscriptions.has(op.k));
        break;
      case "acquireLock": {
        const held = m.locks.get(op.k);
        const free = held === undefined || seen(held.expires) === "expired";
        if (!free) {
          expect(result, where).toBeNull();
          break;
        }
        const lock = result as Lock;
        expect(lock, where).not.toBeNull();
        expect(lock.threadId, where).toBe(key);
        expect(m.issued, where).not.toContain(lock.token);
        // expiresAt = the object's now + ttl, and its now lies within the call.
        expect(lock.expiresAt - op.ttl, where).toBeGreaterThanOrEqual(before);
        expect(lock.expiresAt - op.ttl, where).toBeLessThanOrEqual(after);
        m.issued.push(lock.token);
        m.locks.set(op.k, { token: lock.token, expires: { lo: lock.expiresAt, hi: lock.expiresAt } });
        break;
      }
      case "releaseLock":
        if (m.locks.get(op.k)?.token === usedToken) m.locks.delete(op.k);
        break;
      case "extendLock": {
        const held = m.locks.get(op.k);
        const ok = held !== undefined && held.token === usedToken && seen(held.expires) === "live";
        expect(result, where).toBe(ok);
        if (ok) m.locks.set(op.k, { token: usedToken, expires: windowAfter(op.ttl, before, after)! });
        break;
      }
      case "forceReleaseLock":
        m.locks.delete(op.k);
        break;
      case "get": {
        const entry = m.cache.get(op.k);
        // A stored JSON null reads back as null, like a miss (as with Redis).
        const expected = entry !== undefined && seen(entry.expires) === "live" ? entry.json : "null";
        expect(JSON.stringify(result), where).toBe(expected);
        break;
      }
      case "set":
        m.cache.set(op.k, { json: JSON.stringify(op.value), expires: windowAfter(op.ttl, before, after) });
        break;
      case "setIfNotExists": {
        const entry = m.cache.get(op.k);
        const absent = entry === undefined || seen(entry.expires) === "expired";
        expect(result, where).toBe(absent);
        if (absent) {
          m.cache.set(op.k, { json: JSON.stringify(op.value), expires: windowAfter(op.ttl, before, after) });
        }
        break;
      }
      case "delete":
        m.cache.delete(op.k);
        break;
      case "appendToList": {
        let list = m.lists.get(op.k);
        if (list === undefined || seen(list.expires) === "expired") list = { items: [], expires: null };
        const items = [...list.items, JSON.stringify(op.value)];
        const max = op.maxLength ?? 0;
        m.lists.set(op.k, {
          items: max > 0 ? items.slice(-max) : items,
          expires: windowAfter(op.ttl, before, after) ?? list.expires,
        });
        break;
      }
      case "getList": {
        const list = m.lists.get(op.k);
        const expected = list === undefined || seen(list.expires) === "expired" ? [] : list.items;
        expect((result as unknown[]).map((v) => JSON.stringify(v)), where).toEqual(expected);
        break;
      }
      case "enqueue": {
        const own = { lo: expiresAt, hi: expiresAt };
        const queue = (m.queues.get(op.k) ?? []).filter((e) => seen(e.expires) === "live");
        if (seen(own) === "live") queue.push({ json: JSON.stringify(op.value), expires: own });
        const kept = op.maxSize > 0 ? queue.slice(-op.maxSize) : queue;
        m.queues.set(op.k, kept);
        expect(result, where).toBe(kept.length);
        break;
      }
      case "dequeue": {
        const queue = (m.queues.get(op.k) ?? []).filter((e) => seen(e.expires) === "live");
        const first = queue.shift();
        m.queues.set(op.k, queue);
        if (first === undefined) {
          expect(result, where).toBeNull();
        } else {
          expect(JSON.stringify((result as QueueEntry).message), where).toBe(first.json);
          expect((result as QueueEntry).expiresAt, where).toBe(first.expires.lo);
        }
        break;
      }
      case "queueDepth": {
        const live = (m.queues.get(op.k) ?? []).filter((e) => seen(e.expires) === "live");
        expect(result, where).toBe(live.length);
        break;
      }
    }
  }

  // Read back every key the sequence touched, through a fresh adapter instance, with all reads
  // in flight together; first wait out any deadline due within 60 ms of now.
  const reader = createCloudflareState({ namespace: env.FAULTY_STATE as never, ...options });
  await reader.connect();
  const touched = [...new Set(ops.flatMap((op) => ("k" in op ? [op.k] : [])))];
  const deadlines = touched.flatMap((i) => [
    m.cache.get(i)?.expires ?? null,
    m.lists.get(i)?.expires ?? null,
    ...(m.queues.get(i) ?? []).map((e) => e.expires),
  ]);
  stats.sleptMs += await clearOf(deadlines, 60);
  const before = Date.now();
  const state = await Promise.all(
    touched.map(async (i) => {
      const key = keys[i]!;
      const [subscribed, value, list, depth] = await Promise.all([
        reader.isSubscribed(key),
        reader.get(key),
        reader.getList(key),
        reader.queueDepth(key),
      ]);
      return { subscribed, value, list, depth };
    }),
  );
  const after = Date.now();
  touched.forEach((i, n) => {
    const key = keys[i]!;
    const seen = (w: Window | null) => {
      const s = seenBy(w, before, after);
      if (s === "unknown") throw new Inconclusive(`final read of ${key}`);
      return s === "live";
    };
    const cached = m.cache.get(i);
    const list = m.lists.get(i);
    expect(state[n], `final state of ${key}`).toEqual({
      subscribed: m.subscriptions.has(i),
      value: cached !== undefined && seen(cached.expires) ? JSON.parse(cached.json) : null,
      list: list !== undefined && seen(list.expires) ? list.items.map((v) => JSON.parse(v)) : [],
      depth: (m.queues.get(i) ?? []).filter((e) => seen(e.expires)).length,
    });
  });
  stats.sequences++;
}

describe("model-based: the adapter in workerd matches the contract's model", () => {
  it(`${SEQUENCES} random sequences of all 18 operations`, { timeout: 900_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        try {
          await runSequence(ops);
        } catch (e) {
          if (e instanceof Inconclusive) {
            stats.discarded++;
            // A call straddled a deadline: this sequence proves nothing either way.
            fc.pre(false);
          }
          throw e;
        }
      }),
      { numRuns: SEQUENCES },
    );
    console.log(
      `model (workerd): ${stats.sequences} sequences checked, ${stats.operations} operations, ` +
        `${stats.expiries} expiries observed, ${stats.evictions} evictions, ${stats.faults} injected faults, ` +
        `${stats.discarded} discarded as timing-ambiguous, ${stats.sleptMs} ms slept`,
    );
    expect(stats.sequences).toBeGreaterThanOrEqual(SEQUENCES);
  });
});
