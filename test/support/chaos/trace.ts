// Short call-by-call traces for a chaos run's failure messages, and error descriptions.
import type { Dispatch } from "./bot.js";
import type { SurfaceCall } from "./surface.js";

export function summarize(value: unknown): unknown {
  if (value === null || value === undefined || typeof value !== "object") return value;
  const v = value as { message?: { id?: string }; token?: string };
  if (v.message?.id) return `entry ${v.message.id}`;
  if (v.token) return `lock ${v.token.slice(0, 6)}`;
  return "…";
}

export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const flags = ["retryable", "durableObjectReset", "overloaded", "remote"]
    .filter((f) => (error as unknown as Record<string, unknown>)[f] !== undefined)
    .map((f) => `${f}=${String((error as unknown as Record<string, unknown>)[f])}`);
  const at = (error.stack ?? "").split("\n").slice(1, 3).map((l) => l.trim()).join(" ← ");
  return `${error.message}${flags.length ? ` [${flags.join(", ")}]` : ""}${at ? ` at ${at}` : ""}`;
}

/** Short call-by-call traces for the failure messages (times relative to the run's start). */
export function traceOf(log: SurfaceCall[], dispatches: Dispatch[], t0: number, resets: { at: number; what: string }[]) {
  const line = (c: SurfaceCall) => {
    const took = c.exitedAt !== undefined && c.enteredAt !== undefined ? `${c.exitedAt - c.enteredAt} ms` : "pending";
    const out = c.error !== undefined ? `threw ${describe(c.error).slice(0, 120)}` : JSON.stringify(summarize(c.result));
    const arg = c.method === "enqueue" ? ` ${summarize(c.args[1])}` : "";
    return `  +${(c.enteredAt ?? c.issuedAt) - t0} ms w${c.worker} ${c.flow ?? "-"} ${c.method}${arg} → ${out} (${took})`;
  };
  const dispatch = (d: Dispatch) =>
    `handler of ${d.message} (+${d.skipped.length} skipped) in w${d.worker} flow ${d.flow} at +${d.startedAt - t0}..${d.endedAt === undefined ? "?" : `+${d.endedAt - t0}`} ms`;
  /** The calls, one line each, with the resets made around them in time order. */
  const withResets = (shown: SurfaceCall[]) => {
    const from = (shown[0]?.enteredAt ?? shown[0]?.issuedAt ?? 0) - 2_000;
    const to = shown.at(-1)?.exitedAt ?? Date.now();
    return [
      ...shown.map((c) => ({ at: c.enteredAt ?? c.issuedAt, text: line(c) })),
      ...resets.filter((r) => r.at >= from && r.at <= to).map((r) => ({ at: r.at, text: `  +${r.at - t0} ms RESET: ${r.what}` })),
    ]
      .sort((a, b) => a.at - b.at)
      .map((l) => l.text)
      .join("\n");
  };
  const queueish = new Set(["acquireLock", "queueDepth", "enqueue", "dequeue", "releaseLock"]);
  return {
    dispatch,
    flow(flow: string, threadId: string) {
      const calls = log.filter((c) => c.flow === flow && (c.key === threadId || queueish.has(c.method) || c.method === "setIfNotExists"));
      return withResets(calls.slice(0, 16));
    },
    thread(threadId: string, max: number, around?: number) {
      const calls = log.filter((c) => c.key === threadId && queueish.has(c.method));
      const at = around === undefined ? calls.length : calls.findIndex((c) => (c.enteredAt ?? c.issuedAt) >= around);
      const start = Math.max(0, (at < 0 ? calls.length : at) - Math.floor(max / 2));
      return withResets(calls.slice(start, start + max));
    },
    handlersOf(id: string) {
      return dispatches.filter((d) => d.message === id || d.skipped.includes(id)).map((d) => `  ${dispatch(d)}`).join("\n");
    },
    appendsOf(id: string) {
      return log.filter((c) => c.method === "appendToList" && c.args[1] === id).map(line).join("\n");
    },
  };
}

