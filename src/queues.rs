//! Per-key FIFO queues (chat's concurrency queue: `enqueue`/`dequeue`/`queueDepth`).
//!
//! Each entry carries its own deadline, the `expiresAt` chat puts in the `QueueEntry`; an expired
//! entry is never returned or counted (chat would discard it on dequeue anyway). Like locks, queue
//! entries are consumed by their own protocol long before they expire, so they only ask the alarm
//! to exist, not to move earlier.

use crate::db::{Database, Param, QueryExt};
use crate::error::Result;
use crate::expiry::Cleanup;
use crate::store::Store;
use crate::validate;

impl<D: Database> Store<D> {
    /// Appends an entry; with `max_size > 0` drops the oldest beyond `max_size`. Returns the depth.
    pub fn enqueue(
        &self,
        key: &str,
        json: &str,
        expires_at: f64,
        max_size: Option<f64>,
        now: i64,
    ) -> Result<u32> {
        let key = validate::key("threadId", key)?;
        let json = validate::value("entry", json)?;
        let expires_at = validate::timestamp("entry.expiresAt", expires_at)?;
        let max_size = validate::optional_limit("maxSize", max_size)?;

        let depth = self.db.transaction(&mut || {
            let last_seq = self.db.query_int(
                "SELECT MAX(seq) FROM queue_entries WHERE queue_key = ?",
                &[Param::Text(key)],
            )?;
            let seq = last_seq.map_or(0, |s| s.saturating_add(1));
            self.db.exec(
                "INSERT INTO queue_entries (queue_key, seq, value, expires_at) VALUES (?1, ?2, ?3, ?4)",
                &[
                    Param::Text(key),
                    Param::Int(seq),
                    Param::Text(json),
                    Param::Int(expires_at),
                ],
            )?;
            // Drop what can never be delivered: expired entries, and live ones beyond max_size
            // counting from the newest (the newest entry itself is always kept, like LTRIM).
            match max_size {
                Some(max_size) => self.db.exec(
                    "DELETE FROM queue_entries WHERE queue_key = ?1 AND (expires_at <= ?2 OR seq <= (
                         SELECT seq FROM queue_entries WHERE queue_key = ?1 AND expires_at > ?2
                         ORDER BY seq DESC LIMIT 1 OFFSET ?3))",
                    &[Param::Text(key), Param::Int(now), Param::Int(max_size)],
                )?,
                None => self.db.exec(
                    "DELETE FROM queue_entries WHERE queue_key = ?1 AND expires_at <= ?2",
                    &[Param::Text(key), Param::Int(now)],
                )?,
            };
            self.queue_depth_unchecked(key, now)
        })?;
        if expires_at > now {
            self.alarm.note_deadline(expires_at, Cleanup::Eventually);
        }
        Ok(depth)
    }

    /// Removes and returns the oldest unexpired entry's JSON text.
    pub fn dequeue(&self, key: &str, now: i64) -> Result<Option<String>> {
        let key = validate::key("threadId", key)?;
        self.db.query_text(
            "DELETE FROM queue_entries WHERE queue_key = ?1 AND seq = (
                 SELECT seq FROM queue_entries WHERE queue_key = ?1 AND expires_at > ?2
                 ORDER BY seq LIMIT 1)
             RETURNING value",
            &[Param::Text(key), Param::Int(now)],
        )
    }

    pub fn queue_depth(&self, key: &str, now: i64) -> Result<u32> {
        let key = validate::key("threadId", key)?;
        self.queue_depth_unchecked(key, now)
    }

    fn queue_depth_unchecked(&self, key: &str, now: i64) -> Result<u32> {
        let count = self
            .db
            .query_int(
                "SELECT COUNT(*) FROM queue_entries WHERE queue_key = ?1 AND expires_at > ?2",
                &[Param::Text(key), Param::Int(now)],
            )?
            .unwrap_or(0);
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }
}
