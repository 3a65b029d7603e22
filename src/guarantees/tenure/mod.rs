//! Lock tenures and the early grant that close chat's lock/queue race (vercel/chat#928).
//!
//! # The race
//! chat 4.41.1's queue strategies (`queue`, `debounce`, `burst`; `dist/index.js`,
//! `handleQueueOrDebounce`, `drainQueue`, `debounceLoop`) make these calls, each awaited in turn:
//! - a **newcomer** whose `acquireLock(key, 30 s)` returns `null` calls `queueDepth(key)`, then —
//!   unless the queue is full and `onQueueFull` is `"drop-newest"` — `enqueue(key, entry, 10)`,
//!   and returns;
//! - the **holder** (`acquireLock` granted) runs its handler (`queue`), or enqueues its own message
//!   and sleeps (`debounce`, `burst`), then *drains*: rounds of `dequeue` until `null`; a round that
//!   got nothing ends the drain, otherwise the newest entry is handled (the others as `skipped`)
//!   and another round follows (`debounce` sleeps first and may call `queueDepth` between rounds);
//!   then it stops its heartbeat (`extendLock` every 10 s) and calls `releaseLock`;
//! - only the holder calls `dequeue`, and no handler runs after an empty `dequeue` whose previous
//!   `dequeue` in the same tenure was also empty, or that was the tenure's first: that is the
//!   **final** dequeue of the tenure.
//!
//! If a newcomer's `acquireLock` fails before the holder's final dequeue and its `enqueue` lands
//! after it, or its `acquireLock` fails between the final dequeue and the `releaseLock`, nobody
//! ever drains that entry: it waits for the next message on the thread or expires after 90 s.
//!
//! # What the object does (in memory, but for the announcements, which are rows too)
//! A *tenure* is one grant of a lock: its token, its expiry, what the holder's dequeues returned,
//! and *announcements* — newcomers whose `acquireLock` failed during it and whose `enqueue` has not
//! arrived yet. The announcements are also rows (`lock_announcements`, see `announcements`),
//! written with the refusal and deleted with the entry's arrival, so that a restart cannot forget
//! a newcomer that is on its way: a fresh instance rebuilds the tenure of each holder that still
//! holds its lock from its rows ([`Tenures::restore`]), and a refusal of a lock granted before
//! the instance started starts such a *restored* tenure too.
//! 1. **Announce.** A failed `acquireLock` records an announcement with a deadline: twice the
//!    newcomer's *patience* (its retry budget per call plus a second, sent by the adapter) for its
//!    `queueDepth` + `enqueue`; its `queueDepth` resets the deadline to one patience. Its
//!    `enqueue` (recognised by the token the adapter sends along; one sent without a token,
//!    or with the holder's, is some newcomer's: the oldest) fulfils it; one naming a newcomer
//!    whose announcement is gone has arrived already and fulfils no other.
//!    An enqueue the adapter names as the holder's own (debounce and burst enqueue the holder's
//!    message) fulfils nothing — but only the first such one, and only before the holder's first
//!    dequeue: chat's holder makes at most one enqueue on its key, and never after it dequeued,
//!    so any other enqueue is a newcomer's whatever its hint says. (The hint is the adapter's
//!    guess when flows of one thread share it, ts/worker/lock-tracker.ts; a guess that named the holder
//!    for a newcomer's entry made the holder's final dequeue wait out the deadline although the
//!    entry had arrived — issue 18.)
//! 2. **Wait.** A holder's dequeue that finds the queue empty and would be final, while an
//!    announcement is live, is not answered yet: the shell re-asks on every write to the key and at
//!    the earliest deadline. It answers the announced entry as soon as it lands (so the dequeue is
//!    not final and chat handles the entry), or `null` once no announcement is live.
//! 3. **Early grant.** After the final dequeue the holder runs no handler, only `releaseLock`. An
//!    `acquireLock` arriving in that window — one that today's contract would refuse, stranding
//!    its entry — is granted at once under a new token; the old holder's `releaseLock` and
//!    `extendLock` then act as for any token that no longer holds the lock (no-op, `false`).
//!
//! # Invariants
//! - **Never two handlers at once.** An early grant happens only after the holder's final dequeue, and
//!   chat runs no handler after it. A retried final dequeue answers `null` again: from this
//!   tenure's memory, or — if the lock has since been granted early, or the object restarted —
//!   because a *retried* dequeue whose caller's token no longer holds the lock gets `null` (the
//!   fence in `Store::dequeue`). A dequeue that took an entry answers that entry again on a retry
//!   from its durable receipt, and is never final.
//! - **A restart forgets no announcement.** Whatever a restart interrupts, the rows say which
//!   refused newcomers have not enqueued: a restored tenure holds the holder's empty dequeue for
//!   them exactly as the tenure before the restart would have (its deadlines are the refusals'
//!   — twice the patience; a `queueDepth`'s later deadline is kept in memory only, so after a
//!   restart a newcomer whose `enqueue` comes more than two patiences after its refusal is
//!   not waited for, the plain #928 race). A retried refusal (same token) adds no second one.
//! - **Unknown is not final.** What the holder's dequeues got before a restart is not recorded:
//!   in a restored tenure the next empty dequeue *may* be final, so it may be held, but it may
//!   also end a round that chat follows with a handler, so it never drains the tenure. A restored
//!   tenure grants the lock early only after two empty dequeues it saw itself — never while a
//!   handler may still run. Everything else lost with memory (the holder's own enqueue, a held
//!   dequeue's wait start) costs at most a wait up to an announcement's deadline, never data and
//!   never exclusivity. What a restart cannot recover — whether the holder's last dequeue was
//!   final — is waited for instead of guessed: a tenure drained in memory (its final dequeue
//!   made, its release not yet) is restored undrained, and refusing an acquire then could strand
//!   its entry (the holder's release would leave it queued: the #928 race in a one-call window),
//!   while granting it could give a second flow the lock beside a running handler. So while the
//!   holder of a restored tenure may have made its final dequeue (its last dequeue is unknown, or
//!   its one empty dequeue since followed an unknown one), a newcomer's acquire is **held**
//!   ([`Tenures::hold_acquire`]; the shell re-asks on every write to the key, every dequeue and at
//!   the deadline) until the holder's next call settles it: its release (or the lock's expiry, or
//!   a force release) frees the lock and the re-asked acquire is granted — an ordinary grant, one
//!   holder; its dequeue shows the previous one was not final, and the acquire is refused and
//!   announced as before (a held acquire counts as an announcement meanwhile, so that dequeue
//!   waits for its entry). With neither within [`ACQUIRE_HOLD_MS`] (1 s, or the caller's retry
//!   budget if smaller; the adapter excuses a held acquire from that budget as it does a held
//!   dequeue, ts/shared/retry.ts), it is refused as before: the window
//!   then stays open only for a holder whose release comes more than a second after its final
//!   dequeue *and* after a restart. A held acquire writes nothing; its retry (same token) keeps
//!   its start, and one granted meanwhile finds its token holding the lock. Only acquires that
//!   send their token are held. `claimOrEnqueue` is not held: its refusal enqueues in the same
//!   transaction and the holder's `releaseOrDequeue` sees the entry atomically, so it strands
//!   nothing. What is not carried: a held acquire does not move with its unit (its re-ask is
//!   admitted like any call and follows the key), and a moved tenure whose one empty dequeue
//!   followed an unknown one arrives as "last empty, known".
//! - **Only where chat needs it.** With no `acquireLock` refused (or refusable) during a tenure,
//!   nothing differs from the plain contract: no announcement means no wait (and no row, and no
//!   statement on `lock_announcements`), and an early grant needs an acquire arriving while the lock
//!   is held.
//! - **Bounded waits.** A dequeue waits only while an announcement is live, so at most two
//!   patiences after the newcomer's failed acquire — 12 s under the adapter's default retry policy
//!   (5 s budget + 1 s) — and never more than [`MAX_WAIT_MS`] in all. An announcement that will
//!   never be fulfilled (a `drop-newest` newcomer, one that died) costs at most that.
//!
//! # Where it lives
//! [`state`] holds a tenure and its lifecycle (grant, restore, extend, release, early grant);
//! [`announce`] the newcomers' announcements and the enqueues that fulfil them; [`hold`] the held
//! dequeues and acquires and their deadlines; [`moving`] a tenure moving with its unit in a
//! re-shard; [`patience`] the bounds on every wait. The calls that consult it are in
//! `model::locks`, `model::queues` and `claims`; the rows are `announcements`'; the shell re-asks a
//! held call (ts/object/held-dequeues.ts).

pub mod announce;
pub mod hold;
pub mod moving;
pub mod patience;
pub mod state;
#[cfg(test)]
mod tests;

pub use announce::EnqueuePlan;
pub use hold::EmptyDequeue;
pub use moving::MovingTenure;
pub use patience::{patience, ACQUIRE_HOLD_MS, DEFAULT_PATIENCE_MS, MAX_PATIENCE_MS, MAX_WAIT_MS};
pub use state::Tenures;
