// What one adapter instance knows about the locks it holds and the acquires it was refused, per
// key — so that its queue calls can tell the object whose flow they belong to (src/tenure.rs):
// a dequeue carries the token of the lock it drains under (a *retried* dequeue whose token no
// longer holds the lock gets null: the object's fence against a second handler), and a refused
// newcomer's `queueDepth` and `enqueue` carry the token of its refused acquire, so the object
// knows which announced entry has arrived (and that the holder's own enqueue is not one).
//
// Which flow a call belongs to, when a holder and a newcomer share this adapter (one isolate):
// chat makes a flow's next state call synchronously in the continuation of the previous one's
// answer — a newcomer's queueDepth right after its refused acquire, its enqueue right after that
// queueDepth, a debounce/burst holder's own enqueue right after its granted acquire. So the
// token whose call on a key was answered *in the current turn* (before any timer runs) names the
// flow of the next call on that key. Outside that, the calls tell the flows apart: a newcomer is
// refused, asks queueDepth, then enqueues; a holder never asks queueDepth before its own enqueue.
// A wrong guess only makes the object wait for an announced entry until its deadline, or stop
// waiting early: no data is ever changed by a hint.

interface Held {
  token: string;
  expiresAt: number;
}

interface Refused {
  token: string;
  /** Forgotten after this (twice the patience the acquire declared). */
  until: number;
  /** Whether its queueDepth has been asked (its enqueue comes next). */
  asked: boolean;
}

export class LockTracker {
  readonly #held = new Map<string, Held[]>();
  readonly #refused = new Map<string, Refused[]>();
  /** key -> the token whose call on it was answered in the current turn. */
  readonly #answeredNow = new Map<string, string>();

  /** A call of `token`'s flow on `key` was just answered: chat's next call there is its flow's. */
  answered(key: string, token: string | undefined): void {
    if (token === undefined) return;
    if (this.#answeredNow.size === 0) setTimeout(() => this.#answeredNow.clear(), 0);
    this.#answeredNow.set(key, token);
  }

  /** An acquire on `key` was granted. */
  granted(key: string, token: string, expiresAt: number): void {
    this.#prune(key);
    const held = this.#held.get(key) ?? [];
    held.push({ token, expiresAt });
    this.#held.set(key, held);
  }

  /** The lock was extended (keeps the entry from being pruned as expired). */
  extended(key: string, token: string, expiresAt: number): void {
    for (const h of this.#held.get(key) ?? []) if (h.token === token) h.expiresAt = expiresAt;
  }

  /** The lock held by `token` was released (`undefined`: force-released, whoever held it). */
  released(key: string, token?: string): void {
    const held = (this.#held.get(key) ?? []).filter((h) => token !== undefined && h.token !== token);
    if (held.length > 0) this.#held.set(key, held);
    else this.#held.delete(key);
  }

  /** An acquire on `key` with `token` was refused; its enqueue is expected within `windowMs`. */
  refused(key: string, token: string, windowMs: number): void {
    this.#prune(key);
    const refused = this.#refused.get(key) ?? [];
    refused.push({ token, until: Date.now() + windowMs, asked: false });
    this.#refused.set(key, refused);
  }

  /** The newest lock this adapter holds on `key`: the drain a dequeue belongs to. */
  holder(key: string): string | undefined {
    this.#prune(key);
    return this.#held.get(key)?.at(-1)?.token;
  }

  /** Whose queueDepth this is: the flow answered this turn, else the oldest refusal that has not
   * asked yet, else the holder's. */
  depthAsker(key: string): string | undefined {
    this.#prune(key);
    const now = this.#answeredNow.get(key);
    const refusals = this.#refused.get(key) ?? [];
    const byTurn = now === undefined ? undefined : refusals.find((r) => r.token === now);
    if (byTurn) {
      byTurn.asked = true;
      return byTurn.token;
    }
    if (now !== undefined && this.#held.get(key)?.some((h) => h.token === now)) return now;
    const next = refusals.find((r) => !r.asked);
    if (next) {
      next.asked = true;
      return next.token;
    }
    return this.holder(key);
  }

  /**
   * Whose enqueue this is: the oldest refusal that asked its queueDepth (consumed), else the
   * holder's own, else (holding nothing) the oldest refusal.
   */
  enqueuer(key: string): string | undefined {
    // holder() prunes too, replacing the arrays: ask it first, so `refused` below is the live one.
    const holder = this.holder(key);
    const refused = this.#refused.get(key) ?? [];
    const now = this.#answeredNow.get(key);
    if (now !== undefined && this.#held.get(key)?.some((h) => h.token === now)) return now;
    const byTurn = now === undefined ? -1 : refused.findIndex((r) => r.token === now);
    let index = byTurn >= 0 ? byTurn : refused.findIndex((r) => r.asked);
    if (index < 0) {
      if (holder !== undefined) return holder;
      index = refused.length > 0 ? 0 : -1;
    }
    if (index < 0) return undefined;
    const [taken] = refused.splice(index, 1);
    if (refused.length === 0) this.#refused.delete(key);
    return taken!.token;
  }

  #prune(key: string): void {
    const now = Date.now();
    const held = this.#held.get(key)?.filter((h) => h.expiresAt > now);
    if (held?.length) this.#held.set(key, held);
    else this.#held.delete(key);
    const refused = this.#refused.get(key)?.filter((r) => r.until > now);
    if (refused?.length) this.#refused.set(key, refused);
    else this.#refused.delete(key);
  }
}
