//! What the native tests share: the clock they start at, a fresh object over in-memory SQLite,
//! its re-open, request ids, the alarm's sweep, and the readings of its rows (counts, a full
//! snapshot, the schema version). One copy of each, so that every test sets the store up and
//! reads it back the same way.

use crate::base::db::{Database, QueryExt};
use crate::base::schema;
use crate::base::store::Store;
use crate::guarantees::idempotency::Attempt;
use crate::model::lists::AppendOptions;
use crate::model::locks::Lock;
use crate::platform::native_db::NativeDb;

/// The time every test starts at (any fixed instant: the store takes `now` from its caller).
pub(super) const T0: i64 = 1_800_000_000_000;

/// A fresh object over an empty in-memory database, opened at `T0` with no alarm armed.
pub(super) fn store() -> Store<NativeDb> {
    Store::open(NativeDb::open_in_memory(), None, T0).unwrap()
}

/// Evicts and re-opens the object at `now`, its alarm lost: memory is gone, rows stay.
pub(super) fn reopen(s: Store<NativeDb>, now: i64) -> Store<NativeDb> {
    let Store { db, .. } = s;
    Store::open(db, None, now).unwrap()
}

/// A first attempt with this request id (or lock token).
pub(super) fn first(id: &str) -> Option<Attempt<'_>> {
    Some(Attempt::first(id))
}

/// A retry of the attempt with this request id (or lock token).
pub(super) fn again(id: &str) -> Option<Attempt<'_>> {
    Some(Attempt::retry(id))
}

/// The number of rows in `table`.
pub(super) fn count(s: &Store<NativeDb>, table: &str) -> i64 {
    s.db.query_int(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()
        .unwrap()
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

/// Runs alarm invocations at `now` until the sweep is done, like the wasm layer does; returns
/// the rows deleted.
pub(super) fn sweep(s: &Store<NativeDb>, now: i64) -> i64 {
    s.begin_sweep();
    let mut deleted = 0;
    loop {
        let batch = s.sweep_batch(now).unwrap();
        deleted += batch.rows_deleted;
        if !batch.budget_exhausted {
            break;
        }
    }
    s.finish_sweep(now, false).unwrap();
    deleted
}

/// The object's database is at this build's schema version.
pub(super) fn assert_current_schema(s: &Store<NativeDb>) {
    assert_eq!(
        schema::stored_version(&s.db).unwrap(),
        schema::CURRENT_VERSION
    );
}

/// A list append's options.
pub(super) fn opts(max_length: Option<f64>, ttl_ms: Option<f64>) -> AppendOptions {
    AppendOptions { max_length, ttl_ms }
}

/// An acquire of `key`'s lock with a token the object draws (no patience declared).
pub(super) fn acquire(s: &Store<NativeDb>, key: &str, ttl_ms: f64, now: i64) -> Option<Lock> {
    s.acquire_lock(key, ttl_ms, None, None, now).unwrap()
}

/// An append to `key`'s list without a request id.
pub(super) fn append(s: &Store<NativeDb>, key: &str, json: &str, options: AppendOptions, now: i64) {
    s.append_to_list(key, json, options, None, now).unwrap()
}
