// The Chat SDK `StateAdapter`: each chat call becomes one RPC call on the Durable Object the Rust
// router picks (retried on a transient fault, see ./retry.ts). Values are serialised here, on the
// caller's side, so a value that cannot be stored as JSON is rejected before any request is made
// (and billed). Lock tokens and request ids are drawn here too, before the first attempt, so a
// retry carries the same ones and the object can answer it once (src/idempotency.rs).
import { ConsoleLogger, type Lock, type Logger, type QueueEntry, type StateAdapter } from "chat";
import type { ChatStateDO } from "./durable-object.js";
import { newLockToken, newRequestId } from "./ids.js";
import { LockTracker } from "./lock-tracker.js";
import { resolveRetryPolicy, withRetries, type RetryOptions, type RetryPolicy } from "./retry.js";
import { ShardRouter, type Claim, type Inspection, type Route } from "./wasm.js";

export type ChatStateNamespace = DurableObjectNamespace<ChatStateDO>;

export interface CloudflareStateOptions {
  /** The Durable Object namespace bound to `ChatStateDO` (e.g. `env.CHAT_STATE`). */
  namespace: ChatStateNamespace;
  /** Name of the (base) object. Default `"default"`. */
  name?: string;
  /**
   * Custom shard for thread-scoped calls and thread-derived keys: receives the thread (or
   * channel) id and returns a shard label; the object is named `${name}:${label}`.
   */
  shardKey?: (threadId: string) => string;
  /** Built-in hash sharding over this many objects (1–1024). Exclusive with `shardKey`. */
  shards?: number;
  /** Where new objects are first placed. */
  locationHint?: DurableObjectLocationHint;
  /** Keep all state inside a jurisdiction (a separate id space: switching shows empty state). */
  jurisdiction?: DurableObjectJurisdiction;
  /** Logger; defaults to chat's `ConsoleLogger("info")` with the prefix `cloudflare-do`. */
  logger?: Logger;
  /**
   * Retries of calls that failed transiently (a dropped connection, an object reset); `false`
   * turns them off. Defaults: 6 attempts, 100 ms base, 2 s cap, 5 s budget (see README).
   */
  retry?: false | RetryOptions;
}

/** Per-object inspection, keyed by object name. */
export interface ShardInspection extends Inspection {
  objectName: string;
}

type Stub = DurableObjectStub<ChatStateDO>;
/** Makes one attempt of a call on `stub`; `retry` is true from the second attempt on. */
type Invoke<T> = (stub: Stub, retry: boolean) => Promise<T>;
type ClaimRpc = (...args: Parameters<ChatStateDO["claimOrEnqueue"]>) => Promise<Claim>;

function toJson(argument: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Invalid argument \`${argument}\`: cannot be serialised as JSON (${reason})`);
  }
  if (json === undefined) {
    throw new Error(`Invalid argument \`${argument}\`: a ${typeof value} cannot be stored as JSON`);
  }
  return json;
}

function isNamespace(value: unknown): value is ChatStateNamespace {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { idFromName?: unknown }).idFromName === "function"
  );
}

export class CloudflareDOStateAdapter implements StateAdapter {
  readonly #namespace: ChatStateNamespace;
  readonly #router: ShardRouter;
  readonly #name: string;
  readonly #shardKey: ((threadId: string) => string) | undefined;
  readonly #stubOptions: DurableObjectNamespaceGetDurableObjectOptions | undefined;
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
    if (options.shardKey !== undefined && typeof options.shardKey !== "function") {
      throw new Error("Invalid argument `shardKey`: must be a function (threadId) => string");
    }
    if (options.shardKey !== undefined && options.shards !== undefined) {
      throw new Error("Invalid options: pass either `shardKey` or `shards`, not both");
    }
    this.#name = options.name ?? "default";
    this.#router = new ShardRouter(this.#name, options.shards);
    this.#shardKey = options.shardKey;
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
    this.#logger.debug("connected", { name: this.#name });
  }

  async disconnect(): Promise<void> {
    this.#connected = false;
  }

  // ---- subscriptions ----

  async subscribe(threadId: string): Promise<void> {
    await this.#onThread("subscribe", threadId, (stub) => stub.subscribe(threadId));
  }

  async unsubscribe(threadId: string): Promise<void> {
    await this.#onThread("unsubscribe", threadId, (stub) => stub.unsubscribe(threadId));
  }

  async isSubscribed(threadId: string): Promise<boolean> {
    return await this.#onThread("isSubscribed", threadId, (stub) => stub.isSubscribed(threadId));
  }

  // ---- locks ----

  async acquireLock(threadId: string, ttlMs: number): Promise<Lock | null> {
    // Our token, not the object's: a retry whose first attempt won finds it and gets the lock back.
    const token = newLockToken();
    const lock = await this.#onThread("acquireLock", threadId, (stub, retry) =>
      stub.acquireLock(threadId, ttlMs, token, retry, this.#patienceMs),
    );
    if (lock) this.#locks.granted(threadId, lock.token, lock.expiresAt);
    else this.#locks.refused(threadId, token, 2 * this.#patienceMs);
    this.#locks.answered(threadId, lock?.token ?? token);
    return lock;
  }

  async releaseLock(lock: Lock): Promise<void> {
    const { threadId, token } = lock ?? ({} as Partial<Lock>);
    try {
      await this.#onThread(
        "releaseLock",
        threadId as string,
        (stub) => stub.releaseLock(threadId as string, token as string),
        "lock.threadId",
      );
    } finally {
      if (typeof threadId === "string") this.#locks.released(threadId, token);
    }
  }

  async extendLock(lock: Lock, ttlMs: number): Promise<boolean> {
    const { threadId, token } = lock ?? ({} as Partial<Lock>);
    const extended = await this.#onThread(
      "extendLock",
      threadId as string,
      (stub) => stub.extendLock(threadId as string, token as string, ttlMs),
      "lock.threadId",
    );
    if (extended) this.#locks.extended(threadId as string, token as string, Date.now() + ttlMs);
    return extended;
  }

  async forceReleaseLock(threadId: string): Promise<void> {
    await this.#onThread("forceReleaseLock", threadId, (stub) => stub.forceReleaseLock(threadId));
    this.#locks.released(threadId);
  }

  // ---- cache ----

  async get<T = unknown>(key: string): Promise<T | null> {
    const json = await this.#onKey("get", key, (stub) => stub.get(key));
    return json === null ? null : (JSON.parse(json) as T);
  }

  async set<T = unknown>(key: string, value: T, ttlMs?: number): Promise<void> {
    const json = toJson("value", value);
    await this.#onKey("set", key, (stub) => stub.set(key, json, ttlMs));
  }

  async setIfNotExists(key: string, value: unknown, ttlMs?: number): Promise<boolean> {
    const json = toJson("value", value);
    const requestId = newRequestId();
    return await this.#onKey("setIfNotExists", key, (stub, retry) => stub.setIfNotExists(key, json, ttlMs, requestId, retry));
  }

  async delete(key: string): Promise<void> {
    await this.#onKey("delete", key, (stub) => stub.delete(key));
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
    await this.#onKey("appendToList", key, (stub, retry) => stub.appendToList(key, json, forwarded, requestId, retry));
  }

  async getList<T = unknown>(key: string): Promise<T[]> {
    return JSON.parse(await this.#onKey("getList", key, (stub) => stub.getList(key))) as T[];
  }

  // ---- queues ----

  async enqueue(threadId: string, entry: QueueEntry, maxSize: number): Promise<number> {
    const json = toJson("entry", entry);
    const expiresAt = (entry as Partial<QueueEntry> | null)?.expiresAt as number;
    const requestId = newRequestId();
    // Whose entry: a refused newcomer's (the object was awaiting it) or the holder's own.
    const caller = typeof threadId === "string" ? this.#locks.enqueuer(threadId) : undefined;
    return await this.#onThread("enqueue", threadId, (stub, retry) =>
      stub.enqueue(threadId, json, expiresAt, maxSize, requestId, retry, caller),
    );
  }

  async dequeue(threadId: string): Promise<QueueEntry | null> {
    const requestId = newRequestId();
    const holder = typeof threadId === "string" ? this.#locks.holder(threadId) : undefined;
    const json = await this.#onThread("dequeue", threadId, (stub, retry) =>
      stub.dequeue(threadId, requestId, retry, holder),
    );
    this.#locks.answered(threadId, holder);
    return json === null ? null : (JSON.parse(json) as QueueEntry);
  }

  async queueDepth(threadId: string): Promise<number> {
    const caller = typeof threadId === "string" ? this.#locks.depthAsker(threadId) : undefined;
    const depth = await this.#onThread("queueDepth", threadId, (stub) => stub.queueDepth(threadId, caller));
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
    // (The RPC type of a union result does not unify; the object returns a plain Claim.)
    const claim: Claim = await this.#onThread("claimOrEnqueue", threadId, (stub, retry) =>
      (stub.claimOrEnqueue as unknown as ClaimRpc)(threadId, json, expiresAt, ttlMs, maxSize, token, requestId, retry),
    );
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
    const json = await this.#onThread(
      "releaseOrDequeue",
      threadId as string,
      (stub, retry) => stub.releaseOrDequeue(threadId as string, token as string, requestId, retry),
      "lock.threadId",
    );
    if (json === null) this.#locks.released(threadId as string, token);
    return json === null ? null : (JSON.parse(json) as QueueEntry);
  }

  // ---- beyond StateAdapter ----

  /**
   * Read-only counts per object: subscriptions, live locks, cache entries, lists, queued
   * entries, database size and next alarm. Defaults to every object hash sharding can use; with
   * `shardKey`, pass the shard labels to look at (the base object is always included).
   */
  async inspect(shardLabels: string[] = []): Promise<ShardInspection[]> {
    this.#ensureConnected();
    const names = [
      ...this.#router.objectNames(),
      ...shardLabels.map((label) => `${this.#name}:${label}`),
    ];
    return await Promise.all(
      names.map(async (objectName) => ({ objectName, ...(await this.#stub(objectName).inspect()) })),
    );
  }

  /** The Durable Object name a thread-scoped call for `threadId` goes to. */
  objectNameForThread(threadId: string): string {
    return this.#objectName(this.#router.routeThread(threadId, "threadId"));
  }

  /** The Durable Object name a cache or list call for `key` goes to. */
  objectNameForKey(key: string): string {
    return this.#objectName(this.#router.routeKey(key));
  }

  // ---- routing ----

  #ensureConnected(): void {
    if (!this.#connected) {
      throw new Error("CloudflareDOStateAdapter is not connected. Call connect() first.");
    }
  }

  /** A thread-scoped call (subscriptions, locks, queues), routed by its thread id. */
  #onThread<T>(method: string, threadId: string, invoke: Invoke<T>, argument = "threadId"): Promise<T> {
    this.#ensureConnected();
    return this.#call(method, this.#objectName(this.#router.routeThread(threadId, argument)), invoke);
  }

  /** A cache or list call, routed by its key. */
  #onKey<T>(method: string, key: string, invoke: Invoke<T>): Promise<T> {
    this.#ensureConnected();
    return this.#call(method, this.#objectName(this.#router.routeKey(key)), invoke);
  }

  /**
   * One logical call: attempts on fresh stubs under the retry policy. `retry` tells the object
   * that an earlier attempt may have run, so it looks for what that attempt left; a first
   * attempt skips the lookup and costs what it always did.
   */
  #call<T>(method: string, objectName: string, invoke: Invoke<T>): Promise<T> {
    return withRetries(this.#retry, { method, objectName }, this.#logger, (attempt) =>
      invoke(this.#stub(objectName), attempt > 1),
    );
  }

  #objectName(route: Route): string {
    if (!this.#shardKey || !route.threadScoped) return route.objectName;
    const label = this.#shardKey(route.routingKey);
    if (typeof label !== "string" || label.length === 0) {
      throw new Error(
        `Invalid option \`shardKey\`: must return a non-empty string, returned ${JSON.stringify(label)} for ${JSON.stringify(route.routingKey)}`,
      );
    }
    return `${this.#name}:${label}`;
  }

  /** A fresh stub per call: stubs are cheap, and a stub that saw an error may be broken. */
  #stub(objectName: string): Stub {
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
