// The held dequeues of a chaos run: which were held for nothing (an announced enqueue had long
// arrived), and the figures of every hold the objects made.
import type { Recorder } from "./bot.js";
import type { SurfaceCall } from "./surface.js";
import { summarize } from "./trace.js";

/** A dequeue answering later than this after the last announced enqueue arrived was held for nothing. */
export const STUCK_MS = 3_000;
/** The default retry policy's patience (ts/worker/adapter.ts): a refused newcomer's enqueue is awaited 2× this. */
const PATIENCE_MS = 6_000;

export interface WaitFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function waitFigures(waits: number[]): WaitFigures {
  const sorted = [...waits].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0 };
}

/**
 * Dequeues still pending STUCK_MS after every enqueue announced to them had reached the object:
 * the newcomers refused the lock on the dequeue's thread (in another flow) before it answered,
 * each judged by its enqueue's answer. A newcomer that never enqueued (its flow failed, or chat
 * dropped it) may legitimately be waited for up to the bound: such a dequeue is not judged.
 */
export function stuckDequeues(log: SurfaceCall[], reports: Recorder["reports"]) {
  const failedFlows = new Set([...reports.errors.map((e) => e.flow), ...reports.queueFull]);
  const stuck: { call: SurfaceCall; detail: string }[] = [];
  for (const d of log) {
    if (d.method !== "dequeue" || d.enteredAt === undefined || d.exitedAt === undefined) continue;
    const { enteredAt, exitedAt } = d;
    const refusals = log.filter(
      (c) =>
        c.method === "acquireLock" &&
        c.key === d.key &&
        c.flow !== d.flow &&
        c.result === null &&
        c.exitedAt !== undefined &&
        c.exitedAt <= exitedAt &&
        c.issuedAt >= enteredAt - 2 * PATIENCE_MS,
    );
    let arrived = enteredAt;
    let judged = true;
    for (const r of refusals) {
      const enqueue = log.find((c) => c.method === "enqueue" && c.flow === r.flow && c.key === d.key && c.issuedAt >= r.issuedAt);
      if (enqueue?.exitedAt === undefined || enqueue.error !== undefined) {
        if (failedFlows.has(r.flow) || enqueue?.error !== undefined || !enqueue) judged = false;
        continue;
      }
      arrived = Math.max(arrived, enqueue.exitedAt);
    }
    if (!judged) continue;
    const excess = exitedAt - arrived;
    if (excess > STUCK_MS) {
      stuck.push({
        call: d,
        detail:
          `a dequeue on ${d.key} (worker ${d.worker}, flow ${d.flow}) answered ${JSON.stringify(summarize(d.result))} ` +
          `${excess} ms after the last of ${refusals.length} announced enqueues had been answered ` +
          `(it took ${exitedAt - enteredAt} ms)`,
      });
    }
  }
  return stuck;
}

