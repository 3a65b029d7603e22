// Pins the object's RPC surface: objects of two builds call each other during a deploy, and
// Workers of the previous build call objects of the next, so a method's name and its arguments'
// order are the wire format. A rename or a reordered argument in the protocol table
// (ts/shared/methods.ts) fails here; an appended argument must be added here too, on purpose.
import { describe, expect, it } from "vitest";
import { ChatStateDO } from "../ts/index.js";
import { DATA_METHODS, METHODS } from "../ts/shared/methods.js";

/** Every RPC method and its arguments, in order (data methods: before `via`). */
const PINNED: Record<string, string[]> = {
  subscribe: ["threadId"],
  unsubscribe: ["threadId"],
  isSubscribed: ["threadId"],
  acquireLock: ["threadId", "ttlMs", "token", "retry", "patienceMs"],
  releaseLock: ["threadId", "token"],
  extendLock: ["threadId", "token", "ttlMs"],
  forceReleaseLock: ["threadId"],
  get: ["key"],
  set: ["key", "json", "ttlMs"],
  setIfNotExists: ["key", "json", "ttlMs", "requestId", "retry"],
  delete: ["key"],
  appendToList: ["key", "json", "options", "requestId", "retry"],
  getList: ["key"],
  enqueue: ["threadId", "entryJson", "expiresAt", "maxSize", "requestId", "retry", "caller"],
  dequeue: ["threadId", "requestId", "retry", "holder"],
  queueDepth: ["threadId", "caller"],
  claimOrEnqueue: ["threadId", "entryJson", "expiresAt", "ttlMs", "maxSize", "token", "requestId", "retry"],
  releaseOrDequeue: ["threadId", "token", "requestId", "retry"],
  cacheGet: ["key"],
  cacheSet: ["key", "json", "ttlMs"],
  cacheDelete: ["key"],
  handOver: ["routingKey", "destination", "migration", "selfName", "sealId", "from", "pageBytes"],
  handoffImport: ["source", "migrationId", "units"],
  handoffHasImport: ["units"],
  handoffSourceRetired: ["source", "migrationId"],
  handoffSourceDrained: ["source", "migrationId"],
  handoffDrain: ["migration", "selfName", "assignments"],
  inspect: [],
  rowCounts: [],
};

describe("the RPC method list", () => {
  it("is the pinned one: names and arguments in order", () => {
    expect(Object.fromEntries(Object.entries(METHODS).map(([name, m]) => [name, [...m.args]]))).toEqual(PINNED);
  });

  it("is what ChatStateDO serves: each a function on its prototype, taking its arguments (and `via`)", () => {
    const prototype = ChatStateDO.prototype as unknown as Record<string, unknown>;
    for (const [name, args] of Object.entries(PINNED)) {
      expect(typeof prototype[name], name).toBe("function");
      const arity = (prototype[name] as (...a: unknown[]) => unknown).length;
      // Generated methods take rest arguments (length 0); written-out ones declare theirs.
      if (arity > 0) expect(arity, name).toBeLessThanOrEqual(args.length + (name in DATA_METHODS ? 1 : 0));
    }
    const served = Object.getOwnPropertyNames(ChatStateDO.prototype).filter((name) => name !== "constructor" && name !== "alarm");
    expect(served.sort()).toEqual(Object.keys(PINNED).sort());
  });

  it("routes by the first argument: the thread id or the key", () => {
    for (const [name, m] of Object.entries(DATA_METHODS)) {
      expect(m.args[0], name).toBe(m.route === "thread" ? "threadId" : "key");
    }
  });
});
