// A ChatStateDO that can be told to reset itself (`ctx.abort()`) in the middle of its next call
// of a given method: before the call's writes commit (they are rolled back, as when an object
// exceeds a storage timeout), or after they commit (they persist and only the reply is lost, as
// when an object is reset for a deploy). Only the test Worker exports it, under the FAULTY_STATE
// binding; production code has no such hook. `takeArmedReset` is not for RPC callers.
import { ChatStateDO } from "../../ts/index.js";
import type { MethodName } from "../../ts/shared/methods.js";
import { DATA_METHODS } from "./adapter-methods.js";

export type ResetPoint = "before-commit" | "after-commit";

/** The RPC methods a reset can be armed on: every data method of the object. */
export const RESETTABLE_METHODS = [
  ...DATA_METHODS,
  // The re-sharding messages objects send each other (ts/object/handoff.ts).
  "handOver",
  "handoffImport",
  "handoffSourceDrained",
] as const satisfies readonly MethodName[];
export type ResettableMethod = (typeof RESETTABLE_METHODS)[number];

type Armed = { method: ResettableMethod; at: ResetPoint; times: number };

/** The RPCs objects make to each other while re-sharding (ts/object/handoff.ts), counted as received. */
export const PEER_METHODS = ["handOver", "handoffImport", "handoffHasImport", "handoffSourceDrained", "handoffSourceRetired"] as const satisfies readonly MethodName[];
type PeerMethod = (typeof PEER_METHODS)[number];

/** Peer RPCs received, by object id then method (module state: survives a reset, as `armed`). */
const received = new Map<string, Partial<Record<PeerMethod, number>>>();

/**
 * Calls held inside the object by id (`armHold`): the next call of `method` waits `ms` in the
 * object before it runs (or after it ran and its writes committed, before it answers), so a test
 * can reset the runtime while a call is inside an object.
 */
const holds = new Map<string, { method: ResettableMethod; ms: number; after: boolean }>();
/** Object ids whose held call has entered the object (module state, as `armed`). */
const entered = new Set<string>();

/**
 * Armed resets by object id. Module state, not instance state: a reset replaces the instance but
 * not the isolate, so a reset armed `times` > 1 also fires in the replacement instances.
 */
const armed = new Map<string, Armed>();

export class FaultyChatStateDO extends ChatStateDO {
  /** Arms a reset for the next `times` calls of `method` on this object. */
  armReset(method: ResettableMethod, at: ResetPoint, times = 1): void {
    armed.set(this.ctx.id.toString(), { method, at, times });
  }

  /** Holds the next call of `method` inside this object for `ms` before it runs (`after`: once
   * it ran, before it answers). */
  armHold(method: ResettableMethod, ms: number, after = false): void {
    const id = this.ctx.id.toString();
    entered.delete(id);
    holds.set(id, { method, ms, after });
  }

  /** Whether the call armed by `armHold` has entered this object (and is held, or was). */
  holdEntered(): boolean {
    return entered.has(this.ctx.id.toString());
  }

  /** Whether a reset armed on this object has yet to fire (tests check theirs did). */
  resetPending(): boolean {
    return armed.has(this.ctx.id.toString());
  }

  /** How many of each re-sharding RPC this object has received from other objects. */
  peerCallsReceived(): Partial<Record<PeerMethod, number>> {
    return { ...received.get(this.ctx.id.toString()) };
  }

  /** Takes one armed reset for `method`, if any. */
  takeArmedReset(method: ResettableMethod): ResetPoint | null {
    const id = this.ctx.id.toString();
    const plan = armed.get(id);
    if (plan?.method !== method) return null;
    if (plan.times <= 1) armed.delete(id);
    else plan.times--;
    return plan.at;
  }
}

type Method = (this: ChatStateDO, ...args: unknown[]) => unknown;
const base = ChatStateDO.prototype as unknown as Record<ResettableMethod, Method>;
for (const method of RESETTABLE_METHODS) {
  Object.defineProperty(FaultyChatStateDO.prototype, method, {
    configurable: true,
    writable: true,
    value: function (this: FaultyChatStateDO, ...args: unknown[]): unknown {
      if ((PEER_METHODS as readonly string[]).includes(method)) countPeerCall(this.ctx.id.toString(), method as PeerMethod);
      const id = this.ctx.id.toString();
      const hold = holds.get(id);
      if (hold?.method === method) {
        holds.delete(id);
        const wait = () => new Promise((resolve) => setTimeout(resolve, hold.ms));
        if (!hold.after) {
          entered.add(id);
          return wait().then(() => base[method].apply(this, args));
        }
        return (async () => {
          const value = await base[method].apply(this, args);
          // Let the writes commit (the output gate flushes them) before the test may reset.
          await new Promise((resolve) => setTimeout(resolve, 5));
          entered.add(id);
          await wait();
          return value;
        })();
      }
      const at = this.takeArmedReset(method);
      if (at === null) return base[method].apply(this, args);
      const result = base[method].apply(this, args);
      if (at === "before-commit") {
        // Synchronously after the write: it has not been committed yet, so it is rolled back.
        this.ctx.abort("injected reset before commit");
        return result;
      }
      // Let the write commit (the output gate flushes it), then reset before replying.
      return (async () => {
        const value = await result;
        await new Promise((resolve) => setTimeout(resolve, 5));
        this.ctx.abort("injected reset after commit");
        return value;
      })();
    },
  });
}

function countPeerCall(id: string, method: PeerMethod): void {
  const counts = received.get(id) ?? {};
  counts[method] = (counts[method] ?? 0) + 1;
  received.set(id, counts);
}

// The peer RPCs the reset wrapper above does not cover are counted on their own.
for (const method of PEER_METHODS) {
  if ((RESETTABLE_METHODS as readonly string[]).includes(method)) continue;
  Object.defineProperty(FaultyChatStateDO.prototype, method, {
    configurable: true,
    writable: true,
    value: function (this: FaultyChatStateDO, ...args: unknown[]): unknown {
      countPeerCall(this.ctx.id.toString(), method);
      return (ChatStateDO.prototype as unknown as Record<PeerMethod, Method>)[method].apply(this, args);
    },
  });
}
