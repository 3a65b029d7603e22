// The Durable Object class users re-export from their Worker. Each RPC method forwards to the Rust
// core (`StateCore`), which validates arguments, runs the SQL and keeps the alarm schedule;
// nothing here decides anything. Values arrive and leave as JSON text: the adapter serialises on
// the caller's side, so the object never parses a value. Optional trailing arguments (a lock
// token or request id, and whether this attempt is a retry) make a call retry-safe; callers that
// omit them (0.1.x, direct RPC) get the old behaviour.
//
// The last argument of every data method, `via`, says how the adapter routed the call (see
// ./handoff.ts): during a layout change the core may answer that the key lives elsewhere now
// (`{ movedTo }`, which the adapter follows), or first pull the key's rows from its previous home.
// Callers that send no `via` (0.1.x Workers during an upgrade) cannot follow, so their calls are
// served on the key's new home by this object instead.
//
// The core is synchronous (src/platform/workerd/mod.rs says why); what this shell awaits for it is `setAlarm`
// (after a write the core may ask for the alarm to move, and the reply then waits for it, so no
// deadline is left without an alarm), a held dequeue (./held-dequeues.ts) and other objects.
// Most calls need none of these and complete synchronously, with no extra turn.
import { DurableObject } from "cloudflare:workers";
import { HandoffShell, type DrainStep, type ImportResult, type Sealed } from "./handoff.js";
import { HeldDequeues } from "./held-dequeues.js";
import { DATA_METHODS, type Answer, type DataMethod, type DataMethodName, type DataSignature, type ObjectStub } from "../shared/methods.js";
import type { Via } from "../shared/via.js";
import { StateCore, type Inspection, type Lock, type Migration } from "../shared/wasm.js";

/** How soon the alarm tries a failed drain step again. */
const DRAIN_RETRY_MS = 10_000;

export class ChatStateDO extends DurableObject<unknown> {
  #core!: StateCore;
  readonly #held = new HeldDequeues();
  readonly #handoff: HandoffShell;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.#handoff = new HandoffShell(() => this.#core, ctx, new.target.name, (key) => this.#held.written(key));
    // No request is delivered until the schema is current and the armed alarm time is known.
    void ctx.blockConcurrencyWhile(async () => {
      this.#core = StateCore.open(ctx, await ctx.storage.getAlarm());
      await this.#settle(undefined);
    });
  }

  /** Arms the alarm if the last operation asked for it, then yields `value`. */
  #settle<T>(value: T): T | Promise<T> {
    const at = this.#core.takeAlarmRequest();
    if (at === undefined) return value;
    return this.ctx.storage.setAlarm(at).then(
      () => value,
      (error: unknown) => {
        this.#core.alarmRequestFailed();
        throw error;
      },
    );
  }

  /** Serves a call on a thread-scoped key (`threadScoped`) or a cache/list key where admitted. */
  #on<T>(method: string, key: string, threadScoped: boolean, args: unknown[], via: Via | undefined, run: () => T | Promise<T>): Answer<T> {
    return this.#handoff.serve(key, threadScoped, via, run, (peer: ObjectStub, forward) => {
      // The positional arguments up to `via`, then `via`.
      const arity = DATA_METHODS[method as DataMethodName].args.length;
      const padded = [...args, ...Array(Math.max(0, arity - args.length)).fill(undefined)];
      return peer[method]!(...padded, forward);
    });
  }

  /** Settles a write's alarm request, after the write has run (wherever it was served). */
  #write<T>(method: string, key: string, threadScoped: boolean, args: unknown[], via: Via | undefined, run: () => T): Answer<T> {
    return this.#on(method, key, threadScoped, args, via, () => {
      const value = run();
      this.#held.written(key);
      return this.#settle(value);
    });
  }

  // The data methods the table (ts/shared/methods.ts) says are served by forwarding (`"call"`,
  // `"write"`) are defined here, on the prototype, as a class method would be (workerd's RPC
  // serves methods of the prototype chain); the others (`"own"`) are written out below.
  static {
    for (const [name, method] of Object.entries(DATA_METHODS) as [DataMethodName, DataMethod][]) {
      if (method.serve === "own") continue;
      const arity = method.args.length;
      const threadScoped = method.route === "thread";
      const forward = function (this: ChatStateDO, ...received: unknown[]): Answer<unknown> {
        const args = Array.from({ length: arity }, (_, i) => received[i]);
        const via = received[arity] as Via | undefined;
        const run = () => {
          // The core reads the arguments itself, by position (src/base/args.rs).
          const value = (this.#core[name as keyof StateCore] as (a: unknown[]) => unknown)(args);
          return method.orNull ? (value ?? null) : value;
        };
        const serve = method.serve === "write" ? this.#write : this.#on;
        return serve.call(this, name, args[0] as string, threadScoped, args, via, run);
      };
      Object.defineProperty(ChatStateDO.prototype, name, { value: forward, writable: true, configurable: true });
    }
  }

  /**
   * `token`: the caller's (a `retry` that finds it holding the lock gets the lock back).
   * `patienceMs`: how long the caller may take between its calls (its retry budget): a refused
   * acquire is expected to enqueue within it (src/guarantees/tenure/).
   */
  acquireLock(threadId: string, ttlMs: number, token?: string, retry?: boolean, patienceMs?: number, via?: Via): Answer<Lock | null> {
    const args = [threadId, ttlMs, token, retry, patienceMs];
    return this.#on("acquireLock", threadId, true, args, via, () => {
      const answer = this.#core.acquireLock(args) as Lock | null | number;
      if (typeof answer !== "number") {
        this.#held.written(threadId);
        return this.#settle(answer);
      }
      // Held until the holder's next call settles it (src/guarantees/tenure/, "Unknown is not final").
      const ask = (): Lock | null | number => {
        const admission = this.#core.admit(threadId, true, via?.from, via?.migration?.id, via?.self);
        if (admission !== undefined) throw new MovedWhileHeld();
        return this.#core.acquireLock(args) as Lock | null | number;
      };
      return this.#held.hold(threadId, answer, ask).then(
        (lock) => {
          this.#held.written(threadId);
          return this.#settle(lock);
        },
        (error: unknown) => {
          if (error instanceof MovedWhileHeld) return this.acquireLock(threadId, ttlMs, token, retry, patienceMs, via) as Promise<Lock | null>;
          throw error;
        },
      );
    });
  }

  /**
   * The oldest live entry's JSON text, or null. A retry (same `requestId`) gets the same entry.
   * `holder`: the caller's lock token on `threadId`. A holder's final dequeue may be held while
   * a refused newcomer's entry is on its way (src/guarantees/tenure/).
   */
  dequeue(threadId: string, requestId?: string, retry?: boolean, holder?: string, via?: Via): Answer<string | null> {
    const args = [threadId, requestId, retry, holder];
    return this.#on("dequeue", threadId, true, args, via, () => {
      const ask = (): string | null | number => {
        // A held dequeue asks again under admission too: its key may have moved meanwhile.
        const admission = this.#core.admit(threadId, true, via?.from, via?.migration?.id, via?.self);
        if (admission !== undefined) throw new MovedWhileHeld();
        return this.#core.dequeue(args) as string | null | number;
      };
      const answer = this.#core.dequeue(args) as string | null | number;
      // A holder's dequeue settles a held acquire (its previous dequeue was not final).
      this.#held.written(threadId);
      if (typeof answer !== "number") return this.#settle(answer);
      return this.#held.hold(threadId, answer, ask).then(
        (entry) => this.#settle(entry),
        (error: unknown) => {
          if (error instanceof MovedWhileHeld) return this.dequeue(threadId, requestId, retry, holder, via) as Promise<string | null>;
          throw error;
        },
      );
    });
  }

  /** `caller`: the token the adapter knows this call's flow by (a refused newcomer's). */
  queueDepth(threadId: string, caller?: string, via?: Via): Answer<number> {
    const args = [threadId, caller];
    return this.#on("queueDepth", threadId, true, args, via, () => {
      const depth = this.#core.queueDepth(args);
      this.#held.written(threadId);
      return depth;
    });
  }

  // ---- the RPC methods of chat-state-cloudflare-do 0.1.x, for its Workers during an upgrade --

  /** 0.1.x's `get`. */
  cacheGet(key: string): Answer<string | null> {
    return this.get(key);
  }

  /** 0.1.x's `set` (it sends JSON text too). */
  cacheSet(key: string, json: string, ttlMs?: number): Answer<void> {
    return this.set(key, json, ttlMs);
  }

  /** 0.1.x's `delete`. */
  cacheDelete(key: string): Answer<void> {
    return this.delete(key);
  }

  // ---- re-sharding: what objects call on each other (./handoff.ts) ---------------------------

  /**
   * A new home asks for a unit: it is sealed for it and its rows answered — with `pageBytes`, the
   * part from `from` that fits (src/sharding/pages.rs; older new homes send neither).
   */
  handOver(routingKey: string, destination: string, migration: Migration, selfName: string, sealId: string, from?: string, pageBytes?: number) {
    const hand = () => this.#settle(this.#handoff.handOver(routingKey, destination, migration, selfName, sealId, from, pageBytes));
    const earlier = this.#handoff.retireEarlier(migration.id);
    return earlier ? earlier.then(hand) : hand();
  }

  /**
   * A previous home sends units it sealed (draining): each imported once, in its own
   * transaction. A unit refused (this object holds rows of it already) is answered with the
   * reason; the others are imported all the same.
   */
  handoffImport(source: string, migrationId: string, units: Sealed[]): ImportResult[] | Promise<ImportResult[]> {
    const earlier = this.#handoff.retireEarlier(migrationId);
    if (earlier) return earlier.then(() => this.handoffImport(source, migrationId, units));
    const results = units.map(({ unit, sealId, page }): ImportResult => {
      try {
        if (page && unit === undefined) {
          const at = this.#core.importPage(source, migrationId, page.unit, sealId, page.from ?? "", page.next, page.shape);
          return typeof at === "string" ? { expect: at } : at;
        }
        return this.#core.importUnit(source, migrationId, unit as unknown[], sealId);
      } catch (error) {
        return { refused: error instanceof Error ? error.message : String(error) };
      }
    });
    return this.#settle(results);
  }

  /** Whether each unit sealed with its `sealId` was imported here. */
  handoffHasImport(units: { routingKey: string; sealId: string }[]): boolean[] {
    return units.map(({ routingKey, sealId }) => this.#core.hasImport(routingKey, sealId));
  }

  /** A previous home retired a drained migration: what this object knew of it goes. */
  handoffSourceRetired(source: string, migrationId: string): void {
    this.#core.sourceRetired(source, migrationId);
  }

  /** A previous home has drained: its records here go (answers how many are left). */
  handoffSourceDrained(source: string, migrationId: string): number {
    return this.#core.sourceHasDrained(source, migrationId);
  }

  /**
   * One drain step, asked by the adapter (`drainMigration()`): this object becomes the previous
   * home of `migration` if it is not yet, moves the units it is given destinations for and a
   * batch of those it can place itself. Answers whether it has drained and the routing keys that
   * still need a destination.
   */
  async handoffDrain(
    migration: Migration,
    selfName: string,
    assignments?: { routingKey: string; destination: string }[],
  ): Promise<DrainStep> {
    // A Worker one change behind drains a change that is over here: nothing to do.
    if (this.#core.isBehind(migration.id)) return { drained: true, pending: [] };
    await this.#handoff.retireEarlier(migration.id);
    this.#core.beginOutgoing(migration, selfName);
    await this.#settle(undefined);
    const step = await this.#handoff.drain(assignments ?? []);
    await this.#settle(undefined);
    return step;
  }

  /** Read-only counts of what this object holds. */
  inspect(): Inspection {
    return this.#core.inspect();
  }

  /**
   * SQLite rows read and written by this instance since it started (billing counters), and the
   * SQL statements it ran.
   */
  rowCounts(): { rowsRead: number; rowsWritten: number; statements: number } {
    const [rowsRead = 0, rowsWritten = 0, statements = 0] = this.#core.rowCounts();
    return { rowsRead, rowsWritten, statements };
  }

  /**
   * Moves a batch of units of a layout change this object is a previous home of (when it can
   * compute their new homes), then sweeps expired rows in bounded batches (one transaction each),
   * letting waiting requests run between batches, then arms the next alarm. A drain step that
   * fails (a new home unreachable) never keeps the sweep from running: it is tried again later.
   */
  async alarm(): Promise<void> {
    const startedAt = Date.now();
    this.#core.beginSweep();
    if (this.#core.outgoing()?.migration.layout) {
      try {
        await this.#handoff.drain();
      } catch (error) {
        console.warn("chat-state-cloudflare-do: re-sharding: a drain step failed; it is tried again later", error);
        this.#core.requestAlarmBy(Date.now() + DRAIN_RETRY_MS);
      }
    }
    this.#core.expireMarkers();
    let more = false;
    for (let batch = 0; batch < StateCore.sweepMaxBatches(); batch++) {
      if (batch > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      more = this.#core.sweepBatch(startedAt);
      if (!more) break;
    }
    this.#core.finishSweep(more);
    await this.#settle(undefined);
  }
}

/** The data methods the static block defines from the table (ts/shared/methods.ts). */
type Forwarded = {
  [M in DataMethodName as (typeof DATA_METHODS)[M]["serve"] extends "own" ? never : M]: DataSignature<M>;
};

// Merged into the class: its forwarded methods, typed.
export interface ChatStateDO extends Forwarded {}

/** A held dequeue's key moved to another object: the call is answered from there. */
class MovedWhileHeld extends Error {}
