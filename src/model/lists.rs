//! Append-only lists with a length cap and one TTL per list (Redis `RPUSH`+`LTRIM`+`PEXPIRE`).
//!
//! Items live in `list_items` keyed by `(list_key, seq)`; `seq` grows by one per append and items
//! are only ever removed from the oldest end, so the live items of a list are always the
//! contiguous range `(max_seq - maxLength, max_seq]` and trimming is one range delete on the
//! primary key.
//!
//! **Where a list's expiry lives (layout 4).** Every append writes its item row anyway, so the
//! list's exact expiry rides on it: the newest item's `expires_at` *is* the list's expiry (the
//! older items' values are history and mean nothing). An append with a TTL sets it to
//! `now + ttl` exactly; one without copies the list's current expiry, so the newest item always
//! tells. Refreshing the expiry therefore writes no row of its own.
//!
//! The `lists` row is kept for the sweep, and for older builds: its indexed `expires_at` is an
//! **upper bound** of the list's expiry, rewritten only when an append's deadline passes it, and
//! then set a slack past the deadline (a quarter of the TTL, at most a day: [`sweep_slack`]). A
//! list appended to more often than that slack writes its `lists` row (two rows with its index
//! entry) once per slack instead of on every append: the append of a capped list writes two rows
//! (the new item, the trimmed oldest). The sweep deletes lists whose bound has passed, which
//! implies their expiry has; a list that expired before its bound waits for it (at most the
//! slack) — space only: reads use the exact expiry.
//!
//! Why an upper bound and not a lower one: a build of layout 2 or 3 (during a deploy, after a
//! rollback) reads `lists.expires_at` as the exact expiry. An upper bound makes it show a list at
//! most the slack too long; a lower bound would make it delete a live list's items.
//! Items written by such a build have no `expires_at`: for them (and so for every list written
//! before layout 4) the `lists` row is the expiry, exactly as that build meant it.
//!
//! Retry safety: each item carries, in `requests`, its own append's id and time, and the receipts
//! of items it trimmed away while those were inside the receipt window
//! (`idempotency::ListReceipts`). A retried append reads the newest items until it finds its id
//! or an item older than the window; if its first attempt landed, nothing is written.

use crate::base::alarm::Cleanup;
use crate::base::args::{as_attempt, Args};
use crate::base::db::{Database, Param, Value};
use crate::base::error::Result;
use crate::base::store::Store;
use crate::base::{live, validate};
use crate::guarantees::idempotency::{
    self, Attempt, ListReceipts, MAX_LIST_RECEIPTS, RECEIPT_WINDOW_MS,
};

/// Options of `appendToList`, already taken apart by the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendOptions {
    pub max_length: Option<f64>,
    pub ttl_ms: Option<f64>,
}

/// How far past an append's deadline the `lists` row's bound is set: a quarter of the TTL, at
/// most a day. A list appended to at least once per slack rewrites its bound once per slack.
pub(crate) fn sweep_slack(ttl_ms: i64) -> i64 {
    (ttl_ms / 4).min(DAY_MS)
}

const DAY_MS: i64 = 86_400_000;

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

        let bound = self.db.transaction(&mut || {
            // One read for every fact: the list's bound, and its newest item's seq and expiry
            // (the list's, see the module comment).
            let rows = self.db.exec(
                "SELECT l.expires_at, i.seq, i.expires_at FROM (SELECT 1)
                 LEFT JOIN lists l ON l.list_key = ?1
                 LEFT JOIN (SELECT seq, expires_at FROM list_items WHERE list_key = ?1
                            ORDER BY seq DESC LIMIT 1) i ON 1",
                &[Param::Text(key)],
            )?;
            let mut row = rows.into_iter().next().unwrap_or_default().into_iter();
            let bound = row.next().and_then(|v| v.as_int());
            let mut last_seq = row.next().and_then(|v| v.as_int());
            let mut expiry = row.next().and_then(|v| v.as_int()).or(bound);

            // An expired list starts fresh: its old items must not reappear.
            if expiry.is_some_and(|at| at <= now) {
                self.db.exec(
                    "DELETE FROM list_items WHERE list_key = ?",
                    &[Param::Text(key)],
                )?;
                if new_deadline.is_none() {
                    self.db
                        .exec("DELETE FROM lists WHERE list_key = ?", &[Param::Text(key)])?;
                }
                last_seq = None;
                expiry = None;
            } else if let Some(id) = attempt.filter(|a| a.retry).map(|a| a.id) {
                if self.list_has_receipt(key, id, now)? {
                    // A retry whose first attempt landed: nothing more to do.
                    return Ok(None);
                }
            }

            let seq = last_seq.map_or(0, |s| s.saturating_add(1));
            // Trim first: receipts of trimmed items still inside the window move to the new one.
            let mut receipts = ListReceipts::default();
            if let Some(max) = max_length {
                let trimmed = self.db.exec(
                    "DELETE FROM list_items WHERE list_key = ?1 AND seq <= ?2 RETURNING requests",
                    &[Param::Text(key), Param::Int(seq - max)],
                )?;
                for column in trimmed.into_iter().filter_map(|r| r.into_iter().next()) {
                    if let Some(column) = column.into_text() {
                        receipts.carry(&column, now);
                    }
                }
            }
            let receipts = receipts.column(request_id, now);
            // No TTL keeps whatever expiry the list already has.
            let expiry = new_deadline.or(expiry);
            self.db.exec(
                "INSERT INTO list_items (list_key, seq, value, requests, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[
                    Param::Text(key),
                    Param::Int(seq),
                    Param::Text(json),
                    Param::Text(&receipts),
                    expiry.into(),
                ],
            )?;
            // The bound moves only when the deadline passes it (see the module comment).
            let (Some(deadline), Some(ttl)) = (new_deadline, ttl_ms) else {
                return Ok(None);
            };
            if bound.is_some_and(|b| b >= deadline) {
                return Ok(None);
            }
            let bound = deadline.saturating_add(sweep_slack(ttl));
            self.db.exec(
                "INSERT INTO lists (list_key, expires_at) VALUES (?1, ?2)
                 ON CONFLICT (list_key) DO UPDATE SET expires_at = excluded.expires_at",
                &[Param::Text(key), Param::Int(bound)],
            )?;
            Ok(Some(bound))
        })?;
        if let Some(bound) = bound {
            self.alarm.note_deadline(bound, Cleanup::AtDeadline);
        }
        Ok(())
    }

    /// Whether an append with request id `id` landed on this list within the receipt window:
    /// its receipt is on its own item, or on the newer one that trimmed it (see `idempotency`).
    /// Items are read newest first in growing pages, and the search stops at an item appended
    /// before the window — so a retry soon after its first attempt reads a few rows.
    fn list_has_receipt(&self, key: &str, id: &str, now: i64) -> Result<bool> {
        let mut below = (1_i64 << 53) - 1; // above every seq, and exactly bindable in workerd
        let mut read = 0;
        let mut page = 1; // the newest item is the likeliest: a retry comes soon after its attempt
        while read < MAX_LIST_RECEIPTS {
            let rows = self.db.exec(
                "SELECT seq, requests FROM list_items WHERE list_key = ?1 AND seq < ?2
                 ORDER BY seq DESC LIMIT ?3",
                &[Param::Text(key), Param::Int(below), Param::Int(page)],
            )?;
            if rows.is_empty() {
                return Ok(false);
            }
            for row in rows {
                let mut cols = row.into_iter();
                below = cols.next().and_then(|v| v.as_int()).unwrap_or(i64::MIN);
                let column = cols.next().and_then(Value::into_text).unwrap_or_default();
                if ListReceipts::contains(&column, id, now) {
                    return Ok(true);
                }
                if ListReceipts::own_at(&column).is_some_and(|at| now - at >= RECEIPT_WINDOW_MS) {
                    return Ok(false); // older items hold only older receipts
                }
                read += 1;
            }
            page = (page * 8).min(64);
        }
        Ok(false)
    }

    /// The list as one JSON array text (`"[]"` when missing or expired), values in insertion
    /// order. Building the array here lets the adapter parse once instead of once per item.
    pub fn get_list(&self, key: &str, now: i64) -> Result<String> {
        let key = validate::key("key", key)?;
        // The expiry test does not depend on the row: SQLite evaluates it once. No expiry
        // (NULL) is live.
        let rows = self.db.exec(
            &format!(
                "SELECT value FROM list_items
                 WHERE list_key = ?1 AND COALESCE({} > ?2, 1)
                 ORDER BY seq",
                live::list_expiry("?1")
            ),
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

/// The RPC calls, their arguments read in wire order (`ts/shared/methods.ts`; see `base::args`).
impl<D: Database> Store<D> {
    /// `key, json, options ({ maxLength?, ttlMs? }), requestId, retry`.
    pub fn append_to_list_call(&self, args: &impl Args, now: i64) -> Result<()> {
        let key = args.string(0, "key")?;
        let json = args.string(1, "value")?;
        let options = if args.has_options(2, "options")? {
            AppendOptions {
                max_length: args.option_number(2, "maxLength", "options.maxLength")?,
                ttl_ms: args.option_number(2, "ttlMs", "options.ttlMs")?,
            }
        } else {
            AppendOptions::default()
        };
        let request_id = args.attempt(3, "requestId")?;
        self.append_to_list(&key, &json, options, as_attempt(&request_id), now)
    }

    /// The list as JSON array text.
    pub fn get_list_call(&self, args: &impl Args, now: i64) -> Result<String> {
        self.get_list(&args.string(0, "key")?, now)
    }
}
