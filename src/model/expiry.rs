//! Expiry: when the Durable Object alarm fires and what it deletes.
//!
//! Reads never depend on this module: every query filters on `expires_at > now`, so an expired
//! row is invisible from the moment it expires. The alarm only reclaims space, which lets it be
//! lazy in ways that save money:
//!
//! - **One alarm, armed at the earliest deadline, moved only when a write brings an earlier one.**
//!   We remember the armed time in memory (read once from `getAlarm()` when the object starts) and
//!   compare each new deadline with it; no write ever scans the TTL tables. Most writes carry a
//!   deadline later than the armed one (chat's TTLs are fixed per key kind), so they cost no
//!   `setAlarm` at all. This is mini-redis's rule: wake the purge task only when the new
//!   deadline is the earliest.
//! - **Short-lived protocol rows do not pull the alarm in.** Locks are released and queue
//!   entries dequeued long before their TTL; arming the alarm for each of them would add a
//!   `setAlarm` to every message. They only make sure *some* alarm is armed, and the sweep
//!   deletes any the protocol left behind ([`Cleanup::Eventually`]).
//! - **A sweep re-arms no sooner than [`MIN_SWEEP_INTERVAL_MS`] later** unless it ran out of
//!   budget. Under steady traffic every dedupe key expires at a different millisecond; sweeping
//!   each one separately would bill an alarm invocation per message.
//! - **Bounded batches.** Each batch deletes at most [`SWEEP_BATCH_ROWS`] rows in one transaction;
//!   the wasm layer yields to waiting requests between batches and stops after
//!   [`SWEEP_MAX_BATCHES`], re-arming immediately to continue, so a backlog of a million expired
//!   rows never blocks the object for long.

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::Result;
use crate::base::live;
use crate::base::store::Store;

/// Rows deleted per sweep transaction.
pub const SWEEP_BATCH_ROWS: i64 = 1000;
/// Batches per alarm invocation before handing over to a fresh invocation.
pub const SWEEP_MAX_BATCHES: u32 = 20;
/// Least time between the end of one sweep and the next.
pub const MIN_SWEEP_INTERVAL_MS: i64 = 30_000;

/// What one sweep batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepBatch {
    pub rows_deleted: i64,
    /// True when the batch used its whole budget: more expired rows may remain.
    pub budget_exhausted: bool,
}

impl<D: Database> Store<D> {
    /// Marks the start of an alarm invocation.
    pub fn begin_sweep(&self) {
        self.alarm.fired();
    }

    /// Deletes up to [`SWEEP_BATCH_ROWS`] rows whose deadline is at or before `now`, in one
    /// transaction. Never touches a row with a later deadline: the same `expires_at <= now` test
    /// that reads use to hide a row decides that it may be deleted.
    pub fn sweep_batch(&self, now: i64) -> Result<SweepBatch> {
        let deleted = self.db.transaction(&mut || {
            let mut budget = SWEEP_BATCH_ROWS;
            // Receipts (taken or dropped entries kept for retries) go when their window ends.
            let queue_rows = format!(
                "DELETE FROM queue_entries WHERE (queue_key, seq) IN (SELECT queue_key, seq
                     FROM queue_entries WHERE {} LIMIT ?2)
                 RETURNING 1",
                live::queue_row_dead("?1")
            );
            for sql in [
                "DELETE FROM cache WHERE key IN (SELECT key FROM cache
                     WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2) RETURNING 1",
                "DELETE FROM locks WHERE thread_id IN (SELECT thread_id FROM locks
                     WHERE expires_at <= ?1 LIMIT ?2) RETURNING 1",
                &queue_rows,
                // Announcements nobody fulfilled (a newcomer that dropped its entry, or died).
                "DELETE FROM lock_announcements WHERE (thread_id, token) IN (SELECT thread_id,
                     token FROM lock_announcements WHERE deadline <= ?1 LIMIT ?2) RETURNING 1",
            ] {
                if budget == 0 {
                    break;
                }
                let n = self
                    .db
                    .exec(sql, &[Param::Int(now), Param::Int(budget)])?
                    .len();
                budget -= i64::try_from(n).unwrap_or(budget);
            }
            if budget > 0 {
                budget = self.sweep_lists(now, budget)?;
            }
            Ok(SWEEP_BATCH_ROWS - budget)
        })?;
        Ok(SweepBatch {
            rows_deleted: deleted,
            budget_exhausted: deleted >= SWEEP_BATCH_ROWS,
        })
    }

    /// Deletes expired lists item by item within `budget`, dropping a list's `lists` row only
    /// once its last item is gone (until then the row keeps the list reading as expired).
    fn sweep_lists(&self, now: i64, mut budget: i64) -> Result<i64> {
        let expired = self.db.exec(
            "SELECT list_key FROM lists WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2",
            &[Param::Int(now), Param::Int(budget)],
        )?;
        for row in expired {
            let Some(key) = row.into_iter().next().and_then(|v| v.into_text()) else {
                continue;
            };
            let n = self
                .db
                .exec(
                    "DELETE FROM list_items WHERE list_key = ?1 AND seq IN (
                         SELECT seq FROM list_items WHERE list_key = ?1 ORDER BY seq LIMIT ?2)
                     RETURNING 1",
                    &[Param::Text(&key), Param::Int(budget)],
                )?
                .len();
            budget -= i64::try_from(n).unwrap_or(budget);
            if budget <= 0 {
                return Ok(0);
            }
            self.db
                .exec("DELETE FROM lists WHERE list_key = ?", &[Param::Text(&key)])?;
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
        Ok(budget)
    }

    /// Ends an alarm invocation: picks and requests the next alarm time.
    ///
    /// `more` says the invocation stopped with budget exhausted, so it continues right away.
    /// Otherwise the next alarm is the earliest remaining deadline, but no sooner than
    /// [`MIN_SWEEP_INTERVAL_MS`] from now.
    pub fn finish_sweep(&self, now: i64, more: bool) -> Result<Option<i64>> {
        // Tenures of locks that expired are of no more use (their rows are being swept).
        self.tenures.prune(now);
        let next = if more {
            Some(now)
        } else {
            self.next_deadline()?
                .map(|deadline| deadline.max(now + MIN_SWEEP_INTERVAL_MS))
        };
        if let Some(at) = next {
            // A write during the sweep may already have armed an earlier alarm.
            match self.alarm.armed() {
                Some(armed) if armed <= at => {}
                _ => self.alarm.request(at),
            }
        }
        Ok(self.alarm.armed())
    }

    /// The earliest deadline of any row. Indexed `MIN`s for cache and lists; locks and queue
    /// entries are few (their protocol deletes them), so their unindexed `MIN`s stay cheap.
    pub fn next_deadline(&self) -> Result<Option<i64>> {
        self.db.query_int(
            &format!(
                "SELECT MIN(d) FROM (
                 SELECT MIN(expires_at) AS d FROM cache WHERE expires_at IS NOT NULL
                 UNION ALL SELECT MIN(expires_at) FROM lists WHERE expires_at IS NOT NULL
                 UNION ALL SELECT MIN(expires_at) FROM locks
                 UNION ALL SELECT MIN({}) FROM queue_entries
                 UNION ALL SELECT MIN(deadline) FROM lock_announcements)",
                live::QUEUE_ROW_DEADLINE
            ),
            &[],
        )
    }
}
