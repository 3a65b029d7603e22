//! The read cache: subscriptions and cache values this instance has read or written, kept in
//! memory so that `isSubscribed` and `get` usually answer without touching SQLite.
//!
//! Why: measured in workerd, an RPC whose method reads one SQLite row takes some 20–40 µs longer
//! than one whose method only computes (the storage layer's per-request bookkeeping), far more
//! than the statement itself. chat calls `isSubscribed` and `get` on every message, mostly for
//! the same threads; answering them from memory makes those RPCs cost what a computing method
//! costs, and reads no billed row.
//!
//! Why it is correct: a Durable Object is the only writer of its storage and runs one call at a
//! time, and every write to `subscriptions` or `cache` goes through [`crate::base::store::Store`]. Each
//! such write updates or forgets its entry *after* its statement (or transaction) succeeded, so
//! a rolled-back write never shows here. If the durable commit that follows fails, the runtime
//! resets the object and this memory goes with it. The cache holds a value with its exact
//! `expires_at` and a hit is tested against `now` like the SQL would be, so an expired value is
//! never returned. What writes rows behind the store's back — the re-sharding import and
//! hand-over (`handoff`) — clears the whole cache. A new instance starts empty.
//!
//! Negative answers are cached too (not subscribed; no value), because chat asks about threads
//! and keys that have none at least as often.
//!
//! Bounded: at most [`MAX_ENTRIES`] entries of each kind and [`MAX_VALUE_BYTES_TOTAL`] bytes of
//! values; a value longer than [`MAX_VALUE_BYTES`] is not kept. Reaching a bound clears that
//! kind wholesale — simpler and cheaper per call than an LRU, and a miss only costs the read the
//! cache saves.

use std::cell::Cell;

use crate::base::memo::Memo;

/// Entries per kind (subscriptions, values) before that kind is cleared.
pub const MAX_ENTRIES: usize = 10_000;
/// Bytes of cached values before they are cleared.
pub const MAX_VALUE_BYTES_TOTAL: usize = 8 << 20;
/// A longer value is read from SQLite each time (copying it costs more than the read saves).
pub const MAX_VALUE_BYTES: usize = 64 << 10;

#[derive(Debug, Clone)]
struct Value {
    json: String,
    expires_at: Option<i64>,
}

#[derive(Debug)]
pub struct ReadCache {
    subscribed: Memo<String, bool>,
    /// `None`: known to have no live value.
    values: Memo<String, Option<Value>>,
    value_bytes: Cell<usize>,
}

impl Default for ReadCache {
    fn default() -> Self {
        ReadCache {
            subscribed: Memo::new(MAX_ENTRIES),
            values: Memo::new(MAX_ENTRIES),
            value_bytes: Cell::new(0),
        }
    }
}

impl ReadCache {
    /// Whether `thread_id` is subscribed, if known.
    pub fn subscribed(&self, thread_id: &str) -> Option<bool> {
        self.subscribed.get(thread_id)
    }

    /// Records what the table now says of `thread_id`.
    pub fn note_subscribed(&self, thread_id: &str, subscribed: bool) {
        self.subscribed.insert(thread_id.to_owned(), subscribed);
    }

    /// The live value of `key` at `now`, if known: `Some(None)` when it has none.
    pub fn value(&self, key: &str, now: i64) -> Option<Option<String>> {
        let entry = self.values.get(key)?;
        Some(
            entry
                .filter(|v| v.expires_at.is_none_or(|at| at > now))
                .map(|v| v.json),
        )
    }

    /// Records what the table now holds for `key`: its value and expiry, or nothing.
    pub fn note_value(&self, key: &str, value: Option<(&str, Option<i64>)>) {
        if value.is_some_and(|(json, _)| json.len() > MAX_VALUE_BYTES) {
            self.forget_value(key);
            return;
        }
        let added = value.map_or(0, |(json, _)| json.len());
        // Clearing for the count is the memo's own rule; the byte budget is this cache's, and the
        // byte total restarts with either.
        if self.values.full_for(key) || self.value_bytes.get() + added > MAX_VALUE_BYTES_TOTAL {
            self.values.clear();
            self.value_bytes.set(0);
        }
        let old = self.values.insert(
            key.to_owned(),
            value.map(|(json, expires_at)| Value {
                json: json.to_owned(),
                expires_at,
            }),
        );
        let removed = old.flatten().map_or(0, |v| v.json.len());
        self.value_bytes
            .set((self.value_bytes.get() + added).saturating_sub(removed));
    }

    /// Drops what is known of `key`: the next read asks SQLite.
    pub fn forget_value(&self, key: &str) {
        if let Some(Some(v)) = self.values.remove(key) {
            self.value_bytes
                .set(self.value_bytes.get().saturating_sub(v.json.len()));
        }
    }

    /// Drops everything (rows were written behind the store's back).
    pub fn clear(&self) {
        self.subscribed.clear();
        self.values.clear();
        self.value_bytes.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_respect_expiry_and_bounds() {
        let c = ReadCache::default();
        assert_eq!(c.value("k", 0), None);
        c.note_value("k", Some(("1", Some(10))));
        assert_eq!(c.value("k", 9), Some(Some("1".to_owned())));
        assert_eq!(c.value("k", 10), Some(None), "expired: known to have none");
        c.note_value("k", None);
        assert_eq!(c.value("k", 0), Some(None));
        c.note_value("big", Some((&"x".repeat(MAX_VALUE_BYTES + 1), None)));
        assert_eq!(c.value("big", 0), None, "too long to keep");
        for i in 0..MAX_ENTRIES + 1 {
            c.note_value(&format!("k{i}"), Some(("1", None)));
        }
        assert!(c.values.len() <= MAX_ENTRIES);
        c.forget_value("k0");
        assert_eq!(c.value("k0", 0), None);
    }

    #[test]
    fn value_bytes_track_replacements() {
        let c = ReadCache::default();
        c.note_value("a", Some(("12345", None)));
        c.note_value("a", Some(("12", None)));
        assert_eq!(c.value_bytes.get(), 2);
        c.note_value("a", None);
        assert_eq!(c.value_bytes.get(), 0);
        c.note_value("a", Some(("123", None)));
        c.forget_value("a");
        assert_eq!(c.value_bytes.get(), 0);
    }
}
