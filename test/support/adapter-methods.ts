// The data methods of chat's StateAdapter interface, grouped by what they touch, in the
// interface's order: one list for the tests that enumerate them (the fault plans, the resettable
// methods of the faulty object, the model's routing of thread-part calls). test/chat-calls.test.ts
// keeps its own list of all 18: scripts/pack-test.sh runs it against the packed package with
// test/helpers.ts beside it and nothing from test/support/.

/** A thread's subscription. */
export const SUBSCRIPTION_METHODS = ["subscribe", "unsubscribe", "isSubscribed"] as const;
/** A thread's lock. */
export const LOCK_METHODS = ["acquireLock", "releaseLock", "extendLock", "forceReleaseLock"] as const;
/** Cache and list keys (the key part of a unit). */
export const KEY_METHODS = ["get", "set", "setIfNotExists", "delete", "appendToList", "getList"] as const;
/** A thread's queue. */
export const QUEUE_METHODS = ["enqueue", "dequeue", "queueDepth"] as const;

/** Every data method, in the interface's order. */
export const DATA_METHODS = [...SUBSCRIPTION_METHODS, ...LOCK_METHODS, ...KEY_METHODS, ...QUEUE_METHODS] as const;

/** The methods on a thread part (routed by the thread, not by the key). */
export const THREAD_PART_METHODS = [...SUBSCRIPTION_METHODS, ...LOCK_METHODS, ...QUEUE_METHODS] as const;
