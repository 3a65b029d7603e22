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
//! # What the object does (in memory only; no row is written for any of it)
//! A *tenure* is one grant of a lock by this instance: its token, its expiry, what the holder's
//! dequeues returned, and *announcements* — newcomers whose `acquireLock` failed during it and
//! whose `enqueue` has not arrived yet.
//! 1. **Announce.** A failed `acquireLock` records an announcement with a deadline: twice the
//!    newcomer's *patience* (its retry budget per call plus a second, sent by the adapter) for its
//!    `queueDepth` + `enqueue`; its `queueDepth` resets the deadline to one patience. Its
//!    `enqueue` (recognised by the token the adapter sends along, or else the oldest) fulfils it.
//!    An enqueue the adapter names as the holder's own (debounce and burst enqueue the holder's
//!    message) fulfils nothing — but only the first such one, and only before the holder's first
//!    dequeue: chat's holder makes at most one enqueue on its key, and never after it dequeued,
//!    so any other enqueue is a newcomer's whatever its hint says. (The hint is the adapter's
//!    guess when flows of one thread share it, ts/lock-tracker.ts; a guess that named the holder
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
//! - **No memory, no change.** Tenures live in memory: a restarted object has none, so it grants
//!   nothing early and holds no dequeue until a tenure starts on it. An eviction loses only the
//!   mitigation, never data, and never relaxes exclusivity.
//! - **Only where chat needs it.** With no `acquireLock` refused (or refusable) during a tenure,
//!   nothing differs from the plain contract: no announcement means no wait, and a handover needs
//!   an acquire arriving while the lock is held.
//! - **Bounded waits.** A dequeue waits only while an announcement is live, so at most two
//!   patiences after the newcomer's failed acquire — 12 s under the adapter's default retry policy
//!   (5 s budget + 1 s) — and never more than [`MAX_WAIT_MS`] in all. An announcement that will
//!   never be fulfilled (a `drop-newest` newcomer, one that died) costs at most that.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::idempotency::MAX_RETRY_ELAPSED_MS;

/// The most patience a caller may declare: the adapter's longest retry budget plus a second.
pub const MAX_PATIENCE_MS: i64 = MAX_RETRY_ELAPSED_MS + 1_000;
/// Patience assumed when the caller declares none (an adapter without retries).
pub const DEFAULT_PATIENCE_MS: i64 = 1_000;
/// The longest one dequeue is ever held.
pub const MAX_WAIT_MS: i64 = 2 * MAX_PATIENCE_MS;
/// Tenures kept before expired ones are pruned.
const PRUNE_ABOVE: usize = 1_024;

#[derive(Debug, Clone)]
struct Announcement {
    /// The newcomer's token (from its failed acquire), if it sent one.
    token: Option<String>,
    deadline: i64,
    patience: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastDequeue {
    Empty,
    Entry,
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
}

impl Tenure {
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

/// A tenure as it moves with its unit to the unit's new home (src/handoff.rs, docs/resharding.md
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
    pub fn granted(&self, key: &str, token: &str, expires_at: i64, now: i64) {
        let mut map = self.map.borrow_mut();
        if map.len() >= PRUNE_ABOVE {
            map.retain(|_, t| t.live(now));
        }
        map.insert(
            key.to_owned(),
            Tenure {
                token: token.to_owned(),
                expires_at,
                last_dequeue: None,
                last_empty_request: None,
                drained: false,
                announcements: Vec::new(),
                waiting_since: None,
                dequeued: false,
                own_enqueue: None,
            },
        );
    }

    /// `token` extended its lock.
    pub fn extended(&self, key: &str, token: &str, expires_at: i64) {
        if let Some(t) = self.map.borrow_mut().get_mut(key) {
            if t.token == token {
                t.expires_at = expires_at;
            }
        }
    }

    /// The lock was released by `token` (`None`: force-released, whoever held it).
    pub fn released(&self, key: &str, token: Option<&str>) {
        let mut map = self.map.borrow_mut();
        if token.is_none_or(|token| map.get(key).is_some_and(|t| t.token == token)) {
            map.remove(key);
        }
    }

    /// The token the lock may be handed over from: this instance's live tenure on `key`, whose
    /// holder has made its final dequeue. The caller still checks the lock row holds that token.
    pub fn handover_from(&self, key: &str, now: i64) -> Option<String> {
        let map = self.map.borrow();
        let t = map.get(key)?;
        (t.drained && t.live(now)).then(|| t.token.clone())
    }

    /// An acquire by `token` was refused: announce its coming enqueue (once per token).
    pub fn announce(&self, key: &str, token: Option<&str>, patience: i64, now: i64) {
        let mut map = self.map.borrow_mut();
        let Some(t) = map.get_mut(key).filter(|t| t.live(now)) else {
            return;
        };
        t.prune_announcements(now);
        if token.is_some() && t.announcements.iter().any(|a| a.token.as_deref() == token) {
            return;
        }
        t.announcements.push(Announcement {
            token: token.map(str::to_owned),
            deadline: now + 2 * patience,
            patience,
        });
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

    /// An entry was enqueued on `key` by `caller`: it fulfils that newcomer's announcement (or
    /// the oldest), unless the holder enqueued it (debounce and burst enqueue their own message)
    /// — which can only be the holder's first enqueue, before its first dequeue.
    pub fn enqueued(&self, key: &str, caller: Option<&str>, request_id: Option<&str>, now: i64) {
        let mut map = self.map.borrow_mut();
        let Some(t) = map.get_mut(key).filter(|t| t.live(now)) else {
            return;
        };
        if caller == Some(t.token.as_str()) {
            let own = match &t.own_enqueue {
                None => !t.dequeued,
                Some(seen) => seen.is_some() && seen.as_deref() == request_id,
            };
            if own {
                t.own_enqueue = Some(request_id.map(str::to_owned));
                return;
            }
        }
        t.prune_announcements(now);
        if let Some(i) = t.pick(caller) {
            t.announcements.remove(i);
        }
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
        let is_final = t.last_dequeue != Some(LastDequeue::Entry);
        if is_final {
            t.prune_announcements(now);
            let since = *t.waiting_since.get_or_insert(now);
            let cap = since + MAX_WAIT_MS;
            if let Some(deadline) = t.announcements.iter().map(|a| a.deadline).min() {
                if now < cap {
                    return EmptyDequeue::WaitUntil(deadline.min(cap));
                }
            }
            t.drained = true;
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
            last_took_entry: t.last_dequeue.map(|d| d == LastDequeue::Entry),
            last_empty_request: t.last_empty_request.clone(),
            drained: t.drained,
            announcements: t
                .announcements
                .iter()
                .filter(|a| a.deadline > now)
                .map(|a| (a.token.clone(), a.deadline, a.patience))
                .collect(),
            waiting_since: t.waiting_since,
        })
    }

    /// A tenure arrived with its unit (the unit's lock row holds `moving.token`): it goes on here.
    /// Values are clamped to what this instance would have set itself, so a malformed one can
    /// neither hold a dequeue longer than [`MAX_WAIT_MS`] nor outlive its lock.
    pub fn import(&self, key: &str, moving: &MovingTenure, lock_expires_at: i64, now: i64) {
        let expires_at = moving.expires_at.min(lock_expires_at);
        if expires_at <= now {
            return;
        }
        let announcements = moving
            .announcements
            .iter()
            .filter(|(_, deadline, _)| *deadline > now)
            .map(|(token, deadline, patience)| {
                let patience = (*patience).clamp(1, MAX_PATIENCE_MS);
                Announcement {
                    token: token.clone(),
                    deadline: (*deadline).min(now + 2 * patience),
                    patience,
                }
            })
            .collect();
        let mut map = self.map.borrow_mut();
        if map.len() >= PRUNE_ABOVE {
            map.retain(|_, t| t.live(now));
        }
        map.insert(
            key.to_owned(),
            Tenure {
                token: moving.token.clone(),
                expires_at,
                last_dequeue: moving.last_took_entry.map(|entry| {
                    if entry {
                        LastDequeue::Entry
                    } else {
                        LastDequeue::Empty
                    }
                }),
                last_empty_request: moving.last_empty_request.clone(),
                drained: moving.drained,
                announcements,
                waiting_since: moving
                    .waiting_since
                    .map(|since| since.clamp(now - MAX_WAIT_MS, now)),
                // The wire form does not say whether the holder's own enqueue was seen; that it
                // dequeued is known, and after a dequeue it makes no own enqueue.
                dequeued: moving.last_took_entry.is_some() || moving.drained,
                own_enqueue: None,
            },
        );
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

    #[test]
    fn a_final_empty_dequeue_waits_only_while_an_announcement_is_live() {
        let t = Tenures::default();
        t.granted("k", "holder", T0 + 30_000, T0);
        // No announcement: answered at once, and the tenure is drained.
        assert_eq!(t.found_empty("k", None, T0), EmptyDequeue::Answer);
        assert_eq!(t.handover_from("k", T0).as_deref(), Some("holder"));

        t.granted("k", "h2", T0 + 30_000, T0);
        t.announce("k", Some("n1"), 1_000, T0);
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
        t.announce("k", Some("n"), 6_000, T0);
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
        t.announce("k", Some("n"), 1_000, T0);
        t.enqueued("k", Some("h"), None, T0);
        t.depth_asked("k", Some("h"), T0);
        assert_eq!(
            t.found_empty("k", None, T0),
            EmptyDequeue::WaitUntil(T0 + 2_000)
        );
        // A retried refused acquire does not announce twice.
        t.announce("k", Some("n"), 1_000, T0 + 1);
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
        t.announce("k", Some("n1"), 1_000, T0);
        t.announce("k", Some("n2"), 1_000, T0);
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
        t.announce("q", Some("n"), 1_000, T0);
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
            t.announce("k", Some(&format!("n{now}")), MAX_PATIENCE_MS, now);
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
        from.announce("k", Some("n"), 1_000, T0);
        let moving = from.export("k", "h", T0 + 10).expect("live");
        assert_eq!(
            from.export("k", "other", T0 + 10),
            None,
            "another token's lock"
        );
        let to = Tenures::default();
        to.import("k", &moving, T0 + 30_000, T0 + 20);
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
        to.import("k", &long, T0 + 30_000, T0 + 20);
        match to.found_empty("k", None, T0 + 30) {
            EmptyDequeue::WaitUntil(at) => assert!(at <= T0 + 20 + 2 * MAX_PATIENCE_MS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_happens_without_a_live_tenure() {
        let t = Tenures::default();
        t.announce("k", Some("n"), 1_000, T0);
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
