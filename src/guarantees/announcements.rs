//! The durable part of a lock's tenure (see `tenure`): its *announcements*, one row each in
//! `lock_announcements` (schema layout 6), so that an object reset — a deploy,
//! `abortAllDurableObjects()`, an eviction — does not forget that a refused newcomer's entry is
//! on its way. Without them a fresh instance answered the holder's final empty dequeue `null` at
//! once while that entry was still coming, and the entry was stranded (chat's #928 race,
//! reopened by every reset that fell inside a contended tenure: 1 message in 600 in the reset
//! soak of issue 18).
//!
//! - **Written with the refusal.** A refused `acquireLock` inserts its row `(thread, newcomer
//!   token, holder token, deadline, patience)` in the transaction that read the holder's lock; a
//!   retried refusal (same token) finds its row and adds none (`INSERT OR IGNORE`, and the tenure
//!   in memory already knows it).
//! - **Deleted with the entry.** The `enqueue` that fulfils an announcement deletes its row in
//!   the transaction that queues the entry: after a reset the row is there exactly while the
//!   entry is not. A release (or force release, a new grant, a unit moving away) deletes what is
//!   left of its tenure's rows; the sweep deletes rows past their deadline.
//! - **Read once per instance.** `Store::restore_tenures` runs when the instance opens: the
//!   rows of a holder that still holds the lock rebuild its tenure in memory
//!   ([`crate::guarantees::tenure::Tenures::restore`]) with those of them still live as its announcements
//!   (a tenure whose rows all passed their deadline still comes back, holding nothing: what
//!   it comes back depends only on which rows exist, not on the moment the instance opens).
//!   Rows of a holder that no longer holds the lock are ignored (and swept).
//!
//! Everything else of a tenure stays in memory: what is lost with it only costs a wait (an
//! unknown last dequeue may be held), never exclusivity (a restored tenure hands nothing over
//! until it has seen the holder's final dequeue itself). The uncontended path writes no row
//! here and runs no statement here: only a refusal does.

use crate::base::db::{Database, Param, Value};
use crate::base::error::Result;
use crate::base::store::Store;
use crate::guarantees::tenure::Tenures;
use crate::sharding::unit::Unit;

/// Rows read when an instance starts (the table holds only announcements of the last seconds).
const RESTORE_MAX_ROWS: i64 = 10_000;

impl<D: Database> Store<D> {
    /// The unexpired lock on `key`: `(token, expires_at)`.
    pub(crate) fn lock_holder(&self, key: &str, now: i64) -> Result<Option<(String, i64)>> {
        let rows = self.db.exec(
            "SELECT token, expires_at FROM locks WHERE thread_id = ?1 AND expires_at > ?2",
            &[Param::Text(key), Param::Int(now)],
        )?;
        let Some(mut row) = rows.into_iter().next().map(Vec::into_iter) else {
            return Ok(None);
        };
        let token = row.next().and_then(Value::into_text);
        let expires_at = row.next().and_then(|v| v.as_int());
        Ok(token.zip(expires_at))
    }

    /// Records a refused acquire's announcement (inside the refusal's transaction).
    pub(crate) fn persist_announcement(
        &self,
        key: &str,
        token: &str,
        holder: &str,
        deadline: i64,
        patience: i64,
        now: i64,
    ) -> Result<()> {
        self.db.exec(
            "INSERT OR IGNORE INTO lock_announcements
                 (thread_id, token, holder, deadline, patience, announced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                Param::Text(key),
                Param::Text(token),
                Param::Text(holder),
                Param::Int(deadline),
                Param::Int(patience),
                Param::Int(now),
            ],
        )?;
        Ok(())
    }

    /// The announcement of `token` was fulfilled (inside the enqueue's transaction).
    pub(crate) fn delete_announcement(&self, key: &str, token: &str) -> Result<()> {
        self.db.exec(
            "DELETE FROM lock_announcements WHERE thread_id = ?1 AND token = ?2",
            &[Param::Text(key), Param::Text(token)],
        )?;
        Ok(())
    }

    /// Every announcement row of `key` (its tenure ended).
    pub(crate) fn delete_announcements(&self, key: &str) -> Result<()> {
        self.db.exec(
            "DELETE FROM lock_announcements WHERE thread_id = ?1",
            &[Param::Text(key)],
        )?;
        Ok(())
    }

    /// A tenure ended in memory (`had_rows`: it may have left rows): its rows go too.
    pub(crate) fn tenure_ended(&self, key: &str, had_rows: bool) -> Result<()> {
        if had_rows {
            self.delete_announcements(key)?;
        }
        Ok(())
    }

    /// Rebuilds, when the instance opens, the tenures that have live announcements.
    pub(crate) fn restore_tenures(&self, now: i64) -> Result<()> {
        let rows = self.db.exec(
            "SELECT a.thread_id, a.token, a.deadline, a.patience, l.token, l.expires_at
             FROM lock_announcements a
             JOIN locks l ON l.thread_id = a.thread_id AND l.token = a.holder
             WHERE l.expires_at > ?1
             ORDER BY a.thread_id, a.announced_at, a.token LIMIT ?2",
            &[Param::Int(now), Param::Int(RESTORE_MAX_ROWS)],
        )?;
        type Restored = (String, String, i64, Vec<(String, i64, i64)>);
        let mut current: Option<Restored> = None;
        let finish = |t: Option<Restored>| {
            if let Some((key, holder, expires_at, announcements)) = t {
                self.tenures
                    .restore(&key, &holder, expires_at, announcements, now);
            }
        };
        for row in rows {
            let mut c = row.into_iter();
            let (Some(key), Some(token), Some(deadline), Some(patience), Some(holder), Some(exp)) = (
                c.next().and_then(Value::into_text),
                c.next().and_then(Value::into_text),
                c.next().and_then(|v| v.as_int()),
                c.next().and_then(|v| v.as_int()),
                c.next().and_then(Value::into_text),
                c.next().and_then(|v| v.as_int()),
            ) else {
                continue;
            };
            if current.as_ref().is_none_or(|(k, ..)| *k != key) {
                finish(current.take());
                current = Some((key, holder, exp, Vec::new()));
            }
            if let Some((.., announcements)) = current.as_mut() {
                announcements.push((token, deadline, patience));
            }
        }
        finish(current);
        Ok(())
    }

    /// The announcement rows of a tenure arriving with its unit (inside the import's
    /// transaction): true when the unit carries a tenure of its lock's holder.
    pub(crate) fn write_tenure_rows(&self, unit: &Unit, now: i64) -> Result<bool> {
        let (Some(tenure), Some((token, _))) = (&unit.tenure, &unit.lock) else {
            return Ok(false);
        };
        if tenure.token != *token {
            return Ok(false);
        }
        let r = unit.routing_key.as_str();
        for (newcomer, deadline, patience) in Tenures::clamped_announcements(tenure, now) {
            self.db.exec(
                "INSERT OR REPLACE INTO lock_announcements
                     (thread_id, token, holder, deadline, patience, announced_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    Param::Text(r),
                    Param::Text(&newcomer),
                    Param::Text(token),
                    Param::Int(deadline),
                    Param::Int(patience),
                    Param::Int(now),
                ],
            )?;
        }
        Ok(true)
    }
}
