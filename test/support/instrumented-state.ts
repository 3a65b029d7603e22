// A StateAdapter that forwards every call to another one, after an optional delay (network
// jitter) and an optional hook that may hold the call (to force an interleaving); optionally also
// a delay and a hook *after* the inner call answered, before its caller sees the answer (the time
// chat spends between its calls: platform API calls, a busy event loop). Each call is
// logged with the moment it was issued and the moment it returned, so a test can wait until
// every call of a trial has returned before it looks at the state.
import type { StateAdapter } from "chat";
import { ForwardingState } from "./forwarding-state.js";

export interface CallRecord {
  method: string;
  args: unknown[];
  /** When the caller made the call. */
  issuedAt: number;
  /** When it was forwarded (after the hook and the jitter). */
  sentAt?: number;
  /** When the inner call answered. */
  returnedAt?: number;
  /** When the caller got the answer (after the after-hook and delay). */
  answeredAt?: number;
  returned?: unknown;
  settled: Promise<unknown>;
}

export type Hook = (method: string, args: unknown[], call: number) => Promise<void> | void;
/** Runs after the inner call answered `returned`, before the caller sees it. */
export type AfterHook = (method: string, args: unknown[], call: number, returned: unknown) => Promise<void> | void;

export class InstrumentedState extends ForwardingState {
  readonly calls: CallRecord[] = [];
  readonly #jitterMs: () => number;
  readonly #hook: Hook | undefined;
  readonly #afterMs: () => number;
  readonly #after: AfterHook | undefined;

  constructor(
    inner: StateAdapter,
    {
      jitterMs = () => 0,
      hook,
      afterMs = () => 0,
      after,
    }: { jitterMs?: () => number; hook?: Hook; afterMs?: () => number; after?: AfterHook } = {},
  ) {
    super(inner);
    this.#jitterMs = jitterMs;
    this.#hook = hook;
    this.#afterMs = afterMs;
    this.#after = after;
  }

  /** Resolves once every call made so far (and any they lead to) has returned. */
  async settled(): Promise<void> {
    for (let seen = -1; seen !== this.calls.length; ) {
      seen = this.calls.length;
      await Promise.allSettled(this.calls.map((c) => c.settled));
    }
  }

  protected override forward<T>(method: keyof StateAdapter, args: unknown[]): Promise<T> {
    const index = this.calls.length;
    const record: CallRecord = { method, args, issuedAt: Date.now(), settled: Promise.resolve() };
    this.calls.push(record);
    const run = async () => {
      await this.#hook?.(method, args, index);
      const ms = this.#jitterMs();
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      record.sentAt = Date.now();
      const value = await this.call<T>(method, args);
      record.returned = value;
      record.returnedAt = Date.now();
      await this.#after?.(method, args, index, value);
      const afterMs = this.#afterMs();
      if (afterMs > 0) await new Promise((resolve) => setTimeout(resolve, afterMs));
      record.answeredAt = Date.now();
      return value;
    };
    const promise = run();
    record.settled = promise.catch(() => undefined);
    return promise;
  }
}
