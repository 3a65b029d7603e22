//! The reference model: what the contract (Redis semantics, strict TTL reads) says each key
//! holds, and what a dequeue answers under the early-grant rule of `tenure`.
//!
//! It restates the live-row rule in its own terms on purpose (`live`, `QueueRow::is_live`): an
//! independent oracle of the store's reads, not a second copy of `crate::base::live`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use crate::guarantees::idempotency::RECEIPT_WINDOW_MS;
use crate::model::queues::Dequeued;

use super::ops::{Call, Hint, TokenPick, Ttl};
use super::stats::FENCED;

/// The reference model: what the contract says each key holds.
#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) now: i64,
    pub(super) subscriptions: BTreeSet<usize>,
    /// key -> (token, expires_at)
    pub(super) locks: BTreeMap<usize, (String, i64)>,
    /// key -> (value, expires_at, request id of the setIfNotExists that wrote it)
    pub(super) cache: BTreeMap<usize, (String, Option<i64>, Option<String>)>,
    /// key -> (items, expires_at, append receipts (request id, time))
    pub(super) lists: BTreeMap<usize, ModelList>,
    /// key -> the queue's rows, oldest first: live entries and receipts, as the table holds them.
    pub(super) queues: BTreeMap<usize, Vec<QueueRow>>,
    pub(super) issued: Vec<String>,
    /// Retryable calls made so far, with when they were made.
    pub(super) calls: Vec<(Call, i64)>,
    pub(super) ids: u64,
    /// key -> the tenure of this instance's last grant of the key's lock.
    pub(super) tenures: BTreeMap<usize, ModelTenure>,
    /// key -> tokens an acquire was refused with, in order.
    pub(super) refused: BTreeMap<usize, Vec<String>>,
    /// Dequeues the object holds, and whether each is a replay: asked again after every operation.
    pub(super) pending: Vec<(Call, bool)>,
}

/// A grant of a lock by the object, as the early-grant rule sees it.
#[derive(Debug, Clone)]
pub(super) struct ModelTenure {
    pub(super) token: String,
    /// The holder's answered dequeues, in order: whether each got an entry.
    pub(super) dequeues: Vec<bool>,
    /// The request id of the holder's last empty answer.
    pub(super) last_empty: Option<String>,
    /// Refused acquires whose enqueue is awaited: (token, deadline, patience).
    pub(super) awaited: Vec<(String, i64, i64)>,
    /// When the dequeue being held was first asked.
    pub(super) held_since: Option<i64>,
    /// The holder has dequeued: no enqueue after this is its own.
    pub(super) dequeued: bool,
    /// The holder's own enqueue (at most one), once seen, with its request id.
    pub(super) own_enqueue: Option<Option<String>>,
    /// Rebuilt after a re-open (from its rows, or at a refusal): what the holder's dequeues got
    /// before `dequeues` is unknown.
    pub(super) restored: bool,
    /// The announcement rows (`lock_announcements`): (token, refused at, patience), in the
    /// order a re-open reads them back. Their deadline is the refusal's (a queueDepth moves
    /// only the one in memory).
    pub(super) rows: Vec<(String, i64, i64)>,
}

impl ModelTenure {
    pub(super) fn new(token: &str) -> Self {
        ModelTenure {
            token: token.to_owned(),
            dequeues: Vec::new(),
            last_empty: None,
            awaited: Vec::new(),
            held_since: None,
            dequeued: false,
            own_enqueue: None,
            restored: false,
            rows: Vec::new(),
        }
    }

    /// The tenure a re-opened object rebuilds for `token`'s lock from its rows (their live
    /// ones are its announcements).
    pub(super) fn restored(token: &str, mut rows: Vec<(String, i64, i64)>, now: i64) -> Self {
        rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        ModelTenure {
            awaited: rows
                .iter()
                .map(|(t, at, patience)| (t.clone(), at + 2 * patience, *patience))
                .filter(|(_, deadline, _)| *deadline > now)
                .collect(),
            rows,
            restored: true,
            ..ModelTenure::new(token)
        }
    }

    /// Whether the holder has made its final dequeue: an empty one that was its first, or
    /// followed an empty one. In a restored tenure the first is not known to be final.
    pub(super) fn drained(&self) -> bool {
        (0..self.dequeues.len()).any(|i| {
            !self.dequeues[i]
                && (if i == 0 {
                    !self.restored
                } else {
                    !self.dequeues[i - 1]
                })
        })
    }

    /// The awaited refusal an enqueue by `caller` fulfils: the one it names — none if it names a
    /// newcomer that is not awaited (its entry arrived already: the adapter's guess gave it an
    /// earlier one) — or, without a caller or named the holder's (not its own), the oldest.
    pub(super) fn pick_enqueued(&self, caller: Option<&str>) -> Option<usize> {
        match caller {
            Some(c) if c != self.token => self.awaited.iter().position(|(a, _, _)| a == c),
            _ => (!self.awaited.is_empty()).then_some(0),
        }
    }

    /// The awaited refusal `token` names, or else the oldest.
    pub(super) fn pick(&self, token: Option<&str>) -> Option<usize> {
        token
            .and_then(|t| self.awaited.iter().position(|(a, _, _)| a == t))
            .or((!self.awaited.is_empty()).then_some(0))
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct ModelList {
    pub(super) items: Vec<String>,
    pub(super) expires: Option<i64>,
    pub(super) receipts: Vec<(String, i64)>,
}

#[derive(Debug, Clone)]
pub(super) struct QueueRow {
    pub(super) json: String,
    pub(super) expires_at: i64,
    pub(super) rid: Option<String>,
    pub(super) depth: i64,
    /// Taken (by a dequeue's id) or dropped (`""`), kept until the time given.
    pub(super) receipt: Option<(String, i64)>,
}

impl QueueRow {
    pub(super) fn is_live(&self, now: i64) -> bool {
        self.receipt.is_none() && self.expires_at > now
    }
    pub(super) fn deadline(&self) -> i64 {
        self.receipt
            .as_ref()
            .map_or(self.expires_at, |(_, until)| *until)
    }
}

pub(super) fn live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

/// The model's TTL rule: absent or 0 = none; fractions round up; NaN, infinities and negatives
/// are rejected. `None` here means "invalid".
pub(super) fn model_ttl(ttl: Ttl) -> Option<Option<i64>> {
    match ttl {
        None => Some(None),
        Some(ms) if !ms.is_finite() || ms < 0.0 => None,
        Some(0.0) => Some(None),
        Some(ms) => Some(Some(ms.ceil() as i64)),
    }
}

impl Model {
    pub(super) fn lock_holder(&self, k: usize) -> Option<&(String, i64)> {
        self.locks.get(&k).filter(|(_, at)| *at > self.now)
    }

    /// The tenure of key `k` while the lock it granted is still held.
    pub(super) fn live_tenure(&mut self, k: usize) -> Option<&mut ModelTenure> {
        let holder = self.lock_holder(k).map(|(t, _)| t.clone())?;
        self.tenures.get_mut(&k).filter(|t| t.token == holder)
    }

    pub(super) fn hint(&self, k: usize, hint: &Hint) -> Option<String> {
        match hint {
            Hint::None => None,
            Hint::Holder => self.locks.get(&k).map(|(t, _)| t.clone()),
            Hint::Refused(i) => self
                .refused
                .get(&k)
                .filter(|r| !r.is_empty())
                .map(|r| r[i % r.len()].clone()),
            Hint::Issued(i) => {
                (!self.issued.is_empty()).then(|| self.issued[i % self.issued.len()].clone())
            }
        }
    }

    pub(super) fn get(&self, k: usize) -> Option<String> {
        self.cache
            .get(&k)
            .filter(|(_, at, _)| live(*at, self.now))
            .map(|(v, _, _)| v.clone())
    }

    pub(super) fn list(&self, k: usize) -> Vec<String> {
        match self.lists.get(&k) {
            Some(l) if live(l.expires, self.now) => l.items.clone(),
            _ => Vec::new(),
        }
    }

    pub(super) fn live_queue(&self, k: usize) -> Vec<String> {
        self.queues
            .get(&k)
            .map(|q| {
                q.iter()
                    .filter(|r| r.is_live(self.now))
                    .map(|r| r.json.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn receipts(&self) -> i64 {
        let now = self.now;
        self.queues
            .values()
            .flatten()
            .filter(|r| r.receipt.as_ref().is_some_and(|(_, until)| *until > now))
            .count() as i64
    }

    pub(super) fn fresh_id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}{:032}", self.ids)
    }

    pub(super) fn token(&self, k: usize, pick: &TokenPick) -> String {
        match pick {
            TokenPick::Current => self
                .locks
                .get(&k)
                .map(|(t, _)| t.clone())
                .or_else(|| self.issued.last().cloned())
                .unwrap_or_else(|| "cfdo_never_issued".into()),
            TokenPick::Issued(i) if !self.issued.is_empty() => {
                self.issued[i % self.issued.len()].clone()
            }
            _ => "cfdo_00000000000000000000000000000000".into(),
        }
    }
}

/// What the model says a dequeue answers (and does to the model).
pub(super) fn model_dequeue(
    m: &mut Model,
    k: usize,
    rid: Option<&str>,
    replay: bool,
    holder: Option<&str>,
    deduped: &mut bool,
) -> Dequeued {
    let now = m.now;
    if let (true, Some(rid)) = (replay, rid) {
        let q = m.queues.entry(k).or_default();
        if let Some(row) = q
            .iter()
            .find(|r| r.receipt.as_ref().is_some_and(|(by, _)| by == rid))
        {
            *deduped = true;
            return Dequeued::Entry(row.json.clone());
        }
        if m.tenures
            .get(&k)
            .is_some_and(|t| t.last_empty.as_deref() == Some(rid))
        {
            *deduped = true;
            return Dequeued::Empty;
        }
        if let Some(holder) = holder {
            if m.lock_holder(k).is_some_and(|(t, _)| t != holder) {
                FENCED.fetch_add(1, Ordering::Relaxed);
                return Dequeued::Empty;
            }
        }
    }
    let for_holder = holder.is_none_or(|h| m.tenures.get(&k).is_some_and(|t| t.token == h));
    let q = m.queues.entry(k).or_default();
    let taken = match q.iter().position(|r| r.is_live(now)) {
        None => None,
        Some(i) => {
            let json = q[i].json.clone();
            match rid {
                Some(rid) => q[i].receipt = Some((rid.to_owned(), now + RECEIPT_WINDOW_MS)),
                None => {
                    q.remove(i);
                }
            }
            Some(json)
        }
    };
    let tenure = if for_holder { m.live_tenure(k) } else { None };
    match (taken, tenure) {
        (Some(json), Some(t)) => {
            t.dequeues.push(true);
            t.held_since = None;
            t.dequeued = true;
            Dequeued::Entry(json)
        }
        (Some(json), None) => Dequeued::Entry(json),
        (None, Some(t)) => {
            t.dequeued = true;
            let is_final = t.dequeues.last() != Some(&true);
            if is_final {
                t.awaited.retain(|(_, deadline, _)| *deadline > now);
                let cap = *t.held_since.get_or_insert(now) + crate::guarantees::tenure::MAX_WAIT_MS;
                if let Some(deadline) = t.awaited.iter().map(|(_, d, _)| *d).min() {
                    if now < cap {
                        return Dequeued::WaitUntil(deadline.min(cap));
                    }
                }
            }
            t.held_since = None;
            t.dequeues.push(false);
            t.last_empty = rid.map(str::to_owned);
            Dequeued::Empty
        }
        (None, None) => Dequeued::Empty,
    }
}
