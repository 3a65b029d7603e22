//! What "live" means for a row of a unit during re-sharding: the one definition that
//! `Store::holds` (admission: does this object own R?), `Store::collect_unit` (what moves), the
//! drain's scans (what is left to move) and the import's overlap check (would two owners' rows
//! meet?) all use. docs/resharding.md, "Spec: units", states it.
//!
//! Each is the reads' own test, so a row is live here exactly when a read would return it:
//! - a subscription is always live (it has no expiry);
//! - a lock is live while `expires_at > now`;
//! - a queue row (an entry, or a taken/dropped entry's receipt) while
//!   `COALESCE(retain_until, expires_at) > now`;
//! - a cache row while it has no expiry or `expires_at > now`;
//! - a list is live when it has an item and its *exact* expiry (its newest item's, see `lists`)
//!   is absent or later than `now`; every item of a live list is live, no item of an expired one
//!   is. A `lists` row with no item is not a list.
//!
//! Before this module `holds` counted a list's items with no expiry test while `collect_unit`
//! skipped expired lists, so a unit whose only rows were an expired list was "held" by its
//! previous home (which served it) and "empty" to its new home (which served it too): two owners.

use crate::model::lists::list_expiry_sql;

/// The condition on a `locks` row; `now` is the SQL parameter holding the time (`"?2"`).
pub(crate) fn lock(now: &str) -> String {
    format!("expires_at > {now}")
}

/// The condition on a `queue_entries` row.
pub(crate) fn queue_row(now: &str) -> String {
    format!("COALESCE(retain_until, expires_at) > {now}")
}

/// The condition on a `cache` row.
pub(crate) fn cache(now: &str) -> String {
    format!("(expires_at IS NULL OR expires_at > {now})")
}

/// The condition that the list whose key is the SQL expression `key` is live, given that it has
/// an item (the caller's query is over `list_items`, or tests for one).
pub(crate) fn list_with_items(key: &str, now: &str) -> String {
    format!("COALESCE({} > {now}, 1)", list_expiry_sql(key))
}

/// The condition that the list whose key is the SQL expression `key` is live.
pub(crate) fn list(key: &str, now: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM list_items WHERE list_key = {key}) AND {})",
        list_with_items(key, now)
    )
}
