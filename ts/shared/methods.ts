// The protocol table: every RPC method of `ChatStateDO`, with its arguments in wire order, how
// the adapter routes it and why a retry of it is safe. The adapter's routing
// (ts/worker/adapter.ts), the object's forwarding (ts/object/durable-object.ts) and the tests'
// method lists derive from it, and test/methods.test.ts pins it against a literal list.
//
// Names and argument order are the wire format: objects of two builds call each other during a
// deploy, so a method is never renamed and an argument is only ever appended (optional, so that
// older callers that omit it keep their behaviour). Every data method takes one more argument
// after these, `via` (./via.ts), which is not listed.

import type { Moved, Via } from "./via.js";
import type { Claim, Lock } from "./wasm.js";

/** How the adapter picks a data method's object: by its thread id or by its cache/list key. */
export type Route = "thread" | "key";

export interface DataMethod {
  /** The arguments before `via`, in wire order; the first is the one the call is routed by. */
  readonly args: readonly string[];
  readonly route: Route;
  /** Why running it twice (a retry after a lost reply) answers and leaves the same. */
  readonly retry: string;
  /**
   * How the object serves it: `"call"` forwards to the core, `"write"` also settles the write's
   * alarm request, `"own"` is written out in the object (a held dequeue or acquire).
   */
  readonly serve: "call" | "write" | "own";
  /** The core answers `undefined` for "none"; RPC callers get `null`. */
  readonly orNull?: true;
}

const READ = "a read";
const SAME_STATE = "it leaves the same state";
const RECEIPT = "its request id: a retry is answered from the first attempt's receipt";

/** The data methods (chat's calls): the adapter sends each with `via`, routed by `route`. */
export const DATA_METHODS = {
  subscribe: { args: ["threadId"], route: "thread", retry: SAME_STATE, serve: "call" },
  unsubscribe: { args: ["threadId"], route: "thread", retry: SAME_STATE, serve: "call" },
  isSubscribed: { args: ["threadId"], route: "thread", retry: READ, serve: "call" },
  acquireLock: {
    args: ["threadId", "ttlMs", "token", "retry", "patienceMs"],
    route: "thread",
    retry: "its token: a retry that finds it holding the lock gets the lock back",
    serve: "own",
  },
  releaseLock: { args: ["threadId", "token"], route: "thread", retry: SAME_STATE, serve: "write" },
  extendLock: { args: ["threadId", "token", "ttlMs"], route: "thread", retry: "its token: the holder extends again", serve: "write" },
  forceReleaseLock: { args: ["threadId"], route: "thread", retry: SAME_STATE, serve: "write" },
  get: { args: ["key"], route: "key", retry: READ, serve: "call", orNull: true },
  set: { args: ["key", "json", "ttlMs"], route: "key", retry: SAME_STATE, serve: "write" },
  setIfNotExists: { args: ["key", "json", "ttlMs", "requestId", "retry"], route: "key", retry: RECEIPT, serve: "write" },
  delete: { args: ["key"], route: "key", retry: SAME_STATE, serve: "write" },
  appendToList: { args: ["key", "json", "options", "requestId", "retry"], route: "key", retry: RECEIPT, serve: "write" },
  getList: { args: ["key"], route: "key", retry: READ, serve: "call" },
  enqueue: {
    args: ["threadId", "entryJson", "expiresAt", "maxSize", "requestId", "retry", "caller"],
    route: "thread",
    retry: RECEIPT,
    serve: "write",
  },
  dequeue: { args: ["threadId", "requestId", "retry", "holder"], route: "thread", retry: `${RECEIPT} (the same entry)`, serve: "own" },
  queueDepth: { args: ["threadId", "caller"], route: "thread", retry: READ, serve: "own" },
  claimOrEnqueue: {
    args: ["threadId", "entryJson", "expiresAt", "ttlMs", "maxSize", "token", "requestId", "retry"],
    route: "thread",
    retry: RECEIPT,
    serve: "write",
  },
  releaseOrDequeue: { args: ["threadId", "token", "requestId", "retry"], route: "thread", retry: RECEIPT, serve: "write", orNull: true },
} as const satisfies Record<string, DataMethod>;

export type DataMethodName = keyof typeof DATA_METHODS;

/**
 * Each data method's argument types (labelled as in `DATA_METHODS`, before `via`) and answer:
 * the object's RPC signatures are derived from these (ts/object/durable-object.ts), so adding an
 * argument to a method is a change here and nowhere else in ts/object/.
 */
export interface DataSignatures {
  subscribe: { args: [threadId: string]; answer: void };
  unsubscribe: { args: [threadId: string]; answer: void };
  isSubscribed: { args: [threadId: string]; answer: boolean };
  acquireLock: { args: [threadId: string, ttlMs: number, token?: string, retry?: boolean, patienceMs?: number]; answer: Lock | null };
  releaseLock: { args: [threadId: string, token: string]; answer: void };
  extendLock: { args: [threadId: string, token: string, ttlMs: number]; answer: boolean };
  forceReleaseLock: { args: [threadId: string]; answer: void };
  /** The value's JSON text, or null. */
  get: { args: [key: string]; answer: string | null };
  set: { args: [key: string, json: string, ttlMs?: number]; answer: void };
  setIfNotExists: { args: [key: string, json: string, ttlMs?: number, requestId?: string, retry?: boolean]; answer: boolean };
  delete: { args: [key: string]; answer: void };
  appendToList: {
    args: [key: string, json: string, options?: { maxLength?: number; ttlMs?: number }, requestId?: string, retry?: boolean];
    answer: void;
  };
  /** The list as JSON array text. */
  getList: { args: [key: string]; answer: string };
  enqueue: {
    args: [threadId: string, entryJson: string, expiresAt: number, maxSize: number, requestId?: string, retry?: boolean, caller?: string];
    answer: number;
  };
  /** The oldest live entry's JSON text, or null. */
  dequeue: { args: [threadId: string, requestId?: string, retry?: boolean, holder?: string]; answer: string | null };
  queueDepth: { args: [threadId: string, caller?: string]; answer: number };
  /** Takes the lock if it is free, else enqueues the entry, in one transaction. */
  claimOrEnqueue: {
    args: [
      threadId: string,
      entryJson: string,
      expiresAt: number,
      ttlMs: number,
      maxSize: number | undefined,
      token: string,
      requestId?: string,
      retry?: boolean,
    ];
    answer: Claim;
  };
  /** For the holder: the next entry's JSON text (lock kept), or null with the lock released. */
  releaseOrDequeue: { args: [threadId: string, token: string, requestId?: string, retry?: boolean]; answer: string | null };
}

/** What a data method answers through RPC: its answer, or where its key lives now. */
export type Answer<T> = T | Moved | Promise<T | Moved>;

/** A data method's RPC signature: its arguments, then `via`. */
export type DataSignature<M extends DataMethodName> = (...args: [...DataSignatures[M]["args"], via?: Via]) => Answer<DataSignatures[M]["answer"]>;

// Compile-time check: each signature has as many arguments as the table names (a mismatch
// names the method in the error).
type ArityMismatch = {
  [M in DataMethodName]: Required<DataSignatures[M]["args"]>["length"] extends (typeof DATA_METHODS)[M]["args"]["length"] ? never : M;
}[DataMethodName];
true satisfies [ArityMismatch] extends [never] ? true : ArityMismatch;

/** The other methods: object to object while re-sharding, the adapter's own, and 0.1.x's. */
export const OTHER_METHODS = {
  // 0.1.x's names, for its Workers during an upgrade (no `via`, routed as 0.1.x did).
  cacheGet: { args: ["key"], retry: READ },
  cacheSet: { args: ["key", "json", "ttlMs"], retry: SAME_STATE },
  cacheDelete: { args: ["key"], retry: SAME_STATE },
  // Object to object (ts/object/handoff.ts, docs/resharding.md).
  handOver: {
    args: ["routingKey", "destination", "migration", "selfName", "sealId", "from", "pageBytes"],
    retry: "its seal id: a unit sealed for it is answered again",
  },
  handoffImport: { args: ["source", "migrationId", "units"], retry: "each unit's seal id: imported once" },
  handoffHasImport: { args: ["units"], retry: READ },
  handoffSourceRetired: { args: ["source", "migrationId"], retry: SAME_STATE },
  handoffSourceDrained: { args: ["source", "migrationId"], retry: SAME_STATE },
  // The adapter's, beyond chat's calls (to every object it names).
  handoffDrain: { args: ["migration", "selfName", "assignments"], retry: "each step moves what is left" },
  inspect: { args: [], retry: READ },
  rowCounts: { args: [], retry: READ },
} as const satisfies Record<string, { args: readonly string[]; retry: string }>;

export type OtherMethodName = keyof typeof OTHER_METHODS;
export type MethodName = DataMethodName | OtherMethodName;

/** Every RPC method and its arguments (data methods: before `via`). */
export const METHODS: Readonly<Record<MethodName, { readonly args: readonly string[] }>> = { ...DATA_METHODS, ...OTHER_METHODS };

/** An object's RPC surface as a caller (the adapter, another object) sees it through a stub. */
export type ObjectStub = Record<string, (...args: unknown[]) => Promise<unknown>>;
