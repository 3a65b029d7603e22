// What one adapter instance knows about the locks it holds and the acquires it was refused, per
// key — so that its queue calls can tell the object whose flow they belong to (src/tenure.rs):
// a dequeue carries the token of the lock it drains under (a *retried* dequeue whose token no
// longer holds the lock gets null: the object's fence against a second handler), and a refused
// newcomer's `queueDepth` and `enqueue` carry the token of its refused acquire, so the object
// knows which announced entry has arrived (and that the holder's own enqueue is not one).
//
// chat calls a newcomer's queueDepth and enqueue right after its refused acquire, and a
// holder's dequeues between its acquire and its release, so "the oldest refusal not yet
// enqueued" and "the newest lock still held" name the right flow in every order chat produces;
// a wrong guess only shortens or lengthens a bounded wait in the object, never changes data.

interface Held {
  token: string;
  expiresAt: number;
}

interface Refused {
  token: string;
  /** Forgotten after this (twice the patience the acquire declared). */
  until: number;
}

export class LockTracker {
  readonly #held = new Map<string, Held[]>();
  readonly #refused = new Map<string, Refused[]>();

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
    refused.push({ token, until: Date.now() + windowMs });
    this.#refused.set(key, refused);
  }

  /** The newest lock this adapter holds on `key`: the drain a dequeue belongs to. */
  holder(key: string): string | undefined {
    this.#prune(key);
    return this.#held.get(key)?.at(-1)?.token;
  }

  /** The oldest refusal on `key` not yet enqueued (a queueDepth belongs to it). */
  newcomer(key: string): string | undefined {
    this.#prune(key);
    return this.#refused.get(key)?.[0]?.token;
  }

  /** Whose enqueue this is: the oldest refusal (consumed), else the holder's own. */
  enqueuer(key: string): string | undefined {
    this.#prune(key);
    const refused = this.#refused.get(key);
    const first = refused?.shift();
    if (refused?.length === 0) this.#refused.delete(key);
    return first?.token ?? this.holder(key);
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
