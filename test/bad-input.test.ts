// The bad-input matrix: every method, wrong types, sizes and encodings, through the adapter and
// straight at the Durable Object's RPC methods (what a caller bypassing the adapter can send).
//
// For each input: the call rejects with an Error whose message names the argument
// ("Invalid argument `<name>`: ..."); no row of any table changed (a full dump of the object's
// tables before and after, and the object's own rows-written counter); the object keeps serving
// (a read of a known value right after); and the wasm instance did not trap (no "unreachable" /
// RuntimeError anywhere, and the last check of the file reads through the same instance).
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Lock, QueueEntry } from "chat";
import { createCloudflareState, type CloudflareDOStateAdapter } from "../ts/index.js";
import type { ChatStateDO } from "../ts/index.js";
import { stubFor } from "./helpers.js";

type Stub = DurableObjectStub<ChatStateDO>;
interface Case {
  what: string;
  /** The argument the error must name. */
  argument: string;
  call: (state: CloudflareDOStateAdapter, stub: Stub, lock: Lock) => Promise<unknown>;
}

const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;
const cyclicArray: unknown[] = [];
cyclicArray.push(cyclicArray);
const future = () => Date.now() + 600_000;
const entry = (extra: Record<string, unknown> = {}) =>
  ({ enqueuedAt: Date.now(), expiresAt: future(), message: { text: "hi" }, ...extra }) as unknown as QueueEntry;
const TEN_KB_KEY = "k".repeat(10_240);
const BIG = "x".repeat(2_100_000);
const any = <T>(v: unknown) => v as T;

const cases: Case[] = [
  // ---- keys: types
  { what: "set: empty key", argument: "key", call: (s) => s.set("", 1) },
  { what: "set: number key", argument: "key", call: (s) => s.set(any(42), 1) },
  { what: "get: null key", argument: "key", call: (s) => s.get(any(null)) },
  { what: "delete: undefined key", argument: "key", call: (s) => s.delete(any(undefined)) },
  { what: "getList: object key", argument: "key", call: (s) => s.getList(any({ k: 1 })) },
  { what: "setIfNotExists: symbol key", argument: "key", call: (s) => s.setIfNotExists(any(Symbol("k")), 1) },
  { what: "subscribe: empty thread id", argument: "threadId", call: (s) => s.subscribe("") },
  { what: "isSubscribed: array thread id", argument: "threadId", call: (s) => s.isSubscribed(any(["t"])) },
  { what: "forceReleaseLock: number thread id", argument: "threadId", call: (s) => s.forceReleaseLock(any(123)) },
  { what: "dequeue: null thread id", argument: "threadId", call: (s) => s.dequeue(any(null)) },
  { what: "queueDepth: BigInt thread id", argument: "threadId", call: (s) => s.queueDepth(any(1n)) },
  // ---- keys: encodings and sizes
  { what: "get: lone high surrogate", argument: "key", call: (s) => s.get("a\uD800b") },
  { what: "set: lone low surrogate", argument: "key", call: (s) => s.set("\uDC00", 1) },
  { what: "unsubscribe: lone surrogate", argument: "threadId", call: (s) => s.unsubscribe("slack:\uD83D") },
  { what: "delete: NUL byte", argument: "key", call: (s) => s.delete("a\0b") },
  { what: "acquireLock: NUL byte", argument: "threadId", call: (s) => s.acquireLock("t\0", 1_000) },
  { what: "getList: 10 KB key", argument: "key", call: (s) => s.getList(TEN_KB_KEY) },
  { what: "enqueue: 10 KB thread id", argument: "threadId", call: (s) => s.enqueue(TEN_KB_KEY, entry(), 10) },
  { what: "appendToList: 1,200-byte key of 2-byte chars", argument: "key", call: (s) => s.appendToList("é".repeat(600), 1) },
  // ---- values
  { what: "set: BigInt", argument: "value", call: (s) => s.set("k", 1n) },
  { what: "set: cyclic object", argument: "value", call: (s) => s.set("k", cyclic) },
  { what: "set: undefined", argument: "value", call: (s) => s.set("k", undefined) },
  { what: "set: function", argument: "value", call: (s) => s.set("k", () => 1) },
  { what: "setIfNotExists: symbol", argument: "value", call: (s) => s.setIfNotExists("k", Symbol("v")) },
  { what: "setIfNotExists: nested BigInt", argument: "value", call: (s) => s.setIfNotExists("k", { n: [1, 2n] }) },
  { what: "set: toJSON throws", argument: "value", call: (s) => s.set("k", { toJSON: () => { throw new Error("boom"); } }) },
  { what: "set: > 2 MB value", argument: "value", call: (s) => s.set("k", BIG) },
  { what: "appendToList: cyclic array", argument: "value", call: (s) => s.appendToList("l", cyclicArray) },
  { what: "appendToList: > 2 MB value", argument: "value", call: (s) => s.appendToList("l", BIG) },
  { what: "enqueue: BigInt in the message", argument: "entry", call: (s) => s.enqueue("q", entry({ message: { n: 1n } }), 10) },
  { what: "enqueue: > 2 MB message", argument: "entry", call: (s) => s.enqueue("q", entry({ message: BIG }), 10) },
  // ---- TTLs
  { what: "set: NaN TTL", argument: "ttlMs", call: (s) => s.set("k", 1, Number.NaN) },
  { what: "set: +Infinity TTL", argument: "ttlMs", call: (s) => s.set("k", 1, Number.POSITIVE_INFINITY) },
  { what: "set: -Infinity TTL", argument: "ttlMs", call: (s) => s.set("k", 1, Number.NEGATIVE_INFINITY) },
  { what: "set: negative TTL", argument: "ttlMs", call: (s) => s.set("k", 1, -1) },
  { what: "setIfNotExists: -0.5 TTL", argument: "ttlMs", call: (s) => s.setIfNotExists("k", 1, -0.5) },
  { what: "set: string TTL", argument: "ttlMs", call: (s) => s.set("k", 1, any("100")) },
  { what: "set: BigInt TTL", argument: "ttlMs", call: (s) => s.set("k", 1, any(10n)) },
  { what: "set: 1e300 TTL", argument: "ttlMs", call: (s) => s.set("k", 1, 1e300) },
  { what: "acquireLock: zero TTL", argument: "ttlMs", call: (s) => s.acquireLock("t-new", 0) },
  { what: "acquireLock: NaN TTL", argument: "ttlMs", call: (s) => s.acquireLock("t-new", Number.NaN) },
  { what: "acquireLock: negative TTL", argument: "ttlMs", call: (s) => s.acquireLock("t-new", -5) },
  { what: "acquireLock: missing TTL", argument: "ttlMs", call: (s) => s.acquireLock("t-new", any(undefined)) },
  { what: "extendLock: held lock, Infinity TTL", argument: "ttlMs", call: (s, _stub, lock) => s.extendLock(lock, Number.POSITIVE_INFINITY) },
  { what: "extendLock: held lock, negative TTL", argument: "ttlMs", call: (s, _stub, lock) => s.extendLock(lock, -30_000) },
  { what: "appendToList: negative ttlMs", argument: "options.ttlMs", call: (s) => s.appendToList("l", 1, { ttlMs: -1 }) },
  { what: "appendToList: NaN ttlMs", argument: "options.ttlMs", call: (s) => s.appendToList("l", 1, { ttlMs: Number.NaN }) },
  // ---- sizes and options
  { what: "appendToList: fractional maxLength", argument: "options.maxLength", call: (s) => s.appendToList("l", 1, { maxLength: 1.5 }) },
  { what: "appendToList: negative maxLength", argument: "options.maxLength", call: (s) => s.appendToList("l", 1, { maxLength: -1 }) },
  { what: "appendToList: NaN maxLength", argument: "options.maxLength", call: (s) => s.appendToList("l", 1, { maxLength: Number.NaN }) },
  { what: "appendToList: string maxLength", argument: "options.maxLength", call: (s) => s.appendToList("l", 1, { maxLength: any("10") }) },
  { what: "appendToList: options a string", argument: "options", call: (s) => s.appendToList("l", 1, any("maxLength=10")) },
  { what: "enqueue: fractional maxSize", argument: "maxSize", call: (s) => s.enqueue("q", entry(), 2.5) },
  { what: "enqueue: negative maxSize", argument: "maxSize", call: (s) => s.enqueue("q", entry(), -1) },
  { what: "enqueue: NaN maxSize", argument: "maxSize", call: (s) => s.enqueue("q", entry(), Number.NaN) },
  { what: "enqueue: Infinity maxSize", argument: "maxSize", call: (s) => s.enqueue("q", entry(), Number.POSITIVE_INFINITY) },
  { what: "enqueue: string maxSize", argument: "maxSize", call: (s) => s.enqueue("q", entry(), any("10")) },
  { what: "enqueue: no expiresAt", argument: "entry.expiresAt", call: (s) => s.enqueue("q", any({ message: {} }), 10) },
  { what: "enqueue: NaN expiresAt", argument: "entry.expiresAt", call: (s) => s.enqueue("q", entry({ expiresAt: Number.NaN }), 10) },
  { what: "enqueue: negative expiresAt", argument: "entry.expiresAt", call: (s) => s.enqueue("q", entry({ expiresAt: -1 }), 10) },
  { what: "enqueue: expiresAt past Date range", argument: "entry.expiresAt", call: (s) => s.enqueue("q", entry({ expiresAt: 1e20 }), 10) },
  { what: "enqueue: null entry", argument: "entry.expiresAt", call: (s) => s.enqueue("q", any(null), 10) },
  // ---- locks
  { what: "releaseLock: null lock", argument: "lock.threadId", call: (s) => s.releaseLock(any(null)) },
  { what: "releaseLock: number token", argument: "lock.token", call: (s) => s.releaseLock(any({ threadId: "t", token: 5 })) },
  { what: "releaseLock: empty token", argument: "lock.token", call: (s) => s.releaseLock(any({ threadId: "t", token: "" })) },
  { what: "extendLock: lone surrogate thread id", argument: "lock.threadId", call: (s) => s.extendLock(any({ threadId: "t\uD800", token: "x" }), 1_000) },
  { what: "extendLock: missing token", argument: "lock.token", call: (s, _stub, lock) => s.extendLock(any({ threadId: lock.threadId }), 1_000) },
  // ---- straight at the object's RPC methods (no adapter in front)
  { what: "RPC set: value not a string", argument: "value", call: (_s, stub) => stub.set("k", any(42)) },
  { what: "RPC set: empty JSON text", argument: "value", call: (_s, stub) => stub.set("k", "") },
  { what: "RPC set: lone surrogate in the JSON text", argument: "value", call: (_s, stub) => stub.set("k", '"\uD800"') },
  { what: "RPC set: > 2 MB JSON text", argument: "value", call: (_s, stub) => stub.set("k", JSON.stringify(BIG)) },
  { what: "RPC get: 10 KB key", argument: "key", call: (_s, stub) => stub.get(TEN_KB_KEY) },
  { what: "RPC acquireLock: string TTL", argument: "ttlMs", call: (_s, stub) => stub.acquireLock("t-new", any("30000")) },
  { what: "RPC releaseLock: null token", argument: "lock.token", call: (_s, stub) => stub.releaseLock("t", any(null)) },
  { what: "RPC appendToList: BigInt maxLength", argument: "options.maxLength", call: (_s, stub) => stub.appendToList("l", "1", any({ maxLength: 10n })) },
  { what: "RPC enqueue: string expiresAt", argument: "entry.expiresAt", call: (_s, stub) => stub.enqueue("q", "{}", any("soon"), 10) },
  { what: "RPC enqueue: entry not a string", argument: "entry", call: (_s, stub) => stub.enqueue("q", any({}), future(), 10) },
  { what: "RPC subscribe: NUL", argument: "threadId", call: (_s, stub) => stub.subscribe("\0") },
];

describe("bad input matrix", () => {
  it(`rejects ${cases.length} bad inputs with the argument named, writing nothing`, async () => {
    const name = `bad-matrix-${Date.now()}`;
    const state = createCloudflareState({ namespace: env.CHAT_STATE, name });
    await state.connect();
    const stub = stubFor(name);
    // Rows of every kind that a bad call could disturb.
    await state.subscribe("t");
    const lock = (await state.acquireLock("t", 3_600_000))!;
    await state.set("k", "kept", 3_600_000);
    await state.set("forever", { kept: true });
    await state.appendToList("l", "item", { maxLength: 10, ttlMs: 3_600_000 });
    await state.enqueue("q", entry(), 10);

    const dump = () =>
      runInDurableObject(stub, (_instance, ctx) =>
        ["subscriptions", "locks", "cache", "lists", "list_items", "queue_entries", "_schema_version"].map((table) =>
          ctx.storage.sql.exec(`SELECT * FROM ${table}`).toArray(),
        ),
      );
    const written = async () => (await stub.rowCounts()).rowsWritten;

    const failures: string[] = [];
    for (const c of cases) {
      const before = await dump();
      const writtenBefore = await written();
      let error: unknown = null;
      try {
        await c.call(state, stub, lock);
      } catch (e) {
        error = e;
      }
      const message = error instanceof Error ? error.message : String(error);
      if (!(error instanceof Error)) failures.push(`${c.what}: did not reject with an Error (${message})`);
      else if (!message.includes(`Invalid argument \`${c.argument}\``)) failures.push(`${c.what}: "${message}"`);
      if (/unreachable|RuntimeError|panicked/i.test(message)) failures.push(`${c.what}: wasm trap: ${message}`);
      if (JSON.stringify(await dump()) !== JSON.stringify(before)) failures.push(`${c.what}: rows changed`);
      if ((await written()) !== writtenBefore) failures.push(`${c.what}: rows written`);
      // Still serving.
      if ((await state.get("k")) !== "kept") failures.push(`${c.what}: the object stopped serving`);
    }
    expect(failures).toEqual([]);

    // Everything is as it was, and every kind of call still works on the same wasm instance.
    expect(await state.isSubscribed("t")).toBe(true);
    expect(await state.extendLock(lock, 3_600_000)).toBe(true);
    expect(await state.get("forever")).toEqual({ kept: true });
    expect(await state.getList("l")).toEqual(["item"]);
    expect(await state.queueDepth("q")).toBe(1);
    await state.set("k2", "after", 1_000);
    expect(await state.get("k2")).toBe("after");
    const other = createCloudflareState({ namespace: env.CHAT_STATE, name: `${name}-other` });
    await other.connect();
    await other.appendToList("l", 1, { maxLength: 2 });
    expect(await other.getList("l")).toEqual([1]);
    console.log(`bad input: ${cases.length} distinct bad inputs rejected, no row written, object serving`);
  });
});
