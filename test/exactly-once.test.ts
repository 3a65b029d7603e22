// Exactly-once effect under every fault kind, for every data method (issue: "No message lost when
// Cloudflare drops a reply or resets an object").
//
// Each case sets up state on a fresh object, then makes one call through an adapter whose first
// attempt of that call fails one of four ways:
//   before              the call never reaches the object (retryable error);
//   after               it runs, its writes commit, the reply is lost (retryable error);
//   reset-before-commit the object resets itself (ctx.abort()) right after the write, before it
//                       commits: the write is rolled back, the caller sees durableObjectReset;
//   reset-after-commit  the object resets after the write committed: the write stays, the reply
//                       is lost and the new instance has no memory of the call.
// The adapter retries; the test checks the result is what a fault-free call returns, the object's
// SQLite rows hold the call's effect exactly once, and the call was attempted exactly twice. An
// overloaded object is the fifth case: the caller gets the error at once, one attempt, no write.
import { env, runInDurableObject } from "cloudflare:test";
import type { Lock, QueueEntry } from "chat";
import { describe, expect, it } from "vitest";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import type { ResetPoint, ResettableMethod } from "./support/faulty-object.js";
import { FaultyNamespace, type FaultKind } from "./support/faulty-namespace.js";
import { quiet } from "./helpers.js";

type Kind = "before" | "after" | ResetPoint;
const KINDS: Kind[] = ["before", "after", "before-commit", "after-commit"];
const NAMES: Record<Kind, string> = {
  before: "fails before reaching the object",
  after: "runs, then its reply is lost",
  "before-commit": "object reset before its write commits",
  "after-commit": "object reset after its write commits",
};

let run = 0;

async function rows<T = Record<string, unknown>>(name: string, query: string, ...bindings: unknown[]): Promise<T[]> {
  return await runInDurableObject(env.FAULTY_STATE.getByName(name), (_i, ctx) =>
    ctx.storage.sql.exec(query, ...bindings).toArray() as T[],
  );
}

const entry = (n: number) =>
  ({ enqueuedAt: Date.now(), expiresAt: Date.now() + 600_000, message: { n } }) as unknown as QueueEntry;

interface Case {
  method: ResettableMethod;
  /** State the call starts from, made by a fault-free adapter. */
  setup?: (clean: CloudflareDOStateAdapter) => Promise<Lock | void>;
  /** The call under test. */
  call: (state: CloudflareDOStateAdapter, lock: Lock | undefined) => Promise<unknown>;
  /** Checks the result and the rows. */
  check: (result: unknown, name: string, clean: CloudflareDOStateAdapter, lock: Lock | undefined) => Promise<void>;
}

const T = "slack:C1:1.1";
const cases: Case[] = [
  {
    method: "subscribe",
    call: (s) => s.subscribe(T),
    check: async (_r, name) => expect(await rows(name, "SELECT thread_id FROM subscriptions")).toEqual([{ thread_id: T }]),
  },
  {
    method: "unsubscribe",
    setup: (c) => c.subscribe(T),
    call: (s) => s.unsubscribe(T),
    check: async (_r, name) => expect(await rows(name, "SELECT * FROM subscriptions")).toEqual([]),
  },
  {
    method: "isSubscribed",
    setup: (c) => c.subscribe(T),
    call: (s) => s.isSubscribed(T),
    check: async (r, name) => {
      expect(r).toBe(true);
      expect(await rows(name, "SELECT thread_id FROM subscriptions")).toEqual([{ thread_id: T }]);
    },
  },
  {
    method: "acquireLock",
    call: (s) => s.acquireLock(T, 30_000),
    check: async (r, name, clean) => {
      const lock = r as Lock;
      // The caller got the lock (not null), and it is the one lock the object holds.
      expect(lock).not.toBeNull();
      expect(await rows(name, "SELECT token, expires_at FROM locks")).toEqual([
        { token: lock.token, expires_at: lock.expiresAt },
      ]);
      expect(await clean.acquireLock(T, 30_000)).toBeNull();
      expect(await clean.extendLock(lock, 30_000)).toBe(true);
      await clean.releaseLock(lock);
      expect(await rows(name, "SELECT * FROM locks")).toEqual([]);
    },
  },
  {
    method: "releaseLock",
    setup: async (c) => (await c.acquireLock(T, 30_000))!,
    call: (s, lock) => s.releaseLock(lock!),
    check: async (_r, name, clean) => {
      expect(await rows(name, "SELECT * FROM locks")).toEqual([]);
      expect(await clean.acquireLock(T, 30_000)).not.toBeNull();
    },
  },
  {
    method: "extendLock",
    setup: async (c) => (await c.acquireLock(T, 1_000))!,
    call: (s, lock) => s.extendLock(lock!, 600_000),
    check: async (r, name, _c, lock) => {
      expect(r).toBe(true);
      const [row] = await rows<{ token: string; expires_at: number }>(name, "SELECT token, expires_at FROM locks");
      expect(row!.token).toBe(lock!.token);
      expect(row!.expires_at).toBeGreaterThan(Date.now() + 500_000);
    },
  },
  {
    method: "forceReleaseLock",
    setup: async (c) => (await c.acquireLock(T, 30_000))!,
    call: (s) => s.forceReleaseLock(T),
    check: async (_r, name) => expect(await rows(name, "SELECT * FROM locks")).toEqual([]),
  },
  {
    method: "get",
    setup: (c) => c.set("thread-state:x", { a: 1 }),
    call: (s) => s.get("thread-state:x"),
    check: async (r, name) => {
      expect(r).toEqual({ a: 1 });
      expect(await rows(name, "SELECT key, value FROM cache")).toEqual([{ key: "thread-state:x", value: '{"a":1}' }]);
    },
  },
  {
    method: "set",
    setup: (c) => c.set("thread-state:x", { a: 1 }),
    call: (s) => s.set("thread-state:x", { a: 2 }, 600_000),
    check: async (_r, name) =>
      expect(await rows(name, "SELECT key, value FROM cache")).toEqual([{ key: "thread-state:x", value: '{"a":2}' }]),
  },
  {
    method: "setIfNotExists",
    call: (s) => s.setIfNotExists("dedupe:slack:m1", true, 600_000),
    check: async (r, name, clean) => {
      // true, not the "duplicate" false a naive retry would get, so the message is handled.
      expect(r).toBe(true);
      expect(await rows(name, "SELECT key, value FROM cache")).toEqual([{ key: "dedupe:slack:m1", value: "true" }]);
      // A genuine second delivery is still a duplicate.
      expect(await clean.setIfNotExists("dedupe:slack:m1", true, 600_000)).toBe(false);
    },
  },
  {
    method: "delete",
    setup: (c) => c.set("k", 1),
    call: (s) => s.delete("k"),
    check: async (_r, name) => expect(await rows(name, "SELECT * FROM cache")).toEqual([]),
  },
  {
    method: "appendToList",
    setup: async (c) => {
      await c.appendToList("msg-history:x", "a", { maxLength: 100, ttlMs: 600_000 });
      await c.appendToList("msg-history:x", "b", { maxLength: 100, ttlMs: 600_000 });
    },
    call: (s) => s.appendToList("msg-history:x", "c", { maxLength: 100, ttlMs: 600_000 }),
    check: async (_r, name, clean) => {
      expect(await clean.getList("msg-history:x")).toEqual(["a", "b", "c"]);
      expect(await rows(name, "SELECT value FROM list_items ORDER BY seq")).toEqual([
        { value: '"a"' },
        { value: '"b"' },
        { value: '"c"' },
      ]);
    },
  },
  {
    method: "getList",
    setup: (c) => c.appendToList("l", "a"),
    call: (s) => s.getList("l"),
    check: async (r, name) => {
      expect(r).toEqual(["a"]);
      expect(await rows(name, "SELECT value FROM list_items")).toEqual([{ value: '"a"' }]);
    },
  },
  {
    method: "enqueue",
    setup: async (c) => void (await c.enqueue(T, entry(1), 10)),
    call: (s) => s.enqueue(T, entry(2), 10),
    check: async (r, name) => {
      expect(r).toBe(2);
      const live = await rows<{ value: string }>(name, "SELECT value FROM queue_entries WHERE expires_at > 0 ORDER BY seq");
      expect(live.map((e) => (JSON.parse(e.value) as { message: { n: number } }).message.n)).toEqual([1, 2]);
    },
  },
  {
    method: "dequeue",
    setup: async (c) => {
      await c.enqueue(T, entry(1), 10);
      await c.enqueue(T, entry(2), 10);
    },
    call: (s) => s.dequeue(T),
    check: async (r, name, clean) => {
      // The first entry, once: the second is still there, then nothing.
      expect((r as QueueEntry).message).toEqual({ n: 1 });
      expect((await clean.dequeue(T))?.message).toEqual({ n: 2 });
      expect(await clean.dequeue(T)).toBeNull();
      expect(await rows(name, "SELECT * FROM queue_entries WHERE taken_by IS NULL")).toEqual([]);
    },
  },
  {
    method: "queueDepth",
    setup: async (c) => void (await c.enqueue(T, entry(1), 10)),
    call: (s) => s.queueDepth(T),
    check: async (r) => expect(r).toBe(1),
  },
];

function adapters(name: string, plan: (method: string, attempt: number) => FaultKind | null) {
  const attempts = new Map<string, number>();
  const faulty = new FaultyNamespace(env.FAULTY_STATE as never, ({ method }) => {
    const n = (attempts.get(method) ?? 0) + 1;
    attempts.set(method, n);
    return plan(method, n);
  });
  const state = createCloudflareState({
    namespace: faulty.namespace,
    name,
    logger: quiet,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
  const clean = createCloudflareState({ namespace: env.FAULTY_STATE as never, name, logger: quiet });
  return { state, clean, faulty };
}

describe("exactly-once effect of every data method under every fault kind", () => {
  for (const kind of KINDS) {
    describe(NAMES[kind], () => {
      for (const c of cases) {
        it(c.method, async () => {
          const name = `once-${kind}-${c.method}-${run++}`;
          const { state, clean, faulty } = adapters(name, (method, attempt) =>
            method === c.method && attempt === 1 && (kind === "before" || kind === "after") ? kind : null,
          );
          await Promise.all([state.connect(), clean.connect()]);
          const lock = (await c.setup?.(clean)) ?? undefined;
          if (kind === "before-commit" || kind === "after-commit") {
            await env.FAULTY_STATE.getByName(name).armReset(c.method, kind);
          }
          const result = await c.call(state, lock);
          await c.check(result, name, clean, lock);
          expect(faulty.counts.byMethod[c.method], "attempts").toBe(2);
          if (kind === "before" || kind === "after") expect(faulty.counts[kind]).toBe(1);
        });
      }
    });
  }

  describe("overloaded: the error reaches the caller at once, nothing is retried or written", () => {
    for (const c of cases) {
      it(c.method, async () => {
        const name = `once-overloaded-${c.method}-${run++}`;
        const { state, clean, faulty } = adapters(name, (method) => (method === c.method ? "overloaded" : null));
        await Promise.all([state.connect(), clean.connect()]);
        const lock = (await c.setup?.(clean)) ?? undefined;
        const before = await dump(name);
        await expect(c.call(state, lock)).rejects.toMatchObject({ overloaded: true });
        expect(faulty.counts.byMethod[c.method]).toBe(1);
        expect(await dump(name)).toEqual(before);
      });
    }
  });
});

async function dump(name: string): Promise<unknown> {
  const tables = ["subscriptions", "locks", "cache", "lists", "list_items", "queue_entries"];
  return Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await rows(name, `SELECT * FROM ${t}`)])));
}
