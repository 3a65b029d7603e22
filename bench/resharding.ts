// Online re-sharding, measured inside workerd: a bot's state written under one object, then a new
// layout of 4 objects (`shards: 4, migrateFrom: { name }`) deployed over it. Two runs:
// - `reshardDrain`: how long `drainMigration()`, called again and again as a cron would, takes to
//   move every unit (the previous home's alarm drains in the background meanwhile, as in
//   production), what it costs, and a check that every thread ends up whole on its new home;
// - `reshardCalls`: what one call costs while the migration is under way (first touch of a unit
//   still at its previous home, the same unit again, a thread with nothing stored) and after it
//   has drained. The background drain is paused while these are sampled, so the rows counted are
//   the calls' own.
// Each thread holds what chat keeps for a thread: its subscription, a thread state with a TTL and
// a 3-item message history (maxLength 100, TTL). The preload writes them through the object's own
// RPC methods, called in the object (the rows are the adapter's by construction, without 50,000
// RPCs); a few threads are written through the adapter over RPC and compared row by row.
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import { newRequestId } from "../ts/shared/ids.js";
import { Layout } from "../ts/worker/layout.js";
import { countingNamespace, type ObjectRef, type RowCounts, type RpcCounter } from "./counting.js";
import { DEDUPE_TTL, LOCK_TTL, message } from "./scenarios.js";
import type { Env } from "./worker.js";

export const SHARDS = 4;
const TTL = 3_600_000;
const HISTORY_ITEMS = 3;
/** Threads the drain run writes through the adapter (over RPC) to check the preload against. */
const ADAPTER_WRITTEN = 20;
/** Threads per preload RPC. */
const PRELOAD_CHUNK = 2_500;
/** Threads read back through the new layout after the drain (every thread is placed by SQL). */
const READ_BACK = 250;
const WINDOW = 10;

/** Thread `i`, Slack-like (50 channels). */
export const reshardThread = (i: number): string => `slack:C${100 + (i % 50)}BENCH:${1_732_680_000 + i}.000100`;
const threadState = { subscribed: true, turn: 3, mode: "assistant", lastMessageId: "1732680000.100002" };
const historyItem = (thread: string, m: number) => ({ ...message(m), threadId: thread });

type Target = Record<string, (...args: any[]) => unknown>;

/** Threads `from..from+count`, written by calling the object's own RPC methods in the object. */
export async function preloadThreads(object: object, from: number, count: number): Promise<number> {
  const o = object as Target;
  for (let i = from; i < from + count; i++) {
    const t = reshardThread(i);
    // The arguments the adapter sends (ts/worker/adapter.ts), `via` left out as a 1-object layout does.
    await o.subscribe!(t);
    await o.set!(`thread-state:${t}`, JSON.stringify(threadState), TTL);
    for (let m = 0; m < HISTORY_ITEMS; m++) {
      await o.appendToList!(`msg-history:${t}`, JSON.stringify(historyItem(t, m)), { maxLength: 100, ttlMs: TTL }, newRequestId(), false);
    }
  }
  return count;
}

/** The channel of a bench thread (`slack:C1xxBENCH`): chat appends each message to its history too. */
const channelOf = (thread: string): string => thread.split(":").slice(0, 2).join(":");
/** The 50 channels of reshardThread. */
export const RESHARD_CHANNELS = Array.from({ length: 50 }, (_, k) => `slack:C${100 + k}BENCH`);

/** Fills each channel's history to `items` items, through the object's own RPC methods. */
export async function preloadChannels(object: object, channels: string[], items: number): Promise<number> {
  const o = object as Target;
  for (const channel of channels) {
    for (let m = 0; m < items; m++) {
      await o.appendToList!(`msg-history:${channel}`, JSON.stringify(historyItem(channel, m)), { maxLength: 100, ttlMs: TTL }, newRequestId(), false);
    }
  }
  return channels.length;
}

/** The same thread through the adapter. */
async function writeThread(state: CloudflareDOStateAdapter, i: number): Promise<void> {
  const t = reshardThread(i);
  await state.subscribe(t);
  await state.set(`thread-state:${t}`, threadState, TTL);
  for (let m = 0; m < HISTORY_ITEMS; m++) {
    await state.appendToList(`msg-history:${t}`, historyItem(t, m), { maxLength: 100, ttlMs: TTL });
  }
}

/** Every row of a thread's unit, every column. */
export function unitRows(sql: SqlStorage, thread: string): Record<string, unknown[]> {
  const keys = [`thread-state:${thread}`, `msg-history:${thread}`];
  return {
    subscriptions: sql.exec("SELECT * FROM subscriptions WHERE thread_id = ?", thread).toArray(),
    locks: sql.exec("SELECT * FROM locks WHERE thread_id = ?", thread).toArray(),
    queue_entries: sql.exec("SELECT * FROM queue_entries WHERE queue_key = ?", thread).toArray(),
    cache: sql.exec("SELECT * FROM cache WHERE key IN (?, ?) ORDER BY key", ...keys).toArray(),
    lists: sql.exec("SELECT * FROM lists WHERE list_key IN (?, ?) ORDER BY list_key", ...keys).toArray(),
    list_items: sql.exec("SELECT * FROM list_items WHERE list_key IN (?, ?) ORDER BY list_key, seq", ...keys).toArray(),
  };
}

/** Rows with the thread id, request ids and times taken out, to compare two threads' rows. */
function normalised(rows: Record<string, unknown[]>, thread: string): string {
  return JSON.stringify(rows)
    .replaceAll(thread, "<thread>")
    .replace(/[0-9a-f]{32}/g, "<request-id>")
    .replace(/\b1[0-9]{12}\b/g, "<unix-ms>");
}

export interface Census {
  subscriptions: string[];
  cache: string[];
  lists: string[];
  /** Items per list. */
  listItems: { k: string; n: number }[];
  locks: number;
  queueEntries: number;
  sealed: number;
  imported: number;
}

export function census(sql: SqlStorage): Census {
  const column = (query: string) => sql.exec(query).toArray().map((r) => String(Object.values(r)[0]));
  const count = (query: string) => Number(sql.exec(query).one().n);
  return {
    subscriptions: column("SELECT thread_id FROM subscriptions"),
    cache: column("SELECT key FROM cache"),
    lists: column("SELECT list_key FROM lists"),
    listItems: sql
      .exec<{ k: string; n: number }>("SELECT list_key AS k, COUNT(*) AS n FROM list_items GROUP BY list_key")
      .toArray(),
    locks: count("SELECT COUNT(*) AS n FROM locks"),
    queueEntries: count("SELECT COUNT(*) AS n FROM queue_entries"),
    sealed: count("SELECT COUNT(*) AS n FROM handoff_sealed"),
    imported: count("SELECT COUNT(*) AS n FROM handoff_in"),
  };
}

// ---- counting --------------------------------------------------------------------------------

interface Totals extends RowCounts {
  peerCalls: number;
  alarms: number;
  inspectRowsRead: number;
  instances: number;
}

/** Summed over `objects` (and over every instance each has had: see worker.ts). */
async function totals(env: Env, objects: string[]): Promise<Totals> {
  const t: Totals = { rowsRead: 0, rowsWritten: 0, peerCalls: 0, alarms: 0, inspectRowsRead: 0, instances: 0 };
  for (const name of objects) {
    const o = await env.OURS.getByName(name).benchTotals();
    for (const k of Object.keys(t) as (keyof Totals)[]) t[k] += o[k];
  }
  return t;
}

function minus(a: Totals, b: Totals): Totals {
  const d = { ...a };
  for (const k of Object.keys(d) as (keyof Totals)[]) d[k] -= b[k];
  return d;
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

interface Counted {
  state: CloudflareDOStateAdapter;
  counter: RpcCounter;
  warnings: () => number;
}

function newLayoutAdapter(env: Env, base: string): Counted {
  const counter: RpcCounter = { rpc: 0 };
  const touched = new Map<string, ObjectRef>();
  let warnings = 0;
  const logger = { debug() {}, info() {}, error() {}, warn: () => void warnings++, child: () => logger };
  const state = createCloudflareState({
    namespace: countingNamespace(env.OURS, counter, touched) as never,
    name: base,
    shards: SHARDS,
    migrateFrom: { name: base },
    logger: logger as never,
  });
  return { state, counter, warnings: () => warnings };
}

async function preload(env: Env, base: string, from: number, count: number): Promise<void> {
  for (let offset = from; offset < from + count; offset += PRELOAD_CHUNK) {
    await env.OURS.getByName(base).benchPreloadThreads(offset, Math.min(PRELOAD_CHUNK, from + count - offset));
  }
}

/** Every `layout` object: the previous home drained, nothing of the migration left anywhere. */
async function checkPlacement(env: Env, layout: Layout, base: string, threads: number): Promise<{ misplaced: number; leftover: string[] }> {
  const objects = layout.objectNames();
  const held = new Map<string, { subs: Set<string>; cache: Set<string>; lists: Set<string>; items: Map<string, number> }>();
  const leftover: string[] = [];
  for (const name of objects) {
    const c = await env.OURS.getByName(name).benchCensus();
    held.set(name, { subs: new Set(c.subscriptions), cache: new Set(c.cache), lists: new Set(c.lists), items: new Map(c.listItems.map((r) => [r.k, r.n])) });
    if (c.sealed || c.imported || c.locks || c.queueEntries) leftover.push(`${name}: ${JSON.stringify({ sealed: c.sealed, imported: c.imported })}`);
    const { migration } = await env.OURS.getByName(name).inspect();
    if (migration.sealedUnits || migration.importedRecords || migration.receivingFrom.length) leftover.push(`${name}: ${JSON.stringify(migration)}`);
  }
  const { migration } = await env.OURS.getByName(base).inspect();
  if (!migration.drained || migration.unitsToMove !== 0) leftover.push(`${base} not drained: ${JSON.stringify(migration)}`);
  let misplaced = 0;
  for (let i = 0; i < threads; i++) {
    const t = reshardThread(i);
    const home = layout.locate(t, "thread", "threadId").object;
    for (const name of objects) {
      const h = held.get(name)!;
      const here = name === home;
      const ok =
        h.subs.has(t) === here &&
        h.cache.has(`thread-state:${t}`) === here &&
        h.lists.has(`msg-history:${t}`) === here &&
        (h.items.get(`msg-history:${t}`) ?? 0) === (here ? HISTORY_ITEMS : 0);
      if (!ok) {
        misplaced++;
        break;
      }
    }
  }
  return { misplaced, leftover };
}

/** Reads `indices` back through `state`, 8 callers at a time; returns the threads that differ. */
async function readBack(state: CloudflareDOStateAdapter, indices: number[]): Promise<string[]> {
  const wrong: string[] = [];
  const expectedState = JSON.stringify(threadState);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < indices.length) {
        const t = reshardThread(indices[next++]!);
        const subscribed = await state.isSubscribed(t);
        const value = JSON.stringify(await state.get(`thread-state:${t}`));
        const list = JSON.stringify(await state.getList(`msg-history:${t}`));
        const expectedList = JSON.stringify(Array.from({ length: HISTORY_ITEMS }, (_, m) => historyItem(t, m)));
        if (!subscribed || value !== expectedState || list !== expectedList) wrong.push(t);
      }
    }),
  );
  return wrong;
}

// ---- per-call cost -------------------------------------------------------------------------------

export interface CallFigures {
  calls: number;
  rpc: number;
  peerCalls: number;
  rowsRead: number;
  rowsWritten: number;
  samples: number[];
  windows: number[];
}

/**
 * `call` once per item, one caller, timed one by one (and in windows of `WINDOW`); the RPCs
 * counted on the adapter's namespace and the rows and object-to-object RPCs on `objects`, per call.
 */
async function sampleCalls<T>(env: Env, objects: string[], c: Counted, items: T[], call: (item: T, k: number) => Promise<void>): Promise<CallFigures> {
  const before = await totals(env, objects);
  const rpc = c.counter.rpc;
  const samples: number[] = [];
  const windows: number[] = [];
  await tick();
  let windowStart = performance.now();
  for (const [k, item] of items.entries()) {
    const t0 = performance.now();
    await call(item, k);
    const t1 = performance.now();
    samples.push(t1 - t0);
    if (samples.length % WINDOW === 0) {
      windows.push((t1 - windowStart) / WINDOW);
      windowStart = t1;
    }
  }
  const d = minus(await totals(env, objects), before);
  const n = items.length;
  return {
    calls: n,
    rpc: (c.counter.rpc - rpc) / n,
    peerCalls: d.peerCalls / n,
    rowsRead: d.rowsRead / n,
    rowsWritten: d.rowsWritten / n,
    samples,
    windows,
  };
}

/** `isSubscribed` once on each thread, one caller; counters over all, times per call. */
async function sampleIsSubscribed(env: Env, objects: string[], c: Counted, threads: string[], expected: boolean): Promise<CallFigures> {
  return await sampleCalls(env, objects, c, threads, async (t) => {
    const answer = await c.state.isSubscribed(t);
    if (answer !== expected) throw new Error(`isSubscribed(${t}) answered ${answer}, expected ${expected}`);
  });
}

/** Threads from `indices` whose new home is not the base object (they move). */
function moving(layout: Layout, base: string, indices: Iterable<number>): number[] {
  return [...indices].filter((i) => layout.locate(reshardThread(i), "thread", "threadId").object !== base);
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

/** Drives `drainMigration()` until every previous home says drained. */
async function drain(c: Counted): Promise<{ ms: number; calls: number }> {
  await tick();
  const started = performance.now();
  let calls = 0;
  for (;;) {
    const status = await c.state.drainMigration({ budgetMs: 20_000 });
    calls++;
    if (status.every((s) => s.drained)) break;
    if (calls >= 20_000) throw new Error(`not drained after ${calls} drainMigration calls: ${JSON.stringify(status)}`);
  }
  await tick();
  return { ms: performance.now() - started, calls };
}

/** What a drain cost, summed over the objects of the new layout. */
export interface DrainCost {
  ms: number;
  unitsMoved: number;
  peerCalls: number;
  alarms: number;
  rowsRead: number;
  /** Of `rowsRead`, those read by `inspect()` (drainMigration() calls it after every step). */
  inspectRowsRead: number;
  rowsWritten: number;
  /** Object instances local workerd replaced during the drain (their counters are kept). */
  instancesReplaced: number;
}

function cost(d: Totals, ms: number, unitsMoved: number): DrainCost {
  return {
    ms,
    unitsMoved,
    peerCalls: d.peerCalls,
    alarms: d.alarms,
    rowsRead: d.rowsRead,
    inspectRowsRead: d.inspectRowsRead,
    rowsWritten: d.rowsWritten,
    instancesReplaced: d.instances,
  };
}

// ---- the runs ------------------------------------------------------------------------------------

export interface DrainFigures extends DrainCost {
  threads: number;
  preloadMs: number;
  preloadCheck: string;
  drainCalls: number;
  adapterRpc: number;
  retriesLogged: number;
  readBack: { threads: number; wrong: number };
  placement: { threads: number; misplaced: number; leftover: string[] };
  after: { moved: CallFigures; nothing: CallFigures };
}

/** One 1 → 4 migration of `threads` threads, drained by `drainMigration()` calls. */
export async function reshardDrain(env: Env, tag: string, threads: number, samples: number): Promise<DrainFigures> {
  const base = `reshard-drain-${tag}`;
  const layout = new Layout({ name: base, shards: SHARDS }, "");
  const objects = layout.objectNames();

  // Under the old layout (one object): threads 0..ADAPTER_WRITTEN through the adapter, the rest
  // through the object's own methods; then one of each compared row by row.
  const t0 = Date.now();
  const old = createCloudflareState({ namespace: env.OURS as never, name: base });
  await old.connect();
  for (let i = 0; i < ADAPTER_WRITTEN; i++) await writeThread(old, i);
  await preload(env, base, ADAPTER_WRITTEN, threads - ADAPTER_WRITTEN);
  const preloadMs = Date.now() - t0;
  const rowsOf = async (i: number) => normalised(await env.OURS.getByName(base).benchUnitRows(reshardThread(i)), reshardThread(i));
  let compared = 0;
  for (let i = 0; i < ADAPTER_WRITTEN; i++) {
    const viaAdapter = await rowsOf(i);
    const viaPreload = await rowsOf(threads - 1 - i);
    if (viaAdapter !== viaPreload) throw new Error(`preloaded rows differ from the adapter's:\n${viaAdapter}\n${viaPreload}`);
    compared += viaAdapter.length;
  }
  const preloadCheck = `${ADAPTER_WRITTEN} adapter-written threads' rows, every column, identical to ${ADAPTER_WRITTEN} preloaded threads' (${compared} bytes compared)`;

  // The new layout, deployed, drained by drainMigration() calls.
  const grown = newLayoutAdapter(env, base);
  await grown.state.connect();
  const unitsMoved = moving(layout, base, range(0, threads)).length;
  const before = await totals(env, objects);
  const rpc = grown.counter.rpc;
  const { ms, calls } = await drain(grown);
  const d = minus(await totals(env, objects), before);
  const adapterRpc = grown.counter.rpc - rpc;

  // After the drain: threads the new layout never called yet, and threads with nothing stored.
  const movedLater = moving(layout, base, range(threads - 4 * samples, threads)).slice(-samples).map(reshardThread);
  const nothing = moving(layout, base, range(threads, threads + 4 * samples)).slice(0, samples).map(reshardThread);
  const after = {
    moved: await sampleIsSubscribed(env, objects, grown, movedLater, true),
    nothing: await sampleIsSubscribed(env, objects, grown, nothing, false),
  };

  // Every thread whole on its new home and nowhere else; a spread of them read back.
  const placement = await checkPlacement(env, layout, base, threads);
  const step = Math.max(1, Math.floor(threads / READ_BACK));
  const sample = range(0, threads).filter((i) => i % step === 0);
  const wrong = await readBack(grown.state, sample);
  if (placement.misplaced || placement.leftover.length || wrong.length) {
    throw new Error(`re-sharding check failed: ${JSON.stringify({ misplaced: placement.misplaced, leftover: placement.leftover, wrong: wrong.slice(0, 5) })}`);
  }
  return {
    threads,
    preloadMs,
    preloadCheck,
    ...cost(d, ms, unitsMoved),
    drainCalls: calls,
    adapterRpc,
    retriesLogged: grown.warnings(),
    readBack: { threads: sample.length, wrong: wrong.length },
    placement: { threads, ...placement },
    after,
  };
}

/** A 1 → SHARDS layout change named `base`, its `threads` threads preloaded at the old object. */
async function preparedChange(env: Env, base: string, threads: number) {
  const layout = new Layout({ name: base, shards: SHARDS }, "");
  await preload(env, base, 0, threads);
  return { base, layout, objects: layout.objectNames() };
}

export interface CallsFigures {
  threads: number;
  firstTouch: CallFigures;
  again: CallFigures;
  nothing: CallFigures;
  /** The rest of the migration, drained by the previous home's alarm alone (no drainMigration call). */
  background: DrainCost;
}

/**
 * Per call while the migration is under way (the previous home's alarm held while sampling):
 * the first call on a thread still at its previous home, the same thread again, a thread with
 * nothing stored. Then the alarm is let go, and the rest drains in the background, timed.
 */
export async function reshardCalls(env: Env, tag: string, threads: number, samples: number): Promise<CallsFigures> {
  const { base, layout, objects } = await preparedChange(env, `reshard-calls-${tag}`, threads);
  // Also creates the new objects (schema), outside the samples.
  for (const name of objects) await env.OURS.getByName(name).benchPauseAlarm(true);
  const grown = newLayoutAdapter(env, base);
  await grown.state.connect();
  let paused = true;
  try {
    const movers = moving(layout, base, range(0, threads));
    // Warm-up: the migration's first message (the previous home records it) and a first pull on
    // each new object.
    const warm = new Set<string>();
    let pulled = 0;
    for (const i of movers) {
      const home = layout.locate(reshardThread(i), "thread", "threadId").object;
      if (warm.has(home)) continue;
      warm.add(home);
      pulled++;
      await grown.state.isSubscribed(reshardThread(i));
    }
    const picked = movers.slice(-samples).map(reshardThread);
    const nothing = moving(layout, base, range(threads, threads + 4 * samples)).slice(0, samples).map(reshardThread);
    const firstTouch = await sampleIsSubscribed(env, objects, grown, picked, true);
    pulled += picked.length;
    const again = await sampleIsSubscribed(env, objects, grown, picked, true);
    const none = await sampleIsSubscribed(env, objects, grown, nothing, false);

    // The rest by the alarm alone, polled every 100 ms (bench-only SQL, no call on the adapter).
    const before = await totals(env, objects);
    await tick();
    const started = performance.now();
    await env.OURS.getByName(base).benchPauseAlarm(false);
    paused = false;
    while ((await env.OURS.getByName(base).benchDrainedAt()) === null) {
      if (performance.now() - started > 600_000) throw new Error("the background drain did not finish in 600 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ms = performance.now() - started;
    const status = await grown.state.drainMigration();
    if (!status.every((s) => s.drained)) throw new Error(`drained by the alarm, but drainMigration says ${JSON.stringify(status)}`);
    const background = cost(minus(await totals(env, objects), before), ms, movers.length - pulled);
    return { threads, firstTouch, again, nothing: none, background };
  } finally {
    if (paused) await env.OURS.getByName(base).benchPauseAlarm(false);
    for (const name of objects) await env.OURS.getByName(name).benchPauseAlarm(false);
  }
}

// ---- one chat message across a layout change -------------------------------------------------------

let messageNo = 0;

/**
 * One chat message on `thread` (the bench's "one chat message": dedupe, isSubscribed, lock, thread
 * state read-merge-write, the thread's and its channel's histories appended, release), through `c`.
 * Thread state and histories keep the preload's TTL, so a thread's first message after the preload
 * writes what any later message writes.
 */
async function chatMessage(c: Counted, thread: string, dedupeKey: string): Promise<void> {
  const s = c.state;
  const n = messageNo++;
  if (!(await s.setIfNotExists(dedupeKey, true, DEDUPE_TTL))) throw new Error(`duplicate message ${dedupeKey}`);
  if (!(await s.isSubscribed(thread))) throw new Error(`${thread} is not subscribed`);
  const lock = await s.acquireLock(thread, LOCK_TTL);
  if (!lock) throw new Error(`acquireLock(${thread}) refused`);
  const current = await s.get<Record<string, unknown>>(`thread-state:${thread}`);
  if (current === null) throw new Error(`thread-state:${thread} missing`);
  await s.set(`thread-state:${thread}`, { ...current, turn: n }, TTL);
  await s.appendToList(`msg-history:${thread}`, historyItem(thread, 1_000 + n), { maxLength: 100, ttlMs: TTL });
  await s.appendToList(`msg-history:${channelOf(thread)}`, historyItem(thread, 1_000 + n), { maxLength: 100, ttlMs: TTL });
  await s.releaseLock(lock);
}

/** A case of chat messages: the per-call figures, and how many dedupe keys changed object. */
export interface MessageCase extends CallFigures {
  /** Share of the messages whose dedupe key's home in `layout` is not `base` (its previous home). */
  dedupeMoved: number;
}

/** One message on each of `threads`, one caller; counters over all, times per message. */
async function sampleMessages(env: Env, objects: string[], c: Counted, threads: string[], tag: string, layout: Layout, base: string): Promise<MessageCase> {
  const dedupeKeys = threads.map((_, k) => `dedupe:slack:${tag}-${k}`);
  const dedupeMoved = dedupeKeys.filter((key) => layout.locate(key, "key", "key").object !== base).length;
  const figures = await sampleCalls(env, objects, c, threads, (t, k) => chatMessage(c, t, dedupeKeys[k]!));
  return { ...figures, dedupeMoved: dedupeMoved / threads.length };
}

export interface MessageFigures {
  threads: number;
  preloadMs: number;
  drainMs: number;
  /** Before the new layout is deployed: the old layout (one object), no migration. */
  baseline: MessageCase;
  /** During the migration, the first message on a thread whose unit is still at its previous home. */
  firstTouch: MessageCase;
  /** During the migration, a second message on the same threads (their units have moved). */
  again: MessageCase;
  /** After the drain, a first message on threads the drain moved. */
  after: MessageCase;
}

/**
 * One chat message per thread before, during and after a 1 → 4 layout change (the previous
 * home's alarm held while sampling during the migration, as in `reshardCalls`). `threads` threads
 * as in the other runs, plus each of the 50 channels' history filled to 100 items and appended to
 * once through the adapter. Before sampling the migration, every channel's history is read once
 * through the new layout (a channel's history moves with the first message on any of its threads)
 * and each new object pulls one unit, so the figures are a thread's own first touch.
 */
export async function reshardMessage(env: Env, tag: string, threads: number, samples: number): Promise<MessageFigures> {
  const t0 = Date.now();
  const { base, layout, objects } = await preparedChange(env, `reshard-msg-${tag}`, threads);
  await env.OURS.getByName(base).benchPreloadChannels(RESHARD_CHANNELS, 100);
  const preloadMs = Date.now() - t0;
  const movers = moving(layout, base, range(0, threads));
  if (movers.length < 3 * samples + 8) throw new Error(`only ${movers.length} of ${threads} threads move; need ${3 * samples + 8}`);
  const [a, b, c] = [0, 1, 2].map((k) => movers.slice(k * samples, (k + 1) * samples).map(reshardThread)) as [string[], string[], string[]];

  // The old layout, nothing changing.
  const counter: RpcCounter = { rpc: 0 };
  const old: Counted = {
    state: createCloudflareState({ namespace: countingNamespace(env.OURS, counter, new Map()) as never, name: base }),
    counter,
    warnings: () => 0,
  };
  await old.state.connect();
  for (const channel of RESHARD_CHANNELS) {
    await old.state.appendToList(`msg-history:${channel}`, historyItem(channel, 100), { maxLength: 100, ttlMs: TTL });
  }
  const baseline = await sampleMessages(env, objects, old, a, `${base}-baseline`, layout, base);

  for (const name of objects) await env.OURS.getByName(name).benchPauseAlarm(true);
  const grown = newLayoutAdapter(env, base);
  await grown.state.connect();
  let paused = true;
  try {
    const warm = new Set<string>();
    for (const i of movers.slice(-8)) {
      const home = layout.locate(reshardThread(i), "thread", "threadId").object;
      if (warm.has(home)) continue;
      warm.add(home);
      await grown.state.isSubscribed(reshardThread(i));
    }
    for (const channel of RESHARD_CHANNELS) await grown.state.getList(`msg-history:${channel}`);
    const firstTouch = await sampleMessages(env, objects, grown, b, `${base}-first`, layout, base);
    const again = await sampleMessages(env, objects, grown, b, `${base}-again`, layout, base);
    for (const name of objects) await env.OURS.getByName(name).benchPauseAlarm(false);
    paused = false;
    const { ms: drainMs } = await drain(grown);
    const after = await sampleMessages(env, objects, grown, c, `${base}-after`, layout, base);
    return { threads, preloadMs, drainMs, baseline, firstTouch, again, after };
  } finally {
    if (paused) for (const name of objects) await env.OURS.getByName(name).benchPauseAlarm(false);
  }
}
