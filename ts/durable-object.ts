// The Durable Object class users re-export from their Worker. Each RPC method forwards to the Rust
// core (`StateCore`), which validates arguments, runs the SQL and keeps the alarm; nothing here
// decides anything. Values arrive and leave as JSON text: the adapter serialises on the caller's
// side, so the object never parses a value. Writes that carry a deadline return a promise only
// when they had to move the alarm (`setAlarm`); otherwise they complete synchronously.
import { DurableObject } from "cloudflare:workers";
import { StateCore, type Inspection, type Lock } from "./wasm.js";

export class ChatStateDO extends DurableObject<unknown> {
  #core!: StateCore;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    // No request is delivered until the schema is current and the armed alarm time is known.
    void ctx.blockConcurrencyWhile(async () => {
      this.#core = await StateCore.open(ctx, await ctx.storage.getAlarm());
    });
  }

  subscribe(threadId: string): void {
    this.#core.subscribe(threadId);
  }

  unsubscribe(threadId: string): void {
    this.#core.unsubscribe(threadId);
  }

  isSubscribed(threadId: string): boolean {
    return this.#core.isSubscribed(threadId);
  }

  acquireLock(threadId: string, ttlMs: number): Lock | null | Promise<Lock | null> {
    return this.#core.acquireLock(threadId, ttlMs);
  }

  releaseLock(threadId: string, token: string): void {
    this.#core.releaseLock(threadId, token);
  }

  extendLock(threadId: string, token: string, ttlMs: number): boolean | Promise<boolean> {
    return this.#core.extendLock(threadId, token, ttlMs);
  }

  forceReleaseLock(threadId: string): void {
    this.#core.forceReleaseLock(threadId);
  }

  /** The value's JSON text, or null. */
  get(key: string): string | null {
    return this.#core.get(key) ?? null;
  }

  set(key: string, json: string, ttlMs?: number): void | Promise<void> {
    return this.#core.set(key, json, ttlMs);
  }

  setIfNotExists(key: string, json: string, ttlMs?: number): boolean | Promise<boolean> {
    return this.#core.setIfNotExists(key, json, ttlMs);
  }

  delete(key: string): void {
    this.#core.delete(key);
  }

  appendToList(
    key: string,
    json: string,
    options?: { maxLength?: number; ttlMs?: number },
  ): void | Promise<void> {
    return this.#core.appendToList(key, json, options);
  }

  /** The list as JSON array text. */
  getList(key: string): string {
    return this.#core.getList(key);
  }

  enqueue(threadId: string, entryJson: string, expiresAt: number, maxSize: number): number | Promise<number> {
    return this.#core.enqueue(threadId, entryJson, expiresAt, maxSize);
  }

  /** The oldest live entry's JSON text, or null. */
  dequeue(threadId: string): string | null {
    return this.#core.dequeue(threadId) ?? null;
  }

  queueDepth(threadId: string): number {
    return this.#core.queueDepth(threadId);
  }

  /** Read-only counts of what this object holds. */
  inspect(): Inspection {
    return this.#core.inspect();
  }

  /** SQLite rows read and written by this instance since it started (billing counters). */
  rowCounts(): { rowsRead: number; rowsWritten: number } {
    const [rowsRead = 0, rowsWritten = 0] = this.#core.rowCounts();
    return { rowsRead, rowsWritten };
  }

  async alarm(): Promise<void> {
    await this.#core.alarm();
  }
}
