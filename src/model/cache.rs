//! The key/value cache with optional TTL (Redis `GET`/`SET PX`/`SET NX PX`/`DEL`).
//!
//! Values are JSON text produced by the adapter; the store never parses them. Reads are strict:
//! a row whose `expires_at` has passed is invisible whether or not the alarm has deleted it yet.

use crate::base::alarm::Cleanup;
use crate::base::args::{as_attempt, Args};
use crate::base::db::{Database, Param, QueryExt, Value};
use crate::base::error::Result;
use crate::base::store::Store;
use crate::base::{live, validate};
use crate::guarantees::idempotency::{self, Attempt};

impl<D: Database> Store<D> {
    /// The value's JSON text, or `None` when missing or expired. Answered from the read cache
    /// when this instance knows (see `read_cache`).
    pub fn get(&self, key: &str, now: i64) -> Result<Option<String>> {
        let key = validate::key("key", key)?;
        if let Some(known) = self.reads.value(key, now) {
            return Ok(known);
        }
        let row = self
            .db
            .exec(
                &format!(
                    "SELECT value, expires_at FROM cache WHERE key = ?1 AND {}",
                    live::cache("?2")
                ),
                &[Param::Text(key), Param::Int(now)],
            )?
            .into_iter()
            .next();
        let mut cols = row.unwrap_or_default().into_iter();
        let json = cols.next().and_then(Value::into_text);
        let expires_at = cols.next().and_then(|v| v.as_int());
        self.reads
            .note_value(key, json.as_deref().map(|j| (j, expires_at)));
        Ok(json)
    }

    /// Overwrites the value and resets its TTL (`None` = no expiry).
    pub fn set(&self, key: &str, json: &str, ttl_ms: Option<f64>, now: i64) -> Result<()> {
        let key = validate::key("key", key)?;
        let json = validate::value("value", json)?;
        let expires_at = validate::optional_ttl("ttlMs", ttl_ms)?.map(|ttl| now + ttl);
        self.db.exec(
            "INSERT INTO cache (key, value, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
                                             request_id = NULL",
            &[Param::Text(key), Param::Text(json), expires_at.into()],
        )?;
        self.reads.note_value(key, Some((json, expires_at)));
        if let Some(deadline) = expires_at {
            self.alarm.note_deadline(deadline, Cleanup::AtDeadline);
        }
        Ok(())
    }

    /// Writes only if no unexpired value exists; `true` when it wrote. One statement: the upsert
    /// overwrites an existing row only when that row has expired, and `RETURNING` reports whether
    /// it wrote, so two racing callers can never both win.
    ///
    /// With a `request_id` the row remembers who wrote it, in the same row: a retry whose first
    /// attempt won finds its own id on the live row and answers `true` again, while a genuine
    /// second writer (another id) still gets `false`. That lookup runs only on the refusal path.
    pub fn set_if_not_exists(
        &self,
        key: &str,
        json: &str,
        ttl_ms: Option<f64>,
        attempt: Option<Attempt<'_>>,
        now: i64,
    ) -> Result<bool> {
        let key = validate::key("key", key)?;
        let json = validate::value("value", json)?;
        let expires_at = validate::optional_ttl("ttlMs", ttl_ms)?.map(|ttl| now + ttl);
        let attempt = idempotency::checked(attempt)?;
        let request_id = attempt.map(|a| a.id);
        let written = self.db.returned_row(
            "INSERT INTO cache (key, value, expires_at, request_id) VALUES (?1, ?2, ?3, ?5)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
                                             request_id = excluded.request_id
             WHERE cache.expires_at IS NOT NULL AND cache.expires_at <= ?4
             RETURNING 1",
            &[
                Param::Text(key),
                Param::Text(json),
                expires_at.into(),
                Param::Int(now),
                request_id.into(),
            ],
        )?;
        if written {
            self.reads.note_value(key, Some((json, expires_at)));
            if let Some(deadline) = expires_at {
                self.alarm.note_deadline(deadline, Cleanup::AtDeadline);
            }
            return Ok(true);
        }
        match attempt.filter(|a| a.retry).map(|a| a.id) {
            Some(id) => self.db.returned_row(
                &format!(
                    "SELECT 1 FROM cache WHERE key = ?1 AND request_id = ?2 AND {}",
                    live::cache("?3")
                ),
                &[Param::Text(key), Param::Text(id), Param::Int(now)],
            ),
            None => Ok(false),
        }
    }

    /// Removes the cache entry only; lists and queues with the same key are separate.
    pub fn delete(&self, key: &str) -> Result<()> {
        let key = validate::key("key", key)?;
        self.db
            .exec("DELETE FROM cache WHERE key = ?", &[Param::Text(key)])?;
        self.reads.note_value(key, None);
        Ok(())
    }
}

/// The RPC calls, their arguments read in wire order (`ts/shared/methods.ts`; see `base::args`).
impl<D: Database> Store<D> {
    pub fn get_call(&self, args: &impl Args, now: i64) -> Result<Option<String>> {
        self.get(&args.string(0, "key")?, now)
    }

    /// `key, json, ttlMs`.
    pub fn set_call(&self, args: &impl Args, now: i64) -> Result<()> {
        let key = args.string(0, "key")?;
        let json = args.string(1, "value")?;
        let ttl_ms = args.optional_number(2, "ttlMs")?;
        self.set(&key, &json, ttl_ms, now)
    }

    /// `key, json, ttlMs, requestId, retry`.
    pub fn set_if_not_exists_call(&self, args: &impl Args, now: i64) -> Result<bool> {
        let key = args.string(0, "key")?;
        let json = args.string(1, "value")?;
        let ttl_ms = args.optional_number(2, "ttlMs")?;
        let request_id = args.attempt(3, "requestId")?;
        self.set_if_not_exists(&key, &json, ttl_ms, as_attempt(&request_id), now)
    }

    pub fn delete_call(&self, args: &impl Args, _now: i64) -> Result<()> {
        self.delete(&args.string(0, "key")?)
    }
}
