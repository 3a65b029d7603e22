// The Chat SDK `StateAdapter`: each chat call becomes one RPC call on the Durable Object the Rust
// router picks (retried on a transient fault, see ./retry.ts). Values are serialised here, on the
// caller's side, so a value that cannot be stored as JSON is rejected before any request is made
// (and billed). Lock tokens and request ids are drawn here too, before the first attempt, so a
// retry carries the same ones and the object can answer it once (src/guarantees/idempotency.rs).
import { ConsoleLogger, type Lock, type Logger, type QueueEntry, type StateAdapter } from "chat";
import { newLockToken, newRequestId } from "../shared/ids.js";
import { LockTracker } from "./lock-tracker.js";
import { DATA_METHODS, type DataMethodName, type ObjectStub } from "../shared/methods.js";
import { isMoved, type Via } from "../shared/via.js";
import { Layout, type LayoutOptions } from "./layout.js";
import { resolveRetryPolicy, RetrySession, withRetries, type RetryPolicy } from "../shared/retry.js";
import {
  isNamespace,
  migrationBetween,
  refuseIndistinct,
  sameDesc,
  toJson,
  type ChatStateNamespace,
  type CloudflareStateOptions,
  type MigrationStatus,
  type ShardInspection,
} from "./options.js";
import type { Claim, Inspection, Migration } from "../shared/wasm.js";

export type { ChatStateNamespace, CloudflareStateOptions, MigrationStatus, ShardInspection } from "./options.js";

/** The arguments of one attempt (before `via`); `retry` is true from the second attempt on. */
type Args = (retry: boolean) => unknown[];

/** Redirects a call follows before it gives up (a layout change moves a key once). */
const MAX_REDIRECTS = 4;
/** Keys this adapter remembers as moved to an object it could not compute. */
const MOVED_KEYS_MAX = 10_000;


/** The layout calls are routed with, the one it replaces (if any) and their migration. */
interface Routing {
  layout: Layout;
  previous: Layout | undefined;
  migration: Migration | undefined;
}

export class CloudflareDOStateAdapter implements StateAdapter {
  readonly #namespace: ChatStateNamespace;
  readonly #configured: Routing;
  /** A newer layout learned from an object's redirect (this Worker still runs an older one). */
  #adopted: Routing | undefined;
  /** Keys redirected to an object this adapter cannot compute (a `shardKey` layout). */
  readonly #movedKeys = new Map<string, { object: string; from: string; migration: Migration | undefined }>();
  readonly #stubOptions: DurableObjectNamespaceGetDurableObjectOptions | undefined;
  readonly #jurisdiction: string | undefined;
  readonly #logger: Logger;
  readonly #retry: RetryPolicy | null;
  /** How long this adapter may take between two calls of one flow: its retry budget + 1 s. */
  readonly #patienceMs: number;
  readonly #locks = new LockTracker();
  #connected = false;

  constructor(options: CloudflareStateOptions) {
    if (!isNamespace(options?.namespace)) {
      throw new Error(
        "Invalid argument `namespace`: must be the Durable Object namespace bound to ChatStateDO (e.g. env.CHAT_STATE)",
      );
    }
    const layout = new Layout(
      { name: options.name, shards: options.shards, shardKey: options.shardKey, shardKeyName: options.shardKeyName },
      "",
    );
    let previous: Layout | undefined;
    if (options.migrateFrom !== undefined) {
      if (typeof options.migrateFrom !== "object" || options.migrateFrom === null) {
        throw new Error("Invalid argument `migrateFrom`: must be the previous layout { name, shards, shardKey }");
      }
      previous = new Layout(options.migrateFrom, "migrateFrom.");
      if (previous.sameAs(layout)) previous = undefined; // nothing changes
      else refuseIndistinct(previous, layout);
    }
    this.#jurisdiction = options.jurisdiction;
    const migration = previous && migrationBetween(previous, layout, options.jurisdiction);
    this.#configured = { layout, previous, migration };
    this.#namespace = options.jurisdiction
      ? options.namespace.jurisdiction(options.jurisdiction)
      : options.namespace;
    this.#stubOptions = options.locationHint ? { locationHint: options.locationHint } : undefined;
    this.#logger = options.logger ?? new ConsoleLogger("info").child("cloudflare-do");
    this.#retry = resolveRetryPolicy(options.retry);
    this.#patienceMs = (this.#retry?.maxElapsedMs ?? 0) + 1_000;
  }

  async connect(): Promise<void> {
    // Nothing to open: a Durable Object stub is created per call. Connecting only arms the
    // guard that catches use before connect()/after disconnect(), as the official adapters do.
    this.#connected = true;
    this.#logger.debug("connected", { name: this.#configured.layout.name });
  }

  async disconnect(): Promise<void> {
    this.#connected = false;
  }

  // ---- subscriptions ----

  async subscribe(threadId: string): Promise<void> {
    await this.#send("subscribe", threadId, () => [threadId]);
  }

  async unsubscribe(threadId: string): Promise<void> {
    await this.#send("unsubscribe", threadId, () => [threadId]);
  }

  async isSubscribed(threadId: string): Promise<boolean> {
    return await this.#send<boolean>("isSubscribed", threadId, () => [threadId]);
  }

  // ---- locks ----

  async acquireLock(threadId: string, ttlMs: number): Promise<Lock | null> {
    // Our token, not the object's: a retry whose first attempt won finds it and gets the lock back.
    const token = newLockToken();
    const lock = await this.#send<Lock | null>("acquireLock", threadId, (retry) => [
      threadId,
      ttlMs,
      token,
      retry,
      this.#patienceMs,
    ]);
    if (lock) this.#locks.granted(threadId, lock.token, lock.expiresAt);
    else this.#locks.refused(threadId, token, 2 * this.#patienceMs);
    this.#locks.answered(threadId, lock?.token ?? token);
    return lock;
  }

  async releaseLock(lock: Lock): Promise<void> {
    const { threadId, token } = lock ?? ({} as Partial<Lock>);
    try {
      await this.#send("releaseLock", threadId as string, () => [threadId, token], "lock.threadId");
    } finally {
      if (typeof threadId === "string") this.#locks.released(threadId, token);
    }
  }

  async extendLock(lock: Lock, ttlMs: number): Promise<boolean> {
    const { threadId, token } = lock ?? ({} as Partial<Lock>);
    const extended = await this.#send<boolean>(
      "extendLock",
      threadId as string,
      () => [threadId, token, ttlMs],
      "lock.threadId",
    );
    if (extended) this.#locks.extended(threadId as string, token as string, Date.now() + ttlMs);
    return extended;
  }

  async forceReleaseLock(threadId: string): Promise<void> {
    await this.#send("forceReleaseLock", threadId, () => [threadId]);
    this.#locks.released(threadId);
  }

  // ---- cache ----

  async get<T = unknown>(key: string): Promise<T | null> {
    const json = await this.#send<string | null>("get", key, () => [key]);
    return json === null ? null : (JSON.parse(json) as T);
  }

  async set<T = unknown>(key: string, value: T, ttlMs?: number): Promise<void> {
    const json = toJson("value", value);
    await this.#send("set", key, () => [key, json, ttlMs]);
  }

  async setIfNotExists(key: string, value: unknown, ttlMs?: number): Promise<boolean> {
    const json = toJson("value", value);
    const requestId = newRequestId();
    return await this.#send<boolean>("setIfNotExists", key, (retry) => [key, json, ttlMs, requestId, retry]);
  }

  async delete(key: string): Promise<void> {
    await this.#send("delete", key, () => [key]);
  }

  // ---- lists ----

  async appendToList(
    key: string,
    value: unknown,
    options?: { maxLength?: number; ttlMs?: number },
  ): Promise<void> {
    const json = toJson("value", value);
    // Forward only the two known fields: anything else in the object could fail to clone.
    const forwarded =
      options !== null && typeof options === "object"
        ? { maxLength: options.maxLength, ttlMs: options.ttlMs }
        : options;
    const requestId = newRequestId();
    await this.#send("appendToList", key, (retry) => [key, json, forwarded, requestId, retry]);
  }

  async getList<T = unknown>(key: string): Promise<T[]> {
    return JSON.parse(await this.#send<string>("getList", key, () => [key])) as T[];
  }

  // ---- queues ----

  async enqueue(threadId: string, entry: QueueEntry, maxSize: number): Promise<number> {
    const json = toJson("entry", entry);
    const expiresAt = (entry as Partial<QueueEntry> | null)?.expiresAt as number;
    const requestId = newRequestId();
    // Whose entry: a refused newcomer's (the object was awaiting it) or the holder's own.
    const caller = typeof threadId === "string" ? this.#locks.enqueuer(threadId) : undefined;
    return await this.#send<number>("enqueue", threadId, (retry) => [
      threadId,
      json,
      expiresAt,
      maxSize,
      requestId,
      retry,
      caller,
    ]);
  }

  async dequeue(threadId: string): Promise<QueueEntry | null> {
    const requestId = newRequestId();
    const holder = typeof threadId === "string" ? this.#locks.holder(threadId) : undefined;
    // A holder that dequeues makes no own enqueue after this (ts/worker/lock-tracker.ts).
    if (typeof threadId === "string") this.#locks.dequeued(threadId, holder);
    const json = await this.#send<string | null>("dequeue", threadId, (retry) => [threadId, requestId, retry, holder]);
    return json === null ? null : (JSON.parse(json) as QueueEntry);
  }

  async queueDepth(threadId: string): Promise<number> {
    const caller = typeof threadId === "string" ? this.#locks.depthAsker(threadId) : undefined;
    const depth = await this.#send<number>("queueDepth", threadId, () => [threadId, caller]);
    this.#locks.depthAnswered(threadId, caller);
    this.#locks.answered(threadId, caller);
    return depth;
  }

  // ---- atomic lock-or-queue (beyond StateAdapter; vercel/chat#928) ----

  /**
   * Takes the lock on `threadId` if it is free, else enqueues `entry` — one RPC, one
   * transaction, so there is no moment between "the lock is taken" and "the entry is queued" in
   * which the holder could finish without seeing the entry. Answers `{ outcome: "acquired",
   * lock }` or `{ outcome: "queued", depth }` (the depth after enqueueing). Retry-safe.
   */
  async claimOrEnqueue(
    threadId: string,
    entry: QueueEntry,
    options: { ttlMs: number; maxSize?: number },
  ): Promise<Claim> {
    const json = toJson("entry", entry);
    const expiresAt = (entry as Partial<QueueEntry> | null)?.expiresAt as number;
    const { ttlMs, maxSize } = (options ?? {}) as { ttlMs: number; maxSize?: number };
    const token = newLockToken();
    const requestId = newRequestId();
    const claim = await this.#send<Claim>("claimOrEnqueue", threadId, (retry) => [
      threadId,
      json,
      expiresAt,
      ttlMs,
      maxSize,
      token,
      requestId,
      retry,
    ]);
    if (claim.outcome === "acquired") this.#locks.granted(threadId, claim.lock.token, claim.lock.expiresAt);
    return claim;
  }

  /**
   * For the holder of `lock`: the next queued entry (the lock stays held), or `null` — and then
   * the lock is released, in the same transaction, so an entry is either handed to this holder
   * or finds the lock free. Retry-safe.
   */
  async releaseOrDequeue(lock: Lock): Promise<QueueEntry | null> {
    const { threadId, token } = lock ?? ({} as Partial<Lock>);
    const requestId = newRequestId();
    const json = await this.#send<string | null>(
      "releaseOrDequeue",
      threadId as string,
      (retry) => [threadId, token, requestId, retry],
      "lock.threadId",
    );
    if (json === null) this.#locks.released(threadId as string, token);
    return json === null ? null : (JSON.parse(json) as QueueEntry);
  }

  // ---- beyond StateAdapter ----

  /**
   * Read-only counts per object: subscriptions, live locks, cache entries, lists, queued
   * entries, database size, next alarm, and what it holds for a layout change. Defaults to every
   * object the layout (and, while migrating, the previous layout) can use; with `shardKey`, pass
   * the object names (labels) to look at (the base object is always included).
   */
  async inspect(shardLabels: string[] = []): Promise<ShardInspection[]> {
    this.#ensureConnected();
    const { layout, previous } = this.#routing();
    const names = [...new Set([...layout.objectNames(shardLabels), ...(previous?.objectNames(shardLabels) ?? [])])];
    return await Promise.all(
      names.map(async (objectName) => ({
        objectName,
        ...((await (this.#stub(objectName) as unknown as ObjectStub).inspect!()) as Inspection),
      })),
    );
  }

  /**
   * Drives the layout change given by `migrateFrom`: asks each previous home, in turn, for drain
   * steps (a batch of units each) until it has drained or `budgetMs` is spent; under layouts an
   * object cannot compute (a `shardKey` function, 0.1.x) this is what gives the units their new
   * homes. Under built-in layouts (`shards`, `name`) the previous homes also drain by themselves
   * in the background (their alarms), so this only speeds them up. Call it again (e.g. from a
   * cron trigger) until every entry says `drained`. With a `shardKey` previous layout, pass the
   * object names (labels) it used.
   */
  async drainMigration({ labels = [], budgetMs = 20_000 }: { labels?: string[]; budgetMs?: number } = {}): Promise<MigrationStatus[]> {
    this.#ensureConnected();
    const { layout, previous, migration } = this.#configured;
    if (!previous || !migration) {
      throw new Error("drainMigration: this adapter has no `migrateFrom`: there is no layout change to drain");
    }
    const deadline = Date.now() + budgetMs;
    const status: MigrationStatus[] = [];
    for (const objectName of previous.objectNames(labels)) {
      const stub = () => this.#stub(objectName) as unknown as ObjectStub;
      type Step = { drained: boolean; pending: { routingKey: string; threadUnit: boolean }[]; blocked?: boolean };
      let step = (await withRetries(this.#retry, { method: "handoffDrain", objectName }, this.#logger, () =>
        stub().handoffDrain!(migration, objectName, []),
      )) as Step;
      // Blocked: only units their new homes refused are left; asking again now changes nothing.
      while (!step.drained && !step.blocked && Date.now() < deadline) {
        const assignments = step.pending.map(({ routingKey, threadUnit }) => ({
          routingKey,
          destination: layout.homeOfUnit(routingKey, threadUnit),
        }));
        step = (await withRetries(this.#retry, { method: "handoffDrain", objectName }, this.#logger, () =>
          stub().handoffDrain!(migration, objectName, assignments),
        )) as Step;
      }
      const inspection = (await stub().inspect!()) as Inspection;
      status.push({
        objectName,
        drained: step.drained,
        unitsToMove: inspection.migration.unitsToMove,
        stuckUnits: inspection.migration.stuckCount ?? 0,
      });
    }
    return status;
  }

  /** The Durable Object name a thread-scoped call for `threadId` goes to. */
  objectNameForThread(threadId: string): string {
    return this.#routing().layout.locate(threadId, "thread", "threadId").object;
  }

  /** The Durable Object name a cache or list call for `key` goes to. */
  objectNameForKey(key: string): string {
    return this.#routing().layout.locate(key, "key", "key").object;
  }

  // ---- routing ----

  #ensureConnected(): void {
    if (!this.#connected) {
      throw new Error("CloudflareDOStateAdapter is not connected. Call connect() first.");
    }
  }

  #routing(): Routing {
    return this.#adopted ?? this.#configured;
  }

  /**
   * A data call, routed by its first argument (`by`) as the protocol table says
   * (ts/shared/methods.ts): a thread-scoped call by its thread id, a cache or list call by its key.
   * `argument` names `by` in errors.
   */
  #send<T = void>(method: DataMethodName, by: string, args: Args, argument: string = DATA_METHODS[method].args[0]): Promise<T> {
    this.#ensureConnected();
    return this.#call<T>(method, by, DATA_METHODS[method].route, argument, args);
  }

  /**
   * One logical call: attempts on fresh stubs under the retry policy, on the key's home — and,
   * if that object answers that the key lives elsewhere now, on that object (a redirect is not a
   * failure: it costs no attempt). The whole call keeps one retry session across its hops
   * (docs/resharding.md, "The client across a redirect"): `retry` tells the object that an
   * earlier attempt, on this object or another, may have run, so it looks for what that attempt
   * left (its receipts move with the key); a first attempt skips the lookup.
   */
  async #call<T>(method: string, key: string, call: "thread" | "key", argument: string, args: Args): Promise<T> {
    let routing = this.#routing();
    const located = routing.layout.locate(key, call, argument);
    let object = located.object;
    let via: Via;
    const moved = this.#movedKeys.get(located.routingKey);
    if (moved) {
      object = moved.object;
      via = { self: object, from: moved.from, migration: moved.migration };
    } else {
      via = this.#via(routing, object, key, call, argument);
    }
    // Only a dequeue and an acquireLock may be held by the object (src/guarantees/tenure/): an acquire for
    // at most ACQUIRE_HOLD_MS (1 s), which a budget smaller than that would not survive. Its retry
    // is safe however late: it carries its token, and one granted meanwhile finds it holding.
    const session = new RetrySession(this.#retry, this.#logger, method === "dequeue" || method === "acquireLock");
    for (let hop = 0; ; hop++) {
      const target = object;
      const at = via;
      let result: unknown;
      for (;;) {
        const attemptStarted = Date.now();
        try {
          result = await (this.#stub(target) as unknown as ObjectStub)[method]!(...args(session.mayHaveRun), at);
          break;
        } catch (error) {
          await session.failed(error, { method, objectName: target }, attemptStarted);
        }
      }
      if (!isMoved(result)) return result as T;
      if (hop >= MAX_REDIRECTS) {
        throw new Error(`chat-state-cloudflare-do: ${method} on ${JSON.stringify(key)} was redirected ${hop + 1} times; last to ${result.movedTo}`);
      }
      this.#logger.debug("key moved", { method, from: target, to: result.movedTo });
      // The key's previous home and its migration, as the object that redirected knows them
      // (a new home relaying its previous home's answer names that one); an older object says
      // neither: then the object that redirected is the previous home, in this call's migration.
      const from = result.from ?? target;
      if (result.layout) {
        // The whole new layout: route every key with it from now on, this one included. Another
        // call may have adopted it already (calls run concurrently): then this one uses that.
        const current = this.#routing();
        if (sameDesc(result.layout, current.layout.desc())) {
          routing = current;
        } else {
          const previous = this.#configured.layout;
          const layout = Layout.fromDesc(result.layout);
          this.#adopted = {
            layout,
            previous,
            migration: result.migration ?? migrationBetween(previous, layout, this.#jurisdiction),
          };
          routing = this.#adopted;
        }
        via = { self: result.movedTo, from, migration: result.migration ?? routing.migration };
      } else {
        const migration = result.migration ?? routing.migration;
        if (this.#movedKeys.size >= MOVED_KEYS_MAX) this.#movedKeys.clear();
        this.#movedKeys.set(located.routingKey, { object: result.movedTo, from, migration });
        via = { self: result.movedTo, from, migration };
      }
      if (via.from === via.self) delete via.from;
      object = result.movedTo;
    }
  }

  /**
   * What a call routed with `routing` says of itself: the object it meant and, while migrating,
   * the migration — always, so that the object can refuse a second change it is not ready for
   * even where a key's previous and new homes coincide — and the key's previous home when that is
   * another object.
   */
  #via(routing: Routing, object: string, key: string, call: "thread" | "key", argument: string): Via {
    if (!routing.previous) return { self: object };
    const from = routing.previous.locate(key, call, argument).object;
    return from === object ? { self: object, migration: routing.migration } : { self: object, from, migration: routing.migration };
  }

  /** A fresh stub per call: stubs are cheap, and a stub that saw an error may be broken. */
  #stub(objectName: string): ReturnType<ChatStateNamespace["get"]> {
    const ns = this.#namespace;
    return typeof ns.getByName === "function"
      ? ns.getByName(objectName, this.#stubOptions)
      : ns.get(ns.idFromName(objectName), this.#stubOptions);
  }
}

/**
 * Creates the state adapter: `createCloudflareState(env.CHAT_STATE)` or
 * `createCloudflareState({ namespace: env.CHAT_STATE, shards: 8, ... })`.
 */
export function createCloudflareState(
  namespaceOrOptions: ChatStateNamespace | CloudflareStateOptions,
): CloudflareDOStateAdapter {
  return new CloudflareDOStateAdapter(
    isNamespace(namespaceOrOptions) ? { namespace: namespaceOrOptions } : namespaceOrOptions,
  );
}
