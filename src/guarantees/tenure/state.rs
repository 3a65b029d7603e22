//! The tenure state: what one grant of a lock remembers, and the lifecycle of the tenures an
//! instance tracks — a grant starts one, a restart or a refusal of an older lock rebuilds one, an
//! extend moves its expiry, a release or the lock's expiry ends it.

use std::cell::RefCell;
use std::collections::HashMap;

/// Tenures kept before expired ones are pruned.
const PRUNE_ABOVE: usize = 1_024;

#[derive(Debug, Clone)]
pub(super) struct Announcement {
    /// The newcomer's token (from its failed acquire), if it sent one.
    pub(super) token: Option<String>,
    pub(super) deadline: i64,
    pub(super) patience: i64,
    /// Of an acquire being held (not refused yet): no row, and the refusal makes it one.
    pub(super) held: bool,
}

impl Announcement {
    /// A refused newcomer's announcement from its row's `(token, deadline, patience)`.
    pub(super) fn of_row((token, deadline, patience): (String, i64, i64)) -> Self {
        Announcement {
            token: Some(token),
            deadline,
            patience,
            held: false,
        }
    }
}

/// A newcomer's acquire being held (see [`Tenures::hold_acquire`]).
#[derive(Debug, Clone)]
pub(super) struct HeldAcquire {
    pub(super) token: String,
    pub(super) since: i64,
    /// The holder's dequeues counted when it was first held: one more settles it.
    pub(super) dequeues_seen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LastDequeue {
    Empty,
    Entry,
    /// Not known: the tenure was rebuilt from its rows after a restart (see [`Tenures::restore`]).
    /// The next empty dequeue may be final (so it may be held) but may also end a round chat
    /// follows with a handler (so it never drains the tenure: no early grant after it).
    Unknown,
}

#[derive(Debug, Clone)]
pub(super) struct Tenure {
    pub(super) token: String,
    pub(super) expires_at: i64,
    pub(super) last_dequeue: Option<LastDequeue>,
    /// The request id of the holder's last empty dequeue, to answer its retry the same.
    pub(super) last_empty_request: Option<String>,
    pub(super) drained: bool,
    pub(super) announcements: Vec<Announcement>,
    /// When the dequeue that is being held first asked.
    pub(super) waiting_since: Option<i64>,
    /// The holder has dequeued (it makes no own enqueue after that).
    pub(super) dequeued: bool,
    /// The holder's own enqueue, once seen (chat's holder makes at most one), with its request id:
    /// a retry of it (not recognised as one when its entry was not kept) is still its own.
    pub(super) own_enqueue: Option<Option<String>>,
    /// Rows of this tenure's announcements that may still be in `lock_announcements` (see
    /// `announcements`): its release deletes them if any.
    pub(super) rows: u32,
    /// The holder may already have made its final dequeue and this instance cannot tell: the
    /// tenure was rebuilt after a restart and the holder's last dequeue before it is unknown (or
    /// its one empty dequeue since followed such an unknown one). Acquires are then held.
    pub(super) final_unknown: bool,
    /// The holder's dequeues this instance saw (a held acquire is settled by the next one).
    pub(super) dequeues: u64,
    pub(super) held_acquires: Vec<HeldAcquire>,
}

impl Tenure {
    pub(super) fn new(token: &str, expires_at: i64, last_dequeue: Option<LastDequeue>) -> Self {
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

    pub(super) fn live(&self, now: i64) -> bool {
        self.expires_at > now
    }

    pub(super) fn prune_announcements(&mut self, now: i64) {
        self.announcements.retain(|a| a.deadline > now);
    }

    /// The announcement `token` names, or else the oldest one.
    pub(super) fn pick(&self, token: Option<&str>) -> Option<usize> {
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

/// Every tenure this instance granted and still tracks, by lock key.
#[derive(Debug, Default)]
pub struct Tenures {
    pub(super) map: RefCell<HashMap<String, Tenure>>,
}

impl Tenures {
    /// A lock was granted to `token` (a plain grant or an early grant): a new tenure starts.
    /// True when the tenure it replaces may have left announcement rows (the caller deletes them).
    pub fn granted(&self, key: &str, token: &str, expires_at: i64, now: i64) -> bool {
        self.insert(key, Tenure::new(token, expires_at, None), now)
    }

    /// Inserts a tenure; true when the one it replaced had rows.
    pub(super) fn insert(&self, key: &str, tenure: Tenure, now: i64) -> bool {
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
    /// empty one may be held, and grants nothing early), and the holder has not dequeued (so its
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
            .map(Announcement::of_row)
            .collect();
        self.insert(key, tenure, now);
    }

    /// Runs `f` on the live tenure of `holder` on `key`, whose lock is held until
    /// `holder_expires_at` (nothing if it has expired): a refused or held acquire's. A holder this
    /// instance has no tenure of gets one first ([`Tenures::ensure`]).
    pub(super) fn holders_tenure<R>(
        &self,
        key: &str,
        holder: &str,
        holder_expires_at: i64,
        now: i64,
        f: impl FnOnce(&mut Tenure) -> Option<R>,
    ) -> Option<R> {
        if holder_expires_at <= now {
            return None;
        }
        self.ensure(key, holder, holder_expires_at, now);
        let mut map = self.map.borrow_mut();
        f(map.get_mut(key)?)
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

    /// The token an early grant may take the lock from: this instance's live tenure on `key`,
    /// whose holder has made its final dequeue. The caller still checks the lock row holds that
    /// token.
    pub fn early_grant_from(&self, key: &str, now: i64) -> Option<String> {
        let map = self.map.borrow();
        let t = map.get(key)?;
        (t.drained && t.live(now)).then(|| t.token.clone())
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
