// The retry policy: which failed Durable Object calls are tried again, how often and how fast.
//
// Cloudflare's rules (Durable Objects "Error handling"): an error with `.retryable === true` (a
// dropped connection) may be retried only if the call is idempotent; an error with
// `.durableObjectReset === true` means the object was reset (a deploy, a storage timeout) and the
// next call reaches a fresh instance; an error with `.overloaded === true` must never be retried,
// since retrying is what keeps an overloaded object overloaded. Every one of our calls is made
// retry-safe by the object (request ids and receipts, see src/guarantees/idempotency.rs), so every
// retryable or reset error is retried here, each attempt on a fresh stub (a stub that saw an
// error may be broken).
//
// **Resets without flags.** The flags are not the only form a reset takes. workerd sets
// `durableObjectReset` only for a "broken." exception and `retryable` only for a DISCONNECTED one
// (jsg `tunneledErrorType`); a reset that ends a call in any other way reaches the caller as a
// plain `Error` — verified locally: `abortAllDurableObjects()` while a call is inside an object
// rejects it with "Application called abortAllDurableObjects()." and no flag, `remote` unset, and
// the object answers the next call from a fresh instance (test/chat-reset.test.ts). Production
// names the same events in its documented messages (Durable Objects "Troubleshooting" and
// "Error handling"): "Durable Object reset because its code was updated.", "Network connection
// lost.", "Durable Object storage operation exceeded timeout which caused object to be reset.",
// "Internal error in Durable Object storage write caused object to be reset.", "The Durable
// Object's code has been updated, this version can no longer access storage." (raised *inside*
// the object by the storage API of an instance a deploy replaced, so it may carry `remote`),
// `ctx.abort()`'s "Application called abort() to reset Durable Object.", and the runtime's opaque
// "internal error" (with a reference id), which is infrastructure by definition, not our code. A
// message can also lose its flags when a peer object (re-sharding, ts/object/handoff.ts) relays it. So
// an error is retried when it carries a flag **or** names one of those resets or a lost
// connection ([`RESET_MESSAGES`]) — the call may be repeated, that is what retry safety is for.
//
// Never retried: `overloaded` (by flag, or by the overload messages, which name "overloaded" or
// "too much load"), and anything else — in particular every error our object raises on purpose:
// a bad argument ("Invalid argument `x`: …", `remote: true`), a protocol check, a storage error it
// reported; those are not transient and are rethrown at once.
//
// Backoff is capped full jitter: before retry n (1-based) wait random() × min(maxDelayMs,
// baseDelayMs × 2^n), and start no attempt after maxElapsedMs. The defaults ride out an object
// restart on deploy (a reset instance answers within a second or two) while keeping a chat
// message's worst case to a few seconds.
import type { Logger } from "chat";

/** `retry` option of `createCloudflareState`. */
export interface RetryOptions {
  /** Attempts in all, the first included (1–20). Default 6. */
  attempts?: number;
  /** Base of the exponential backoff, ms. Default 100. */
  baseDelayMs?: number;
  /** Cap of one backoff delay, ms. Default 2,000. */
  maxDelayMs?: number;
  /** No attempt starts later than this after the first, ms (at most 60,000). Default 5,000. */
  maxElapsedMs?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 6,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  maxElapsedMs: 5_000,
});

/**
 * The longest `maxElapsedMs` accepted: the object keeps the receipts that make a retry safe for
 * two minutes (src/guarantees/idempotency.rs, RECEIPT_WINDOW_MS), twice this.
 */
export const MAX_RETRY_ELAPSED_MS = 60_000;

/** Validates the option; `null` means retries are off (`retry: false`). */
export function resolveRetryPolicy(option: false | RetryOptions | undefined): RetryPolicy | null {
  if (option === false) return null;
  if (option === undefined) return { ...DEFAULT_RETRY };
  if (typeof option !== "object" || option === null) {
    throw new Error("Invalid option `retry`: must be false or an object { attempts, baseDelayMs, maxDelayMs, maxElapsedMs }");
  }
  const policy = { ...DEFAULT_RETRY, ...definedFields(option) };
  const whole = (name: keyof RetryPolicy, min: number, max: number) => {
    const value = policy[name];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`Invalid option \`retry.${name}\`: must be a whole number from ${min} to ${max}, got ${String(value)}`);
    }
  };
  whole("attempts", 1, 20);
  whole("baseDelayMs", 0, MAX_RETRY_ELAPSED_MS);
  whole("maxDelayMs", 0, MAX_RETRY_ELAPSED_MS);
  whole("maxElapsedMs", 0, MAX_RETRY_ELAPSED_MS);
  return policy;
}

function definedFields(option: RetryOptions): RetryOptions {
  return Object.fromEntries(Object.entries(option).filter(([, value]) => value !== undefined));
}

interface RuntimeErrorFlags {
  retryable?: unknown;
  overloaded?: unknown;
  durableObjectReset?: unknown;
}

/**
 * Messages of resets and lost connections the runtime raises (see the head comment). Matched
 * case-insensitively anywhere in the message: workerd may prefix it ("remote exception: ",
 * "Error: ") or append a reference id.
 */
export const RESET_MESSAGES: readonly RegExp[] = [
  /durable object reset because its code was updated/i,
  /the durable object's code has been updated/i,
  /caused (the )?object to be reset/i,
  /to reset durable object/i, // ctx.abort(): "Application called abort() to reset Durable Object."
  /called abortAllDurableObjects\(\)/i, // the local runtime's whole reset (vitest-pool-workers)
  /durable object was reset/i,
  /this durable object instance is no longer active/i,
  /network connection lost/i,
  /^(error: )?internal error\b/i, // the runtime's opaque "internal error; reference = …"
];

/** The overload messages: never retried even without the flag. */
const OVERLOAD_MESSAGES = /overloaded|too much load|too many requests/i;
/**
 * Our own rejections (src/base/error.rs, ts/): never retried, whatever they quote — an argument's text
 * may contain anything. (A storage error, "ChatStateDO storage error: …", is not one of them: it
 * relays what the storage API raised, which may be a reset.)
 */
const OWN_REJECTIONS = /^(error: )?(invalid argument|invalid option|chat-state-cloudflare-do:|cloudflaredostateadapter )/i;

/**
 * Whether a failed call may be retried: a transient fault — a flag the runtime set, or one of its
 * reset / lost-connection messages without a flag — never overload, never our own rejection.
 */
export function isRetryable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const flags = error as RuntimeErrorFlags;
  if (flags.overloaded === true) return false;
  if (flags.retryable === true || flags.durableObjectReset === true) return true;
  const message = (error as { message?: unknown }).message;
  if (typeof message !== "string" || OVERLOAD_MESSAGES.test(message) || OWN_REJECTIONS.test(message)) return false;
  return RESET_MESSAGES.some((pattern) => pattern.test(message));
}

/** The wait before retry `retry` (1-based): capped full jitter. */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/** What a retry is about, for the log line. */
export interface CallSite {
  method: string;
  objectName: string;
}

/**
 * The longest the object may keep one call waiting on purpose (src/guarantees/tenure/, `MAX_WAIT_MS`: two
 * of the longest patiences a caller may declare, `MAX_RETRY_ELAPSED_MS` + 1 s each).
 */
export const MAX_HOLD_MS = 2 * (MAX_RETRY_ELAPSED_MS + 1_000);

/**
 * The latest a holdable call's retry starts after its first attempt: inside the two minutes the
 * object keeps a receipt (src/guarantees/idempotency.rs, RECEIPT_WINDOW_MS), with 20 s to spare.
 */
const HOLDABLE_CUTOFF_MS = 100_000;

/**
 * The retry state of one logical call, however many objects it is sent to (a redirect sends it on
 * to the key's new home; docs/resharding.md, "The client across a redirect"): one count of
 * attempts, one time budget, and one retry identity — once any attempt may have run anywhere,
 * every later attempt, on any object, is a retry, so the object looks for what it left (the
 * receipts move with the key). A redirect is not a failure: it costs no attempt.
 */
export class RetrySession {
  readonly #policy: RetryPolicy | null;
  readonly #logger: Logger;
  readonly #holdable: boolean;
  readonly #started = Date.now();
  #longestAttempt = 0;
  #failures = 0;

  /** `holdable`: see [`withRetries`]. */
  constructor(policy: RetryPolicy | null, logger: Logger, holdable = false) {
    this.#policy = policy;
    this.#logger = logger;
    this.#holdable = holdable;
  }

  /** Whether an earlier attempt of this call may have run (on any object): the next is a retry. */
  get mayHaveRun(): boolean {
    return this.#failures > 0;
  }

  /** The 1-based number of the next attempt. */
  get nextAttempt(): number {
    return this.#failures + 1;
  }

  /**
   * An attempt started at `attemptStarted` failed with `error`: rethrows it if it may not be
   * retried (not retryable, or the policy's attempts or time are spent); else logs the retry at
   * `warn` and waits the backoff.
   */
  async failed(error: unknown, site: CallSite, attemptStarted: number): Promise<void> {
    this.#failures++;
    // The object holds a dequeue within one attempt: only the longest is excused, not the time of
    // every attempt (a slow connection's attempts would otherwise retry on and on).
    this.#longestAttempt = Math.max(this.#longestAttempt, Date.now() - attemptStarted);
    const policy = this.#policy;
    const n = this.#failures;
    if (policy === null || n >= policy.attempts || !isRetryable(error)) throw error;
    const delayMs = backoffMs(n, policy);
    const excused = this.#holdable ? Math.min(this.#longestAttempt, MAX_HOLD_MS) : 0;
    if (Date.now() + delayMs - this.#started - excused > policy.maxElapsedMs) throw error;
    // Every receipt a holdable call's attempts may have written is written after its first
    // attempt started and kept two minutes: no retry starts later than that, less a margin.
    if (this.#holdable && Date.now() + delayMs - this.#started > HOLDABLE_CUTOFF_MS) throw error;
    this.#logger.warn("Durable Object call failed; retrying", {
      method: site.method,
      objectName: site.objectName,
      attempt: n,
      attempts: policy.attempts,
      delayMs,
      error: error instanceof Error ? error.message : String(error),
    });
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not retryable, or the policy's
 * attempts or time run out; then rethrows the last error itself. Each retry is logged at `warn`.
 *
 * `holdable` marks a call the object may hold on purpose (a lock holder's final dequeue, held
 * for a newcomer; a newcomer's acquireLock, held up to 1 s for the holder's next call): the time of its longest attempt — the hold, up to [`MAX_HOLD_MS`] — is not
 * counted against `maxElapsedMs`, and no retry starts later than `HOLDABLE_CUTOFF_MS` after the
 * first attempt. Otherwise a dequeue held past the budget whose reply is then lost would
 * not be retried, and the entry it took, already marked taken, would be lost with the reply.
 * The retry stays safe: its receipt is written when the held call commits, and the retry comes
 * within the budget of the failure, well inside the receipt window.
 *
 * A call that may be redirected to another object keeps one [`RetrySession`] across its hops
 * instead (ts/worker/adapter.ts).
 */
export async function withRetries<T>(
  policy: RetryPolicy | null,
  site: CallSite,
  logger: Logger,
  attempt: (attemptNumber: number) => Promise<T>,
  holdable = false,
): Promise<T> {
  const session = new RetrySession(policy, logger, holdable);
  for (;;) {
    const attemptStarted = Date.now();
    try {
      return await attempt(session.nextAttempt);
    } catch (error) {
      await session.failed(error, site, attemptStarted);
    }
  }
}
