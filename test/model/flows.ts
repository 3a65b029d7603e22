// Several chat flows of one thread through ONE adapter instance, interleaved (the usual case on
// Workers: one isolate serves two webhooks of a thread, and bots build their state adapter once
// per isolate). Each flow makes exactly the calls chat 4.41.1 makes for a message under `queue`,
// `debounce` or `burst` (/work/shared/docs/production-faults.md, "The lock/queue race"): the
// holder acquires, (debounce/burst) enqueues its own message, drains with dequeue-until-null
// rounds (debounce: a queueDepth after each non-empty round) and releases; a newcomer is refused,
// asks queueDepth and enqueues — or, granted the lock early, drains as a holder itself.
//
// A scheduler decides, from a seeded stream, which flow makes its next call when: mostly in a
// turn of its own (chat spends time between its calls — platform API calls, a busy event loop —
// so the next call does not come in the continuation of the previous answer), sometimes in the
// same turn. A call the object holds (a dequeue) stays in flight while the other flows go on.
// Handlers are instantaneous: a flow "handles" messages the moment chat would call the handler.
//
// What is judged (the intended behaviour, not the adapter's heuristics): nothing left in the
// queue; every message handled exactly once; a holder's handler runs all come before the next
// holder's grant; and no dequeue still held once every enqueue announced to it (the refused
// newcomers') has been answered.
import type { Lock, QueueEntry, StateAdapter } from "chat";
import { seededRandom } from "../support/random.js";
import { sleep } from "./clock.js";

export type FlowStrategy = "queue" | "debounce" | "burst";

export interface FlowCall {
  flow: number;
  method: string;
  issuedAt: number;
  returnedAt?: number;
  result?: unknown;
}

export interface FlowRun {
  calls: FlowCall[];
  /** Message id → times handled. */
  handled: Map<string, number>;
  /** Per holder flow: when its acquire was granted, and when it handled messages. */
  tenures: { flow: number; grantedAt: number; handledAt: number[] }[];
  errors: unknown[];
}

/** How long the scheduler waits for a call before it takes it as held and lets other flows go on. */
const HELD_AFTER_MS = 40;

export async function runFlows(
  state: StateAdapter,
  key: string,
  {
    seed,
    strategy,
    newcomers,
    sameTurn = 0.25,
    debounceMs = 5,
  }: { seed: number; strategy: FlowStrategy; newcomers: number; sameTurn?: number; debounceMs?: number },
): Promise<FlowRun> {
  const random = seededRandom(seed);
  const run: FlowRun = { calls: [], handled: new Map(), tenures: [], errors: [] };
  const waiting = new Map<number, () => void>();
  let lastIssued: Promise<unknown> | undefined;

  const handle = (tenure: FlowRun["tenures"][number], ids: string[]) => {
    tenure.handledAt.push(Date.now());
    for (const id of ids) run.handled.set(id, (run.handled.get(id) ?? 0) + 1);
  };

  /** One call of `flow`: waits for its turn (unless it continues in the same turn), then calls. */
  const call = async <T>(flow: number, method: string, fn: () => Promise<T>, continuing: boolean): Promise<T> => {
    if (!continuing || random() >= sameTurn) await new Promise<void>((resolve) => waiting.set(flow, resolve));
    const record: FlowCall = { flow, method, issuedAt: Date.now() };
    run.calls.push(record);
    const promise = fn();
    lastIssued = promise.catch(() => undefined);
    const value = await promise;
    record.returnedAt = Date.now();
    record.result = value;
    return value;
  };

  const entry = (id: string): QueueEntry =>
    ({ message: { id }, enqueuedAt: Date.now(), expiresAt: Date.now() + 90_000 }) as unknown as QueueEntry;

  /** chat's drain: rounds of dequeue-until-null; each non-empty round handled (debounce: if no newer). */
  const drain = async (flow: number, tenure: FlowRun["tenures"][number], debounce: boolean) => {
    // debounce: messages superseded by a newer one, handed with it as `skipped`.
    const skipped: string[] = [];
    for (;;) {
      if (debounce) await sleep(debounceMs);
      const got: string[] = [];
      for (;;) {
        const e = await call(flow, "dequeue", () => state.dequeue(key), true);
        if (!e) break;
        got.push((e.message as unknown as { id: string }).id);
      }
      if (got.length === 0) return;
      if (debounce) {
        const depth = await call(flow, "queueDepth", () => state.queueDepth(key), true);
        if (depth > 0) {
          skipped.push(...got);
          continue;
        }
      }
      handle(tenure, [...skipped.splice(0), ...got]);
    }
  };

  const flowOf = async (flow: number) => {
    const id = `${key}#${flow}`;
    const lock: Lock | null = await call(flow, "acquireLock", () => state.acquireLock(key, 3_600_000), false);
    if (!lock) {
      await call(flow, "queueDepth", () => state.queueDepth(key), true);
      await call(flow, "enqueue", () => state.enqueue(key, entry(id), 64), true);
      return;
    }
    const tenure = { flow, grantedAt: Date.now(), handledAt: [] as number[] };
    run.tenures.push(tenure);
    try {
      if (strategy === "queue") {
        handle(tenure, [id]);
        await drain(flow, tenure, false);
      } else {
        await call(flow, "enqueue", () => state.enqueue(key, entry(id), 64), true);
        if (strategy === "burst") await sleep(debounceMs);
        await drain(flow, tenure, strategy === "debounce");
      }
    } finally {
      await call(flow, "releaseLock", () => state.releaseLock(lock), true);
    }
  };

  // Flow 0 starts first (it gets the lock); each newcomer starts after a few scheduler steps.
  const starts = Array.from({ length: newcomers }, () => 1 + Math.floor(random() * 8)).sort((a, b) => a - b);
  const flows: Promise<void>[] = [];
  let done = 0;
  const start = (flow: number) =>
    flows.push(
      flowOf(flow)
        .catch((error) => void run.errors.push(error))
        .finally(() => done++),
    );
  start(0);
  for (let step = 0; done < newcomers + 1; step++) {
    while (starts.length > 0 && starts[0]! <= step) {
      starts.shift();
      start(flows.length);
    }
    await sleep(1); // a turn of its own
    const ready = [...waiting.keys()];
    if (ready.length === 0) {
      if (starts.length > 0) starts[0] = step + 1; // nobody waits: start the next newcomer now
      continue;
    }
    const flow = ready[Math.floor(random() * ready.length)]!;
    const go = waiting.get(flow)!;
    waiting.delete(flow);
    go();
    await Promise.resolve();
    // Let the call return, or take it as held and let the others go on.
    if (lastIssued) await Promise.race([lastIssued, sleep(HELD_AFTER_MS)]);
  }
  await Promise.all(flows);
  return run;
}

/** The properties of a run (empty when it holds); `stuckMs`: how late a dequeue may answer. */
export function judgeFlows(run: FlowRun, key: string, newcomers: number, stuckMs: number): string[] {
  const problems: string[] = [];
  for (const error of run.errors) problems.push(`a flow failed: ${String(error)}`);
  const ids = Array.from({ length: newcomers + 1 }, (_, i) => `${key}#${i}`);
  for (const id of ids) {
    const n = run.handled.get(id) ?? 0;
    if (n !== 1) problems.push(`${id} handled ${n} times`);
  }
  const tenures = [...run.tenures].sort((a, b) => a.grantedAt - b.grantedAt);
  for (let i = 1; i < tenures.length; i++) {
    const late = tenures[i - 1]!.handledAt.filter((t) => t > tenures[i]!.grantedAt);
    if (late.length > 0) problems.push(`flow ${tenures[i - 1]!.flow} handled after flow ${tenures[i]!.flow} was granted the lock`);
  }
  for (const d of run.calls) {
    if (d.method !== "dequeue" || d.returnedAt === undefined) continue;
    const refused = run.calls.filter(
      (c) => c.method === "acquireLock" && c.flow !== d.flow && c.result === null && c.returnedAt !== undefined && c.returnedAt < d.returnedAt!,
    );
    let arrived = d.issuedAt;
    let allArrived = true;
    for (const r of refused) {
      const enqueue = run.calls.find((c) => c.method === "enqueue" && c.flow === r.flow);
      if (enqueue?.returnedAt === undefined || enqueue.returnedAt > d.returnedAt) allArrived = false;
      else arrived = Math.max(arrived, enqueue.returnedAt);
    }
    if (allArrived && d.returnedAt - arrived > stuckMs) {
      problems.push(
        `flow ${d.flow}'s dequeue answered ${d.returnedAt - arrived} ms after every announced enqueue (${refused.length}) had been answered`,
      );
    }
  }
  return problems;
}

/** The calls of a run, one line each, for a failure message. */
export function traceFlows(run: FlowRun): string {
  const t0 = run.calls[0]?.issuedAt ?? 0;
  return run.calls
    .map((c) => {
      const r = c.result as { message?: { id?: string }; token?: string } | null | undefined;
      const shown = r && typeof r === "object" ? (r.message?.id ?? (r.token ? "lock" : "…")) : String(r);
      return `  +${c.issuedAt - t0} ms flow ${c.flow} ${c.method} → ${shown} (${c.returnedAt === undefined ? "pending" : `${c.returnedAt - c.issuedAt} ms`})`;
    })
    .join("\n");
}
