//! Read-only inspection of one object's state, for dashboards, demos and debugging.
//!
//! Counts are exact and respect TTLs the way reads do (an expired row is not counted), which
//! means scanning each table: inspection is an operator's tool, not something for a hot path.

use serde::Serialize;
use tsify::Tsify;

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::Result;
use crate::base::live;
use crate::base::store::Store;

#[derive(Debug, Clone, PartialEq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub schema_version: i64,
    pub subscriptions: i64,
    /// Locks currently held (unexpired).
    pub locks: i64,
    /// Unexpired cache entries.
    pub cache_entries: i64,
    /// Unexpired non-empty lists, and the items they hold.
    pub lists: i64,
    pub list_items: i64,
    /// Unexpired queue entries, over all queues.
    pub queued_entries: i64,
    /// Taken or dropped queue entries kept for two minutes so a retried call is answered once.
    pub retry_receipts: i64,
    /// Rows whose deadline has passed and that the next sweep will delete.
    pub expired_rows_awaiting_sweep: i64,
    pub database_bytes: f64,
    /// Unix ms of the armed alarm, if any.
    pub next_alarm_at: Option<i64>,
    /// What this object still holds for a layout change (see README, Sharding).
    pub migration: crate::sharding::migration::HandoffInspection,
}

impl<D: Database> Store<D> {
    pub fn inspect(&self, now: i64) -> Result<Inspection> {
        let count = |sql: &str| -> Result<i64> {
            Ok(self.db.query_int(sql, &[Param::Int(now)])?.unwrap_or(0))
        };
        Ok(Inspection {
            schema_version: crate::base::schema::stored_version(&self.db)?,
            subscriptions: self
                .db
                .query_int("SELECT COUNT(*) FROM subscriptions", &[])?
                .unwrap_or(0),
            locks: count("SELECT COUNT(*) FROM locks WHERE expires_at > ?1")?,
            cache_entries: count(&format!(
                "SELECT COUNT(*) FROM cache WHERE {}",
                live::cache("?1")
            ))?,
            // A list's exact expiry is its newest item's (see `lists`).
            lists: count(&format!(
                "SELECT COUNT(*) FROM (SELECT DISTINCT list_key AS k FROM list_items)
                 WHERE COALESCE({} > ?1, 1)",
                live::list_expiry("k")
            ))?,
            list_items: count(&format!(
                "SELECT COUNT(*) FROM list_items i WHERE COALESCE({} > ?1, 1)",
                live::list_expiry("i.list_key")
            ))?,
            queued_entries: count("SELECT COUNT(*) FROM queue_entries WHERE expires_at > ?1")?,
            retry_receipts: count(
                "SELECT COUNT(*) FROM queue_entries WHERE taken_by IS NOT NULL AND retain_until > ?1",
            )?,
            expired_rows_awaiting_sweep: count(&format!(
                "SELECT (SELECT COUNT(*) FROM cache WHERE expires_at <= ?1)
                      + (SELECT COUNT(*) FROM locks WHERE expires_at <= ?1)
                      + (SELECT COUNT(*) FROM queue_entries WHERE {})
                      + (SELECT COUNT(*) FROM list_items i WHERE {} <= ?1)",
                live::queue_row_dead("?1"),
                live::list_expiry("i.list_key")
            ))?,
            database_bytes: self.db.database_size() as f64,
            next_alarm_at: self.alarm.armed(),
            migration: self.handoff_inspection(now)?,
        })
    }
}
