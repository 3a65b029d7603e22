// What one adapter instance knows about the locks it holds and the acquires it was refused, per
// key — so that its queue calls can tell the object whose flow they belong to (src/guarantees/tenure/):
// a dequeue carries the token of the lock it drains under (a *retried* dequeue whose token no
// longer holds the lock gets null: the object's fence against a second handler), and a refused
// newcomer's `queueDepth` and `enqueue` carry the token of its refused acquire, so the object
// knows which announced entry has arrived (and that the holder's own enqueue is not one).
//
// Which flow a call belongs to, when a holder and newcomers of one thread share this adapter (one
// isolate serving several webhooks): chat passes nothing but the key, so the tracker goes by each
// flow's *call order*, never by timing. In chat 4.41.1 (`handleQueueOrDebounce`):
//   - a refused newcomer calls queueDepth, then enqueue, then nothing more on the key;
//   - a holder calls, on the key, at most one enqueue (its own message, debounce and burst) and
//     only before its first dequeue; a debounce holder's queueDepth comes between dequeue rounds.
// So a queueDepth is the oldest refusal's that has not asked yet (a holder's otherwise); an
// enqueue is the oldest refusal's whose queueDepth has been *answered* (chat awaits it: a
// newcomer's enqueue cannot leave before its queueDepth came back — one still on its way, say
// waiting out a retry's backoff, does not make its refusal the enqueuer), else the holder's own
// while the holder is *fresh* (granted, no enqueue or dequeue yet), else a refusal's that did not
// seem to ask, else the holder's.
//
// The earlier rule — "the flow whose call was answered in the current turn makes the next call"
// (a marker cleared by setTimeout 0) — broke as soon as chat spent time between its calls: the
// marker is set when the adapter gets an answer, so a holder's dequeue answered in the same timer
// tick as a newcomer's delayed queueDepth or enqueue named the holder, the newcomer's entry was
// taken for the holder's own, and the object held the holder's final dequeue for one or two
// patiences although that entry had long arrived (issue 18, problem 2).
//
// Going by a queueDepth that was only *sent* stranded an entry (issue 18, found by the #928 fault
// trials under burst): the holder's acquire lost its reply, the newcomer was refused meanwhile
// and its queueDepth failed on the way; the holder, granted by its retry, made its own enqueue,
// which was named the newcomer's; the object stopped waiting for the newcomer, the holder's final
// dequeue came back empty, and the newcomer's entry landed after the release.
//
// One case is truly ambiguous by order: an enqueue while the holder is fresh *and* a refusal's
// queueDepth has been answered. It goes to the refusal (under `queue` the holder never enqueues,
// and there this is the common case), and the guess is remembered. Under debounce/burst it can be
// the holder's own, made in the few ms between its grant and its enqueue; then the refusal counts
// as arrived a little early. The guess is corrected when the refusal's real enqueue comes: an
// enqueue when no refusal's queueDepth is waiting for its enqueue and the holder is not fresh
// must be the enqueue of a refusal whose queueDepth was answered — one already consumed by a
// guess — so it is named that refusal's again (the object counts an arrival once), not the next
// refusal's. Naming it the next refusal's made the object stop waiting for a newcomer that had
// not even asked its queueDepth, and its entry was stranded (issue 18, `test/model.test.ts`,
// burst with two newcomers: fast-check seed 1087682473, counterexample seed 1919292227). What
// stays open: the newcomer's real enqueue delayed past the holder's whole debounce and drain (a
// retry's backoff) after such a guess, the plain #928 race, no worse than without the mitigation.
// Whatever the guess, no data is ever changed by a hint: a wrong one only makes the object wait
// for an announced entry until its deadline, or stop waiting early, and the object itself ignores
// a "holder's own" enqueue that cannot be one (src/guarantees/tenure/).

interface Held {
  token: string;
  expiresAt: number;
  /** Granted and has made neither its own enqueue nor a dequeue yet. */
  fresh: boolean;
}

interface Refused {
  token: string;
  /** Forgotten after this (twice the patience the acquire declared). */
  until: number;
  /**
   * Where its flow is: `refused` (its queueDepth comes next), `asking` (its queueDepth has been
   * sent, not answered), `asked` (answered: its enqueue comes next).
   */
  stage: "refused" | "asking" | "asked";
}

export class LockTracker {
  readonly #held = new Map<string, Held[]>();
  readonly #refused = new Map<string, Refused[]>();
  /** key -> the refusal whose call on it was answered last (preferred among refusals). */
  readonly #lastAnswered = new Map<string, string>();
  /**
   * key -> refusals an enqueue was given to while the holder was fresh (the ambiguous case): the
   * enqueue may have been the holder's own, and the refusal's own may still come.
   */
  readonly #guessed = new Map<string, { token: string; until: number }[]>();

  /**
   * A call of `token`'s flow on `key` was answered. Only breaks ties among refusals that have not
   * asked their queueDepth (the one answered last asks first); never decides between a holder
   * and a newcomer, and does not depend on when the next call comes.
   */
  answered(key: string, token: string | undefined): void {
    if (token === undefined) return;
    const refusal = this.#refused.get(key)?.find((r) => r.token === token);
    if (refusal?.stage === "refused") this.#lastAnswered.set(key, token);
    else if (this.#lastAnswered.get(key) === token) this.#lastAnswered.delete(key);
  }

  /** The queueDepth `depthAsker` named `token`'s came back: that flow's enqueue comes next. */
  depthAnswered(key: string, token: string | undefined): void {
    for (const r of this.#refused.get(key) ?? []) if (r.token === token && r.stage === "asking") r.stage = "asked";
  }

  /** An acquire on `key` was granted. */
  granted(key: string, token: string, expiresAt: number): void {
    this.#prune(key);
    const held = this.#held.get(key) ?? [];
    held.push({ token, expiresAt, fresh: true });
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
    else {
      this.#held.delete(key);
      // A guess matters only to the tenure it was made in (its final dequeue); under `queue`
      // nearly every contended message makes one, so it ends with the lock.
      this.#guessed.delete(key);
    }
  }

  /** An acquire on `key` with `token` was refused; its enqueue is expected within `windowMs`. */
  refused(key: string, token: string, windowMs: number): void {
    this.#prune(key);
    const refused = this.#refused.get(key) ?? [];
    refused.push({ token, until: Date.now() + windowMs, stage: "refused" });
    this.#refused.set(key, refused);
  }

  /** The newest lock this adapter holds on `key`: the drain a dequeue belongs to. */
  holder(key: string): string | undefined {
    this.#prune(key);
    return this.#held.get(key)?.at(-1)?.token;
  }

  /** The holder `token` dequeues on `key`: it makes no own enqueue from now on. */
  dequeued(key: string, token: string | undefined): void {
    for (const h of this.#held.get(key) ?? []) if (h.token === token) h.fresh = false;
  }

  /** Whose queueDepth this is: a refusal that has not asked yet (the one answered last, else the
   * oldest), else the holder's (debounce asks between rounds). */
  depthAsker(key: string): string | undefined {
    this.#prune(key);
    const waiting = (this.#refused.get(key) ?? []).filter((r) => r.stage === "refused");
    const last = this.#lastAnswered.get(key);
    const next = waiting.find((r) => r.token === last) ?? waiting[0];
    if (next) {
      next.stage = "asking";
      if (next.token === last) this.#lastAnswered.delete(key);
      return next.token;
    }
    return this.holder(key);
  }

  /**
   * Whose enqueue this is: the oldest refusal whose queueDepth was answered (consumed; remembered
   * as a guess if the holder is fresh), else a fresh holder's own, else the refusal of the oldest
   * guess (consumed), else the oldest refusal (consumed; one whose queueDepth is on its way
   * first), else the holder's.
   */
  enqueuer(key: string): string | undefined {
    // holder() prunes too, replacing the arrays: ask it first, so `refused` below is the live one.
    const holder = this.holder(key);
    const refused = this.#refused.get(key) ?? [];
    const fresh = this.#held.get(key)?.findLast((h) => h.fresh);
    let index = refused.findIndex((r) => r.stage === "asked");
    if (index >= 0 && fresh) {
      const guessed = this.#guessed.get(key) ?? [];
      guessed.push({ token: refused[index]!.token, until: refused[index]!.until });
      this.#guessed.set(key, guessed);
    }
    if (index < 0) {
      if (fresh) {
        fresh.fresh = false;
        return fresh.token;
      }
      // No refusal's enqueue is due and the holder's own is made: the real enqueue of a refusal
      // an earlier enqueue was guessed for (see the head comment).
      const guessed = this.#guessed.get(key)?.shift();
      if (guessed) return guessed.token;
      if (refused.length === 0) return holder;
      index = Math.max(0, refused.findIndex((r) => r.stage === "asking"));
    }
    const [taken] = refused.splice(index, 1);
    if (refused.length === 0) this.#refused.delete(key);
    if (this.#lastAnswered.get(key) === taken!.token) this.#lastAnswered.delete(key);
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
    if (!refused?.length) this.#lastAnswered.delete(key);
    const guessed = this.#guessed.get(key)?.filter((g) => g.until > now);
    if (guessed?.length) this.#guessed.set(key, guessed);
    else this.#guessed.delete(key);
  }
}
