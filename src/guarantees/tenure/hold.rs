//! What is held and until when: a holder's dequeue that finds the queue empty while a newcomer is
//! announced, and — in a restored tenure — a newcomer's acquire while the holder may already have
//! made its final dequeue. The holder's dequeues are recorded here too: they drain the tenure.

use super::patience::{acquire_hold_ms, MAX_WAIT_MS};
use super::state::{Announcement, HeldAcquire, LastDequeue, Tenures};

/// What a holder's dequeue that found the queue empty must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyDequeue {
    /// Answer `null` now.
    Answer,
    /// Hold the answer; ask again by this time (Unix ms) or when the key is written.
    WaitUntil(i64),
}

impl Tenures {
    /// An acquire by `token` finds the lock held by `holder` (until `holder_expires_at`) and
    /// cannot be granted it early. If this instance cannot tell whether the holder has already
    /// made its final dequeue (a restored tenure, see "Unknown is not final"), refusing could
    /// strand the newcomer's entry (the holder may only have its release left), and granting could
    /// give a second flow the lock while a handler runs: the acquire is held instead, until the
    /// holder's next call settles it — its release (the caller's re-ask is then granted), or its dequeue
    /// (the previous one was not final: refuse, and that dequeue is held for the entry) — or
    /// until [`ACQUIRE_HOLD_MS`](super::patience::ACQUIRE_HOLD_MS) have passed (refuse). While
    /// held it counts as an announcement (in memory only), so a dequeue of the holder meanwhile
    /// waits for it. Answers the time by which to ask again, or `None`: refuse now (then
    /// [`Tenures::announce`]).
    pub fn hold_acquire(
        &self,
        key: &str,
        holder: &str,
        holder_expires_at: i64,
        token: &str,
        patience: i64,
        now: i64,
    ) -> Option<i64> {
        self.holders_tenure(key, holder, holder_expires_at, now, |t| {
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
        })
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
        // it never drains the tenure: an early grant now could give a second flow the lock).
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
}
