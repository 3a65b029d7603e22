// A Durable Object namespace that fails calls the way Cloudflare documents, for the fault tests.
//
// It wraps a real namespace: the adapter gets stubs from it exactly as from `env.CHAT_STATE`, and
// every RPC call on such a stub may be failed, by a plan, in one of three ways:
//   "before"     the call never reaches the object; the caller gets `Error("Network connection
//                lost.")` with `retryable = true` (the runtime's own retries only cover these);
//   "after"      the call runs in the object, its writes commit, and then the reply is lost: the
//                caller gets the same retryable error ("user code may have run");
//   "overloaded" the object refuses the call: `Error("Durable Object is overloaded. Too many
//                requests queued.")` with `overloaded = true`, which must never be retried.
// Resets of the object itself in the middle of a call (`ctx.abort()`) come from
// FaultyChatStateDO (./faulty-object.ts), the other half of the fault kit.
//
// Faults are transient, as in production: a plan decides per attempt, but the same call (same
// object, method and arguments — a retry carries the same request id) never fails more than
// `maxConsecutive` times in a row. A retry differs from its first attempt in one argument, its
// `retry` flag, which is therefore left out of the call's identity ([`callIdentity`]): keyed by
// every argument, a first attempt and its retries were two calls, and a call could fail
// `2 × maxConsecutive` times in a row — more than the adapter's six attempts ride out.
import type { ChatStateNamespace } from "../../ts/index.js";
import { DATA_METHODS } from "../../ts/shared/methods.js";

export type FaultKind = "before" | "after" | "overloaded";

export interface CallInfo {
  objectName: string;
  method: string;
  args: unknown[];
  /** How many times in a row this same call has just failed. */
  consecutiveFailures: number;
}

export type FaultPlan = (call: CallInfo) => FaultKind | null;

export function retryableError(): Error {
  return Object.assign(new Error("Network connection lost."), { retryable: true });
}

export function overloadedError(): Error {
  return Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), { overloaded: true });
}

/** What the namespace did, for the tests' figures. */
export interface FaultCounts {
  calls: number;
  before: number;
  after: number;
  overloaded: number;
  /** Calls per method, faults included. */
  byMethod: Record<string, number>;
}

/** Methods of the stub that are not data calls (inspection, test hooks): never failed. */
const NEVER_FAILED = new Set(["inspect", "rowCounts", "armReset", "resetPending", "fetch"]);

export class FaultyNamespace {
  readonly counts: FaultCounts = { calls: 0, before: 0, after: 0, overloaded: 0, byMethod: {} };
  /** Set false to stop injecting (e.g. while a test reads back the final state). */
  enabled = true;
  readonly #inner: ChatStateNamespace;
  readonly #plan: FaultPlan;
  readonly #maxConsecutive: number;
  readonly #jitterMs: () => number;
  readonly #streaks = new Map<string, number>();

  /** `jitterMs`: a delay before every call reaches the object (network jitter). */
  constructor(
    inner: ChatStateNamespace,
    plan: FaultPlan,
    { maxConsecutive = 2, jitterMs = () => 0 }: { maxConsecutive?: number; jitterMs?: () => number } = {},
  ) {
    this.#inner = inner;
    this.#plan = plan;
    this.#maxConsecutive = maxConsecutive;
    this.#jitterMs = jitterMs;
  }

  /** The wrapper, typed as the namespace the adapter expects. */
  get namespace(): ChatStateNamespace {
    return this as unknown as ChatStateNamespace;
  }

  idFromName(name: string): DurableObjectId {
    return this.#inner.idFromName(name);
  }

  getByName(name: string, options?: DurableObjectNamespaceGetDurableObjectOptions): unknown {
    return this.#wrap(name, this.#inner.getByName(name, options));
  }

  get(id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions): unknown {
    return this.#wrap(id.name ?? id.toString(), this.#inner.get(id, options));
  }

  #wrap(objectName: string, stub: unknown): unknown {
    return new Proxy(
      {},
      {
        get: (_target, prop) => {
          if (typeof prop !== "string" || prop === "then") return undefined;
          const real = (stub as Record<string, (...args: unknown[]) => Promise<unknown>>)[prop];
          return (...args: unknown[]) => this.#invoke(objectName, prop, args, () => real!(...args));
        },
      },
    );
  }

  async #invoke(objectName: string, method: string, args: unknown[], forward: () => Promise<unknown>): Promise<unknown> {
    const jitter = this.#jitterMs();
    if (jitter > 0) await new Promise((resolve) => setTimeout(resolve, jitter));
    if (NEVER_FAILED.has(method) || !this.enabled) return await forward();
    this.counts.calls++;
    this.counts.byMethod[method] = (this.counts.byMethod[method] ?? 0) + 1;
    const key = callIdentity(objectName, method, args);
    const streak = this.#streaks.get(key) ?? 0;
    const fault = streak >= this.#maxConsecutive ? null : this.#plan({ objectName, method, args, consecutiveFailures: streak });
    if (fault === null) {
      this.#streaks.delete(key);
      return await forward();
    }
    this.#streaks.set(key, streak + 1);
    this.counts[fault]++;
    if (fault === "overloaded") throw overloadedError();
    if (fault === "before") throw retryableError();
    await forward();
    throw retryableError();
  }
}

/**
 * What makes two attempts the same call: the object, the method and the arguments, less a data
 * method's `retry` flag (the only argument in which a retry differs from its first attempt).
 */
export function callIdentity(objectName: string, method: string, args: readonly unknown[]): string {
  const names = (DATA_METHODS as Record<string, { args: readonly string[] } | undefined>)[method]?.args;
  const retryAt = names ? names.indexOf("retry") : -1;
  const same = retryAt < 0 ? args : args.filter((_, i) => i !== retryAt);
  return `${objectName}\u0000${method}\u0000${JSON.stringify(same)}`;
}

/** A plan that fails each attempt at random with the given probabilities (seeded `random`). */
export function randomFaults(
  random: () => number,
  { before = 0, after = 0, overloaded = 0 }: { before?: number; after?: number; overloaded?: number },
): FaultPlan {
  return () => {
    const r = random();
    if (r < before) return "before";
    if (r < before + after) return "after";
    if (r < before + after + overloaded) return "overloaded";
    return null;
  };
}
