// What the queue-race mitigation (src/guarantees/tenure/) costs, per chat message, in the call sequences of
// chat 4.41's `queue` concurrency strategy (dist/index.js: handleQueueOrDebounce, drainQueue,
// withHeldLock). Three kinds of unit, alternating one by one on one object so they share the load:
// - `lock`: the bench's "one chat message" (lock strategy): dedupe setIfNotExists, isSubscribed,
//   acquireLock, get + set thread state, appendToList to the thread's and the channel's 100-item
//   histories, releaseLock;
// - `queue`: the same message under the queue strategy, alone on its thread: acquireLock, the
//   handler's calls, then the drain's dequeue (empty: the tenure's first, so its final one), then
//   releaseLock;
// - `pair`: two messages on one thread, the second arriving while the first holds the lock. The
//   second (its own adapter, as another Worker request) runs dedupe and isSubscribed, is refused
//   the lock, asks queueDepth and enqueues. The holder's drain starts right after the refusal: its
//   dequeue is sent before the newcomer's queueDepth, so it finds the queue empty while the
//   refusal's announcement is live, and the object holds it until the entry lands (tenure.rs,
//   "Wait"); then it answers the entry, the next dequeue is empty (not final: the one before took
//   an entry), the handler runs for the second message, the final dequeue is empty, releaseLock.
// Without the mitigation the holder's first dequeue would have answered null at once, the holder
// would have released, and the second message would be stranded (vercel/chat#928).
// Whether the object did hold it is counted in the object (bench-only: an enqueue that arrives
// while a dequeue on the same key is still pending), not inferred from times.
import type { Lock, StateAdapter } from "chat";
import { createCloudflareState } from "../ts/index.js";
import { countingNamespace, type ObjectRef, type RowCounts, type RpcCounter } from "./counting.js";
import { DEDUPE_TTL, HISTORY_TTL, LOCK_TTL, THREAD_STATE_TTL, WINDOW, fillHistory, message, threadState } from "./scenarios.js";
import type { Env } from "./worker.js";

export const QUEUE_KINDS = ["lock", "queue", "pair"] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

export interface KindFigures {
  units: number;
  messages: number;
  /** Sums over the units. */
  rpc: number;
  rowsRead: number;
  rowsWritten: number;
  /** ms per unit. */
  samples: number[];
  /** Mean ms per unit over windows of WINDOW units. */
  windows: number[];
  /** Rows read by each unit, in order. */
  rowsReadPerUnit: number[];
}

export interface QueueFigures {
  kinds: Record<QueueKind, KindFigures>;
  /** ms of the holder's empty final dequeue, alone (`queue`). */
  soloDequeue: number[];
  /** ms of the holder's dequeue the object held until the newcomer's entry landed (`pair`). */
  heldDequeue: number[];
  /** ms of the newcomer's queueDepth + enqueue (`pair`), which that dequeue waited for. */
  newcomer: number[];
  /** ms of the `pair` holder's final (empty) dequeue. */
  pairFinalDequeue: number[];
  /** Pairs in which the newcomer's enqueue reached the object while the holder's dequeue was pending. */
  held: number;
  pairs: number;
  /** How long the measured units ran, s. */
  seconds: number;
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function rowsOf(touched: Map<string, ObjectRef>): Promise<RowCounts> {
  const total = { rowsRead: 0, rowsWritten: 0 };
  for (const ref of touched.values()) {
    const r = await ref().rowCounts();
    total.rowsRead += r.rowsRead;
    total.rowsWritten += r.rowsWritten;
  }
  return total;
}

/**
 * `budgetMs` of alternating units (one caller), after `warmup` units of each kind. The holder's
 * adapter and the newcomer's count into one counter; rows are the object's own counters.
 */
export async function queueCosts(env: Env, object: string, tag: string, budgetMs: number, warmup: number): Promise<QueueFigures> {
  const counter: RpcCounter = { rpc: 0 };
  const touched = new Map<string, ObjectRef>();
  const adapter = () =>
    createCloudflareState({ namespace: countingNamespace(env.OURS, counter, touched) as never, name: object }) as unknown as StateAdapter;
  const holder = adapter();
  const newcomer = adapter();
  await holder.connect();
  await newcomer.connect();
  const channelKey = `msg-history:slack:C0123ABCD`;
  await fillHistory(holder, channelKey);
  const threads = Object.fromEntries(
    QUEUE_KINDS.map((kind) => [kind, `slack:C0123ABCD:${tag}-queue-${kind}`]),
  ) as Record<QueueKind, string>;
  for (const kind of QUEUE_KINDS) {
    await holder.subscribe(threads[kind]);
    await fillHistory(holder, `msg-history:${threads[kind]}`);
  }
  const figures: QueueFigures = {
    kinds: Object.fromEntries(
      QUEUE_KINDS.map((kind) => [kind, { units: 0, messages: 0, rpc: 0, rowsRead: 0, rowsWritten: 0, samples: [], windows: [], rowsReadPerUnit: [] }]),
    ) as unknown as Record<QueueKind, KindFigures>,
    soloDequeue: [],
    heldDequeue: [],
    newcomer: [],
    pairFinalDequeue: [],
    held: 0,
    pairs: 0,
    seconds: 0,
  };
  const bench = () => env.OURS.getByName(object);

  /** dedupe + isSubscribed: what chat does for every message before it looks at the lock. */
  const arrive = async (state: StateAdapter, thread: string, id: string) => {
    if (!(await state.setIfNotExists(`dedupe:slack:${id}`, true, DEDUPE_TTL))) throw new Error(`duplicate message ${id}`);
    await state.isSubscribed(thread);
  };
  /** The handler's calls: thread state read-merge-write, the two histories appended. */
  const handle = async (state: StateAdapter, thread: string, i: number) => {
    const key = `thread-state:${thread}`;
    const current = (await state.get<Record<string, unknown>>(key)) ?? {};
    await state.set(key, { ...current, ...threadState(i) }, THREAD_STATE_TTL);
    await state.appendToList(`msg-history:${thread}`, message(100 + i), { maxLength: 100, ttlMs: HISTORY_TTL });
    await state.appendToList(channelKey, message(100 + i), { maxLength: 100, ttlMs: HISTORY_TTL });
  };
  const acquire = async (state: StateAdapter, thread: string): Promise<Lock> => {
    const lock = await state.acquireLock(thread, LOCK_TTL);
    if (!lock) throw new Error(`acquireLock on ${thread} refused`);
    return lock;
  };
  const timed = async <T>(into: number[] | null, call: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const value = await call();
    into?.push(performance.now() - t0);
    return value;
  };

  const units: Record<QueueKind, (i: number, record: boolean) => Promise<number>> = {
    lock: async (i) => {
      const t = threads.lock;
      await arrive(holder, t, `${tag}-lock-${i}`);
      const lock = await acquire(holder, t);
      await handle(holder, t, i);
      await holder.releaseLock(lock);
      return 1;
    },
    queue: async (i, record) => {
      const t = threads.queue;
      await arrive(holder, t, `${tag}-queue-${i}`);
      const lock = await acquire(holder, t);
      await handle(holder, t, i);
      const entry = await timed(record ? figures.soloDequeue : null, () => holder.dequeue(t));
      if (entry !== null) throw new Error("queue: the lone message's dequeue answered an entry");
      await holder.releaseLock(lock);
      return 1;
    },
    pair: async (i, record) => {
      const t = threads.pair;
      await arrive(holder, t, `${tag}-pair-${i}-a`);
      const lock = await acquire(holder, t);
      await handle(holder, t, i);
      // The second message arrives while the lock is held.
      await arrive(newcomer, t, `${tag}-pair-${i}-b`);
      if ((await newcomer.acquireLock(t, LOCK_TTL)) !== null) throw new Error("pair: the newcomer was granted a held lock");
      // The holder's drain begins; the newcomer's queueDepth and enqueue are sent right after.
      const t0 = performance.now();
      let heldMs = 0;
      const first = holder.dequeue(t).then((entry) => {
        heldMs = performance.now() - t0;
        return entry;
      });
      const n0 = performance.now();
      await newcomer.queueDepth(t);
      const now = Date.now();
      await newcomer.enqueue(t, { message: message(200 + i), enqueuedAt: now, expiresAt: now + 90_000 } as never, 10);
      const newcomerMs = performance.now() - n0;
      if ((await first) === null) throw new Error("pair: the holder's drain missed the queued message (stranded)");
      if ((await holder.dequeue(t)) !== null) throw new Error("pair: a second entry was queued");
      await handle(holder, t, 200 + i);
      const last = await timed(record ? figures.pairFinalDequeue : null, () => holder.dequeue(t));
      if (last !== null) throw new Error("pair: the final dequeue answered an entry");
      await holder.releaseLock(lock);
      if (record) {
        figures.heldDequeue.push(heldMs);
        figures.newcomer.push(newcomerMs);
      }
      return 2;
    },
  };

  for (let w = 0; w < warmup; w++) for (const kind of QUEUE_KINDS) await units[kind](-1 - w, false);
  const windowMs: Record<QueueKind, number> = { lock: 0, queue: 0, pair: 0 };
  await tick();
  const started = performance.now();
  for (let i = 0; performance.now() - started < budgetMs; i++) {
    for (let j = 0; j < QUEUE_KINDS.length; j++) {
      const kind = QUEUE_KINDS[(i + j) % QUEUE_KINDS.length]!;
      const f = figures.kinds[kind];
      const rowsBefore = await rowsOf(touched);
      const holdsBefore = kind === "pair" ? (await bench().benchTotals()).enqueuesWhileDequeuePending : 0;
      const rpcBefore = counter.rpc;
      const t0 = performance.now();
      const messages = await units[kind](i, true);
      const dt = performance.now() - t0;
      f.rpc += counter.rpc - rpcBefore;
      const rowsAfter = await rowsOf(touched);
      f.rowsRead += rowsAfter.rowsRead - rowsBefore.rowsRead;
      f.rowsReadPerUnit.push(rowsAfter.rowsRead - rowsBefore.rowsRead);
      f.rowsWritten += rowsAfter.rowsWritten - rowsBefore.rowsWritten;
      if (kind === "pair") {
        figures.pairs++;
        figures.held += (await bench().benchTotals()).enqueuesWhileDequeuePending - holdsBefore;
      }
      f.units++;
      f.messages += messages;
      f.samples.push(dt);
      windowMs[kind] += dt;
      if (f.units % WINDOW === 0) {
        f.windows.push(windowMs[kind] / WINDOW);
        windowMs[kind] = 0;
      }
    }
  }
  figures.seconds = (performance.now() - started) / 1000;
  return figures;
}
