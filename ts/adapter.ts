// The Chat SDK `StateAdapter`: each chat call becomes exactly one RPC call on the Durable Object
// the Rust router picks. Values are serialised here, on the caller's side, so a value that cannot
// be stored as JSON is rejected before any request is made (and billed).
import { ConsoleLogger, type Lock, type Logger, type QueueEntry, type StateAdapter } from "chat";
import type { ChatStateDO } from "./durable-object.js";
import { ShardRouter, type Inspection, type Route } from "./wasm.js";

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
}

/** Per-object inspection, keyed by object name. */
export interface ShardInspection extends Inspection {
  objectName: string;
}

type Stub = DurableObjectStub<ChatStateDO>;

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
    await this.#threadStub(threadId).subscribe(threadId);
  }

  async unsubscribe(threadId: string): Promise<void> {
    await this.#threadStub(threadId).unsubscribe(threadId);
  }

  async isSubscribed(threadId: string): Promise<boolean> {
    return await this.#threadStub(threadId).isSubscribed(threadId);
  }

  // ---- locks ----

  async acquireLock(threadId: string, ttlMs: number): Promise<Lock | null> {
    return await this.#threadStub(threadId).acquireLock(threadId, ttlMs);
  }

  async releaseLock(lock: Lock): Promise<void> {
    const { threadId, token } = lock ?? ({} as Partial<Lock>);
    await this.#threadStub(threadId as string, "lock.threadId").releaseLock(threadId as string, token as string);
  }

  async extendLock(lock: Lock, ttlMs: number): Promise<boolean> {
    const { threadId, token } = lock ?? ({} as Partial<Lock>);
    return await this.#threadStub(threadId as string, "lock.threadId").extendLock(
      threadId as string,
      token as string,
      ttlMs,
    );
  }

  async forceReleaseLock(threadId: string): Promise<void> {
    await this.#threadStub(threadId).forceReleaseLock(threadId);
  }

  // ---- cache ----

  async get<T = unknown>(key: string): Promise<T | null> {
    const json = await this.#keyStub(key).get(key);
    return json === null ? null : (JSON.parse(json) as T);
  }

  async set<T = unknown>(key: string, value: T, ttlMs?: number): Promise<void> {
    const json = toJson("value", value);
    await this.#keyStub(key).set(key, json, ttlMs);
  }

  async setIfNotExists(key: string, value: unknown, ttlMs?: number): Promise<boolean> {
    const json = toJson("value", value);
    return await this.#keyStub(key).setIfNotExists(key, json, ttlMs);
  }

  async delete(key: string): Promise<void> {
    await this.#keyStub(key).delete(key);
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
    await this.#keyStub(key).appendToList(key, json, forwarded);
  }

  async getList<T = unknown>(key: string): Promise<T[]> {
    return JSON.parse(await this.#keyStub(key).getList(key)) as T[];
  }

  // ---- queues ----

  async enqueue(threadId: string, entry: QueueEntry, maxSize: number): Promise<number> {
    const json = toJson("entry", entry);
    const expiresAt = (entry as Partial<QueueEntry> | null)?.expiresAt as number;
    return await this.#threadStub(threadId).enqueue(threadId, json, expiresAt, maxSize);
  }

  async dequeue(threadId: string): Promise<QueueEntry | null> {
    const json = await this.#threadStub(threadId).dequeue(threadId);
    return json === null ? null : (JSON.parse(json) as QueueEntry);
  }

  async queueDepth(threadId: string): Promise<number> {
    return await this.#threadStub(threadId).queueDepth(threadId);
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

  #threadStub(threadId: string, argument = "threadId"): Stub {
    this.#ensureConnected();
    return this.#stub(this.#objectName(this.#router.routeThread(threadId, argument)));
  }

  #keyStub(key: string): Stub {
    this.#ensureConnected();
    return this.#stub(this.#objectName(this.#router.routeKey(key)));
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
