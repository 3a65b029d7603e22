//! Append-only lists with a length cap and one TTL per list (Redis `RPUSH`+`LTRIM`+`PEXPIRE`).
//!
//! Items live in `list_items` keyed by `(list_key, seq)`; `seq` grows by one per append and items
//! are only ever removed from the oldest end, so the live items of a list are always the
//! contiguous range `(max_seq - maxLength, max_seq]` and trimming is one range delete on the
//! primary key. The list's expiry is a single row in `lists`: refreshing it on append writes that
//! one row, never the items. An append to a 100-item list with a TTL therefore writes the new item,
//! deletes the oldest, and updates the `lists` row (plus its expiry-index entry), whatever the
//! list's length.
//!
//! Retry safety: each item carries, in `requests`, the ids of the appends its list received
//! within the receipt window, its own last (`idempotency::ListReceipts`). The newest item always
//! survives trimming, so a retried append reads that one row to learn whether its first attempt
//! landed; if it did, nothing is written.

use crate::db::{Database, Param, Value};
use crate::error::Result;
use crate::expiry::Cleanup;
use crate::idempotency::{self, Attempt, ListReceipts};
use crate::store::Store;
use crate::validate;

/// Options of `appendToList`, already taken apart by the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendOptions {
    pub max_length: Option<f64>,
    pub ttl_ms: Option<f64>,
}

impl<D: Database> Store<D> {
    pub fn append_to_list(
        &self,
        key: &str,
        json: &str,
        options: AppendOptions,
        attempt: Option<Attempt<'_>>,
        now: i64,
    ) -> Result<()> {
        let key = validate::key("key", key)?;
        let json = validate::value("value", json)?;
        let max_length = validate::optional_limit("options.maxLength", options.max_length)?;
        let ttl_ms = validate::optional_ttl("options.ttlMs", options.ttl_ms)?;
        let attempt = idempotency::checked(attempt)?;
        let request_id = attempt.map(|a| a.id);
        let new_deadline = ttl_ms.map(|ttl| now + ttl);

        let appended = self.db.transaction(&mut || {
            // One read for every fact: the list's expiry, and its newest item's seq and receipts.
            let rows = self.db.exec(
                "SELECT l.expires_at, i.seq, i.requests FROM (SELECT 1)
                 LEFT JOIN lists l ON l.list_key = ?1
                 LEFT JOIN (SELECT seq, requests FROM list_items WHERE list_key = ?1
                            ORDER BY seq DESC LIMIT 1) i ON 1",
                &[Param::Text(key)],
            )?;
            let mut row = rows.into_iter().next().unwrap_or_default().into_iter();
            let current_expiry = row.next().and_then(|v| v.as_int());
            let mut last_seq = row.next().and_then(|v| v.as_int());
            let mut receipts =
                ListReceipts::parse(row.next().and_then(Value::into_text).as_deref());

            // An expired list starts fresh: its old items must not reappear.
            if current_expiry.is_some_and(|at| at <= now) {
                self.db.exec(
                    "DELETE FROM list_items WHERE list_key = ?",
                    &[Param::Text(key)],
                )?;
                if new_deadline.is_none() {
                    self.db
                        .exec("DELETE FROM lists WHERE list_key = ?", &[Param::Text(key)])?;
                }
                last_seq = None;
                receipts = ListReceipts::default();
            } else if attempt.is_some_and(|a| a.retry && receipts.contains(a.id, now)) {
                // A retry whose first attempt landed: nothing more to do. (The receipts came
                // with the row this append reads anyway, so the check costs no read.)
                return Ok(false);
            }

            let seq = last_seq.map_or(0, |s| s.saturating_add(1));
            let receipts = receipts.next(request_id, now);
            self.db.exec(
                "INSERT INTO list_items (list_key, seq, value, requests) VALUES (?1, ?2, ?3, ?4)",
                &[
                    Param::Text(key),
                    Param::Int(seq),
                    Param::Text(json),
                    receipts.as_deref().into(),
                ],
            )?;
            if let Some(max) = max_length {
                self.db.exec(
                    "DELETE FROM list_items WHERE list_key = ?1 AND seq <= ?2",
                    &[Param::Text(key), Param::Int(seq - max)],
                )?;
            }
            // No TTL keeps whatever expiry the list already has.
            if let Some(deadline) = new_deadline {
                self.db.exec(
                    "INSERT INTO lists (list_key, expires_at) VALUES (?1, ?2)
                     ON CONFLICT (list_key) DO UPDATE SET expires_at = excluded.expires_at",
                    &[Param::Text(key), Param::Int(deadline)],
                )?;
            }
            Ok(true)
        })?;
        if let (true, Some(deadline)) = (appended, new_deadline) {
            self.alarm.note_deadline(deadline, Cleanup::AtDeadline);
        }
        Ok(())
    }

    /// The list as one JSON array text (`"[]"` when missing or expired), values in insertion
    /// order. Building the array here lets the adapter parse once instead of once per item.
    pub fn get_list(&self, key: &str, now: i64) -> Result<String> {
        let key = validate::key("key", key)?;
        let rows = self.db.exec(
            "SELECT value FROM list_items
             WHERE list_key = ?1
               AND NOT EXISTS (SELECT 1 FROM lists WHERE list_key = ?1 AND expires_at <= ?2)
             ORDER BY seq",
            &[Param::Text(key), Param::Int(now)],
        )?;
        let mut json = String::from("[");
        for (i, value) in rows
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .enumerate()
        {
            if i > 0 {
                json.push(',');
            }
            if let Some(text) = value.into_text() {
                json.push_str(&text);
            }
        }
        json.push(']');
        Ok(json)
    }
}
