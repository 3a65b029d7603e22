// A StateAdapter wrapper at the adapter's surface: what chat sees. It delays every call before it
// reaches the adapter *and* after the adapter answered — the time chat spends between its calls
// (platform API calls, a busy event loop), not network time — so a flow's next call never comes
// in the turn of the previous answer. Every call is logged with the flow it belongs to (the
// message whose delivery made it, from an AsyncLocalStorage the runner enters per delivery; chat's
// calls inherit it through their awaits and timers), for the properties and the traces.
import { AsyncLocalStorage } from "node:async_hooks";
import type { StateAdapter } from "chat";
import { ForwardingState } from "../forwarding-state.js";

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

export class ChaosSurface extends ForwardingState {
  readonly #worker: number;
  /** The delays before and after each call, and the log every call is recorded in. */
  readonly #timing: { before: () => number; after: () => number; log: SurfaceCall[] };
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    inner: StateAdapter,
    worker: number,
    timing: { before: () => number; after: () => number; log: SurfaceCall[] },
  ) {
    super(inner);
    this.#worker = worker;
    this.#timing = timing;
  }

  /** Resolves once every call made so far (and any made meanwhile) has returned. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  protected override forward<T>(method: keyof StateAdapter, args: unknown[]): Promise<T> {
    const first = args[0];
    const key =
      typeof first === "string" ? first : ((first as { threadId?: string } | undefined)?.threadId ?? "");
    const record: SurfaceCall = { worker: this.#worker, flow: flowContext.getStore(), method, key, args, issuedAt: Date.now() };
    this.#timing.log.push(record);
    const run = async (): Promise<T> => {
      const before = this.#timing.before();
      if (before > 0) await sleep(before);
      record.enteredAt = Date.now();
      try {
        const value = await this.call<T>(method, args);
        record.result = value;
        return value;
      } catch (error) {
        record.error = error;
        throw error;
      } finally {
        record.exitedAt = Date.now();
        const after = this.#timing.after();
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
}
