// The bench Worker: runs inside workerd (wrangler dev), the runtime production uses. It exports
// our Durable Object, a no-op Durable Object (the ceiling: one RPC that does nothing), and the
// peers' Durable Object classes (subclassed only to add row counters and bench-only preload
// methods), and answers POST /cell with the figures of one measured cell. bench/run.mjs drives it.
import { DurableObject } from "cloudflare:workers";
import { createMemoryState } from "@chat-adapter/state-memory";
import type { StateAdapter } from "chat";
import { Agent } from "agents";
import { ChatSdkStateAgent, createChatSdkState } from "agents/chat-sdk";
import {
  ChatStateDO as SeedChatStateDO,
  createCloudflareState as createSeedState,
} from "seed-chat-state-do";
import { ChatStateDO, createCloudflareState } from "../ts/index.js";
import wasmModule from "../pkg/chat_state_bg.wasm";
import {
  countingNamespace,
  countingStub,
  tallySql,
  tallyTransactions,
  type ObjectRef,
  type RowCounts,
  type RpcCounter,
} from "./counting.js";
import { measureInObject, type CpuOp } from "./in-object.js";
import { FaultyNamespace, randomFaults, type FaultCounts } from "../test/support/faulty-namespace.js";
import { seededRandom } from "../test/support/random.js";
import { runCell, runInterleaved, type CellResult, type CellSpec, type Op } from "./scenarios.js";
import { census, preloadChannels, preloadThreads, reshardCalls, reshardDrain, reshardMessage, unitRows, type Census } from "./resharding.js";
import { queueCosts } from "./queue.js";
import { adapterTimes } from "./split.js";

export interface Env {
  OURS: DurableObjectNamespace<BenchChatStateDO>;
  SWEEP: DurableObjectNamespace<SweepChatStateDO>;
  NOOP: DurableObjectNamespace<NoopDO>;
  SEED: DurableObjectNamespace<SeedStateDO>;
  AGENTS: DurableObjectNamespace<AgentsParent>;
}

export type Impl = "ours" | "seed" | "agents" | "memory" | "noop";

export interface CellFigures extends CellResult {
  rpc: number;
  rowsRead: number;
  rowsWritten: number;
}

// ---- our Durable Object ------------------------------------------------------------------------

/**
 * Inserts `count` cache rows numbered from `offset` in one statement (a recursive CTE), keyed
 * `<prefix><i>`; deadlines are `deadline + i` (or `deadline + i % 1000` with `spread: 1000`).
 * Each implementation's preload differs only in its table, prefix and deadlines.
 */
function preloadCacheRows(
  sql: SqlStorage,
  table: string,
  prefix: string,
  deadline: number,
  count: number,
  offset: number,
  spread?: number,
): number {
  sql.exec(
    `WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
     INSERT INTO ${table} (key, value, expires_at)
     SELECT ?4 || i, 'true', ?3 + ${spread ? `(i % ${spread})` : "i"} FROM s`,
    offset,
    offset + count - 1,
    deadline,
    prefix,
  );
  return count;
}

/**
 * Every instance of ours this isolate created, by object id. Local workerd sometimes replaces an
 * object's instance between two calls (seen right after a re-sharding drain), and an instance's
 * counters start at zero: the re-sharding figures sum them over all of an object's instances.
 */
const instances = new Map<string, BenchChatStateDO[]>();
/** Objects (by id) whose alarm waits before it runs (see `benchPauseAlarm`). */
const pausedAlarms = new Set<string>();

/**
 * Ours, unchanged, plus bench-only methods: SQL to preload rows for the scale runs, and for the
 * re-sharding runs (resharding.ts) a thread preload, counters of the re-sharding RPCs objects
 * receive from each other and of alarm invocations, a pause for the alarm, and a census of rows.
 */
export class BenchChatStateDO extends ChatStateDO {
  #peerCalls = 0;
  #alarms = 0;
  #inspectRowsRead = 0;
  /** Dequeues answered later than their call (a promise), by key, while pending (queue.ts). */
  #pendingDequeues = new Map<string, number>();
  #enqueuesWhileDequeuePending = 0;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    const id = ctx.id.toString();
    instances.set(id, [...(instances.get(id) ?? []), this]);
  }

  /** Bench-only: time inside the object per call (see in-object.ts). */
  async benchInObject(only?: CpuOp[], reps?: number) {
    return await measureInObject(this, "ours", only, reps);
  }

  /** Inserts `count` cache rows with a future TTL (dedupe-like keys), in one statement. */
  benchPreload(count: number, offset: number): number {
    return preloadCacheRows(this.ctx.storage.sql, "cache", "preload:", Date.now() + 3_600_000, count, offset);
  }

  // ---- re-sharding (resharding.ts) ----

  /** Writes threads `from..from+count` as the adapter would, through this object's own methods. */
  async benchPreloadThreads(from: number, count: number): Promise<number> {
    return await preloadThreads(this, from, count);
  }

  /** Fills each channel's history to `items` items through this object's own methods. */
  async benchPreloadChannels(channels: string[], items: number): Promise<number> {
    return await preloadChannels(this, channels, items);
  }

  /** Every row of one thread's unit, all columns (the preload check compares them). */
  benchUnitRows(thread: string): Record<string, unknown[]> {
    return unitRows(this.ctx.storage.sql, thread);
  }

  /** Which keys this object holds, table by table (the final check places every thread). */
  benchCensus(): Census {
    return census(this.ctx.storage.sql);
  }

  /** When this object, as a previous home, recorded its migration drained (bench-only SQL). */
  benchDrainedAt(): number | null {
    const row = this.ctx.storage.sql.exec<{ at: number | null }>("SELECT drained_at AS at FROM handoff_out").toArray()[0];
    return row?.at ?? null;
  }

  /**
   * Rows read and written, re-sharding RPCs received from other objects and alarm invocations,
   * summed over every instance this object has had in this isolate.
   */
  benchTotals(): {
    rowsRead: number;
    rowsWritten: number;
    peerCalls: number;
    alarms: number;
    inspectRowsRead: number;
    instances: number;
    enqueuesWhileDequeuePending: number;
  } {
    const all = instances.get(this.ctx.id.toString()) ?? [this];
    const t = { rowsRead: 0, rowsWritten: 0, peerCalls: 0, alarms: 0, inspectRowsRead: 0, instances: all.length, enqueuesWhileDequeuePending: 0 };
    for (const instance of all) {
      const rows = instance.#rowCountsOrZero();
      t.rowsRead += rows.rowsRead;
      t.rowsWritten += rows.rowsWritten;
      t.peerCalls += instance.#peerCalls;
      t.alarms += instance.#alarms;
      t.inspectRowsRead += instance.#inspectRowsRead;
      t.enqueuesWhileDequeuePending += instance.#enqueuesWhileDequeuePending;
    }
    return t;
  }

  #rowCountsOrZero(): RowCounts {
    try {
      return this.rowCounts();
    } catch {
      return { rowsRead: 0, rowsWritten: 0 }; // its constructor has not finished
    }
  }

  /**
   * While paused, an alarm invocation waits before it runs (it then runs in full): the per-call
   * figures are taken with the background drain paused, so the rows counted are the call's own.
   */
  benchPauseAlarm(paused: boolean): void {
    if (paused) pausedAlarms.add(this.ctx.id.toString());
    else pausedAlarms.delete(this.ctx.id.toString());
  }

  override async alarm(): Promise<void> {
    this.#alarms++;
    while (pausedAlarms.has(this.ctx.id.toString())) await new Promise((resolve) => setTimeout(resolve, 5));
    await super.alarm();
  }

  /** Counts the rows `inspect()` reads (drainMigration() calls it after every step). */
  override inspect() {
    const before = this.#rowCountsOrZero().rowsRead;
    const inspection = super.inspect();
    this.#inspectRowsRead += this.#rowCountsOrZero().rowsRead - before;
    return inspection;
  }

  /**
   * Notes a dequeue whose answer comes later (the object holds a lock holder's final dequeue
   * while a refused newcomer's entry is on its way: src/guarantees/tenure/), so an enqueue that arrives
   * meanwhile is counted (queue.ts). The answer itself is passed on unchanged.
   */
  override dequeue(...args: Parameters<ChatStateDO["dequeue"]>): ReturnType<ChatStateDO["dequeue"]> {
    const answer = super.dequeue(...args);
    if (!(answer instanceof Promise)) return answer;
    const key = args[0];
    this.#pendingDequeues.set(key, (this.#pendingDequeues.get(key) ?? 0) + 1);
    return answer.finally(() => {
      const left = (this.#pendingDequeues.get(key) ?? 1) - 1;
      if (left > 0) this.#pendingDequeues.set(key, left);
      else this.#pendingDequeues.delete(key);
    });
  }

  override enqueue(...args: Parameters<ChatStateDO["enqueue"]>): ReturnType<ChatStateDO["enqueue"]> {
    if ((this.#pendingDequeues.get(args[0]) ?? 0) > 0) this.#enqueuesWhileDequeuePending++;
    return super.enqueue(...args);
  }

  override handOver(...args: Parameters<ChatStateDO["handOver"]>) {
    this.#peerCalls++;
    return super.handOver(...args);
  }

  override handoffImport(...args: Parameters<ChatStateDO["handoffImport"]>) {
    this.#peerCalls++;
    return super.handoffImport(...args);
  }

  override handoffHasImport(...args: Parameters<ChatStateDO["handoffHasImport"]>) {
    this.#peerCalls++;
    return super.handoffHasImport(...args);
  }

  override handoffSourceDrained(...args: Parameters<ChatStateDO["handoffSourceDrained"]>) {
    this.#peerCalls++;
    return super.handoffSourceDrained(...args);
  }
}

/** Ours for the sweep run: also counts transactions (the sweep runs one per batch). */
export class SweepChatStateDO extends ChatStateDO {
  #transactions: () => number;
  #alarms = 0;

  /** Counts invocations, whether the bench or the runtime (the re-armed alarm) calls it. */
  override async alarm(): Promise<void> {
    this.#alarms++;
    await super.alarm();
  }

  constructor(ctx: DurableObjectState, env: unknown) {
    const transactions = tallyTransactions(ctx);
    super(ctx, env);
    this.#transactions = transactions;
  }

  /** Inserts `count` already-expired cache rows. */
  benchPreloadExpired(count: number, offset: number): number {
    return preloadCacheRows(this.ctx.storage.sql, "cache", "expired:", Date.now() - 3_600_000, count, offset, 1000);
  }

  /** Runs the alarm handler until no expired row is left; reports what it took. */
  async benchSweep(): Promise<{ ms: number; invocations: number; batches: number; rows: number }> {
    const batchesBefore = this.#transactions();
    const alarmsBefore = this.#alarms;
    const started = performance.now();
    let calls = 0;
    const expired = () =>
      this.ctx.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM cache WHERE expires_at <= ?", Date.now())
        .one().n;
    const before = expired();
    while (expired() > 0 && calls < 1000) {
      await this.alarm();
      calls++;
    }
    return {
      ms: performance.now() - started,
      invocations: this.#alarms - alarmsBefore,
      batches: this.#transactions() - batchesBefore,
      rows: before - expired(),
    };
  }
}

// ---- the ceiling -------------------------------------------------------------------------------

/**
 * The ceilings. `noop`: one RPC that does nothing, what any Durable Object call costs at least.
 * `write1`: one RPC that upserts one row of a WITHOUT ROWID table (1 row written), what any
 * call that must wait for a durable SQLite commit costs at least.
 */
export class NoopDO extends DurableObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID");
  }

  noop(): void {}

  write1(key: string, value: number): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO t (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
      key,
      value,
    );
  }

  rowCounts(): RowCounts {
    return { rowsRead: 0, rowsWritten: 0 };
  }
}

// ---- peer: chat-state-cloudflare-do 0.1.1 from npm ---------------------------------------------

export class SeedStateDO extends SeedChatStateDO {
  #rows: () => RowCounts;

  constructor(ctx: DurableObjectState, env: unknown) {
    const rows = tallySql(ctx);
    super(ctx, env);
    this.#rows = rows;
  }

  rowCounts(): RowCounts {
    return this.#rows();
  }

  async benchInObject() {
    return await measureInObject(this, "seed");
  }

  /** The seed's alarm on `count` expired cache rows: one DELETE, however many rows. */
  async benchSweep(count: number): Promise<{ ms: number; rows: number }> {
    const past = Date.now() - 3_600_000;
    for (let offset = 0; offset < count; offset += 50_000) {
      this.ctx.storage.sql.exec(
        `WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
         INSERT INTO cache (key, value, expires_at) SELECT 'expired:' || i, 'true', ?3 FROM s`,
        offset,
        Math.min(offset + 50_000, count) - 1,
        past,
      );
    }
    const expired = () =>
      this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM cache WHERE expires_at <= ?", Date.now()).one().n;
    const before = expired();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const started = performance.now();
    await this.alarm();
    const ms = performance.now() - started;
    return { ms, rows: before - expired() };
  }

  benchPreload(count: number, offset: number): number {
    return preloadCacheRows(this.ctx.storage.sql, "cache", "preload:", Date.now() + 3_600_000, count, offset);
  }
}

// ---- peer: Cloudflare's agents/chat-sdk --------------------------------------------------------

/** The state sub-agent (a facet of the parent), with row counters. */
export class BenchStateAgent extends ChatSdkStateAgent {
  #rows: () => RowCounts;

  constructor(ctx: DurableObjectState, env: unknown) {
    const rows = tallySql(ctx);
    super(ctx, env as never);
    this.#rows = rows;
  }

  rowCounts(): RowCounts {
    return this.#rows();
  }

  async benchInObject() {
    return await measureInObject(this, "agents");
  }

  benchPreload(count: number, offset: number): number {
    return preloadCacheRows(this.ctx.storage.sql, "chat_sdk_state_cache", "preload:", Date.now() + 3_600_000, count, offset);
  }
}

/**
 * The parent Agent the agents adapter must live in (it reaches its state shards as facets of
 * this object). Cells for the agents adapter run here, as a bot using it runs.
 */
export class AgentsParent extends Agent<Env> {
  #rows: () => RowCounts;
  #counter: RpcCounter = { rpc: 0 };
  #facets = new Map<string, () => { rowCounts(): Promise<RowCounts> }>();

  constructor(ctx: DurableObjectState, env: Env) {
    const rows = tallySql(ctx);
    // Count every call on a facet stub (the adapter's handshake and its method call).
    const facets = ctx.facets;
    const get = facets.get.bind(facets);
    const counter: RpcCounter = { rpc: 0 };
    const seen = new Map<string, () => { rowCounts(): Promise<RowCounts> }>();
    (facets as { get: unknown }).get = (name: string, options: never) => {
      const stub = get(name, options);
      seen.set(name, () => stub as never);
      return countingStub(stub, counter);
    };
    super(ctx, env);
    this.#rows = rows;
    this.#counter = counter;
    this.#facets = seen;
  }

  async runCell(spec: CellSpec): Promise<CellFigures> {
    const state = createChatSdkState({ parent: this as never, agent: BenchStateAgent as never });
    await state.connect();
    return await measured(state, spec, this.#counter, async () => {
      // Facets first: reading them must not count as the parent's rows.
      let total = { rowsRead: 0, rowsWritten: 0 };
      for (const facet of this.#facets.values()) total = add(total, await facet().rowCounts());
      return add(total, this.#rows());
    });
  }

  async inObject(): Promise<unknown> {
    const facet = await this.subAgent(BenchStateAgent, "cpu");
    return await facet.benchInObject();
  }

  async preload(shard: string, count: number, offset: number): Promise<number> {
    const facet = await this.subAgent(BenchStateAgent, shard);
    return await facet.benchPreload(count, offset);
  }
}

// ---- running a cell ----------------------------------------------------------------------------

function add(a: RowCounts, b: RowCounts): RowCounts {
  return { rowsRead: a.rowsRead + b.rowsRead, rowsWritten: a.rowsWritten + b.rowsWritten };
}

async function measured(
  state: StateAdapter,
  spec: CellSpec,
  counter: RpcCounter,
  rows: () => Promise<RowCounts>,
): Promise<CellFigures> {
  let rpc = 0;
  let delta: RowCounts = { rowsRead: 0, rowsWritten: 0 };
  const result = await runCell(state, spec, async (timed) => {
    const rowsBefore = await rows();
    const rpcBefore = counter.rpc;
    await timed();
    rpc = counter.rpc - rpcBefore;
    const rowsAfter = await rows();
    delta = {
      rowsRead: rowsAfter.rowsRead - rowsBefore.rowsRead,
      rowsWritten: rowsAfter.rowsWritten - rowsBefore.rowsWritten,
    };
  });
  return { ...result, rpc, ...delta };
}

async function touchedRows(touched: Map<string, ObjectRef>): Promise<RowCounts> {
  let total = { rowsRead: 0, rowsWritten: 0 };
  for (const ref of touched.values()) total = add(total, await ref().rowCounts());
  return total;
}

/** The no-op ceiling as a "state adapter" with one method, so it runs through the same loop. */
function noopCell(env: Env, counter: RpcCounter, touched: Map<string, ObjectRef>, object: string) {
  const ns = countingNamespace(env.NOOP, counter, touched);
  return async (spec: CellSpec): Promise<CellFigures> => {
    let n = 0;
    const noopState = {
      noop: async () => {
        await ns.getByName(object).noop();
      },
      write1: async () => {
        await ns.getByName(object).write1(`k${n % 16}`, n++);
      },
    } as unknown as StateAdapter;
    return await measured(noopState, spec, counter, () => touchedRows(touched));
  };
}

async function runImpl(env: Env, impl: Impl, spec: CellSpec, object: string): Promise<CellFigures> {
  const counter: RpcCounter = { rpc: 0 };
  const touched = new Map<string, ObjectRef>();
  switch (impl) {
    case "ours": {
      const state = createCloudflareState({
        namespace: countingNamespace(env.OURS, counter, touched) as never,
        name: object,
      });
      await state.connect();
      return await measured(state as unknown as StateAdapter, spec, counter, () => touchedRows(touched));
    }
    case "seed": {
      const state = createSeedState({
        namespace: countingNamespace(env.SEED, counter, touched) as never,
        name: object,
      });
      await state.connect();
      return await measured(state as unknown as StateAdapter, spec, counter, () => touchedRows(touched));
    }
    case "agents":
      return await env.AGENTS.getByName(object).runCell(spec);
    case "memory": {
      const state = createMemoryState();
      await state.connect();
      return await measured(state as unknown as StateAdapter, spec, counter, async () => ({
        rowsRead: 0,
        rowsWritten: 0,
      }));
    }
    case "noop":
      return await noopCell(env, counter, touched, object)(spec);
  }
}

/** What runs interleaved in the Worker: `ours-noretry` is ours with `retry: false`. */
type InterleavedImpl = "noop" | "ours" | "ours-noretry" | "seed";

/**
 * One caller, several implementations alternating unit by unit (see runInterleaved): the
 * ceilings, ours (also with retries off) and the seed, all called from this Worker.
 */
async function runInterleavedImpls(
  env: Env,
  impls: { impl: InterleavedImpl; op: Op; object?: string }[],
  spec: CellSpec,
  defaultObject: string,
): Promise<CellFigures[]> {
  const entries = impls.map(({ impl, op, object = defaultObject }) => {
    const counter: RpcCounter = { rpc: 0 };
    const touched = new Map<string, ObjectRef>();
    let state: StateAdapter;
    if (impl === "ours" || impl === "ours-noretry") {
      state = createCloudflareState({
        namespace: countingNamespace(env.OURS, counter, touched) as never,
        name: object,
        ...(impl === "ours-noretry" ? { retry: false as const } : {}),
      }) as unknown as StateAdapter;
    } else if (impl === "seed") {
      state = createSeedState({
        namespace: countingNamespace(env.SEED, counter, touched) as never,
        name: object,
      }) as unknown as StateAdapter;
    } else {
      const ns = countingNamespace(env.NOOP, counter, touched);
      let n = 0;
      state = {
        noop: async () => {
          await ns.getByName(object).noop();
        },
        write1: async () => {
          await ns.getByName(object).write1(`k${n % 16}`, n++);
        },
      } as unknown as StateAdapter;
    }
    return { state, op, counter, touched };
  });
  for (const { state } of entries) await state.connect?.();
  const before: { rpc: number; rows: RowCounts }[] = [];
  const after: { rpc: number; rows: RowCounts }[] = [];
  const results = await runInterleaved(entries, spec, async (timed) => {
    for (const e of entries) before.push({ rpc: e.counter.rpc, rows: await touchedRows(e.touched) });
    await timed();
    for (const e of entries) after.push({ rpc: e.counter.rpc, rows: await touchedRows(e.touched) });
  });
  return results.map((result, k) => ({
    ...result,
    rpc: after[k]!.rpc - before[k]!.rpc,
    rowsRead: after[k]!.rows.rowsRead - before[k]!.rows.rowsRead,
    rowsWritten: after[k]!.rows.rowsWritten - before[k]!.rows.rowsWritten,
  }));
}

// ---- cost per message under faults ---------------------------------------------------------------

export interface FaultCell extends CellFigures {
  faults: FaultCounts;
  retriesLogged: number;
}

/**
 * One chat message (the "message" op), `units` times in a row on our adapter, its state calls
 * failing at the given rates the way Cloudflare documents (test/support/faulty-namespace.ts:
 * before the object / after it ran, at most twice in a row per call). RPCs are counted outside
 * the fault layer, so they are every attempt made, the failed ones included.
 */
async function runFaultCell(env: Env, spec: CellSpec, object: string, before: number, after: number, seed: number): Promise<FaultCell> {
  const counter: RpcCounter = { rpc: 0 };
  const touched = new Map<string, ObjectRef>();
  const faulty = new FaultyNamespace(env.OURS as never, randomFaults(seededRandom(seed), { before, after }), { maxConsecutive: 2 });
  let retriesLogged = 0;
  const logger = { debug() {}, info() {}, error() {}, warn: () => void retriesLogged++, child: () => logger };
  const state = createCloudflareState({
    namespace: countingNamespace(faulty.namespace, counter, touched) as never,
    name: object,
    logger: logger as never,
  });
  await state.connect();
  const figures = await measured(state as unknown as StateAdapter, spec, counter, () => touchedRows(touched));
  return { ...figures, faults: faulty.counts, retriesLogged };
}

// ---- footprint -----------------------------------------------------------------------------------

/**
 * Instantiates our wasm module afresh (imports stubbed: instantiation runs no import). The
 * runtime clock only moves at I/O, so a timer turn brackets the loop.
 */
async function instantiateMs(): Promise<number> {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const { module, name, kind } of WebAssembly.Module.imports(wasmModule)) {
    imports[module] ??= {};
    imports[module]![name] = kind === "function" ? () => undefined : undefined;
  }
  const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
  const runs = 50;
  await tick();
  const started = performance.now();
  for (let i = 0; i < runs; i++) new WebAssembly.Instance(wasmModule, imports as WebAssembly.Imports);
  await tick();
  return (performance.now() - started) / runs;
}

/** First call on a brand-new object: object creation, constructor (schema) and the call. */
async function firstCallMs(env: Env, impl: "ours" | "seed" | "noop", name: string): Promise<number> {
  const started = performance.now();
  switch (impl) {
    case "ours":
      await env.OURS.getByName(name).isSubscribed("slack:C1:t");
      break;
    case "seed":
      await env.SEED.getByName(name).isSubscribed("slack:C1:t");
      break;
    case "noop":
      await env.NOOP.getByName(name).noop();
      break;
  }
  return performance.now() - started;
}

// ---- HTTP entry ----------------------------------------------------------------------------------

interface Request_ {
  action:
    | "cell"
    | "interleaved"
    | "preload"
    | "sweep"
    | "footprint"
    | "cpu"
    | "split"
    | "faults"
    | "queue"
    | "reshard-drain"
    | "reshard-calls"
    | "reshard-message";
  /** Re-sharding runs: threads stored under the old layout, and calls sampled per case. */
  threads?: number;
  samples?: number;
  before?: number;
  after?: number;
  seed?: number;
  impls?: { impl: InterleavedImpl; op: Op; object?: string }[];
  budgetMs?: number;
  warmup?: number;
  impl?: Impl;
  object?: string;
  spec?: CellSpec;
  count?: number;
  offset?: number;
  only?: CpuOp[];
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (request.method !== "POST") return new Response("chat-state-cloudflare-do bench worker");
    const body = (await request.json()) as Request_;
    try {
      switch (body.action) {
        case "cell":
          return Response.json(await runImpl(env, body.impl!, body.spec!, body.object!));
        case "faults":
          return Response.json(
            await runFaultCell(env, body.spec!, body.object!, body.before ?? 0, body.after ?? 0, body.seed ?? 1),
          );
        case "interleaved":
          return Response.json(await runInterleavedImpls(env, body.impls!, body.spec!, body.object!));
        case "preload": {
          const { impl, object, count, offset } = body as Required<Request_>;
          if (impl === "ours") return Response.json(await env.OURS.getByName(object).benchPreload(count, offset));
          if (impl === "seed") return Response.json(await env.SEED.getByName(object).benchPreload(count, offset));
          if (impl === "agents") {
            // Dedupe keys land on the agents adapter's default shard, thread keys on the thread's.
            const parent = env.AGENTS.getByName(object);
            await parent.preload("default", count, offset);
            return Response.json(await parent.preload("slack:C0123ABCD", count, offset));
          }
          throw new Error(`cannot preload ${impl}`);
        }
        case "sweep": {
          const stub = env.SWEEP.getByName(body.object!);
          for (let offset = 0; offset < body.count!; offset += 50_000) {
            await stub.benchPreloadExpired(Math.min(50_000, body.count! - offset), offset);
          }
          const ours = await stub.benchSweep();
          const seed = await env.SEED.getByName(body.object!).benchSweep(body.count!);
          return Response.json({ ...ours, seed });
        }
        case "cpu": {
          const name = `cpu-${Date.now()}`;
          if (body.only) return Response.json(await env.OURS.getByName(name).benchInObject(body.only, 15));
          return Response.json({
            ours: await env.OURS.getByName(name).benchInObject(),
            seed: await env.SEED.getByName(name).benchInObject(),
            agents: await env.AGENTS.getByName(name).inObject(),
          });
        }
        case "reshard-drain":
          return Response.json(await reshardDrain(env, body.object!, body.threads!, body.samples!));
        case "reshard-calls":
          return Response.json(await reshardCalls(env, body.object!, body.threads!, body.samples!));
        case "reshard-message":
          return Response.json(await reshardMessage(env, body.object!, body.threads!, body.samples!));
        case "queue":
          return Response.json(await queueCosts(env, body.object!, body.object!, body.budgetMs!, body.warmup ?? 2));
        case "split":
          return Response.json(await adapterTimes(env.OURS as never, env.SEED as never));
        case "footprint": {
          const tag = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
          const first: Record<string, number[]> = { ours: [], seed: [], noop: [] };
          for (let i = 0; i < 5; i++) {
            for (const impl of ["noop", "ours", "seed"] as const) {
              first[impl]!.push(await firstCallMs(env, impl, `cold-${tag}-${i}`));
            }
          }
          return Response.json({ instantiateMs: await instantiateMs(), firstCallMs: first });
        }
      }
    } catch (error) {
      const e = error as Error;
      return Response.json({ error: `${e.name}: ${e.message}`, stack: e.stack }, { status: 500 });
    }
    return Response.json({ error: "unknown action" }, { status: 400 });
  },
} satisfies ExportedHandler<Env>;
