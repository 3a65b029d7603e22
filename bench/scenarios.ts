// The operations measured, written once against chat's `StateAdapter` and run against every
// implementation: ours, the peers, and the in-process memory floor. Each run is one "cell":
// `callers` async callers, each doing `units` units of one operation back to back, in the same
// runtime the adapter runs in production (a Worker, or for Cloudflare's agents adapter the
// parent Agent it lives in).
import type { Lock, StateAdapter } from "chat";

export const OPS = [
  "setIfNotExists",
  "isSubscribed",
  "lockRelease",
  "extendLock",
  "get",
  "setTtl",
  "appendToList",
  "getList",
  "enqueueDequeue",
  "message",
] as const;
/** `noop` and `write1` are the ceilings' one call; they are not adapter operations. */
export type Op = (typeof OPS)[number] | "noop" | "write1";

/** Which adapter methods each op needs (a peer lacking one cannot run it). */
export const OP_METHODS: Record<(typeof OPS)[number], (keyof StateAdapter)[]> = {
  setIfNotExists: ["setIfNotExists"],
  isSubscribed: ["subscribe", "isSubscribed"],
  lockRelease: ["acquireLock", "releaseLock"],
  extendLock: ["acquireLock", "extendLock"],
  get: ["set", "get"],
  setTtl: ["set"],
  appendToList: ["appendToList"],
  getList: ["appendToList", "getList"],
  enqueueDequeue: ["enqueue", "dequeue"],
  message: [
    "setIfNotExists",
    "isSubscribed",
    "acquireLock",
    "get",
    "set",
    "appendToList",
    "releaseLock",
  ],
};

export interface CellSpec {
  op: Op;
  /** Unique per cell so keys never collide between cells, rounds or runs. */
  tag: string;
  /** Stable per implementation and op: the 100-item lists are filled once and reused. */
  home: string;
  callers: number;
  /** Most units per caller. */
  units: number;
  /** Each caller stops starting units after this long (the slowest peers get fewer units). */
  budgetMs: number;
  /** Units per caller run before timing starts. */
  warmup: number;
}

export interface CellResult {
  units: number;
  ms: number;
  /** Per-unit times in ms at the runtime clock's resolution. */
  samples: number[];
  /** Mean ms per unit over consecutive windows of `WINDOW` units (first caller only). */
  windows: number[];
}

export const WINDOW = 10;
const DAY = 86_400_000;
export const THREAD_STATE_TTL = 30 * DAY;
export const HISTORY_TTL = 7 * DAY;
export const DEDUPE_TTL = 600_000;
export const LOCK_TTL = 30_000;

/** A Slack-like message of realistic size (~400 bytes of JSON), as chat stores in history. */
export function message(i: number): Record<string, unknown> {
  return {
    id: `1732680000.${String(100000 + i)}`,
    threadId: "slack:C0123ABCD:1732680000.000100",
    text: "Can you summarise what changed in the deploy pipeline since Tuesday and who approved it?",
    author: { userId: "U0456EFGH", userName: "dana", fullName: "Dana Example", isBot: false, isMe: false },
    metadata: { dateSent: "2026-11-27T03:40:00.000Z", edited: false },
    attachments: [],
  };
}

export const threadState = (i: number) => ({ subscribed: true, turn: i, mode: "assistant", lastMessageId: `m${i}` });

/** Thread ids share the first two segments, so sharding adapters keep one cell on one shard. */
const thread = (tag: string, caller: number) => `slack:C0123ABCD:${tag}-${caller}`;

/** The channel's history: one list all callers append to, as threads of one channel do. */
const channelHistory = (home: string) => `msg-history:slack:C0123ABCD:${home}-channel`;

/** Fills a list to its steady state of 100 items, once per run (lists are reused across cells). */
export async function fillHistory(state: StateAdapter, key: string): Promise<void> {
  if ((await state.getList(key)).length >= 100) return;
  for (let i = 0; i < 100; i++) {
    await state.appendToList(key, message(i), { maxLength: 100, ttlMs: HISTORY_TTL });
  }
}

/** Prepares what an op needs for one caller; returns the per-unit action. */
async function prepare(
  state: StateAdapter,
  op: Op,
  tag: string,
  home: string,
  caller: number,
): Promise<(i: number) => Promise<void>> {
  const threadId = thread(tag, caller);
  const stateKey = `thread-state:${threadId}`;
  const historyKey = `msg-history:${thread(home, caller)}`;
  const channelKey = channelHistory(home);
  switch (op) {
    case "noop":
    case "write1":
      return async () => {
        await (state as unknown as Record<string, () => Promise<void>>)[op]!();
      };
    case "setIfNotExists":
      return async (i) => {
        const won = await state.setIfNotExists(`dedupe:slack:${tag}-${caller}-${i}`, true, DEDUPE_TTL);
        if (!won) throw new Error("setIfNotExists on a new key returned false");
      };
    case "isSubscribed":
      await state.subscribe(threadId);
      return async () => {
        if (!(await state.isSubscribed(threadId))) throw new Error("isSubscribed returned false");
      };
    case "lockRelease":
      return async () => {
        const lock = await state.acquireLock(threadId, LOCK_TTL);
        if (!lock) throw new Error("acquireLock returned null");
        await state.releaseLock(lock);
      };
    case "extendLock": {
      const lock = await state.acquireLock(threadId, LOCK_TTL);
      if (!lock) throw new Error("acquireLock returned null");
      return async () => {
        if (!(await state.extendLock(lock, LOCK_TTL))) throw new Error("extendLock returned false");
      };
    }
    case "get":
      await state.set(stateKey, threadState(0), THREAD_STATE_TTL);
      return async () => {
        if ((await state.get(stateKey)) === null) throw new Error("get missed");
      };
    case "setTtl":
      return async (i) => {
        await state.set(stateKey, threadState(i), THREAD_STATE_TTL);
      };
    case "appendToList":
      return async (i) => {
        await state.appendToList(channelKey, message(100 + i), { maxLength: 100, ttlMs: HISTORY_TTL });
      };
    case "getList":
      return async () => {
        const list = await state.getList(channelKey);
        if (list.length !== 100) throw new Error(`getList returned ${list.length} items`);
      };
    case "enqueueDequeue":
      return async (i) => {
        const now = Date.now();
        const entry = { enqueuedAt: now, expiresAt: now + 90_000, message: message(i) };
        await state.enqueue(threadId, entry as never, 10);
        if ((await state.dequeue(threadId)) === null) throw new Error("dequeue returned null");
      };
    case "message": {
      // One incoming message as chat 4.41 handles it with a lock strategy and thread history:
      // dedupe, isSubscribed, lock, thread state read-merge-write, history appended to the
      // thread's and the channel's 100-item lists, release.
      await fillHistory(state, historyKey);
      return async (i) => {
        if (!(await state.setIfNotExists(`dedupe:slack:${tag}-${caller}-${i}`, true, DEDUPE_TTL))) {
          throw new Error("duplicate message");
        }
        await state.isSubscribed(threadId);
        const lock: Lock | null = await state.acquireLock(threadId, LOCK_TTL);
        if (!lock) throw new Error("acquireLock returned null");
        const current = (await state.get<Record<string, unknown>>(stateKey)) ?? {};
        await state.set(stateKey, { ...current, ...threadState(i) }, THREAD_STATE_TTL);
        await state.appendToList(historyKey, message(100 + i), { maxLength: 100, ttlMs: HISTORY_TTL });
        await state.appendToList(channelKey, message(100 + i), { maxLength: 100, ttlMs: HISTORY_TTL });
        await state.releaseLock(lock);
      };
    }
  }
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Runs one cell. `measure` brackets the timed part (so counters can be read right before and
 * after it, excluding preparation and warm-up).
 */
export async function runCell(
  state: StateAdapter,
  spec: CellSpec,
  measure: (timed: () => Promise<void>) => Promise<void> = (timed) => timed(),
): Promise<CellResult> {
  if (spec.op === "appendToList" || spec.op === "getList" || spec.op === "message") {
    await fillHistory(state, channelHistory(spec.home));
  }
  const actions = await Promise.all(
    Array.from({ length: spec.callers }, (_, caller) => prepare(state, spec.op, spec.tag, spec.home, caller)),
  );
  await Promise.all(
    actions.map(async (action) => {
      for (let i = 0; i < spec.warmup; i++) await action(-1 - i);
    }),
  );
  const samples: number[] = [];
  const windows: number[] = [];
  let ms = 0;
  let units = 0;
  await measure(async () => {
    // The runtime clock only moves at I/O; a timer turn makes sure it is current at both ends
    // (the in-process memory adapter does no I/O at all).
    await tick();
    const started = performance.now();
    await Promise.all(
      actions.map(async (action, caller) => {
        let windowStart = performance.now();
        for (let i = 0; i < spec.units && performance.now() - started < spec.budgetMs; i++) {
          units++;
          const t0 = performance.now();
          await action(i);
          const t1 = performance.now();
          samples.push(t1 - t0);
          if (caller === 0 && (i + 1) % WINDOW === 0) {
            windows.push((t1 - windowStart) / WINDOW);
            windowStart = t1;
          }
        }
      }),
    );
    await tick();
    ms = performance.now() - started;
  });
  return { units, ms, samples, windows };
}

/**
 * Runs one op on several implementations at once, one caller, alternating unit by unit (the
 * order rotates every unit), so every implementation sees the same load at the same moments:
 * on a shared machine this is what makes their figures comparable. Each implementation's time
 * is the sum of its own units' times.
 */
export async function runInterleaved(
  entries: { state: StateAdapter; op: Op }[],
  spec: CellSpec,
  measure: (timed: () => Promise<void>) => Promise<void>,
): Promise<CellResult[]> {
  const actions: ((i: number) => Promise<void>)[] = [];
  for (const { state, op } of entries) {
    if (op === "appendToList" || op === "getList" || op === "message") {
      await fillHistory(state, channelHistory(spec.home));
    }
    const action = await prepare(state, op, spec.tag, spec.home, 0);
    for (let i = 0; i < spec.warmup; i++) await action(-1 - i);
    actions.push(action);
  }
  const results: CellResult[] = entries.map(() => ({ units: 0, ms: 0, samples: [], windows: [] }));
  const windowStart = entries.map(() => 0);
  await measure(async () => {
    await tick();
    const started = performance.now();
    for (let i = 0; i < spec.units && performance.now() - started < spec.budgetMs; i++) {
      for (let j = 0; j < actions.length; j++) {
        const k = (i + j) % actions.length;
        const t0 = performance.now();
        await actions[k]!(i);
        const dt = performance.now() - t0;
        const r = results[k]!;
        r.units++;
        r.ms += dt;
        r.samples.push(dt);
        windowStart[k]! += dt;
        if (r.units % WINDOW === 0) {
          r.windows.push(windowStart[k]! / WINDOW);
          windowStart[k] = 0;
        }
      }
    }
  });
  return results;
}
