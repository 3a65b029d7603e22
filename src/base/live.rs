//! The live-row rule, stated once: what "live" means for a row of each table. The reads (`cache`,
//! `lists`, `queues`, `inspect`), the sweep (`expiry`: what is dead) and re-sharding —
//! `Store::holds` (admission: does this object own R?), the unit's collection (what moves), the
//! drain's scans (what is left to move) and the import's overlap check (would two owners' rows
//! meet?) — all take their SQL from here. docs/resharding.md, "Spec: units", states it in prose.
//!
//! A row is live exactly when a read would return it:
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

/// SQL for the exact expiry of the list whose key is the parameter `key` (e.g. `"?1"`): its
/// newest item's, or — for items written before layout 4, which carry none — its `lists` row's.
/// `COALESCE` evaluates its second argument only when the first is NULL, so a list written by
/// this build costs one row read (the newest item) for it.
pub(crate) fn list_expiry(key: &str) -> String {
    format!(
        "COALESCE((SELECT expires_at FROM list_items WHERE list_key = {key} ORDER BY seq DESC LIMIT 1),
                  (SELECT expires_at FROM lists WHERE list_key = {key}))"
    )
}

/// The condition on a `locks` row; `now` is the SQL parameter holding the time (`"?2"`).
pub(crate) fn lock(now: &str) -> String {
    format!("expires_at > {now}")
}

/// When a `queue_entries` row dies: an entry at its `expires_at`, a receipt (a taken or dropped
/// entry, kept for retries) at the end of its window, `retain_until`.
pub(crate) const QUEUE_ROW_DEADLINE: &str = "COALESCE(retain_until, expires_at)";

/// The condition on a `queue_entries` row.
pub(crate) fn queue_row(now: &str) -> String {
    format!("{QUEUE_ROW_DEADLINE} > {now}")
}

/// The condition that a `queue_entries` row is dead: what the sweep and an enqueue's cleanup
/// delete (the negation of [`queue_row`]).
pub(crate) fn queue_row_dead(now: &str) -> String {
    format!("{QUEUE_ROW_DEADLINE} <= {now}")
}

/// The condition on a `cache` row.
pub(crate) fn cache(now: &str) -> String {
    format!("(expires_at IS NULL OR expires_at > {now})")
}

/// The condition that the list whose key is the SQL expression `key` is live, given that it has
/// an item (the caller's query is over `list_items`, or tests for one).
pub(crate) fn list_with_items(key: &str, now: &str) -> String {
    format!("COALESCE({} > {now}, 1)", list_expiry(key))
}

/// The condition that the list whose key is the SQL expression `key` is live.
pub(crate) fn list(key: &str, now: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM list_items WHERE list_key = {key}) AND {})",
        list_with_items(key, now)
    )
}
