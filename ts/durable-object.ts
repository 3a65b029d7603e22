// The Durable Object class users re-export from their Worker. Each RPC method forwards to the Rust
// core (`StateCore`), which validates arguments, runs the SQL and keeps the alarm schedule;
// nothing here decides anything. Values arrive and leave as JSON text: the adapter serialises on
// the caller's side, so the object never parses a value. Optional trailing arguments (a lock
// token or request id, and whether this attempt is a retry) make a call retry-safe; callers that
// omit them (0.1.x, direct RPC) get the old behaviour.
//
// The core is synchronous (src/workerd.rs says why); the one thing this shell awaits for it is
// `setAlarm`: after a write the core may ask for the alarm to move, and the reply then waits for
// `setAlarm`, so no deadline is ever left without an alarm. Most writes need no move and complete
// synchronously, with no extra turn.
import { DurableObject } from "cloudflare:workers";
import { HeldDequeues } from "./held-dequeues.js";
import { StateCore, type Claim, type Inspection, type Lock } from "./wasm.js";

export class ChatStateDO extends DurableObject<unknown> {
  #core!: StateCore;
  readonly #held = new HeldDequeues();

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
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

  subscribe(threadId: string): void {
    this.#core.subscribe(threadId);
  }

  unsubscribe(threadId: string): void {
    this.#core.unsubscribe(threadId);
  }

  isSubscribed(threadId: string): boolean {
    return this.#core.isSubscribed(threadId);
  }

  /**
   * `token`: the caller's (a `retry` that finds it holding the lock gets the lock back).
   * `patienceMs`: how long the caller may take between its calls (its retry budget): a refused
   * acquire is expected to enqueue within it (src/tenure.rs).
   */
  acquireLock(
    threadId: string,
    ttlMs: number,
    token?: string,
    retry?: boolean,
    patienceMs?: number,
  ): Lock | null | Promise<Lock | null> {
    const lock = this.#core.acquireLock(threadId, ttlMs, token, retry, patienceMs);
    this.#held.written(threadId);
    return this.#settle(lock);
  }

  releaseLock(threadId: string, token: string): void {
    this.#core.releaseLock(threadId, token);
    this.#held.written(threadId);
  }

  extendLock(threadId: string, token: string, ttlMs: number): boolean | Promise<boolean> {
    return this.#settle(this.#core.extendLock(threadId, token, ttlMs));
  }

  forceReleaseLock(threadId: string): void {
    this.#core.forceReleaseLock(threadId);
    this.#held.written(threadId);
  }

  /** The value's JSON text, or null. */
  get(key: string): string | null {
    return this.#core.get(key) ?? null;
  }

  set(key: string, json: string, ttlMs?: number): void | Promise<void> {
    return this.#settle(this.#core.set(key, json, ttlMs));
  }

  setIfNotExists(
    key: string,
    json: string,
    ttlMs?: number,
    requestId?: string,
    retry?: boolean,
  ): boolean | Promise<boolean> {
    return this.#settle(this.#core.setIfNotExists(key, json, ttlMs, requestId, retry));
  }

  delete(key: string): void {
    this.#core.delete(key);
  }

  appendToList(
    key: string,
    json: string,
    options?: { maxLength?: number; ttlMs?: number },
    requestId?: string,
    retry?: boolean,
  ): void | Promise<void> {
    return this.#settle(this.#core.appendToList(key, json, options, requestId, retry));
  }

  /** The list as JSON array text. */
  getList(key: string): string {
    return this.#core.getList(key);
  }

  enqueue(
    threadId: string,
    entryJson: string,
    expiresAt: number,
    maxSize: number,
    requestId?: string,
    retry?: boolean,
    caller?: string,
  ): number | Promise<number> {
    const depth = this.#core.enqueue(threadId, entryJson, expiresAt, maxSize, requestId, retry, caller);
    this.#held.written(threadId);
    return this.#settle(depth);
  }

  /**
   * The oldest live entry's JSON text, or null. A retry (same `requestId`) gets the same entry.
   * `holder`: the caller's lock token on `threadId`. A holder's final dequeue may be held while
   * a refused newcomer's entry is on its way (src/tenure.rs).
   */
  dequeue(threadId: string, requestId?: string, retry?: boolean, holder?: string): string | null | Promise<string | null> {
    const ask = () => this.#core.dequeue(threadId, requestId, retry, holder) as string | null | number;
    const answer = ask();
    if (typeof answer !== "number") return this.#settle(answer);
    return this.#held.hold(threadId, answer, ask).then((entry) => this.#settle(entry));
  }

  /** `caller`: the token the adapter knows this call's flow by (a refused newcomer's). */
  queueDepth(threadId: string, caller?: string): number {
    const depth = this.#core.queueDepth(threadId, caller);
    this.#held.written(threadId);
    return depth;
  }

  /** Takes the lock if it is free, else enqueues the entry, in one transaction. */
  claimOrEnqueue(
    threadId: string,
    entryJson: string,
    expiresAt: number,
    ttlMs: number,
    maxSize: number | undefined,
    token: string,
    requestId?: string,
    retry?: boolean,
  ): Claim | Promise<Claim> {
    const claim = this.#core.claimOrEnqueue(threadId, entryJson, expiresAt, ttlMs, maxSize, token, requestId, retry);
    this.#held.written(threadId);
    return this.#settle(claim);
  }

  /** For the holder: the next entry's JSON text (lock kept), or null with the lock released. */
  releaseOrDequeue(threadId: string, token: string, requestId?: string, retry?: boolean): string | null | Promise<string | null> {
    const entry = this.#core.releaseOrDequeue(threadId, token, requestId, retry) ?? null;
    this.#held.written(threadId);
    return this.#settle(entry);
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

  /**
   * Sweeps expired rows in bounded batches (one transaction each), letting waiting requests run
   * between batches, then arms the next alarm.
   */
  async alarm(): Promise<void> {
    const startedAt = Date.now();
    this.#core.beginSweep();
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
