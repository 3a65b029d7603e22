//! Announcements: a newcomer whose acquire was refused is announced, its `queueDepth` moves its
//! deadline, and its enqueue fulfils it — unless the holder enqueued (debounce, burst).

use super::state::{Announcement, Tenures};

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

impl Tenures {
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
        self.holders_tenure(key, holder, holder_expires_at, now, |t| {
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
        })
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

    /// What an entry enqueued on `key` by `caller` does: it fulfils that newcomer's announcement,
    /// unless the holder enqueued it (debounce and burst enqueue their own message) — which can
    /// only be the holder's first enqueue, before its first dequeue.
    ///
    /// Without a caller, or named the holder's but not its own, the entry is some newcomer's: it
    /// fulfils the oldest announcement. Named a newcomer's that has no live announcement, it
    /// fulfils none but a token-less one (a caller on the plain contract): that newcomer's entry
    /// has arrived already — the adapter, guessing between a fresh holder's own enqueue and a
    /// newcomer's, gave it the earlier one (ts/worker/lock-tracker.ts) — and taking it for the
    /// oldest other newcomer's stopped the wait for one that had not enqueued, stranding its
    /// entry (issue 18, test/model.test.ts, burst with two newcomers).
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
        let picked = match caller {
            Some(c) if c != t.token => live
                .iter()
                .find(|a| a.token.as_deref() == Some(c))
                .or_else(|| live.iter().find(|a| a.token.is_none())),
            _ => live.first(),
        };
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
                // The very announcement planned: by its token, or the first token-less one.
                let i = match token.as_deref() {
                    Some(_) => t.pick(token.as_deref()),
                    None => t.announcements.iter().position(|a| a.token.is_none()),
                };
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
}
