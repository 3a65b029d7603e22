//! Lock tenures and the queue handover that closes chat's lock/queue race (vercel/chat#928).
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
//!    `enqueue` (recognised by the token the adapter sends along, or else the oldest) fulfils it.
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
//! 3. **Hand over.** After the final dequeue the holder runs no handler, only `releaseLock`. An
//!    `acquireLock` arriving in that window — one that today's contract would refuse, stranding
//!    its entry — is granted at once under a new token; the old holder's `releaseLock` and
//!    `extendLock` then act as for any token that no longer holds the lock (no-op, `false`).
//!
//! # Invariants
//! - **Never two handlers at once.** A handover happens only after the holder's final dequeue, and
//!   chat runs no handler after it. A retried final dequeue answers `null` again: from this
//!   tenure's memory, or — if the lock has since been handed over, or the object restarted —
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
//!   tenure hands the lock over only after two empty dequeues it saw itself — never while a
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
//!   dequeue, ts/worker/retry.ts), it is refused as before: the window
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
//!   statement on `lock_announcements`), and a handover needs an acquire arriving while the lock
//!   is held.
//! - **Bounded waits.** A dequeue waits only while an announcement is live, so at most two
//!   patiences after the newcomer's failed acquire — 12 s under the adapter's default retry policy
//!   (5 s budget + 1 s) — and never more than [`MAX_WAIT_MS`] in all. An announcement that will
//!   never be fulfilled (a `drop-newest` newcomer, one that died) costs at most that.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::guarantees::idempotency::MAX_RETRY_ELAPSED_MS;

/// The most patience a caller may declare: the adapter's longest retry budget plus a second.
pub const MAX_PATIENCE_MS: i64 = MAX_RETRY_ELAPSED_MS + 1_000;
/// Patience assumed when the caller declares none (an adapter without retries).
pub const DEFAULT_PATIENCE_MS: i64 = 1_000;
/// The longest one dequeue is ever held.
pub const MAX_WAIT_MS: i64 = 2 * MAX_PATIENCE_MS;
/// The longest a newcomer's acquire is held while the holder of a restored tenure may already
/// have made its final dequeue (see "Unknown is not final"): well within the adapter's retry
/// budget (5 s by default), so the held call needs no excuse from it (ts/worker/retry.ts).
pub const ACQUIRE_HOLD_MS: i64 = 1_000;
/// Tenures kept before expired ones are pruned.
const PRUNE_ABOVE: usize = 1_024;

#[derive(Debug, Clone)]
struct Announcement {
    /// The newcomer's token (from its failed acquire), if it sent one.
    token: Option<String>,
    deadline: i64,
    patience: i64,
    /// Of an acquire being held (not refused yet): no row, and the refusal makes it one.
    held: bool,
}

/// A newcomer's acquire being held (see [`Tenures::hold_acquire`]).
#[derive(Debug, Clone)]
struct HeldAcquire {
    token: String,
    since: i64,
    /// The holder's dequeues counted when it was first held: one more settles it.
    dequeues_seen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastDequeue {
    Empty,
    Entry,
    /// Not known: the tenure was rebuilt from its rows after a restart (see [`Tenures::restore`]).
    /// The next empty dequeue may be final (so it may be held) but may also end a round chat
    /// follows with a handler (so it never drains the tenure: no handover after it).
    Unknown,
}

#[derive(Debug, Clone)]
struct Tenure {
    token: String,
    expires_at: i64,
    last_dequeue: Option<LastDequeue>,
    /// The request id of the holder's last empty dequeue, to answer its retry the same.
    last_empty_request: Option<String>,
    drained: bool,
    announcements: Vec<Announcement>,
    /// When the dequeue that is being held first asked.
    waiting_since: Option<i64>,
    /// The holder has dequeued (it makes no own enqueue after that).
    dequeued: bool,
    /// The holder's own enqueue, once seen (chat's holder makes at most one), with its request id:
    /// a retry of it (not recognised as one when its entry was not kept) is still its own.
    own_enqueue: Option<Option<String>>,
    /// Rows of this tenure's announcements that may still be in `lock_announcements` (see
    /// `announcements`): its release deletes them if any.
    rows: u32,
    /// The holder may already have made its final dequeue and this instance cannot tell: the
    /// tenure was rebuilt after a restart and the holder's last dequeue before it is unknown (or
    /// its one empty dequeue since followed such an unknown one). Acquires are then held.
    final_unknown: bool,
    /// The holder's dequeues this instance saw (a held acquire is settled by the next one).
    dequeues: u64,
    held_acquires: Vec<HeldAcquire>,
}

impl Tenure {
    fn new(token: &str, expires_at: i64, last_dequeue: Option<LastDequeue>) -> Self {
        Tenure {
            token: token.to_owned(),
            expires_at,
            last_dequeue,
            last_empty_request: None,
            drained: false,
            announcements: Vec::new(),
            waiting_since: None,
            dequeued: false,
            own_enqueue: None,
            rows: 0,
            final_unknown: last_dequeue == Some(LastDequeue::Unknown),
            dequeues: 0,
            held_acquires: Vec::new(),
        }
    }

    fn live(&self, now: i64) -> bool {
        self.expires_at > now
    }

    fn prune_announcements(&mut self, now: i64) {
        self.announcements.retain(|a| a.deadline > now);
    }

    /// The announcement `token` names, or else the oldest one.
    fn pick(&self, token: Option<&str>) -> Option<usize> {
        token
            .and_then(|t| {
                self.announcements
                    .iter()
                    .position(|a| a.token.as_deref() == Some(t))
            })
            .or(if self.announcements.is_empty() {
                None
            } else {
                Some(0)
            })
    }
}

/// A tenure as it moves with its unit to the unit's new home (src/sharding/handoff.rs, docs/resharding.md
/// "Spec: units"): everything this instance knows of it, so the new home holds the holder's final
/// dequeue and hands the lock over exactly as this one would have. Times are absolute (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MovingTenure {
    pub token: String,
    pub expires_at: i64,
    /// What the holder's last dequeue got: `Some(true)` an entry, `Some(false)` nothing.
    pub last_took_entry: Option<bool>,
    pub last_empty_request: Option<String>,
    pub drained: bool,
    /// `(token, deadline, patience)` of each live announcement.
    pub announcements: Vec<(Option<String>, i64, i64)>,
    pub waiting_since: Option<i64>,
    /// Whether the holder has dequeued (`None`: not sent, by builds before it — then it has if
    /// `last_took_entry` says a dequeue was made).
    pub dequeued: Option<bool>,
    /// The holder's own enqueue, if seen: `Some(request id)`.
    pub own_enqueue: Option<Option<String>>,
    /// The last dequeue is not known (a tenure rebuilt after a restart): `last_took_entry` then
    /// says `Some(true)`, which builds before this field read safely (no handover after the next
    /// empty dequeue).
    pub last_unknown: bool,
}

/// An enqueue's effect on its key's tenure, decided before its transaction commits (the row of
/// the announcement it fulfils is deleted in that transaction) and applied after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueuePlan {
    /// No live tenure, or nothing announced: nothing changes.
    Nothing,
    /// The holder's own enqueue (debounce, burst), with its request id.
    Own(Option<String>),
    /// It fulfils the announcement of this token; `persisted`: its row is to be deleted.
    Fulfils {
        token: Option<String>,
        persisted: bool,
    },
}

/// What a holder's dequeue that found the queue empty must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyDequeue {
    /// Answer `null` now.
    Answer,
    /// Hold the answer; ask again by this time (Unix ms) or when the key is written.
    WaitUntil(i64),
}

/// Every tenure this instance granted and still tracks, by lock key.
#[derive(Debug, Default)]
pub struct Tenures {
    map: RefCell<HashMap<String, Tenure>>,
}

impl Tenures {
    /// A lock was granted to `token` (a plain grant or a handover): a new tenure starts.
    /// True when the tenure it replaces may have left announcement rows (the caller deletes them).
    pub fn granted(&self, key: &str, token: &str, expires_at: i64, now: i64) -> bool {
        self.insert(key, Tenure::new(token, expires_at, None), now)
    }

    /// Inserts a tenure; true when the one it replaced had rows.
    fn insert(&self, key: &str, tenure: Tenure, now: i64) -> bool {
        let mut map = self.map.borrow_mut();
        if map.len() >= PRUNE_ABOVE {
            map.retain(|_, t| t.live(now));
        }
        map.insert(key.to_owned(), tenure)
            .is_some_and(|old| old.rows > 0)
    }

    /// A tenure rebuilt from its rows (`lock_announcements` joined with its lock row) when this
    /// instance starts: the holder `token`'s live announcements, oldest first. What the rows do
    /// not record is taken the safe way: the last dequeue is `LastDequeue::Unknown` (the next
    /// empty one may be held, and hands nothing over), and the holder has not dequeued (so its
    /// first enqueue is still its own).
    pub fn restore(
        &self,
        key: &str,
        token: &str,
        expires_at: i64,
        announcements: Vec<(String, i64, i64)>,
        now: i64,
    ) {
        let mut tenure = Tenure::new(token, expires_at, Some(LastDequeue::Unknown));
        tenure.rows = u32::try_from(announcements.len()).unwrap_or(u32::MAX);
        tenure.announcements = announcements
            .into_iter()
            .filter(|(_, deadline, _)| *deadline > now)
            .map(|(token, deadline, patience)| Announcement {
                token: Some(token),
                deadline,
                patience,
                held: false,
            })
            .collect();
        self.insert(key, tenure, now);
    }

    /// An acquire by `token` finds the lock held by `holder` (until `holder_expires_at`) and
    /// cannot be handed it. If this instance cannot tell whether the holder has already made its
    /// final dequeue (a restored tenure, see "Unknown is not final"), refusing could strand the
    /// newcomer's entry (the holder may only have its release left), and granting could give a
    /// second flow the lock while a handler runs: the acquire is held instead, until the holder's
    /// next call settles it — its release (the caller's re-ask is then granted), or its dequeue
    /// (the previous one was not final: refuse, and that dequeue is held for the entry) — or
    /// until [`ACQUIRE_HOLD_MS`] have passed (refuse). While held it counts as an announcement
    /// (in memory only), so a dequeue of the holder meanwhile waits for it. Answers the time by
    /// which to ask again, or `None`: refuse now (then [`Tenures::announce`]).
    pub fn hold_acquire(
        &self,
        key: &str,
        holder: &str,
        holder_expires_at: i64,
        token: &str,
        patience: i64,
        now: i64,
    ) -> Option<i64> {
        if holder_expires_at <= now {
            return None;
        }
        self.ensure(key, holder, holder_expires_at, now);
        let mut map = self.map.borrow_mut();
        let t = map.get_mut(key)?;
        if acquire_hold_ms(patience) == 0 {
            return None;
        }
        let i = match t.held_acquires.iter().position(|h| h.token == token) {
            Some(i) => i,
            None => {
                if !t.final_unknown
                    || t.announcements
                        .iter()
                        .any(|a| a.token.as_deref() == Some(token))
                {
                    return None; // known not final, or refused before (a retry)
                }
                t.held_acquires.push(HeldAcquire {
                    token: token.to_owned(),
                    since: now,
                    dequeues_seen: t.dequeues,
                });
                t.announcements.push(Announcement {
                    token: Some(token.to_owned()),
                    deadline: now + acquire_hold_ms(patience) + 2 * patience,
                    patience,
                    held: true,
                });
                t.held_acquires.len() - 1
            }
        };
        let h = &t.held_acquires[i];
        let until = h.since + acquire_hold_ms(patience);
        if h.dequeues_seen != t.dequeues || now >= until {
            t.held_acquires.remove(i);
            return None;
        }
        Some(until)
    }

    /// Makes sure `key` has a live tenure of `holder`: one granted before this instance started
    /// gets one now, as [`Tenures::restore`] would build it.
    fn ensure(&self, key: &str, holder: &str, holder_expires_at: i64, now: i64) {
        let known = self
            .map
            .borrow()
            .get(key)
            .is_some_and(|t| t.live(now) && t.token == holder);
        if !known {
            self.insert(
                key,
                Tenure::new(holder, holder_expires_at, Some(LastDequeue::Unknown)),
                now,
            );
        }
    }

    /// `token` extended its lock.
    pub fn extended(&self, key: &str, token: &str, expires_at: i64) {
        if let Some(t) = self.map.borrow_mut().get_mut(key) {
            if t.token == token {
                t.expires_at = expires_at;
            }
        }
    }

    /// The lock was released by `token` (`None`: force-released, whoever held it). True when the
    /// tenure that ended may have announcement rows (the caller deletes them).
    pub fn released(&self, key: &str, token: Option<&str>) -> bool {
        let mut map = self.map.borrow_mut();
        if token.is_none_or(|token| map.get(key).is_some_and(|t| t.token == token)) {
            return map.remove(key).is_some_and(|t| t.rows > 0);
        }
        false
    }

    /// The token the lock may be handed over from: this instance's live tenure on `key`, whose
    /// holder has made its final dequeue. The caller still checks the lock row holds that token.
    pub fn handover_from(&self, key: &str, now: i64) -> Option<String> {
        let map = self.map.borrow();
        let t = map.get(key)?;
        (t.drained && t.live(now)).then(|| t.token.clone())
    }

    /// An acquire by `token` was refused while `holder` holds the lock until `holder_expires_at`:
    /// announce its coming enqueue (once per token). A holder this instance has no tenure of (it
    /// was granted before this instance started) gets one now, as [`Tenures::restore`] would
    /// build it. Answers the new announcement's `deadline` (the caller persists it), or `None`
    /// when it was announced before (a retry) or there is no live tenure.
    pub fn announce(
        &self,
        key: &str,
        holder: &str,
        holder_expires_at: i64,
        token: Option<&str>,
        patience: i64,
        now: i64,
    ) -> Option<i64> {
        if holder_expires_at <= now {
            return None;
        }
        self.ensure(key, holder, holder_expires_at, now);
        let mut map = self.map.borrow_mut();
        let t = map.get_mut(key)?;
        t.prune_announcements(now);
        let deadline = now + 2 * patience;
        if let Some(token) = token {
            t.held_acquires.retain(|h| h.token != token);
            if let Some(a) = t
                .announcements
                .iter_mut()
                .find(|a| a.token.as_deref() == Some(token))
            {
                if !a.held {
                    return None; // a retry
                }
                // The held acquire is refused now: its announcement becomes a row.
                a.held = false;
                a.deadline = deadline;
                a.patience = patience;
                t.rows = t.rows.saturating_add(1);
                return Some(deadline);
            }
        }
        t.announcements.push(Announcement {
            token: token.map(str::to_owned),
            deadline,
            patience,
            held: false,
        });
        if token.is_some() {
            t.rows = t.rows.saturating_add(1);
        }
        Some(deadline)
    }

    /// A `queueDepth` on `key` by `caller` (a newcomer's token, if the adapter knows it): the
    /// newcomer's enqueue should follow within one patience.
    pub fn depth_asked(&self, key: &str, caller: Option<&str>, now: i64) {
        let mut map = self.map.borrow_mut();
        let Some(t) = map.get_mut(key).filter(|t| t.live(now)) else {
            return;
        };
        if caller == Some(t.token.as_str()) {
            return; // the holder's own queueDepth (debounce)
        }
        t.prune_announcements(now);
        if let Some(i) = t.pick(caller) {
            let a = &mut t.announcements[i];
            a.deadline = now + a.patience;
        }
    }

    /// What an entry enqueued on `key` by `caller` does: it fulfils that newcomer's announcement
    /// (or the oldest), unless the holder enqueued it (debounce and burst enqueue their own
    /// message) — which can only be the holder's first enqueue, before its first dequeue.
    /// Changes nothing: [`Tenures::apply_enqueue`] does, once the enqueue committed.
    pub fn plan_enqueue(
        &self,
        key: &str,
        caller: Option<&str>,
        request_id: Option<&str>,
        now: i64,
    ) -> EnqueuePlan {
        let map = self.map.borrow();
        let Some(t) = map.get(key).filter(|t| t.live(now)) else {
            return EnqueuePlan::Nothing;
        };
        if caller == Some(t.token.as_str()) {
            let own = match &t.own_enqueue {
                None => !t.dequeued,
                Some(seen) => seen.is_some() && seen.as_deref() == request_id,
            };
            if own {
                return EnqueuePlan::Own(request_id.map(str::to_owned));
            }
        }
        let live: Vec<&Announcement> = t
            .announcements
            .iter()
            .filter(|a| a.deadline > now)
            .collect();
        let picked = caller
            .and_then(|c| live.iter().find(|a| a.token.as_deref() == Some(c)))
            .or(live.first());
        match picked {
            Some(a) => EnqueuePlan::Fulfils {
                token: a.token.clone(),
                persisted: t.rows > 0 && a.token.is_some() && !a.held,
            },
            None => EnqueuePlan::Nothing,
        }
    }

    /// Applies what [`Tenures::plan_enqueue`] decided.
    pub fn apply_enqueue(&self, key: &str, plan: EnqueuePlan, now: i64) {
        let mut map = self.map.borrow_mut();
        let Some(t) = map.get_mut(key).filter(|t| t.live(now)) else {
            return;
        };
        match plan {
            EnqueuePlan::Nothing => {}
            EnqueuePlan::Own(request_id) => t.own_enqueue = Some(request_id),
            EnqueuePlan::Fulfils { token, persisted } => {
                if persisted {
                    t.rows = t.rows.saturating_sub(1);
                }
                t.prune_announcements(now);
                let i = token
                    .as_deref()
                    .and_then(|tok| {
                        t.announcements
                            .iter()
                            .position(|a| a.token.as_deref() == Some(tok))
                    })
                    .or(if t.announcements.is_empty() {
                        None
                    } else {
                        Some(0)
                    });
                if let Some(i) = i {
                    t.announcements.remove(i);
                }
            }
        }
    }

    /// An entry was enqueued on `key` by `caller` (plan and apply at once; the native tests).
    pub fn enqueued(&self, key: &str, caller: Option<&str>, request_id: Option<&str>, now: i64) {
        let plan = self.plan_enqueue(key, caller, request_id, now);
        self.apply_enqueue(key, plan, now);
    }

    /// Whether a dequeue with this hint counts as the tenure's holder's. Without a hint (older
    /// adapters, direct calls) it does: in chat only the holder dequeues.
    pub fn is_holder(&self, key: &str, hint: Option<&str>) -> bool {
        match hint {
            None => true,
            Some(hint) => self.map.borrow().get(key).is_some_and(|t| t.token == hint),
        }
    }

    /// Whether the holder's last empty dequeue had this request id (its retry answers the same).
    pub fn answered_empty(&self, key: &str, request_id: &str) -> bool {
        self.map
            .borrow()
            .get(key)
            .is_some_and(|t| t.last_empty_request.as_deref() == Some(request_id))
    }

    /// The holder's dequeue took an entry.
    pub fn took_entry(&self, key: &str, now: i64) {
        if let Some(t) = self.map.borrow_mut().get_mut(key).filter(|t| t.live(now)) {
            t.last_dequeue = Some(LastDequeue::Entry);
            t.waiting_since = None;
            t.dequeued = true;
            t.dequeues += 1;
            t.final_unknown = false;
        }
    }

    /// The holder's dequeue found the queue empty: answer now, or wait for announced entries.
    /// When it answers, the dequeue is recorded (and, if final, the tenure is drained).
    pub fn found_empty(&self, key: &str, request_id: Option<&str>, now: i64) -> EmptyDequeue {
        let mut map = self.map.borrow_mut();
        let Some(t) = map.get_mut(key).filter(|t| t.live(now)) else {
            return EmptyDequeue::Answer;
        };
        t.dequeued = true;
        // Another dequeue: the previous one was not final (a held acquire is settled by this).
        t.dequeues += 1;
        t.final_unknown = false;
        // After a restart the previous dequeue is unknown: this one may be final (hold it, or
        // the announced entry is stranded) but may end a round chat follows with a handler (so
        // it never drains the tenure: a handover now could give a second flow the lock).
        let may_be_final = t.last_dequeue != Some(LastDequeue::Entry);
        if may_be_final {
            t.prune_announcements(now);
            let since = *t.waiting_since.get_or_insert(now);
            let cap = since + MAX_WAIT_MS;
            if let Some(deadline) = t.announcements.iter().map(|a| a.deadline).min() {
                if now < cap {
                    return EmptyDequeue::WaitUntil(deadline.min(cap));
                }
            }
            if t.last_dequeue == Some(LastDequeue::Unknown) {
                // Final if the unknown one before it was empty: still cannot tell.
                t.final_unknown = true;
            } else {
                t.drained = true;
            }
        }
        t.waiting_since = None;
        t.last_dequeue = Some(LastDequeue::Empty);
        t.last_empty_request = request_id.map(str::to_owned);
        EmptyDequeue::Answer
    }

    /// The live tenure on `key` of the lock `token` holds, as it moves with its unit.
    pub fn export(&self, key: &str, token: &str, now: i64) -> Option<MovingTenure> {
        let map = self.map.borrow();
        let t = map.get(key).filter(|t| t.live(now) && t.token == token)?;
        Some(MovingTenure {
            token: t.token.clone(),
            expires_at: t.expires_at,
            // Unknown goes as "took an entry" to builds that know no `last_unknown`: the safe
            // reading (the next empty dequeue drains nothing).
            last_took_entry: t.last_dequeue.map(|d| d != LastDequeue::Empty),
            last_empty_request: t.last_empty_request.clone(),
            drained: t.drained,
            announcements: t
                .announcements
                .iter()
                .filter(|a| a.deadline > now)
                .map(|a| (a.token.clone(), a.deadline, a.patience))
                .collect(),
            waiting_since: t.waiting_since,
            dequeued: Some(t.dequeued),
            own_enqueue: t.own_enqueue.clone(),
            last_unknown: t.last_dequeue == Some(LastDequeue::Unknown),
        })
    }

    /// The announcements of a moving tenure as its new home keeps them: live ones only, each
    /// deadline clamped to what this instance would have set itself, and a token for each (one
    /// drawn from its place for a tokenless one: rows are keyed by token). The import persists
    /// exactly these as rows (src/guarantees/announcements.rs) and [`Tenures::import`] keeps them in memory.
    pub fn clamped_announcements(moving: &MovingTenure, now: i64) -> Vec<(String, i64, i64)> {
        moving
            .announcements
            .iter()
            .enumerate()
            .filter(|(_, (_, deadline, _))| *deadline > now)
            .map(|(i, (token, deadline, patience))| {
                let patience = (*patience).clamp(1, MAX_PATIENCE_MS);
                (
                    token.clone().unwrap_or_else(|| format!("~moved-{now}-{i}")),
                    (*deadline).min(now + 2 * patience),
                    patience,
                )
            })
            .collect()
    }

    /// A tenure arrived with its unit (the unit's lock row holds `moving.token`): it goes on here.
    /// Values are clamped to what this instance would have set itself, so a malformed one can
    /// neither hold a dequeue longer than [`MAX_WAIT_MS`] nor outlive its lock. `persisted`: the
    /// import wrote its announcements' rows.
    pub fn import(
        &self,
        key: &str,
        moving: &MovingTenure,
        lock_expires_at: i64,
        persisted: bool,
        now: i64,
    ) {
        let expires_at = moving.expires_at.min(lock_expires_at);
        if expires_at <= now {
            return;
        }
        let last_dequeue = if moving.last_unknown {
            Some(LastDequeue::Unknown)
        } else {
            moving.last_took_entry.map(|entry| {
                if entry {
                    LastDequeue::Entry
                } else {
                    LastDequeue::Empty
                }
            })
        };
        let mut tenure = Tenure::new(&moving.token, expires_at, last_dequeue);
        tenure.last_empty_request = moving.last_empty_request.clone();
        // A drained tenure may hand over; an unknown last dequeue never drained one.
        tenure.drained = moving.drained && !moving.last_unknown;
        tenure.announcements = Self::clamped_announcements(moving, now)
            .into_iter()
            .map(|(token, deadline, patience)| Announcement {
                token: Some(token),
                deadline,
                patience,
                held: false,
            })
            .collect();
        tenure.waiting_since = moving
            .waiting_since
            .map(|since| since.clamp(now - MAX_WAIT_MS, now));
        tenure.dequeued = moving
            .dequeued
            .unwrap_or(moving.last_took_entry.is_some() || moving.last_unknown);
        tenure.own_enqueue = moving.own_enqueue.clone();
        if persisted {
            tenure.rows = u32::try_from(tenure.announcements.len()).unwrap_or(u32::MAX);
        }
        self.insert(key, tenure, now);
    }

    /// Drops tenures whose lock has expired (the alarm's sweep deletes their rows).
    pub fn prune(&self, now: i64) {
        self.map.borrow_mut().retain(|_, t| t.live(now));
    }

    /// Tenures tracked (for inspection).
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }
}

/// How long an acquire of a caller with this patience may be held: [`ACQUIRE_HOLD_MS`], or the
/// caller's retry budget (its patience less the second added to it) if that is smaller — nothing
/// for a caller that declared none.
fn acquire_hold_ms(patience: i64) -> i64 {
    (patience - 1_000).clamp(0, ACQUIRE_HOLD_MS)
}

/// Clamps a caller's declared patience (ms) to what this object honours.
pub fn patience(declared: Option<f64>) -> i64 {
    match declared {
        Some(ms) if ms.is_finite() && ms > 0.0 => (ms.ceil() as i64).min(MAX_PATIENCE_MS),
        _ => DEFAULT_PATIENCE_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    /// A refusal while the key's current tenure holds the lock (nothing without one).
    trait AnnounceNow {
        fn announce_now(&self, key: &str, token: Option<&str>, patience: i64, now: i64);
    }

    impl AnnounceNow for Tenures {
        fn announce_now(&self, key: &str, token: Option<&str>, patience: i64, now: i64) {
            let current = self
                .map
                .borrow()
                .get(key)
                .map(|t| (t.token.clone(), t.expires_at));
            if let Some((holder, expires_at)) = current {
                self.announce(key, &holder, expires_at, token, patience, now);
            }
        }
    }

    #[test]
    fn a_final_empty_dequeue_waits_only_while_an_announcement_is_live() {
        let t = Tenures::default();
        t.granted("k", "holder", T0 + 30_000, T0);
        // No announcement: answered at once, and the tenure is drained.
        assert_eq!(t.found_empty("k", None, T0), EmptyDequeue::Answer);
        assert_eq!(t.handover_from("k", T0).as_deref(), Some("holder"));

        t.granted("k", "h2", T0 + 30_000, T0);
        t.announce_now("k", Some("n1"), 1_000, T0);
        assert_eq!(t.handover_from("k", T0), None);
        assert_eq!(
            t.found_empty("k", None, T0 + 10),
            EmptyDequeue::WaitUntil(T0 + 2_000)
        );
        // Its queueDepth moves the deadline to one patience from then.
        t.depth_asked("k", Some("n1"), T0 + 100);
        assert_eq!(
            t.found_empty("k", None, T0 + 200),
            EmptyDequeue::WaitUntil(T0 + 1_100)
        );
        // Its enqueue fulfils it: the next look answers (the shell then finds the entry).
        t.enqueued("k", Some("n1"), None, T0 + 300);
        t.took_entry("k", T0 + 300);
        assert_eq!(t.found_empty("k", None, T0 + 400), EmptyDequeue::Answer);
        assert_eq!(
            t.handover_from("k", T0 + 400),
            None,
            "not final: an entry came before"
        );
        assert_eq!(t.found_empty("k", None, T0 + 500), EmptyDequeue::Answer);
        assert_eq!(t.handover_from("k", T0 + 500).as_deref(), Some("h2"));
    }

    #[test]
    fn an_unfulfilled_announcement_costs_at_most_two_patiences() {
        let t = Tenures::default();
        t.granted("k", "h", T0 + 60_000, T0);
        t.announce_now("k", Some("n"), 6_000, T0);
        assert_eq!(
            t.found_empty("k", None, T0 + 1),
            EmptyDequeue::WaitUntil(T0 + 12_000)
        );
        assert_eq!(t.found_empty("k", None, T0 + 12_000), EmptyDequeue::Answer);
        assert!(t.handover_from("k", T0 + 12_000).is_some());
    }

    #[test]
    fn the_holders_own_enqueue_and_depth_fulfil_nothing() {
        let t = Tenures::default();
        t.granted("k", "h", T0 + 60_000, T0);
        t.announce_now("k", Some("n"), 1_000, T0);
        t.enqueued("k", Some("h"), None, T0);
        t.depth_asked("k", Some("h"), T0);
        assert_eq!(
            t.found_empty("k", None, T0),
            EmptyDequeue::WaitUntil(T0 + 2_000)
        );
        // A retried refused acquire does not announce twice.
        t.announce_now("k", Some("n"), 1_000, T0 + 1);
        t.enqueued("k", Some("n"), None, T0 + 2);
        t.took_entry("k", T0 + 2);
        assert_eq!(t.found_empty("k", None, T0 + 3), EmptyDequeue::Answer);
        assert_eq!(t.found_empty("k", None, T0 + 4), EmptyDequeue::Answer);
    }

    #[test]
    fn only_the_holders_first_enqueue_before_its_first_dequeue_counts_as_its_own() {
        // A newcomer's enqueue the adapter wrongly names as the holder's (flows of one thread in
        // one adapter) still fulfils its announcement once it cannot be the holder's own.
        let t = Tenures::default();
        t.granted("k", "h", T0 + 60_000, T0);
        t.announce_now("k", Some("n1"), 1_000, T0);
        t.announce_now("k", Some("n2"), 1_000, T0);
        t.enqueued("k", Some("h"), Some("r1"), T0 + 1); // the holder's own (debounce/burst): fulfils nothing
        t.enqueued("k", Some("h"), Some("r1"), T0 + 1); // its retry: still its own
        t.enqueued("k", Some("h"), Some("r2"), T0 + 2); // a second "own" one: a newcomer's (the oldest)
        t.took_entry("k", T0 + 3);
        assert_eq!(t.found_empty("k", None, T0 + 4), EmptyDequeue::Answer);
        assert_eq!(
            t.found_empty("k", None, T0 + 5),
            EmptyDequeue::WaitUntil(T0 + 2_000),
            "n2 is still coming"
        );
        t.enqueued("k", Some("h"), None, T0 + 6); // after the holder dequeued: a newcomer's
        t.took_entry("k", T0 + 6);
        assert_eq!(t.found_empty("k", None, T0 + 7), EmptyDequeue::Answer);
        assert_eq!(t.found_empty("k", None, T0 + 8), EmptyDequeue::Answer);
        assert!(t.handover_from("k", T0 + 8).is_some());

        // Under `queue` the holder never enqueues: a newcomer's entry named as the holder's while
        // the holder's first dequeue is held is the newcomer's too.
        t.granted("q", "h", T0 + 60_000, T0);
        t.announce_now("q", Some("n"), 1_000, T0);
        assert_eq!(
            t.found_empty("q", None, T0 + 1),
            EmptyDequeue::WaitUntil(T0 + 2_000)
        );
        t.enqueued("q", Some("h"), None, T0 + 2);
        t.took_entry("q", T0 + 2);
        assert_eq!(t.found_empty("q", None, T0 + 3), EmptyDequeue::Answer);
        assert_eq!(t.found_empty("q", None, T0 + 4), EmptyDequeue::Answer);
    }

    #[test]
    fn waits_are_capped_even_if_announcements_keep_coming() {
        let t = Tenures::default();
        t.granted("k", "h", T0 + 10 * MAX_WAIT_MS, T0);
        let mut now = T0;
        let mut waited = 0;
        loop {
            t.announce_now("k", Some(&format!("n{now}")), MAX_PATIENCE_MS, now);
            match t.found_empty("k", None, now) {
                EmptyDequeue::WaitUntil(until) => {
                    assert!(until <= T0 + MAX_WAIT_MS);
                    waited += 1;
                    now += 10_000;
                }
                EmptyDequeue::Answer => break,
            }
        }
        assert!(now >= T0 + MAX_WAIT_MS && waited > 1);
    }

    #[test]
    fn a_moved_tenure_holds_and_hands_over_as_it_would_have() {
        let from = Tenures::default();
        from.granted("k", "h", T0 + 30_000, T0);
        from.announce_now("k", Some("n"), 1_000, T0);
        let moving = from.export("k", "h", T0 + 10).expect("live");
        assert_eq!(
            from.export("k", "other", T0 + 10),
            None,
            "another token's lock"
        );
        let to = Tenures::default();
        to.import("k", &moving, T0 + 30_000, false, T0 + 20);
        assert_eq!(
            to.found_empty("k", None, T0 + 30),
            EmptyDequeue::WaitUntil(T0 + 2_000)
        );
        to.enqueued("k", Some("n"), None, T0 + 40);
        assert_eq!(to.found_empty("k", None, T0 + 50), EmptyDequeue::Answer);
        assert_eq!(to.handover_from("k", T0 + 50).as_deref(), Some("h"));
        // Clamped: an announcement cannot hold longer than its patience allows from now.
        let mut long = moving.clone();
        long.announcements = vec![(None, T0 + 10_000_000, 10_000_000)];
        to.import("k", &long, T0 + 30_000, false, T0 + 20);
        match to.found_empty("k", None, T0 + 30) {
            EmptyDequeue::WaitUntil(at) => assert!(at <= T0 + 20 + 2 * MAX_PATIENCE_MS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_restored_tenure_holds_an_acquire_until_the_holders_next_call() {
        // The lock was granted before this instance started: its holder may have made its final
        // dequeue (only its release left) or be in a handler. The newcomer's acquire is held.
        let t = Tenures::default();
        let hold = |tok: &str, now: i64| t.hold_acquire("k", "h", T0 + 30_000, tok, 6_000, now);
        assert_eq!(hold("n", T0), Some(T0 + ACQUIRE_HOLD_MS));
        assert_eq!(
            hold("n", T0 + 10),
            Some(T0 + ACQUIRE_HOLD_MS),
            "a re-ask or a retry keeps its start"
        );
        // The holder's dequeue meanwhile is held for it (it counts as an announcement)...
        assert!(matches!(
            t.found_empty("k", None, T0 + 20),
            EmptyDequeue::WaitUntil(_)
        ));
        // ...and settles it: the previous dequeue was not final, so refuse and announce.
        assert_eq!(hold("n", T0 + 30), None);
        assert_eq!(
            t.announce("k", "h", T0 + 30_000, Some("n"), 1_000, T0 + 30),
            Some(T0 + 2_030)
        );
        assert_eq!(
            t.announce("k", "h", T0 + 30_000, Some("n"), 1_000, T0 + 31),
            None,
            "a retry"
        );
        assert_eq!(
            hold("n", T0 + 32),
            None,
            "refused before: a retry is refused again"
        );
        t.enqueued("k", Some("n"), None, T0 + 40);
        t.took_entry("k", T0 + 40);
        assert_eq!(
            hold("m", T0 + 50),
            None,
            "known not final: refused as before"
        );

        // Without any call of the holder: refused after the bound.
        let u = Tenures::default();
        assert_eq!(
            u.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0),
            Some(T0 + ACQUIRE_HOLD_MS)
        );
        assert_eq!(
            u.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0 + ACQUIRE_HOLD_MS),
            None
        );

        // A restored tenure's one empty dequeue may itself have been final: still held.
        let r = Tenures::default();
        r.restore("k", "h", T0 + 30_000, Vec::new(), T0);
        assert_eq!(r.found_empty("k", None, T0 + 1), EmptyDequeue::Answer);
        assert_eq!(r.handover_from("k", T0 + 1), None);
        assert_eq!(
            r.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0 + 2),
            Some(T0 + 2 + ACQUIRE_HOLD_MS)
        );
        // A second empty dequeue is final and known: no hold, a handover.
        let s = Tenures::default();
        s.restore("k", "h", T0 + 30_000, Vec::new(), T0);
        s.found_empty("k", None, T0 + 1);
        s.found_empty("k", None, T0 + 2);
        assert_eq!(s.handover_from("k", T0 + 2).as_deref(), Some("h"));

        // A caller that declared no retry budget is not held.
        let d = Tenures::default();
        assert_eq!(
            d.hold_acquire("k", "h", T0 + 30_000, "n", DEFAULT_PATIENCE_MS, T0),
            None
        );
        // A small budget bounds the hold.
        assert_eq!(
            d.hold_acquire("k", "h", T0 + 30_000, "n", 1_250, T0),
            Some(T0 + 250)
        );

        // A tenure this instance granted never holds an acquire.
        let g = Tenures::default();
        g.granted("k", "h", T0 + 30_000, T0);
        assert_eq!(g.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0), None);
        g.found_empty("k", None, T0 + 1);
        assert_eq!(
            g.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0 + 2),
            None
        );
    }

    #[test]
    fn nothing_happens_without_a_live_tenure() {
        let t = Tenures::default();
        t.announce_now("k", Some("n"), 1_000, T0);
        assert_eq!(t.found_empty("k", None, T0), EmptyDequeue::Answer);
        assert_eq!(t.handover_from("k", T0), None);
        t.granted("k", "h", T0 + 100, T0);
        assert_eq!(t.found_empty("k", None, T0 + 100), EmptyDequeue::Answer);
        assert_eq!(t.handover_from("k", T0 + 100), None, "expired tenure");
        assert_eq!(patience(None), DEFAULT_PATIENCE_MS);
        assert_eq!(patience(Some(f64::NAN)), DEFAULT_PATIENCE_MS);
        assert_eq!(patience(Some(1e12)), MAX_PATIENCE_MS);
    }
}
