// The adapter's retry policy (ts/shared/retry.ts) through the public API: what is retried, how often,
// what is logged, what the caller finally sees.
import { env } from "cloudflare:test";
import type { Logger } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState, DEFAULT_RETRY, type RetryOptions } from "../ts/index.js";
import { backoffMs, isRetryable, resolveRetryPolicy } from "../ts/shared/retry.js";
import { FaultyNamespace, retryableError, type FaultKind } from "./support/faulty-namespace.js";

let run = 0;

interface Logged {
  level: string;
  message: string;
  context: Record<string, unknown>;
}

function recordingLogger(): { logger: Logger; logged: Logged[] } {
  const logged: Logged[] = [];
  const at =
    (level: string) =>
    (message: string, context?: unknown): void => {
      logged.push({ level, message, context: (context ?? {}) as Record<string, unknown> });
    };
  const logger: Logger = {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => logger,
  } as Logger;
  return { logger, logged };
}

async function setup(plan: (attempt: number, method: string) => FaultKind | null, retry?: false | RetryOptions) {
  const name = `retry-${run++}`;
  const attempts = new Map<string, number>();
  const faulty = new FaultyNamespace(
    env.CHAT_STATE,
    ({ method }) => {
      const n = (attempts.get(method) ?? 0) + 1;
      attempts.set(method, n);
      return plan(n, method);
    },
    { maxConsecutive: 100 },
  );
  const { logger, logged } = recordingLogger();
  const state = createCloudflareState({ namespace: faulty.namespace, name, logger, retry });
  await state.connect();
  return { state, faulty, logged, name };
}

const fast: RetryOptions = { baseDelayMs: 1, maxDelayMs: 2 };

describe("retries", () => {
  it("retries a retryable failure and logs each retry at warn", async () => {
    const { state, faulty, logged, name } = await setup((n) => (n <= 2 ? "before" : null), fast);
    await state.set("k", 1);
    expect(faulty.counts.byMethod.set).toBe(3);
    const warns = logged.filter((l) => l.level === "warn");
    expect(warns).toHaveLength(2);
    expect(warns[0]!.context).toMatchObject({
      method: "set",
      objectName: name,
      attempt: 1,
      attempts: DEFAULT_RETRY.attempts,
      error: "Network connection lost.",
    });
    expect(warns[1]!.context).toMatchObject({ attempt: 2 });
    expect(await state.get("k")).toBe(1);
  });

  it("when attempts run out, rethrows the last error itself", async () => {
    const errors: Error[] = [];
    const name = `retry-${run++}`;
    let calls = 0;
    // A namespace whose every call fails with a fresh error object we can recognise.
    const failing = {
      getByName: () =>
        new Proxy(
          {},
          {
            get: (_t, prop) =>
              prop === "then"
                ? undefined
                : async () => {
                    calls++;
                    const e = retryableError();
                    errors.push(e);
                    throw e;
                  },
          },
        ),
      idFromName: (n: string) => env.CHAT_STATE.idFromName(n),
    };
    const { logger } = recordingLogger();
    const state = createCloudflareState({ namespace: failing as never, name, logger, retry: { ...fast, attempts: 4 } });
    await state.connect();
    const thrown = await state.get("k").catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect(thrown).toBe(errors.at(-1));
  });

  it("stops when maxElapsedMs would be exceeded", async () => {
    const { state, faulty } = await setup(() => "before", { attempts: 20, baseDelayMs: 40, maxDelayMs: 40, maxElapsedMs: 100 });
    const started = Date.now();
    await expect(state.isSubscribed("t")).rejects.toMatchObject({ retryable: true });
    // Delays of at most 40 ms each, none starting past 100 ms: a handful of attempts, not 20.
    expect(faulty.counts.byMethod.isSubscribed).toBeLessThan(20);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("never retries an overloaded object: one attempt, the error at once", async () => {
    const { state, faulty, logged } = await setup(() => "overloaded");
    const callers = 50;
    const results = await Promise.allSettled(Array.from({ length: callers }, (_, i) => state.set(`k${i}`, i)));
    expect(results.every((r) => r.status === "rejected" && (r.reason as { overloaded?: boolean }).overloaded)).toBe(true);
    // No retry storm: exactly one attempt per call, nothing logged as a retry.
    expect(faulty.counts.byMethod.set).toBe(callers);
    expect(logged.filter((l) => l.level === "warn")).toEqual([]);
  });

  it("never retries an argument the object rejected", async () => {
    const { state, faulty } = await setup(() => null);
    // Bypass the adapter's own JSON check: the object itself refuses the TTL.
    await expect(state.set("k", 1, -5)).rejects.toThrow(/Invalid argument `ttlMs`/);
    expect(faulty.counts.byMethod.set).toBe(1);
  });

  it("retry: false makes one attempt", async () => {
    const { state, faulty } = await setup((n) => (n === 1 ? "before" : null), false);
    await expect(state.get("k")).rejects.toMatchObject({ retryable: true });
    expect(faulty.counts.byMethod.get).toBe(1);
  });

  it("the defaults ride out object resets: a call still succeeds after two in a row", async () => {
    const name = `retry-reset-${run++}`;
    const { logger, logged } = recordingLogger();
    const state = createCloudflareState({ namespace: env.FAULTY_STATE as never, name, logger });
    await state.connect();
    const stub = env.FAULTY_STATE.getByName(name);
    // Reset after the write commits, twice in a row (the replacement instance resets too).
    await stub.armReset("enqueue", "after-commit", 2);
    const entry = { enqueuedAt: Date.now(), expiresAt: Date.now() + 60_000, message: { n: 1 } } as never;
    const depth = await state.enqueue("t", entry, 10);
    expect(depth).toBe(1);
    expect(logged.filter((l) => l.level === "warn").map((l) => l.context.method)).toEqual(["enqueue", "enqueue"]);
    expect(await state.queueDepth("t")).toBe(1);
  });

  it("a dequeue the object held past the budget, whose reply is then lost, is still retried", async () => {
    // The holder's final empty dequeue is held while a refused newcomer's entry is on its way
    // (src/guarantees/tenure/): up to two of the newcomer's patiences (its budget + 1 s), longer than the
    // holder's own budget. A reply lost after that must still be retried, or the dequeue's
    // answer — an entry already marked taken — would be lost with it.
    const budget: RetryOptions = { baseDelayMs: 1, maxDelayMs: 2, maxElapsedMs: 200 };
    const { state: holder, logged, name } = await setup((n, method) => (method === "dequeue" && n === 1 ? "after" : null), budget);
    const newcomer = createCloudflareState({ namespace: env.CHAT_STATE, name, retry: budget });
    await newcomer.connect();
    const lock = await holder.acquireLock("t", 60_000);
    expect(lock).not.toBeNull();
    expect(await newcomer.acquireLock("t", 60_000)).toBeNull();
    const started = Date.now();
    // The newcomer never enqueues: the hold runs to its deadline (2 × 1.2 s), then answers null.
    expect(await holder.dequeue("t")).toBeNull();
    expect(Date.now() - started).toBeGreaterThan(budget.maxElapsedMs!);
    expect(logged.filter((l) => l.level === "warn").map((l) => l.context.method)).toEqual(["dequeue"]);
  });

  it("validates the option", () => {
    for (const bad of [{ attempts: 0 }, { attempts: 1.5 }, { baseDelayMs: -1 }, { maxElapsedMs: 120_000 }, "yes"]) {
      expect(() => createCloudflareState({ namespace: env.CHAT_STATE, retry: bad as never })).toThrow(/Invalid option `retry/);
    }
    expect(resolveRetryPolicy(undefined)).toEqual(DEFAULT_RETRY);
    expect(resolveRetryPolicy(false)).toBeNull();
    expect(resolveRetryPolicy({ attempts: 3 })).toEqual({ ...DEFAULT_RETRY, attempts: 3 });
  });

  it("classifies errors as Cloudflare documents them", () => {
    expect(isRetryable(Object.assign(new Error("x"), { retryable: true }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("x"), { durableObjectReset: true }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("x"), { retryable: true, overloaded: true }))).toBe(false);
    expect(isRetryable(Object.assign(new Error("x"), { remote: true }))).toBe(false);
    expect(isRetryable(new Error("Invalid argument `key`: must be a non-empty string"))).toBe(false);
    expect(isRetryable("retryable")).toBe(false);
    // Resets whose flags did not survive (issue 18, problem 3): retried by their documented message.
    for (const message of [
      "Application called abortAllDurableObjects().",
      "Durable Object reset because its code was updated.",
      "Network connection lost.",
      "Durable Object storage operation exceeded timeout which caused object to be reset.",
      "Internal error in Durable Object storage write caused object to be reset.",
      "ChatStateDO storage error: The Durable Object's code has been updated, this version can no longer access storage.",
      "Application called abort() to reset Durable Object.",
      "internal error; reference = 0123456789abcdef",
    ]) {
      expect(isRetryable(new Error(message)), message).toBe(true);
      expect(isRetryable(Object.assign(new Error(message), { remote: true })), message).toBe(true);
    }
    // Never overload, never our own rejection, whatever it quotes.
    for (const message of [
      "Durable Object is overloaded. Too many requests queued.",
      "Too many requests for the same object within a 10 second window.",
      "Your account is generating too much load on Durable Objects. Please back off and try again later.",
      "Invalid argument `key`: must be at most 512 bytes (Network connection lost.)",
      "Invalid argument `via`: a moving key needs `from` and `migration`",
      "chat-state-cloudflare-do: re-sharding: internal error",
      "ChatStateDO storage error: UNIQUE constraint failed",
      "Something else",
    ]) {
      expect(isRetryable(Object.assign(new Error(message), { remote: true })), message).toBe(false);
    }
    // Capped full jitter: within [0, min(cap, base * 2^n)).
    const policy = { ...DEFAULT_RETRY };
    expect(backoffMs(1, policy, () => 0.999)).toBe(199);
    expect(backoffMs(5, policy, () => 0.999)).toBe(1_998);
    expect(backoffMs(9, policy, () => 0.5)).toBe(1_000);
    expect(backoffMs(3, policy, () => 0)).toBe(0);
  });
});
