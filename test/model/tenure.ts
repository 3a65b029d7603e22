// The model of a lock tenure: what an object remembers of each lock it granted
// (src/guarantees/tenure/) — the holder's last dequeue, whether it drained, the newcomers it
// refused and awaits (announcements, src/guarantees/announcements.rs) — and, for the re-sharding
// model, the plain rule of a held lock: one owner at a time, granted again once released.
import type { Lock } from "chat";
import { expect } from "vitest";
import type { Window } from "./clock.js";

/** Whether a deadline is still ahead at the moment judged; throws Inconclusive when unknown. */
export type Live = (deadline: Window | null) => boolean;

/** A newcomer whose acquireLock was refused during a tenure, and whose enqueue the object awaits. */
export interface Announcement {
  /** The model's name for the token the refused acquire carried (the adapter draws the real one). */
  token: string;
  deadline: Window;
}

/**
 * A grant of a lock (a plain one or an early grant) as the object remembers it: src/guarantees/tenure/. It
 * expires with the lock it granted (the model's `locks` entry with the same token).
 */
export interface Tenure {
  token: string;
  /**
   * What the holder's last answered dequeue got; "unknown" in a tenure rebuilt after a reset (its
   * next empty dequeue may be held, but drains nothing).
   */
  last: "entry" | "empty" | "unknown" | null;
  /** The holder made its final dequeue: the next acquire is granted the lock early. It stays so. */
  drained: boolean;
  announced: Announcement[];
  /** The holder has dequeued: no enqueue after that is its own. */
  dequeued: boolean;
  /** An enqueue named as the holder's own was seen (chat's holder makes at most one). */
  ownEnqueued: boolean;
  /**
   * The announcements' rows (src/guarantees/announcements.rs), with the refusal's deadline: a reset brings
   * the tenure back from them.
   */
  rows: Announcement[];
}

/** The tenure an object rebuilds for `token`'s lock from `rows` (after a reset, or at a refusal). */
export function restoredTenure(token: string, rows: Announcement[]): Tenure {
  return {
    token,
    last: "unknown",
    drained: false,
    announced: rows.map((r) => ({ ...r })),
    dequeued: false,
    ownEnqueued: false,
    rows,
  };
}

/** The tenure of key `k`'s lock while that lock is held, as a call judging time by `live` sees it. */
export function liveTenure(
  tenures: Map<number, Tenure>,
  locks: Map<number, { token: string; expires: Window }>,
  k: number,
  live: Live,
): Tenure | undefined {
  const tenure = tenures.get(k);
  const lock = locks.get(k);
  return tenure !== undefined && lock?.token === tenure.token && live(lock.expires) ? tenure : undefined;
}

/** The announcements of `tenure` still awaited (the others are dropped: they never come back). */
export function awaited(tenure: Tenure, live: Live): Announcement[] {
  tenure.announced = tenure.announced.filter((a) => live(a.deadline));
  return tenure.announced;
}

/** The announcement a call carrying `token` is about: its own, or else the oldest. */
export function pick(tenure: Tenure, token: string | undefined, live: Live): Announcement | undefined {
  const announced = awaited(tenure, live);
  return announced.find((a) => a.token === token) ?? announced[0];
}

/** What an enqueue naming `token` fulfils (src/guarantees/tenure/announce.rs, `plan_enqueue`):
 * the announcement it names — none if it names a newcomer not awaited (its entry arrived
 * already) — or, unnamed or named the holder's, the oldest. */
export function pickEnqueued(tenure: Tenure, token: string | undefined, live: Live): Announcement | undefined {
  const announced = awaited(tenure, live);
  if (token !== undefined && token !== tenure.token) return announced.find((a) => a.token === token);
  return announced[0];
}

/** An adapter's lock calls, as the held-lock model needs them. */
interface LockCalls {
  acquireLock(threadId: string, ttlMs: number): Promise<Lock | null>;
  releaseLock(lock: Lock): Promise<void>;
  extendLock(lock: Lock, ttlMs: number): Promise<boolean>;
}

/**
 * The locks a run holds, by index, with a TTL (an hour) no run outlives: an acquire is granted
 * exactly when the lock is not held, a release frees it, an extend of a held lock succeeds.
 */
export class HeldLocks {
  private readonly held = new Map<number, Lock>();

  /** Checks the answer `got` of an acquire of lock `i`; true when it was (rightly) refused. */
  acquired(i: number, got: Lock | null, where: string, refusedWhere = where): boolean {
    if (this.held.has(i)) {
      expect(got, refusedWhere).toBeNull();
      return true;
    }
    expect(got, where).not.toBeNull();
    this.held.set(i, got!);
    return false;
  }

  /** Releases lock `i` through `a` if the run holds it. */
  async release(a: LockCalls, i: number): Promise<void> {
    const held = this.held.get(i);
    if (held) {
      await a.releaseLock(held);
      this.held.delete(i);
    }
  }

  /** Extends lock `i` through `a` if the run holds it; the extend must succeed. */
  async extend(a: LockCalls, i: number, where: string): Promise<void> {
    const held = this.held.get(i);
    if (held) expect(await a.extendLock(held, 3_600_000), where).toBe(true);
  }

  /** At the end of a run: a held lock `i` (on `key`) still extends, a free one is granted. */
  async checkFinal(a: LockCalls, i: number, key: string, where: string): Promise<void> {
    const held = this.held.get(i);
    if (held) expect(await a.extendLock(held, 3_600_000), where).toBe(true);
    else expect(await a.acquireLock(key, 1_000), where).not.toBeNull();
  }
}
