//! What the native tests share: the clock they start at, a fresh object over in-memory SQLite,
//! its re-open, request ids, the alarm's sweep, and the readings of its rows (counts, a full
//! snapshot, the schema version). One copy of each, so that every test sets the store up and
//! reads it back the same way.

use crate::base::db::Database;
use crate::base::store::Store;
use crate::platform::native_db::NativeDb;

/// The time every test starts at (any fixed instant: the store takes `now` from its caller).
pub(super) const T0: i64 = 1_800_000_000_000;

/// A fresh object over an empty in-memory database, opened at `T0` with no alarm armed.
pub(super) fn store() -> Store<NativeDb> {
    Store::open(NativeDb::open_in_memory(), None, T0).unwrap()
}

/// Every row of every data table, in key order: compared before and after a call that must not
/// write (SQLite's change counter would also count changes a rollback undid).
pub(super) fn snapshot(s: &Store<NativeDb>) -> String {
    let mut out = String::new();
    for (table, order) in [
        ("subscriptions", "thread_id"),
        ("locks", "thread_id"),
        ("cache", "key"),
        ("lists", "list_key"),
        ("list_items", "list_key, seq"),
        ("queue_entries", "queue_key, seq"),
    ] {
        let rows =
            s.db.exec(&format!("SELECT * FROM {table} ORDER BY {order}"), &[])
                .unwrap();
        out.push_str(&format!("{table}: {rows:?}\n"));
    }
    out
}
