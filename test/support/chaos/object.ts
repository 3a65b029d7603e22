// The Durable Object the chaos tests run on: a FaultyChatStateDO (resets armed mid-call) whose
// calls to *other objects* — the re-sharding messages of ts/object/handoff.ts: handOver,
// handoffImport, handoffHasImport, handoffSourceDrained, handoffSourceRetired — go through a
// FaultyNamespace too, so they can be lost on the way (never arrive) or lose their reply after
// they ran, exactly as adapter → object calls can. Objects reach each other through
// `ctx.exports`; this class shadows `ctx.exports` on its own state object with a wrapper before
// the product's constructor reads it, so no product code knows about the faults.
//
// It also records, for the figures, every dequeue the object holds (ts/object/held-dequeues.ts): when
// the hold started and when it answered. That is a patch of HeldDequeues' prototype in this
// isolate, recording only while `chaosObjects.recording` is set; it changes no answer.
//
// The configuration is module state: the test and the objects run in one isolate (the vitest
// pool), so a test sets `chaosObjects.peerPlan` and every object sees it, across resets.
import { HeldDequeues } from "../../../ts/object/held-dequeues.js";
import { FaultyNamespace, type FaultPlan } from "../faulty-namespace.js";
import { FaultyChatStateDO, PEER_METHODS, RESETTABLE_METHODS } from "../faulty-object.js";

/** One dequeue the object held: from the moment the core asked to hold it to its answer. */
export interface HoldRecord {
  key: string;
  startedAt: number;
  endedAt?: number;
  /** What it answered: an entry, null, or an error (e.g. its key moved meanwhile: asked again there). */
  answered?: "entry" | "null" | "error";
}

export const chaosObjects = {
  /** Decides the fault of each object-to-object call; null: none. */
  peerPlan: null as FaultPlan | null,
  /** Delay before each object-to-object call (network between objects). */
  peerJitterMs: (): number => 0,
  /** Counted over all objects: object-to-object calls, and how many failed before/after. */
  peerCounts: { calls: 0, before: 0, after: 0 },
  /** Whether held dequeues are being recorded into `holds`. */
  recording: false,
  holds: [] as HoldRecord[],
  /** Calls an object rejected with an error it raised itself (not an injected fault), while recording. */
  errors: [] as { method: string; message: string; stack: string; args: string }[],
};

/** Whether an error is one of the faults the kit injects (or an object reset), not the object's own. */
export function injected(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { message?: unknown; retryable?: unknown; overloaded?: unknown; durableObjectReset?: unknown };
  if (e.retryable === true || e.overloaded === true || e.durableObjectReset === true) return true;
  return typeof e.message === "string" && /injected reset|Network connection lost|broken\.outputGateBroken|reset because/.test(e.message);
}

/** Wrappers of the real namespaces (one per namespace, so a call's fault streak is counted once). */
const wrapped = new WeakMap<object, FaultyNamespace>();

function faultyPeers(real: DurableObjectNamespace): unknown {
  let faulty = wrapped.get(real);
  if (!faulty) {
    faulty = new FaultyNamespace(
      real as never,
      (call) => {
        const fault = chaosObjects.peerPlan?.(call) ?? null;
        chaosObjects.peerCounts.calls++;
        if (fault === "before" || fault === "after") chaosObjects.peerCounts[fault]++;
        return fault;
      },
      { maxConsecutive: 2, jitterMs: () => chaosObjects.peerJitterMs() },
    );
    wrapped.set(real, faulty);
  }
  return faulty.namespace;
}

export class ChaosChatStateDO extends FaultyChatStateDO {
  constructor(ctx: DurableObjectState, env: unknown) {
    const exports = (ctx as unknown as { exports?: Record<string, unknown> }).exports;
    if (exports) {
      // Only this class's own namespace (the one ts/object/handoff.ts calls peers through) is wrapped.
      const view = new Proxy(exports, {
        get: (target, prop) => {
          const value = Reflect.get(target, prop);
          return prop === "ChaosChatStateDO" && value ? faultyPeers(value as DurableObjectNamespace) : value;
        },
      });
      Object.defineProperty(ctx, "exports", { value: view, configurable: true });
    }
    super(ctx, env);
  }
}

// Every RPC method of the object records the errors it rejects with (an internal protocol check
// that fires is visible here even when a retry then hides it from chat).
const recorded = [...new Set<string>([...RESETTABLE_METHODS, ...PEER_METHODS, "handoffDrain"])];
for (const method of recorded) {
  const inherited = (FaultyChatStateDO.prototype as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
  if (typeof inherited !== "function") continue;
  Object.defineProperty(ChaosChatStateDO.prototype, method, {
    configurable: true,
    writable: true,
    value: function (this: ChaosChatStateDO, ...args: unknown[]): unknown {
      const note = (error: unknown) => {
        if (chaosObjects.recording && !injected(error)) {
          const e = error instanceof Error ? error : new Error(String(error));
          chaosObjects.errors.push({
            method,
            message: e.message,
            stack: (e.stack ?? "").split("\n").slice(1, 5).join(" ← "),
            // The arguments, `via` last: how the caller routed the call.
            args: JSON.stringify(args).slice(0, 400),
          });
        }
        throw error;
      };
      try {
        const result = inherited.apply(this, args);
        return result instanceof Promise ? result.catch(note) : result;
      } catch (error) {
        return note(error);
      }
    },
  });
}

type Hold = (this: HeldDequeues, key: string, first: number, ask: () => unknown) => Promise<string | null>;
const proto = HeldDequeues.prototype as unknown as { hold?: Hold; __chaosPatched?: true };
if (typeof proto.hold === "function" && !proto.__chaosPatched) {
  const original = proto.hold;
  proto.__chaosPatched = true;
  proto.hold = async function (this: HeldDequeues, key: string, first: number, ask: () => unknown) {
    const record: HoldRecord = { key, startedAt: Date.now() };
    if (chaosObjects.recording) chaosObjects.holds.push(record);
    try {
      const answer = await original.call(this, key, first, ask);
      record.answered = answer === null ? "null" : "entry";
      return answer;
    } catch (error) {
      record.answered = "error";
      throw error;
    } finally {
      record.endedAt = Date.now();
    }
  };
}
