// A StateAdapter wrapper at the adapter's surface: what chat sees. It delays every call before it
// reaches the adapter *and* after the adapter answered — the time chat spends between its calls
// (platform API calls, a busy event loop), not network time — so a flow's next call never comes
// in the turn of the previous answer. Every call is logged with the flow it belongs to (the
// message whose delivery made it, from an AsyncLocalStorage the runner enters per delivery; chat's
// calls inherit it through their awaits and timers), for the properties and the traces.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Lock, QueueEntry, StateAdapter } from "chat";

/** The flow (delivered message id) the current async context belongs to. */
export const flowContext = new AsyncLocalStorage<string>();

export interface SurfaceCall {
  /** The Worker (adapter instance) the call went through. */
  worker: number;
  flow: string | undefined;
  method: string;
  /** The thread id or cache/list key. */
  key: string;
  args: unknown[];
  /** When chat made the call. */
  issuedAt: number;
  /** When the adapter got it (after the delay before). */
  enteredAt?: number;
  /** When the adapter answered (before the delay after). */
  exitedAt?: number;
  /** When chat got the answer. */
  returnedAt?: number;
  result?: unknown;
  error?: unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ChaosSurface implements StateAdapter {
  readonly #inner: StateAdapter;
  readonly #worker: number;
  readonly #before: () => number;
  readonly #after: () => number;
  readonly #log: SurfaceCall[];
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    inner: StateAdapter,
    worker: number,
    { before, after, log }: { before: () => number; after: () => number; log: SurfaceCall[] },
  ) {
    this.#inner = inner;
    this.#worker = worker;
    this.#before = before;
    this.#after = after;
    this.#log = log;
  }

  /** Resolves once every call made so far (and any made meanwhile) has returned. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #forward<T>(method: keyof StateAdapter, args: unknown[]): Promise<T> {
    const first = args[0];
    const key =
      typeof first === "string" ? first : ((first as { threadId?: string } | undefined)?.threadId ?? "");
    const record: SurfaceCall = { worker: this.#worker, flow: flowContext.getStore(), method, key, args, issuedAt: Date.now() };
    this.#log.push(record);
    const run = async (): Promise<T> => {
      const before = this.#before();
      if (before > 0) await sleep(before);
      record.enteredAt = Date.now();
      try {
        const fn = this.#inner[method] as (...a: unknown[]) => Promise<T>;
        const value = await fn.apply(this.#inner, args);
        record.result = value;
        return value;
      } catch (error) {
        record.error = error;
        throw error;
      } finally {
        record.exitedAt = Date.now();
        const after = this.#after();
        if (after > 0) await sleep(after);
        record.returnedAt = Date.now();
      }
    };
    const promise = run();
    const tracked = promise.catch(() => undefined);
    this.#pending.add(tracked);
    void tracked.then(() => this.#pending.delete(tracked));
    return promise;
  }

  connect = () => this.#forward<void>("connect", []);
  disconnect = () => this.#forward<void>("disconnect", []);
  subscribe = (threadId: string) => this.#forward<void>("subscribe", [threadId]);
  unsubscribe = (threadId: string) => this.#forward<void>("unsubscribe", [threadId]);
  isSubscribed = (threadId: string) => this.#forward<boolean>("isSubscribed", [threadId]);
  acquireLock = (threadId: string, ttlMs: number) => this.#forward<Lock | null>("acquireLock", [threadId, ttlMs]);
  releaseLock = (lock: Lock) => this.#forward<void>("releaseLock", [lock]);
  extendLock = (lock: Lock, ttlMs: number) => this.#forward<boolean>("extendLock", [lock, ttlMs]);
  forceReleaseLock = (threadId: string) => this.#forward<void>("forceReleaseLock", [threadId]);
  get = <T = unknown>(key: string) => this.#forward<T | null>("get", [key]);
  set = <T = unknown>(key: string, value: T, ttlMs?: number) => this.#forward<void>("set", [key, value, ttlMs]);
  setIfNotExists = (key: string, value: unknown, ttlMs?: number) =>
    this.#forward<boolean>("setIfNotExists", [key, value, ttlMs]);
  delete = (key: string) => this.#forward<void>("delete", [key]);
  appendToList = (key: string, value: unknown, options?: { maxLength?: number; ttlMs?: number }) =>
    this.#forward<void>("appendToList", [key, value, options]);
  getList = <T = unknown>(key: string) => this.#forward<T[]>("getList", [key]);
  enqueue = (threadId: string, entry: QueueEntry, maxSize: number) =>
    this.#forward<number>("enqueue", [threadId, entry, maxSize]);
  dequeue = (threadId: string) => this.#forward<QueueEntry | null>("dequeue", [threadId]);
  queueDepth = (threadId: string) => this.#forward<number>("queueDepth", [threadId]);
}
