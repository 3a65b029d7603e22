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
// faults, is the Rust proptest in src/tests/model/.
//
// Faults are commands too: `fault` makes the next call's first attempt fail before reaching the
// object, lose its reply after running, or reset the object (ctx.abort()) before or after its write
// commits — the adapter retries, and the model expects exactly the fault-free result (but for the
// fence: a retried dequeue whose adapter's lock is now held by another token gets null) — or find
// the object overloaded, where the call must reject with nothing changed. The objects are
// FaultyChatStateDO (test/support/faulty-object.ts) behind a FaultyNamespace
// (test/support/faulty-namespace.ts).
//
// Tenures (src/guarantees/tenure/): the object remembers, in memory only, each lock it granted — what the
// holder's dequeues got, and the newcomers whose acquireLock it refused during it — and the
// model mirrors that memory: a refused acquire announces the newcomer's enqueue (due within two
// patiences; its queueDepth moves that to one patience; its enqueue fulfils it); a holder's
// dequeue that would be final while an announcement is live is held until none is (here nothing
// can fulfil it, so it answers null at the deadline); after the final dequeue the next acquire
// is granted the lock early. Evictions and resets wipe that memory (for the keys of the object
// concerned), as they wipe the object's — but for the announcements, which are rows too
// (src/guarantees/announcements.rs): a tenure with announcement rows comes back from them, its last dequeue
// unknown (its next empty dequeue may be held but hands nothing over), and a refusal of a lock
// granted before the reset starts such a tenure. Which calls count as whose is decided by each adapter's
// LockTracker (ts/worker/lock-tracker.ts), so the model mirrors both trackers too (they go by each flow's
// call order, not by turns; calls are still made in a turn of their own unless they continue the
// one before, as chat's flows do, which no longer matters to a tracker). Announcement
// deadlines and the trackers' expiries are windows like the TTLs: slept past, never guessed. A
// held dequeue's call spans its deadlines, so the object's decision is taken as made within
// GUARD_MS of the call's start (the model checks that the answer came at a deadline). The retry
// budget is small, so a patience is 1.25 s and a held dequeue lasts at most 2.5 s.
//
// MODEL_SEQUENCES sets the number of sequences (default 1,000).
//
// Several flows of one thread in one adapter instance (the second test, ./model/flows.ts): chat's
// holder and one or two newcomers on one key, all through the SAME adapter, their calls
// interleaved by a seeded scheduler — mostly each in a turn of its own, as when chat spends time
// between its calls — with transient faults between adapter and object. The judge is the
// intended behaviour, not the adapter's flow heuristics (which the first test mirrors): nothing
// stranded, every message handled once, no handler after the next holder's grant, and no dequeue
// held once every announced enqueue has been answered. MODEL_FLOW_SEQUENCES sets their number
// (default 60).
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Lock, QueueEntry } from "chat";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { clearOf, seenBy, sleep, type Window } from "./model/clock.js";
import type { ResettableMethod } from "./support/faulty-object.js";
import { FaultyNamespace, randomFaults, type FaultKind } from "./support/faulty-namespace.js";
import { judgeFlows, runFlows, traceFlows, type FlowStrategy } from "./model/flows.js";
import { seededRandom } from "./support/random.js";
import { quiet } from "./helpers.js";
import { THREAD_PART_METHODS } from "./support/adapter-methods.js";
import { awaited, liveTenure, pick, pickEnqueued, restoredTenure, type Announcement, type Live, type Tenure } from "./model/tenure.js";

const SEQUENCES = Number((env as unknown as Record<string, string | undefined>).MODEL_SEQUENCES || 1000);
const GUARD_MS = 30;
const KEY_COUNT = 3;

type Who = 0 | 1;
type Op =
  | { op: "connect" | "disconnect"; who: Who }
  | { op: "subscribe" | "unsubscribe" | "isSubscribed" | "forceReleaseLock"; who: Who; k: number }
  | { op: "get" | "delete" | "getList" | "dequeue"; who: Who; k: number }
  // `sameTurn`: made in the continuation of the call before, as chat makes a flow's next call.
  | { op: "queueDepth"; who: Who; k: number; sameTurn?: true }
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
  | { op: "enqueue"; who: Who; k: number; value: unknown; expiresIn: number; maxSize: number; sameTurn?: true }
  | { op: "sleep"; ms: number }
  | { op: "evict" }
  | { op: "fault"; kind: Fault };
type Fault = FaultKind | "before-commit" | "after-commit";
/**
 * A lock token: the key's holder's, the newest the calling adapter was granted on the key (what
 * chat passes back), one never issued, or the n-th issued.
 */
type TokenPick = "current" | "own" | "wrong" | number;

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
  { arbitrary: fc.constant<TokenPick>("own"), weight: 2 },
  { arbitrary: fc.constant<TokenPick>("wrong"), weight: 1 },
  { arbitrary: fc.nat({ max: 5 }), weight: 3 },
);

const faultKind = fc.constantFrom<Fault>("before", "after", "overloaded", "before-commit", "after-commit");
const expiresIn = fc.constantFrom(-1, 60, 3_600_000);
const maxSize = fc.constantFrom(0, 1, 2, 3, 10);

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
      expiresIn,
      maxSize,
    }),
    weight: 12,
  },
  { arbitrary: fc.record({ op: fc.constant("sleep"), ms: fc.constantFrom(1, 20, 60) }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constant("fault"),
      kind: faultKind,
    }),
    weight: 14,
  },
  { arbitrary: fc.record({ op: fc.constant("evict") }), weight: 1 } as {
    arbitrary: fc.Arbitrary<Op>;
    weight: number;
  },
) as fc.Arbitrary<Op>;

// Random single calls seldom line up into what the early grant is about (a holder, a refused
// newcomer and the holder's dequeues, on one key, while the lock is held), so sequences also get
// fragments in the order chat makes those calls (src/guarantees/tenure/, "The race"): the holder `a`
// acquires (and, as debounce does, enqueues its own message); the newcomer `b` is refused, asks
// the depth and enqueues, each in the continuation of the last; the holder drains (rounds of
// dequeues until one that got nothing); `b` tries again (granted the lock early, after a final dequeue);
// the old holder dequeues late, heartbeats and releases with its own lock; `b` drains and
// releases. Any call may be left out and any preceded by a fault, and other calls may come
// between fragments. The lock mostly outlives the fragment (a held dequeue takes a second or two).
const flowTtl = fc.oneof({ arbitrary: fc.constant(3_600_000), weight: 3 }, { arbitrary: lockTtl, weight: 1 });
/** Whether a fragment's call is made (with `percent` % chance), and if so after which fault, if any. */
const made = (percent: number, faulty = 20, kinds = faultKind): fc.Arbitrary<Fault | "plain" | null> =>
  fc.oneof(
    { arbitrary: fc.constant(null), weight: 100 - percent },
    { arbitrary: fc.constant("plain" as const), weight: (percent * (100 - faulty)) / 100 },
    { arbitrary: kinds, weight: (percent * faulty) / 100 },
  );
const chatFlow: fc.Arbitrary<Op[]> = fc
  .tuple(
    fc.record({ a: who, b: who, k, ttl: flowTtl, value, expiresIn, maxSize }),
    fc.tuple(
      made(80),
      made(20),
      made(30),
      made(70),
      made(50),
      made(70),
      made(70),
      made(70),
      made(50),
      made(60),
      // The old holder's late dequeue: retried (after a fault), it meets the fence.
      made(40, 70, fc.constantFrom<Fault>("before", "before-commit", "after")),
      made(30),
      made(60),
      made(40),
      made(40),
    ),
  )
  .map(([{ a, b, k, ttl, value, expiresIn, maxSize }, choices]) => {
    const calls: Op[] = [
      { op: "acquireLock", who: a, k, ttl },
      { op: "enqueue", who: a, k, value, expiresIn, maxSize, sameTurn: true },
      { op: "acquireLock", who: b, k, ttl },
      { op: "queueDepth", who: b, k, sameTurn: true },
      { op: "enqueue", who: b, k, value, expiresIn, maxSize, sameTurn: true },
      { op: "dequeue", who: a, k },
      { op: "dequeue", who: a, k },
      { op: "dequeue", who: a, k },
      { op: "dequeue", who: a, k },
      { op: "acquireLock", who: b, k, ttl },
      { op: "dequeue", who: a, k },
      { op: "extendLock", who: a, k, token: "own", ttl },
      { op: "releaseLock", who: a, k, token: "own" },
      { op: "dequeue", who: b, k },
      { op: "releaseLock", who: b, k, token: "own" },
    ];
    return calls.flatMap((call, i): Op[] => {
      const choice = choices[i] ?? null;
      return choice === null ? [] : choice === "plain" ? [call] : [{ op: "fault", kind: choice }, call];
    });
  });
const sequenceArb: fc.Arbitrary<Op[]> = fc
  .array(
    fc.oneof(
      { arbitrary: opArb.map((op) => [op]), weight: 60 },
      { arbitrary: chatFlow, weight: 1 },
    ),
    { minLength: 1, maxLength: 30 },
  )
  .map((parts) => parts.flat());

/**
 * The adapters' retry policy: quick retries, and a small budget, since a newcomer's patience (what
 * the object waits for its enqueue) is that budget plus a second — yet ample for the attempts a
 * fault fails (a reset's take 10-30 ms, more under load; 50 ms proved too little).
 */
const RETRY = { baseDelayMs: 1, maxDelayMs: 4, maxElapsedMs: 250 };
/** The patience both adapters send with acquireLock (ts/worker/adapter.ts), in whole ms as the object keeps it. */
const PATIENCE_MS = RETRY.maxElapsedMs + 1_000;

/**
 * What one adapter instance's LockTracker (ts/worker/lock-tracker.ts) holds, with its expiries as windows:
 * the locks it was granted (the newest one live is a dequeue's `holder`; *fresh* until it
 * enqueues or dequeues), the acquires it was refused (each asks queueDepth, then enqueues), and
 * the refusal answered last (preferred among those yet to ask). Pruning is mirrored where the
 * tracker prunes, since an entry that expired but was not pruned yet comes back to life when its
 * lock is extended.
 */
class TrackerModel {
  readonly held = new Map<number, { token: string; expires: Window; fresh: boolean }[]>();
  readonly refused = new Map<number, { token: string; until: Window; asked: boolean }[]>();
  /** key -> the refusal whose call on it was answered last. */
  readonly lastAnswered = new Map<number, string>();
  /** key -> refusals an enqueue was given to while the holder was fresh (the tracker's guesses). */
  readonly guessed = new Map<number, { token: string; until: Window }[]>();

  windows(k: number): Window[] {
    return [
      ...(this.held.get(k) ?? []).map((h) => h.expires),
      ...(this.refused.get(k) ?? []).map((r) => r.until),
      ...(this.guessed.get(k) ?? []).map((g) => g.until),
    ];
  }

  prune(k: number, live: Live): void {
    this.held.set(k, (this.held.get(k) ?? []).filter((h) => live(h.expires)));
    this.refused.set(k, (this.refused.get(k) ?? []).filter((r) => live(r.until)));
    if (this.refused.get(k)!.length === 0) this.lastAnswered.delete(k);
    this.guessed.set(k, (this.guessed.get(k) ?? []).filter((g) => live(g.until)));
  }

  answered(k: number, token: string | undefined): void {
    if (token === undefined) return;
    if (this.refused.get(k)?.some((r) => r.token === token && !r.asked)) this.lastAnswered.set(k, token);
    else if (this.lastAnswered.get(k) === token) this.lastAnswered.delete(k);
  }

  granted(k: number, token: string, expiresAt: number, live: Live): void {
    this.prune(k, live);
    this.held.get(k)!.push({ token, expires: { lo: expiresAt, hi: expiresAt }, fresh: true });
  }

  extended(k: number, token: string, expires: Window): void {
    for (const h of this.held.get(k) ?? []) if (h.token === token) h.expires = expires;
  }

  /** `token` undefined: force-released, every lock it knew on `k` goes. */
  released(k: number, token?: string): void {
    this.held.set(k, (this.held.get(k) ?? []).filter((h) => token !== undefined && h.token !== token));
    if (this.held.get(k)!.length === 0) this.guessed.delete(k);
  }

  refusedWith(k: number, token: string, until: Window, live: Live): void {
    this.prune(k, live);
    this.refused.get(k)!.push({ token, until, asked: false });
  }

  holder(k: number, live: Live): string | undefined {
    this.prune(k, live);
    return this.held.get(k)!.at(-1)?.token;
  }

  dequeued(k: number, token: string | undefined): void {
    for (const h of this.held.get(k) ?? []) if (h.token === token) h.fresh = false;
  }

  /** A queueDepth's: a refusal yet to ask (the one answered last, else the oldest), else the holder's. */
  depthAsker(k: number, live: Live): string | undefined {
    this.prune(k, live);
    const waiting = this.refused.get(k)!.filter((r) => !r.asked);
    const last = this.lastAnswered.get(k);
    const next = waiting.find((r) => r.token === last) ?? waiting[0];
    if (next === undefined) return this.holder(k, live);
    next.asked = true;
    if (next.token === last) this.lastAnswered.delete(k);
    return next.token;
  }

  /** An enqueue's: the oldest refusal that asked (consumed; a guess if the holder is fresh),
   * else a fresh holder's own, else the oldest guess's refusal (consumed), else the oldest
   * refusal (consumed), else the holder's. (Calls here come one at a time: a queueDepth asked is
   * answered.) */
  enqueuer(k: number, live: Live): string | undefined {
    const holder = this.holder(k, live);
    const refused = this.refused.get(k)!;
    const fresh = this.held.get(k)!.findLast((h) => h.fresh);
    let index = refused.findIndex((r) => r.asked);
    if (index >= 0 && fresh !== undefined) this.guessed.get(k)!.push({ token: refused[index]!.token, until: refused[index]!.until });
    if (index < 0) {
      if (fresh !== undefined) {
        fresh.fresh = false;
        return fresh.token;
      }
      const guessed = this.guessed.get(k)!.shift();
      if (guessed !== undefined) return guessed.token;
      if (refused.length === 0) return holder;
      index = 0;
    }
    const taken = refused.splice(index, 1)[0]!.token;
    if (this.lastAnswered.get(k) === taken) this.lastAnswered.delete(k);
    return taken;
  }
}

interface Model {
  connected: [boolean, boolean];
  subscriptions: Set<number>;
  locks: Map<number, { token: string; expires: Window }>;
  cache: Map<number, { json: string; expires: Window | null }>;
  lists: Map<number, { items: string[]; expires: Window | null }>;
  queues: Map<number, { json: string; expires: Window }[]>;
  issued: string[];
  /** The tenures the objects remember, by key (each key's on the object its thread routes to). */
  tenures: Map<number, Tenure>;
  trackers: [TrackerModel, TrackerModel];
  refusals: number;
  /** Per adapter, key -> the token of the newest lock it was granted there. */
  owned: [Map<number, string>, Map<number, string>];
}

/** What a dequeue does, decided (without changing the model) as its object sees the time. */
type Dequeue =
  /** A retried dequeue whose caller's lock is held by another token: null (src/model/queues.rs). */
  | { kind: "fenced" }
  | { kind: "entry" | "empty"; queue: { json: string; expires: Window }[]; tenure: Tenure | undefined }
  /** The holder's would-be final dequeue while an announcement is awaited: held until `until`. */
  | { kind: "held"; tenure: Tenure; until: Window };

function decideDequeue(m: Model, k: number, holder: string | undefined, retried: boolean, live: Live): Dequeue {
  const lock = m.locks.get(k);
  const locked = lock !== undefined && live(lock.expires);
  if (retried && holder !== undefined && locked && lock.token !== holder) return { kind: "fenced" };
  const t = m.tenures.get(k);
  const forHolder = holder === undefined || t?.token === holder;
  const tenure = forHolder ? liveTenure(m.tenures, m.locks, k, live) : undefined;
  const queue = (m.queues.get(k) ?? []).filter((e) => live(e.expires));
  if (queue.length > 0) return { kind: "entry", queue, tenure };
  if (tenure !== undefined && tenure.last !== "entry") {
    const announced = tenure.announced.filter((a) => live(a.deadline));
    if (announced.length > 0) {
      return { kind: "held", tenure, until: { lo: Math.min(...announced.map((a) => a.deadline.lo)), hi: Infinity } };
    }
  }
  return { kind: "empty", queue, tenure };
}

const THREAD_PART = new Set<string>(THREAD_PART_METHODS);

const stats = {
  sequences: 0,
  operations: 0,
  discarded: 0,
  sleptMs: 0,
  evictions: 0,
  expiries: 0,
  faults: 0,
  earlyGrants: 0,
  held: 0,
  fenced: 0,
};
let execution = 0;

/** The deadlines a call's result depends on (and the tracker entries its adapter prunes). */
function relevant(m: Model, op: Op): (Window | null)[] {
  if (!("k" in op)) return [];
  const lock = m.locks.get(op.k)?.expires ?? null;
  const tracked = m.trackers[op.who].windows(op.k);
  switch (op.op) {
    case "acquireLock":
      return [lock, ...tracked];
    case "extendLock":
      return [lock];
    case "get":
    case "setIfNotExists":
      return [m.cache.get(op.k)?.expires ?? null];
    case "appendToList":
    case "getList":
      return [m.lists.get(op.k)?.expires ?? null];
    case "enqueue":
    case "dequeue":
    case "queueDepth":
      return [
        ...(m.queues.get(op.k) ?? []).map((e) => e.expires),
        lock,
        ...(m.tenures.get(op.k)?.announced ?? []).map((a) => a.deadline),
        ...tracked,
      ];
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

/** Sleeps until no deadline is due within `guardMs` (sleeping past one may bring the next close). */
async function clearOfAll(deadlines: (Window | null)[], guardMs: number): Promise<number> {
  let slept = 0;
  for (let more = 1; more > 0; slept += more) more = await clearOf(deadlines, guardMs);
  return slept;
}

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
  const retry = RETRY;
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
    tenures: new Map(),
    trackers: [new TrackerModel(), new TrackerModel()],
    refusals: 0,
    owned: [new Map(), new Map()],
  };
  const objectNames = () => [
    ...new Set(keys.flatMap((key) => [adapters[0].objectNameForKey(key), adapters[0].objectNameForThread(key)])),
  ];
  /**
   * An object lost its memory (evicted, or reset): the tenures of the keys it holds are gone, but
   * for those with announcement rows, which it rebuilds from them.
   */
  const forget = (objectName?: string) => {
    for (const [i, t] of [...m.tenures.entries()]) {
      if (objectName === undefined || adapters[0].objectNameForThread(keys[i]!) === objectName) {
        if (t.rows.length > 0) m.tenures.set(i, restoredTenure(t.token, t.rows));
        else m.tenures.delete(i);
      }
    }
  };

  /** The call just answered, if its adapter's tracker noted its token for the rest of the turn. */
  let continuing: { who: Who; k: number } | null = null;
  for (const [step, op] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(op)}`;
    // A call of its own turn (a timer runs first: no tracker takes it for the continuation of the
    // call answered before it), unless it is made in the continuation of the call before it, by
    // the same adapter on the same key (whose answer is then all that tracker's turn knows of it).
    const last = continuing as { who: Who; k: number } | null; // (set by `answered` below)
    const continued = "sameTurn" in op && last?.who === op.who && last.k === op.k;
    continuing = null;
    if (!continued) {
      await sleep(0);
    }
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
      forget();
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
    const slept = await clearOfAll(deadlines, GUARD_MS);
    stats.sleptMs += slept;
    const key = keys[op.k]!;
    const keyIndex = op.k;
    const lockToken = (pick: TokenPick): string =>
      pick === "current" || pick === "own"
        ? ((pick === "own" ? m.owned[op.who].get(keyIndex) : m.locks.get(keyIndex)?.token) ??
          m.issued.at(-1) ??
          "cfdo_none")
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
    /** The object a reset fault resets. */
    let reset = "";
    if (fault !== null) {
      stats.faults++;
      if (fault === "before-commit" || fault === "after-commit") {
        reset = THREAD_PART.has(op.op) ? adapter.objectNameForThread(key) : adapter.objectNameForKey(key);
        await env.FAULTY_STATE.getByName(reset).armReset(op.op as ResettableMethod, fault);
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

    /** A judge of deadlines for a moment known to lie in [lo, hi]. */
    const within =
      (lo: number, hi: number): Live =>
      (w) => {
        const s = seenBy(w, lo, hi);
        if (s === "unknown") throw new Inconclusive(where);
        return s === "live";
      };
    // What the adapter's LockTracker decides as the call starts (synchronously, at `before`),
    // whether or not the call then gets anywhere: the token its queue call carries.
    const tracker = m.trackers[op.who];
    const answered = (token: string | undefined) => {
      tracker.answered(op.k, token);
      if (token !== undefined) continuing = { who: op.who, k: op.k };
    };
    const atStart = within(before, before);
    let hint: string | undefined;
    if (op.op === "dequeue") {
      hint = tracker.holder(op.k, atStart);
      tracker.dequeued(op.k, hint);
    }
    if (op.op === "queueDepth") hint = tracker.depthAsker(op.k, atStart);
    if (op.op === "enqueue") hint = tracker.enqueuer(op.k, atStart);
    // (releaseLock forgets its lock in a `finally`: even when the call failed.)
    if (op.op === "releaseLock") tracker.released(op.k, usedToken);

    if (!m.connected[op.who]) {
      expect(String(error), where).toMatch(/not connected/);
      continue;
    }
    if (fault === "overloaded") {
      // Refused before it ran: the caller sees the error, the model (the state) is unchanged.
      expect(error, where).toMatchObject({ overloaded: true });
      continue;
    }
    if (error !== undefined && op.op === "dequeue" && (fault === "after" || fault === "after-commit")) {
      // (Say what it most likely is: a dequeue held past the adapter's retry budget, whose reply
      // was then lost, is not retried, although a retry would get the fault-free answer.)
      const held = after - before > RETRY.maxElapsedMs ? ` after ${after - before} ms, past the retry budget` : "";
      throw new Error(`${where}: unexpected error ${String(error)}: the reply was lost${held}, and not retried`);
    }
    if (error !== undefined) throw new Error(`${where}: unexpected error ${String(error)}`);

    // The object's own now lies within the call.
    const live = within(before, after);
    // A queueDepth answered: the tracker notes its flow (ts/worker/adapter.ts).
    if (op.op === "queueDepth") answered(hint);
    // A reset before the commit: the call ran again on a fresh instance, which remembers no tenure.
    if (fault === "before-commit") forget(reset);

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
        // Held, but by a tenure whose holder made its final dequeue: granted early, at once.
        let tenure = free ? undefined : liveTenure(m.tenures, m.locks, op.k, live);
        if (!free && !tenure?.drained) {
          expect(result, where).toBeNull();
          // The refusal is announced, in memory and as a row (a holder the object has no tenure
          // of, granted before a reset, gets one: src/guarantees/tenure/), and the adapter notes it.
          if (tenure === undefined) {
            tenure = restoredTenure(held!.token, []);
            m.tenures.set(op.k, tenure);
          }
          const token = `refused-${m.refusals++}`;
          const until = { lo: before + 2 * PATIENCE_MS, hi: after + 2 * PATIENCE_MS };
          tenure.announced.push({ token, deadline: until });
          tenure.rows.push({ token, deadline: until });
          tracker.refusedWith(op.k, token, until, live);
          answered(token);
          break;
        }
        if (!free) stats.earlyGrants++;
        const lock = result as Lock;
        expect(lock, where).not.toBeNull();
        expect(lock.threadId, where).toBe(key);
        expect(m.issued, where).not.toContain(lock.token);
        // expiresAt = the object's now + ttl, and its now lies within the call.
        expect(lock.expiresAt - op.ttl, where).toBeGreaterThanOrEqual(before);
        expect(lock.expiresAt - op.ttl, where).toBeLessThanOrEqual(after);
        m.issued.push(lock.token);
        m.locks.set(op.k, { token: lock.token, expires: { lo: lock.expiresAt, hi: lock.expiresAt } });
        m.tenures.set(op.k, { token: lock.token, last: null, drained: false, announced: [], dequeued: false, ownEnqueued: false, rows: [] });
        tracker.granted(op.k, lock.token, lock.expiresAt, live);
        answered(lock.token);
        m.owned[op.who].set(op.k, lock.token);
        break;
      }
      case "releaseLock":
        if (m.locks.get(op.k)?.token === usedToken) m.locks.delete(op.k);
        if (m.tenures.get(op.k)?.token === usedToken) m.tenures.delete(op.k);
        break;
      case "extendLock": {
        const held = m.locks.get(op.k);
        const ok = held !== undefined && held.token === usedToken && seen(held.expires) === "live";
        expect(result, where).toBe(ok);
        if (ok) {
          m.locks.set(op.k, { token: usedToken, expires: windowAfter(op.ttl, before, after)! });
          // The adapter's own note: Date.now() when the reply came, plus the TTL.
          tracker.extended(op.k, usedToken, windowAfter(op.ttl, before, after)!);
        }
        break;
      }
      case "forceReleaseLock":
        m.locks.delete(op.k);
        m.tenures.delete(op.k);
        tracker.released(op.k);
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
        // A newcomer's enqueue (even of an entry already expired) fulfils its announcement — none
        // if it names one not awaited (arrived already) — or, unnamed, the oldest; the holder's
        // own fulfils nothing — only its first, before it dequeued.
        const tenure = liveTenure(m.tenures, m.locks, op.k, live);
        if (tenure !== undefined && hint === tenure.token && !tenure.ownEnqueued && !tenure.dequeued) {
          tenure.ownEnqueued = true;
        } else if (tenure !== undefined) {
          const fulfilled = pickEnqueued(tenure, hint, live);
          tenure.announced = tenure.announced.filter((a) => a !== fulfilled);
          // Its row goes with the entry's arrival, in the enqueue's transaction.
          tenure.rows = tenure.rows.filter((r) => r.token !== fulfilled?.token);
        }
        break;
      }
      case "dequeue": {
        // Only a retry meets the fence; after a reply lost (`after`, `after-commit`) the retry
        // answers what the first attempt did, which was no retry.
        const retried = fault === "before" || fault === "before-commit";
        let d: Dequeue;
        try {
          d = decideDequeue(m, op.k, hint, retried, live);
        } catch (e) {
          if (!(e instanceof Inconclusive) || after - before <= GUARD_MS) throw e;
          // A long call: held (or slowed down). The object decided when the call reached it,
          // within GUARD_MS of its start, all deadlines being clear of that (clearOfAll).
          const early = within(before, before + GUARD_MS);
          d = decideDequeue(m, op.k, hint, retried, early);
          if (d.kind !== "held") {
            const announced = (m.tenures.get(op.k)?.announced ?? []).filter((a) => early(a.deadline));
            if (announced.some((a) => after >= a.deadline.lo)) {
              throw new Error(`${where}: took until an announcement's deadline (held), but the model holds no dequeue`);
            }
            throw e;
          }
        }
        if (d.kind === "fenced") {
          stats.fenced++;
          expect(result, where).toBeNull();
          break;
        }
        if (d.tenure !== undefined) d.tenure.dequeued = true;
        if (d.kind === "held") {
          // Nothing can fulfil the announcement while the test awaits: null, at its deadline.
          stats.held++;
          expect(result, where).toBeNull();
          expect(after, `${where}: a held dequeue answers at an announcement's deadline`).toBeGreaterThanOrEqual(d.until.lo);
          m.queues.set(op.k, []);
          if (d.tenure.last !== "unknown") d.tenure.drained = true;
          d.tenure.last = "empty";
          break;
        }
        const first = d.queue.shift();
        m.queues.set(op.k, d.queue);
        if (first === undefined) {
          expect(result, where).toBeNull();
          if (d.tenure !== undefined) {
            if (d.tenure.last !== "entry" && d.tenure.last !== "unknown") d.tenure.drained = true;
            d.tenure.last = "empty";
          }
        } else {
          expect(JSON.stringify((result as QueueEntry).message), where).toBe(first.json);
          expect((result as QueueEntry).expiresAt, where).toBe(first.expires.lo);
          if (d.tenure !== undefined) d.tenure.last = "entry";
        }
        break;
      }
      case "queueDepth": {
        const queue = (m.queues.get(op.k) ?? []).filter((e) => seen(e.expires) === "live");
        expect(result, where).toBe(queue.length);
        // A newcomer's queueDepth: its enqueue is now awaited within one patience.
        const tenure = liveTenure(m.tenures, m.locks, op.k, live);
        const asked = tenure !== undefined && hint !== tenure.token ? pick(tenure, hint, live) : undefined;
        if (asked !== undefined) asked.deadline = { lo: before + PATIENCE_MS, hi: after + PATIENCE_MS };
        break;
      }
    }
    // A reset after the commit: the call took effect, then the object forgot its tenures; the
    // retry finds the call's own effect and remembers nothing new.
    if (fault === "after-commit") forget(reset);
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

const MODEL_SEED = Number((env as unknown as Record<string, string | undefined>).MODEL_SEED || 1818);

describe("model-based: the adapter in workerd matches the contract's model", () => {
  it(`${SEQUENCES} random sequences of all 18 operations`, { timeout: 900_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (ops) => {
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
      // A fixed seed: `npm test` is a gate and replays as it stands; MODEL_SEED picks others (the
      // soak's job), and a failure prints the seed and path to replay.
      { numRuns: SEQUENCES, seed: MODEL_SEED },
    );
    console.log(
      `model (workerd): ${stats.sequences} sequences checked, ${stats.operations} operations, ` +
        `${stats.expiries} expiries observed, ${stats.evictions} evictions, ${stats.faults} injected faults, ` +
        `${stats.earlyGrants} early grants, ${stats.held} held dequeues, ${stats.fenced} retried dequeues fenced, ` +
        `${stats.discarded} discarded as timing-ambiguous, ${stats.sleptMs} ms slept`,
    );
    expect(stats.sequences).toBeGreaterThanOrEqual(SEQUENCES);
  });
});

const FLOW_SEQUENCES = Number((env as unknown as Record<string, string | undefined>).MODEL_FLOW_SEQUENCES || 60);
/**
 * fast-check's seed for the interleavings: fixed, so `npm test` (a gate) replays as it stands;
 * MODEL_FLOW_SEED picks others (a failure prints the seed to replay). Seed 1087682473 found a
 * strand (its counterexample is the second example below): an enqueue that may be a burst
 * holder's own or a refused newcomer's was guessed the newcomer's, and that newcomer's real one
 * was then named the next newcomer's, which had not asked yet (ts/worker/lock-tracker.ts now
 * names it the guessed newcomer's again, and the object lets a newcomer's second arrival fulfil
 * no other). 2,400 interleavings on six seeds pass since. Last stop's counterexample of that seed,
 * `{ seed: 2147483630, strategy: "burst", newcomers: 2 }`, is the case README still names: under
 * load the guessed newcomer's real enqueue comes after the holder's whole 5 ms window and drain.
 */
const FLOW_SEED = Number((env as unknown as Record<string, string | undefined>).MODEL_FLOW_SEED || 1818);

describe("model-based: several flows of one thread in one adapter instance", () => {
  it(`${FLOW_SEQUENCES} interleavings of a holder and newcomers through one adapter, each strategy`, { timeout: 600_000 }, async () => {
    const figures = { runs: 0, calls: 0, earlyGrants: 0, faults: 0 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          strategy: fc.constantFrom<FlowStrategy>("queue", "debounce", "burst"),
          newcomers: fc.integer({ min: 1, max: 2 }),
          faults: fc.constantFrom(0, 0.05),
        }),
        async ({ seed, strategy, newcomers, faults }) => {
          const faulty = new FaultyNamespace(
            env.FAULTY_STATE as never,
            randomFaults(seededRandom(seed + 1), { before: faults, after: faults }),
            { maxConsecutive: 2 },
          );
          const name = `model-flows-${run % 4}`;
          const adapter = createCloudflareState({ namespace: faulty.namespace, name, retry: RETRY, logger: quiet });
          await adapter.connect();
          const key = `flows-${run++}-${seed}`;
          const result = await runFlows(adapter, key, { seed, strategy, newcomers });
          faulty.enabled = false;
          const reader = createCloudflareState({ namespace: env.FAULTY_STATE as never, name, logger: quiet });
          await reader.connect();
          const problems = judgeFlows(result, key, newcomers, 600);
          const depth = await reader.queueDepth(key);
          if (depth > 0) problems.push(`${depth} entries stranded in the queue`);
          const lock = await reader.acquireLock(key, 1_000);
          if (lock === null) problems.push("a lock was left");
          else await reader.releaseLock(lock);
          figures.runs++;
          figures.calls += result.calls.length;
          figures.earlyGrants += Math.max(0, result.tenures.length - 1);
          figures.faults += faulty.counts.before + faulty.counts.after;
          if (problems.length > 0) {
            throw new Error(`${strategy}, ${newcomers} newcomer(s), seed ${seed}:\n${problems.join("\n")}\n${traceFlows(result)}`);
          }
        },
      ),
      {
        numRuns: FLOW_SEQUENCES,
        seed: FLOW_SEED,
        // Found by this test (shrunk): a debounce holder's own queueDepth after a non-empty round,
        // asked in a turn of its own, was taken for the refused newcomer's; the newcomer's enqueue
        // then counted as the holder's, and the final dequeue was held for a patience.
        examples: [
          [{ seed: 7, strategy: "debounce", newcomers: 1, faults: 0 }],
          [{ seed: 1919292227, strategy: "burst", newcomers: 2, faults: 0 }],
        ],
      },
    );
    console.log(
      `model (several flows in one adapter): ${figures.runs} interleavings, ${figures.calls} calls, ` +
        `${figures.earlyGrants} early grants, ${figures.faults} injected faults`,
    );
    expect(figures.runs).toBeGreaterThanOrEqual(FLOW_SEQUENCES);
  });
});
