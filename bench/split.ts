// Where the time of one call goes, Worker side: the adapter's own work per call (routing through
// wasm, stub creation, argument and JSON handling, the retry wrapper, the lock tracker), with no
// RPC. The real adapter runs against a namespace that creates the real stub (as a call would) but
// hands the adapter a stand-in whose methods answer at once what the object would answer (the
// same values, e.g. a 100-item history as JSON text for getList). The object's own time is
// measured inside the object (in-object.ts) and the RPC round trip by the no-op ceiling; the
// report (sections.mjs) puts the parts side by side with the measured time per call.
//
// The runtime clock only moves at I/O and no call here does any: each op runs `CALLS` times in a
// row between two timer turns, best of `REPS` (the box is shared; the minimum is the least
// disturbed).
import { createCloudflareState as createSeedState } from "seed-chat-state-do";
import { createCloudflareState } from "../ts/index.js";
import { message } from "./scenarios.js";

export const SPLIT_OPS = ["isSubscribed", "get", "getList", "setTtl", "setIfNotExists", "appendToList", "extendLock"] as const;
export type SplitOp = (typeof SPLIT_OPS)[number];

/** Calls per loop (getList parses 40 KB per call: fewer). */
const CALLS = 5_000;
const CALLS_OF: Partial<Record<SplitOp, number>> = { getList: 1_000 };
const REPS = 5;
const DAY = 86_400_000;
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

type Answers = Record<string, unknown>;

/** What each object answers (ours and the seed send and return values as JSON text). */
function answers(): { ours: Answers; seed: Answers } {
  const state = JSON.stringify({ subscribed: true, turn: 3, mode: "assistant", lastMessageId: "m3" });
  const history = JSON.stringify(Array.from({ length: 100 }, (_, i) => message(i)));
  return {
    ours: {
      isSubscribed: true,
      get: state,
      getList: history,
      set: undefined,
      setIfNotExists: true,
      appendToList: undefined,
      extendLock: true,
      acquireLock: null, // replaced per call below (the adapter's own token)
    },
    seed: { isSubscribed: true, cacheGet: state, cacheSet: undefined, extendLock: true },
  };
}

/**
 * A namespace whose `getByName` / `get` create the real stub (its cost is the adapter's) and
 * return a stand-in answering `answers` at once, as a resolved promise (an RPC's answer is one).
 */
function directNamespace(real: DurableObjectNamespace, answer: Answers): DurableObjectNamespace {
  const stand = new Proxy(
    {},
    {
      get(_target, method) {
        if (typeof method !== "string" || method === "then") return undefined;
        if (!(method in answer)) throw new Error(`split: no answer for ${method}`);
        return (...args: unknown[]) =>
          // acquireLock answers the lock for the caller's token (ours sends it, third argument).
          Promise.resolve(method === "acquireLock" ? { threadId: args[0], token: args[2] ?? "t", expiresAt: Date.now() + 30_000 } : answer[method]);
      },
    },
  );
  return new Proxy(real, {
    get(target: any, property) {
      if (property === "getByName") {
        return (name: string, options?: unknown) => {
          target.getByName(name, options);
          return stand;
        };
      }
      if (property === "get") {
        return (id: DurableObjectId, options?: unknown) => {
          target.get(id, options);
          return stand;
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** µs per call of the adapter's own work, for every op the implementation has. */
export async function adapterTimes(ours: DurableObjectNamespace, seed: DurableObjectNamespace): Promise<Record<"ours" | "seed", Partial<Record<SplitOp, number>>>> {
  const a = answers();
  const oursState = createCloudflareState({ namespace: directNamespace(ours, a.ours) as never, name: "split" });
  const seedState = createSeedState({ namespace: directNamespace(seed, a.seed) as never, name: "split" });
  await oursState.connect();
  await seedState.connect();
  const thread = "slack:C0123ABCD:1732680000.000100";
  const value = { subscribed: true, turn: 3, mode: "assistant", lastMessageId: "m3" };
  const item = message(100);
  const lockOf = { threadId: thread, token: "0123456789abcdef0123456789abcdef", expiresAt: Date.now() + 30_000 };
  // Ours keeps track of the locks it holds (lock-tracker.ts): extend one it was granted.
  const oursLock = (await oursState.acquireLock(thread, 30_000))!;
  type Calls = Partial<Record<SplitOp, (i: number) => Promise<unknown>>>;
  const calls: Record<"ours" | "seed", Calls> = {
    ours: {
      isSubscribed: () => oursState.isSubscribed(thread),
      get: () => oursState.get(`thread-state:${thread}`),
      getList: () => oursState.getList(`msg-history:${thread}`),
      setTtl: () => oursState.set(`thread-state:${thread}`, value, 30 * DAY),
      setIfNotExists: (i) => oursState.setIfNotExists(`dedupe:slack:split-${i}`, true, 600_000),
      appendToList: () => oursState.appendToList(`msg-history:${thread}`, item, { maxLength: 100, ttlMs: 7 * DAY }),
      extendLock: () => oursState.extendLock(oursLock, 30_000),
    },
    seed: {
      isSubscribed: () => seedState.isSubscribed(thread),
      get: () => seedState.get(`thread-state:${thread}`),
      setTtl: () => seedState.set(`thread-state:${thread}`, value, 30 * DAY),
      extendLock: () => seedState.extendLock(lockOf, 30_000),
    },
  };
  const out: Record<"ours" | "seed", Partial<Record<SplitOp, number>>> = { ours: {}, seed: {} };
  for (let rep = 0; rep < REPS; rep++) {
    for (const impl of ["ours", "seed"] as const) {
      for (const op of SPLIT_OPS) {
        const call = calls[impl][op];
        if (!call) continue;
        const n = CALLS_OF[op] ?? CALLS;
        await tick();
        const started = performance.now();
        for (let i = 0; i < n; i++) await call(i);
        await tick();
        const us = ((performance.now() - started) / n) * 1000;
        out[impl][op] = Math.min(out[impl][op] ?? Infinity, us);
      }
    }
  }
  return out;
}
