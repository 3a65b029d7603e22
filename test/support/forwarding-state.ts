// A StateAdapter that sends each of chat's calls, by name and arguments, through one method: the
// base of the test wrappers that watch or disturb what chat does (instrumented-state.ts, which
// records and delays calls; chaos/surface.ts, which adds jitter around them in the chaos runs).
import type { Lock, QueueEntry, StateAdapter } from "chat";

export abstract class ForwardingState implements StateAdapter {
  constructor(protected readonly inner: StateAdapter) {}

  /** Runs one call of chat's, however the wrapper watches it; `call` makes it on `inner`. */
  protected abstract forward<T>(method: keyof StateAdapter, args: unknown[]): Promise<T>;

  /** The call itself, on the wrapped adapter. */
  protected call<T>(method: keyof StateAdapter, args: unknown[]): Promise<T> {
    const fn = this.inner[method] as (...a: unknown[]) => Promise<T>;
    return fn.apply(this.inner, args);
  }

  connect = () => this.forward<void>("connect", []);
  disconnect = () => this.forward<void>("disconnect", []);
  subscribe = (threadId: string) => this.forward<void>("subscribe", [threadId]);
  unsubscribe = (threadId: string) => this.forward<void>("unsubscribe", [threadId]);
  isSubscribed = (threadId: string) => this.forward<boolean>("isSubscribed", [threadId]);
  acquireLock = (threadId: string, ttlMs: number) => this.forward<Lock | null>("acquireLock", [threadId, ttlMs]);
  releaseLock = (lock: Lock) => this.forward<void>("releaseLock", [lock]);
  extendLock = (lock: Lock, ttlMs: number) => this.forward<boolean>("extendLock", [lock, ttlMs]);
  forceReleaseLock = (threadId: string) => this.forward<void>("forceReleaseLock", [threadId]);
  get = <T = unknown>(key: string) => this.forward<T | null>("get", [key]);
  set = <T = unknown>(key: string, value: T, ttlMs?: number) => this.forward<void>("set", [key, value, ttlMs]);
  setIfNotExists = (key: string, value: unknown, ttlMs?: number) =>
    this.forward<boolean>("setIfNotExists", [key, value, ttlMs]);
  delete = (key: string) => this.forward<void>("delete", [key]);
  appendToList = (key: string, value: unknown, options?: { maxLength?: number; ttlMs?: number }) =>
    this.forward<void>("appendToList", [key, value, options]);
  getList = <T = unknown>(key: string) => this.forward<T[]>("getList", [key]);
  enqueue = (threadId: string, entry: QueueEntry, maxSize: number) =>
    this.forward<number>("enqueue", [threadId, entry, maxSize]);
  dequeue = (threadId: string) => this.forward<QueueEntry | null>("dequeue", [threadId]);
  queueDepth = (threadId: string) => this.forward<number>("queueDepth", [threadId]);
}
