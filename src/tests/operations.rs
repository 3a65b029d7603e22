// Compiled only for tests (`#[cfg(test)] mod tests;` in lib.rs).
//! Native tests of the store over real SQLite (rusqlite), with an explicit clock.

use crate::base::db::{Database, QueryExt};
use crate::base::error::Error;
use crate::base::schema;
use crate::base::store::Store;
use crate::model::expiry::{MIN_SWEEP_INTERVAL_MS, SWEEP_BATCH_ROWS};
use crate::model::lists::AppendOptions;
use crate::platform::native_db::NativeDb;

const T0: i64 = 1_800_000_000_000;

fn store() -> Store<NativeDb> {
    Store::open(NativeDb::open_in_memory(), None, T0).unwrap()
}

fn count(store: &Store<NativeDb>, table: &str) -> i64 {
    store
        .db
        .query_int(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()
        .unwrap()
}

fn opts(max_length: Option<f64>, ttl_ms: Option<f64>) -> AppendOptions {
    AppendOptions { max_length, ttl_ms }
}

/// Runs alarm invocations at `now` until the sweep is done, like the wasm layer does.
fn sweep(store: &Store<NativeDb>, now: i64) -> i64 {
    store.begin_sweep();
    let mut deleted = 0;
    loop {
        let batch = store.sweep_batch(now).unwrap();
        deleted += batch.rows_deleted;
        if !batch.budget_exhausted {
            break;
        }
    }
    store.finish_sweep(now, false).unwrap();
    deleted
}

#[test]
fn subscriptions_are_a_set() {
    let s = store();
    assert!(!s.is_subscribed("t1").unwrap());
    s.subscribe("t1").unwrap();
    s.subscribe("t1").unwrap();
    assert!(s.is_subscribed("t1").unwrap());
    assert_eq!(count(&s, "subscriptions"), 1);
    s.unsubscribe("t1").unwrap();
    s.unsubscribe("t1").unwrap();
    assert!(!s.is_subscribed("t1").unwrap());
}

#[test]
fn lock_lifecycle() {
    let s = store();
    let lock = s
        .acquire_lock("t", 30_000.0, None, None, T0)
        .unwrap()
        .unwrap();
    assert_eq!(lock.expires_at, T0 + 30_000);
    assert!(s
        .acquire_lock("t", 30_000.0, None, None, T0 + 1)
        .unwrap()
        .is_none());
    // Wrong token: no-op.
    s.release_lock("t", "cfdo_wrong").unwrap();
    assert!(s
        .acquire_lock("t", 30_000.0, None, None, T0 + 2)
        .unwrap()
        .is_none());
    assert!(s
        .extend_lock("t", &lock.token, 30_000.0, T0 + 10_000)
        .unwrap());
    assert!(!s
        .extend_lock("t", "cfdo_wrong", 30_000.0, T0 + 10_000)
        .unwrap());
    // Extended: still held at the old deadline.
    assert!(s
        .acquire_lock("t", 30_000.0, None, None, T0 + 30_000)
        .unwrap()
        .is_none());
    s.release_lock("t", &lock.token).unwrap();
    let again = s
        .acquire_lock("t", 30_000.0, None, None, T0 + 30_001)
        .unwrap()
        .unwrap();
    assert_ne!(again.token, lock.token);
}

#[test]
fn expired_lock_never_blocks_and_is_never_extended() {
    let s = store();
    let old = s
        .acquire_lock("t", 1_000.0, None, None, T0)
        .unwrap()
        .unwrap();
    assert!(!s.extend_lock("t", &old.token, 1_000.0, T0 + 1_000).unwrap());
    let new = s
        .acquire_lock("t", 1_000.0, None, None, T0 + 1_000)
        .unwrap()
        .unwrap();
    // The old holder's release and extend touch nothing.
    s.release_lock("t", &old.token).unwrap();
    assert!(!s.extend_lock("t", &old.token, 1_000.0, T0 + 1_001).unwrap());
    assert!(s
        .acquire_lock("t", 1_000.0, None, None, T0 + 1_001)
        .unwrap()
        .is_none());
    assert!(s.extend_lock("t", &new.token, 1_000.0, T0 + 1_001).unwrap());
}

#[test]
fn extend_never_creates() {
    let s = store();
    assert!(!s.extend_lock("t", "cfdo_x", 1_000.0, T0).unwrap());
    assert_eq!(count(&s, "locks"), 0);
}

#[test]
fn force_release_makes_old_release_a_no_op() {
    let s = store();
    let old = s
        .acquire_lock("t", 60_000.0, None, None, T0)
        .unwrap()
        .unwrap();
    s.force_release_lock("t").unwrap();
    s.force_release_lock("t").unwrap();
    let new = s
        .acquire_lock("t", 60_000.0, None, None, T0)
        .unwrap()
        .unwrap();
    s.release_lock("t", &old.token).unwrap();
    assert!(s
        .acquire_lock("t", 60_000.0, None, None, T0)
        .unwrap()
        .is_none());
    s.release_lock("t", &new.token).unwrap();
    assert_eq!(count(&s, "locks"), 0);
}

#[test]
fn cache_ttl_is_strict() {
    let s = store();
    s.set("k", "{\"a\":1}", Some(1_000.0), T0).unwrap();
    assert_eq!(s.get("k", T0 + 999).unwrap().as_deref(), Some("{\"a\":1}"));
    assert_eq!(s.get("k", T0 + 1_000).unwrap(), None);
    // The row is still there until swept, but invisible.
    assert_eq!(count(&s, "cache"), 1);
    s.set("forever", "1", None, T0).unwrap();
    s.set("zero", "1", Some(0.0), T0).unwrap();
    assert!(s.get("forever", T0 + 10_i64.pow(12)).unwrap().is_some());
    assert!(s.get("zero", T0 + 10_i64.pow(12)).unwrap().is_some());
}

#[test]
fn set_overwrites_and_resets_ttl() {
    let s = store();
    s.set("k", "1", Some(1_000.0), T0).unwrap();
    s.set("k", "2", None, T0 + 500).unwrap();
    assert_eq!(s.get("k", T0 + 5_000).unwrap().as_deref(), Some("2"));
    s.delete("k").unwrap();
    s.delete("k").unwrap();
    assert_eq!(s.get("k", T0).unwrap(), None);
}

#[test]
fn set_if_not_exists_treats_expired_as_absent() {
    let s = store();
    assert!(s
        .set_if_not_exists("d", "true", Some(600_000.0), None, T0)
        .unwrap());
    assert!(!s
        .set_if_not_exists("d", "false", Some(600_000.0), None, T0 + 1)
        .unwrap());
    assert_eq!(s.get("d", T0 + 1).unwrap().as_deref(), Some("true"));
    assert!(s
        .set_if_not_exists("d", "\"new\"", None, None, T0 + 600_000)
        .unwrap());
    assert_eq!(
        s.get("d", T0 + 10_i64.pow(10)).unwrap().as_deref(),
        Some("\"new\"")
    );
    // Without TTL, a value blocks forever.
    assert!(!s
        .set_if_not_exists("d", "1", None, None, T0 + 10_i64.pow(10))
        .unwrap());
}

#[test]
fn lists_append_trim_and_keep_expiry() {
    let s = store();
    for i in 0..5 {
        s.append_to_list(
            "l",
            &i.to_string(),
            opts(Some(3.0), Some(10_000.0)),
            None,
            T0 + i,
        )
        .unwrap();
    }
    assert_eq!(s.get_list("l", T0 + 5).unwrap(), "[2,3,4]");
    assert_eq!(count(&s, "list_items"), 3);
    // No TTL keeps the existing expiry (T0 + 4 + 10_000).
    s.append_to_list("l", "5", opts(Some(3.0), None), None, T0 + 9_000)
        .unwrap();
    assert_eq!(s.get_list("l", T0 + 10_003).unwrap(), "[3,4,5]");
    assert_eq!(s.get_list("l", T0 + 10_004).unwrap(), "[]");
    // An expired list starts fresh, without TTL now.
    s.append_to_list("l", "6", opts(None, None), None, T0 + 20_000)
        .unwrap();
    assert_eq!(s.get_list("l", T0 + 10_i64.pow(10)).unwrap(), "[6]");
    assert_eq!(s.get_list("missing", T0).unwrap(), "[]");
}

#[test]
fn list_append_cost_is_independent_of_length() {
    let s = store();
    for i in 0..100 {
        s.append_to_list(
            "l",
            &i.to_string(),
            opts(Some(100.0), Some(1e9)),
            None,
            T0 + i,
        )
        .unwrap();
    }
    let before = s.row_counts().written;
    s.append_to_list("l", "100", opts(Some(100.0), Some(1e9)), None, T0 + 200)
        .unwrap();
    // Table rows changed: one item inserted (carrying the list's new expiry), one trimmed. The
    // `lists` row's bound is still ahead of the new deadline: not rewritten.
    assert_eq!(s.row_counts().written - before, 2);
    assert_eq!(count(&s, "list_items"), 100);
}

#[test]
fn a_list_bound_is_rewritten_once_per_slack_and_expiry_stays_exact() {
    let s = store();
    let ttl = 40_000; // slack: a quarter, 10 s
    let bound = |s: &Store<NativeDb>| {
        s.db.query_int("SELECT expires_at FROM lists WHERE list_key = 'l'", &[])
            .unwrap()
    };
    s.append_to_list("l", "0", opts(Some(3.0), Some(ttl as f64)), None, T0)
        .unwrap();
    assert_eq!(bound(&s), Some(T0 + ttl + 10_000));
    let mut rewrites = 0;
    let mut last = bound(&s);
    // One append a second for 60 s: the deadline passes the bound every 11 s.
    for i in 1..=60 {
        let before = s.row_counts().written;
        s.append_to_list(
            "l",
            &i.to_string(),
            opts(Some(3.0), Some(ttl as f64)),
            None,
            T0 + i * 1_000,
        )
        .unwrap();
        let written = s.row_counts().written - before;
        if bound(&s) != last {
            rewrites += 1;
            last = bound(&s);
        } else {
            let trimmed = u64::from(i >= 3);
            assert_eq!(
                written,
                1 + trimmed,
                "append {i}: the item and the trimmed oldest"
            );
        }
        // Exact expiry all along: live a millisecond before now + ttl, gone at it.
        let deadline = T0 + i * 1_000 + ttl;
        let kept: Vec<String> = ((i - 2).max(0)..=i).map(|n| n.to_string()).collect();
        assert_eq!(
            s.get_list("l", deadline - 1).unwrap(),
            format!("[{}]", kept.join(","))
        );
        assert_eq!(s.get_list("l", deadline).unwrap(), "[]");
        assert!(
            bound(&s).unwrap() >= deadline,
            "the bound never falls behind the expiry"
        );
    }
    // At appends 11, 22, 33, 44 and 55: the deadline must pass the bound, set 10 s ahead of it.
    assert_eq!(rewrites, 5, "once per slack over 60 s");
    // An append without a TTL keeps the exact expiry (T0 + 60 s + ttl).
    s.append_to_list("l", r#""x""#, opts(Some(3.0), None), None, T0 + 61_000)
        .unwrap();
    assert_eq!(
        s.get_list("l", T0 + 60_000 + ttl - 1).unwrap(),
        r#"[59,60,"x"]"#
    );
    assert_eq!(s.get_list("l", T0 + 60_000 + ttl).unwrap(), "[]");
    // A shorter TTL shortens the exact expiry; the bound stays above it.
    s.append_to_list(
        "l",
        r#""y""#,
        opts(Some(3.0), Some(1_000.0)),
        None,
        T0 + 62_000,
    )
    .unwrap();
    assert_eq!(s.get_list("l", T0 + 62_999).unwrap(), r#"[60,"x","y"]"#);
    assert_eq!(s.get_list("l", T0 + 63_000).unwrap(), "[]");
    // Expired at its exact expiry, swept once its bound has passed.
    let at_bound = bound(&s).unwrap();
    assert_eq!(sweep(&s, at_bound - 1), 0);
    assert_eq!(sweep(&s, at_bound), 3 + 1);
    assert_eq!(count(&s, "list_items") + count(&s, "lists"), 0);
}

#[test]
fn lists_written_before_layout_4_keep_their_exact_expiry() {
    let s = store();
    // As a layout-3 build left them: items without an expiry, the exact one in `lists`.
    s.db.exec_script(&format!(
        "INSERT INTO lists VALUES ('old', {});
         INSERT INTO list_items (list_key, seq, value) VALUES ('old', 0, '1'), ('old', 1, '2');",
        T0 + 5_000
    ))
    .unwrap();
    assert_eq!(s.get_list("old", T0 + 4_999).unwrap(), "[1,2]");
    assert_eq!(s.get_list("old", T0 + 5_000).unwrap(), "[]");
    // An append without a TTL keeps that expiry, now on its item.
    s.append_to_list("old", "3", opts(None, None), None, T0 + 1_000)
        .unwrap();
    assert_eq!(s.get_list("old", T0 + 4_999).unwrap(), "[1,2,3]");
    assert_eq!(s.get_list("old", T0 + 5_000).unwrap(), "[]");
    // Sweeping at the old exact expiry deletes it (the bound was exact).
    assert_eq!(sweep(&s, T0 + 5_000), 3 + 1);
}

#[test]
fn lists_and_cache_are_separate_key_spaces() {
    let s = store();
    s.set("k", "1", None, T0).unwrap();
    s.append_to_list("k", "2", opts(None, None), None, T0)
        .unwrap();
    s.delete("k").unwrap();
    assert_eq!(s.get_list("k", T0).unwrap(), "[2]");
}

#[test]
fn queue_is_fifo_and_drops_oldest() {
    let s = store();
    let far = (T0 + 90_000) as f64;
    for i in 0..4 {
        let depth = s
            .enqueue(
                "t",
                &format!("{{\"n\":{i}}}"),
                far,
                Some(3.0),
                None,
                None,
                T0,
            )
            .unwrap();
        assert_eq!(depth, (i + 1).min(3));
    }
    assert_eq!(s.queue_depth("t", None, T0).unwrap(), 3);
    assert_eq!(
        s.dequeue("t", None, None, T0).unwrap().entry().as_deref(),
        Some("{\"n\":1}")
    );
    assert_eq!(
        s.dequeue("t", None, None, T0).unwrap().entry().as_deref(),
        Some("{\"n\":2}")
    );
    assert_eq!(
        s.dequeue("t", None, None, T0).unwrap().entry().as_deref(),
        Some("{\"n\":3}")
    );
    assert_eq!(s.dequeue("t", None, None, T0).unwrap().entry(), None);
    assert_eq!(s.queue_depth("other", None, T0).unwrap(), 0);
    // maxSize 0 means unlimited.
    for _ in 0..20 {
        s.enqueue("u", "1", far, Some(0.0), None, None, T0).unwrap();
    }
    assert_eq!(s.queue_depth("u", None, T0).unwrap(), 20);
}

#[test]
fn expired_queue_entries_are_skipped() {
    let s = store();
    s.enqueue("t", "\"old\"", (T0 + 10) as f64, Some(10.0), None, None, T0)
        .unwrap();
    s.enqueue(
        "t",
        "\"new\"",
        (T0 + 1_000) as f64,
        Some(10.0),
        None,
        None,
        T0,
    )
    .unwrap();
    assert_eq!(s.queue_depth("t", None, T0 + 10).unwrap(), 1);
    assert_eq!(
        s.dequeue("t", None, None, T0 + 10)
            .unwrap()
            .entry()
            .as_deref(),
        Some("\"new\"")
    );
}

#[test]
fn bad_input_writes_nothing() {
    let s = store();
    let huge = "x".repeat(crate::base::validate::MAX_VALUE_BYTES + 1);
    let cases: Vec<Box<dyn Fn() -> Result<(), Error>>> = vec![
        Box::new(|| s.set("", "1", None, T0)),
        Box::new(|| s.set("k", &huge, None, T0)),
        Box::new(|| s.set("k", "1", Some(f64::NAN), T0)),
        Box::new(|| s.set("k", "1", Some(-5.0), T0)),
        Box::new(|| {
            s.set_if_not_exists("k", "1", Some(f64::INFINITY), None, T0)
                .map(drop)
        }),
        Box::new(|| s.acquire_lock("t", 0.0, None, None, T0).map(drop)),
        Box::new(|| s.append_to_list("l", "1", opts(Some(1.5), None), None, T0)),
        Box::new(|| s.append_to_list("l", "1", opts(Some(-1.0), None), None, T0)),
        Box::new(|| s.append_to_list("l", &huge, opts(None, None), None, T0)),
        Box::new(|| {
            s.enqueue("q", "1", f64::NAN, Some(1.0), None, None, T0)
                .map(drop)
        }),
        Box::new(|| {
            s.enqueue("q", "1", 1e20, Some(1.0), None, None, T0)
                .map(drop)
        }),
        Box::new(|| {
            s.enqueue("q", "1", 1.0, Some(0.5), None, None, T0)
                .map(drop)
        }),
        Box::new(|| s.subscribe("a\0b")),
    ];
    for case in &cases {
        let err = case().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }
    for table in [
        "cache",
        "locks",
        "lists",
        "list_items",
        "queue_entries",
        "subscriptions",
    ] {
        assert_eq!(count(&s, table), 0, "{table}");
    }
    assert_eq!(s.take_alarm_request(), None);
}

#[test]
fn failed_transaction_rolls_back() {
    let s = store();
    s.append_to_list("l", "1", opts(None, Some(1_000.0)), None, T0)
        .unwrap();
    let result = s.db.transaction(&mut || {
        s.db.exec("DELETE FROM list_items", &[])?;
        Err::<(), _>(Error::storage("injected"))
    });
    assert!(result.is_err());
    assert_eq!(s.get_list("l", T0).unwrap(), "[1]");
}

// ---- expiry --------------------------------------------------------------------------------

#[test]
fn alarm_moves_only_for_an_earlier_cache_or_list_deadline() {
    let s = store();
    s.set("a", "1", Some(600_000.0), T0).unwrap();
    assert_eq!(s.take_alarm_request(), Some(T0 + 600_000));
    // Later deadline: nothing to do.
    s.set_if_not_exists("b", "1", Some(600_000.0), None, T0 + 1)
        .unwrap();
    assert_eq!(s.take_alarm_request(), None);
    // Earlier: move.
    s.append_to_list("l", "1", opts(None, Some(1_000.0)), None, T0 + 2)
        .unwrap();
    // (at the list's bound: its deadline plus a quarter of its TTL, see `lists`)
    assert_eq!(s.take_alarm_request(), Some(T0 + 1_002 + 250));
    // Locks and queue entries never pull an armed alarm in.
    s.acquire_lock("t", 10.0, None, None, T0 + 3)
        .unwrap()
        .unwrap();
    s.enqueue("q", "1", (T0 + 20) as f64, Some(1.0), None, None, T0 + 3)
        .unwrap();
    assert_eq!(s.take_alarm_request(), None);
    assert_eq!(s.armed_alarm(), Some(T0 + 1_252));
}

#[test]
fn a_lock_arms_the_alarm_when_none_is_armed() {
    let s = store();
    s.acquire_lock("t", 30_000.0, None, None, T0)
        .unwrap()
        .unwrap();
    assert_eq!(s.take_alarm_request(), Some(T0 + 30_000));
}

#[test]
fn sweep_deletes_only_expired_rows_and_rearms() {
    let s = store();
    s.set("dead", "1", Some(1_000.0), T0).unwrap();
    s.set("live", "1", Some(100_000.0), T0).unwrap();
    s.set("forever", "1", None, T0).unwrap();
    s.acquire_lock("dead-lock", 1_000.0, None, None, T0)
        .unwrap();
    s.acquire_lock("live-lock", 100_000.0, None, None, T0)
        .unwrap();
    s.enqueue("q", "\"dead\"", (T0 + 1_000) as f64, None, None, None, T0)
        .unwrap();
    s.enqueue("q", "\"live\"", (T0 + 100_000) as f64, None, None, None, T0)
        .unwrap();
    for i in 0..5 {
        s.append_to_list(
            "dead-list",
            &i.to_string(),
            opts(None, Some(1_000.0)),
            None,
            T0,
        )
        .unwrap();
        s.append_to_list(
            "live-list",
            &i.to_string(),
            opts(None, Some(200_000.0)),
            None,
            T0,
        )
        .unwrap();
    }
    // The dead list reads as expired from its exact expiry on...
    assert_eq!(s.get_list("dead-list", T0 + 999).unwrap(), "[0,1,2,3,4]");
    assert_eq!(s.get_list("dead-list", T0 + 1_000).unwrap(), "[]");
    // ...and is swept once its bound (a quarter of its TTL later) has passed.
    let now = T0 + 1_250;
    assert_eq!(sweep(&s, now), 1 + 1 + 1 + 5 + 1);
    assert_eq!(count(&s, "cache"), 2);
    assert_eq!(count(&s, "locks"), 1);
    assert_eq!(count(&s, "queue_entries"), 1);
    assert_eq!(count(&s, "lists"), 1);
    assert_eq!(count(&s, "list_items"), 5);
    assert_eq!(s.get("live", now).unwrap().as_deref(), Some("1"));
    assert_eq!(s.get_list("live-list", now).unwrap(), "[0,1,2,3,4]");
    // Next alarm: the earliest remaining deadline (live value, live lock, live entry).
    assert_eq!(s.take_alarm_request(), Some(T0 + 100_000));
}

#[test]
fn sweep_rearms_no_sooner_than_the_interval() {
    let s = store();
    s.set("a", "1", Some(1_000.0), T0).unwrap();
    s.set("b", "1", Some(1_001.0), T0).unwrap();
    assert_eq!(sweep(&s, T0 + 1_000), 1);
    assert_eq!(
        s.take_alarm_request(),
        Some(T0 + 1_000 + MIN_SWEEP_INTERVAL_MS)
    );
}

#[test]
fn sweep_with_nothing_left_disarms() {
    let s = store();
    s.set("a", "1", Some(1_000.0), T0).unwrap();
    s.take_alarm_request();
    sweep(&s, T0 + 1_000);
    assert_eq!(s.take_alarm_request(), None);
    assert_eq!(s.armed_alarm(), None);
}

#[test]
fn sweep_runs_in_bounded_batches() {
    let s = store();
    let n = SWEEP_BATCH_ROWS * 2 + 10;
    for i in 0..n {
        s.set(&format!("k{i}"), "1", Some(1_000.0), T0).unwrap();
    }
    for i in 0..(SWEEP_BATCH_ROWS + 5) {
        s.append_to_list("big", &i.to_string(), opts(None, Some(1_000.0)), None, T0)
            .unwrap();
    }
    s.begin_sweep();
    // (at the list's bound, a quarter of its TTL past its expiry, the list is swept too)
    let first = s.sweep_batch(T0 + 1_250).unwrap();
    assert_eq!(first.rows_deleted, SWEEP_BATCH_ROWS);
    assert!(first.budget_exhausted);
    // Stopping with work left re-arms immediately.
    s.finish_sweep(T0 + 1_250, true).unwrap();
    assert_eq!(s.take_alarm_request(), Some(T0 + 1_250));
    let rest = sweep(&s, T0 + 1_250);
    assert_eq!(first.rows_deleted + rest, n + SWEEP_BATCH_ROWS + 5 + 1);
    assert_eq!(
        count(&s, "cache") + count(&s, "list_items") + count(&s, "lists"),
        0
    );
}

#[test]
fn open_arms_an_alarm_for_existing_deadlines() {
    let db = NativeDb::open_in_memory();
    let s = Store::open(db, None, T0).unwrap();
    s.set("a", "1", Some(5_000.0), T0).unwrap();
    let Store { db, .. } = s;
    // Restart with no alarm armed (lost): open requests one.
    let s = Store::open(db, None, T0 + 1).unwrap();
    assert_eq!(s.take_alarm_request(), Some(T0 + 5_000));
    let Store { db, .. } = s;
    // Restart with one armed: trusted.
    let s = Store::open(db, Some(T0 + 5_000), T0 + 2).unwrap();
    assert_eq!(s.take_alarm_request(), None);
}

// ---- schema --------------------------------------------------------------------------------

#[test]
fn upgrades_the_0_1_x_schema_keeping_rows() {
    let db = NativeDb::open_in_memory();
    db.exec_script(schema::V1_SCHEMA_FOR_TESTS).unwrap();
    db.exec_script(&format!(
        "INSERT INTO subscriptions VALUES ('slack:C1:1');
         INSERT INTO locks VALUES ('slack:C1:1', 'tok', {});
         INSERT INTO cache VALUES ('thread-state:x', '{{\"a\":1}}', NULL);
         INSERT INTO cache VALUES ('dedupe:x', 'true', {});",
        T0 + 30_000,
        T0 + 600_000
    ))
    .unwrap();
    let s = Store::open(db, None, T0).unwrap();
    assert_eq!(
        schema::stored_version(&s.db).unwrap(),
        schema::CURRENT_VERSION
    );
    assert!(s.is_subscribed("slack:C1:1").unwrap());
    assert!(s
        .acquire_lock("slack:C1:1", 1_000.0, None, None, T0)
        .unwrap()
        .is_none());
    s.release_lock("slack:C1:1", "tok").unwrap();
    assert_eq!(
        s.get("thread-state:x", T0).unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    assert!(!s
        .set_if_not_exists("dedupe:x", "1", Some(1.0), None, T0)
        .unwrap());
    // The copied deadlines get an alarm.
    assert_eq!(s.take_alarm_request(), Some(T0 + 30_000));
    // The new tables are WITHOUT ROWID.
    let sql =
        s.db.query_text("SELECT sql FROM sqlite_master WHERE name = 'cache'", &[])
            .unwrap()
            .unwrap();
    assert!(sql.contains("WITHOUT ROWID"), "{sql}");
}

#[test]
fn reopening_is_idempotent_and_newer_schemas_are_refused() {
    let s = store();
    s.subscribe("t").unwrap();
    let Store { db, .. } = s;
    let s = Store::open(db, None, T0).unwrap();
    assert!(s.is_subscribed("t").unwrap());
    s.db.exec_script("INSERT INTO _schema_version VALUES (99)")
        .unwrap();
    let Store { db, .. } = s;
    let err = Store::open(db, None, T0).err().unwrap();
    assert!(err.to_string().contains("version 99"), "{err}");
}

// ---- README snippets -----------------------------------------------------------------------

/// The text between `<!-- NAME:start -->` + a fence line and the closing fence.
fn readme_block<'a>(readme: &'a str, name: &str) -> &'a str {
    let start = readme
        .find(&format!("<!-- {name}:start -->"))
        .expect("start marker");
    let body = &readme[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let body = &body[body.find('\n').unwrap() + 1..]; // the opening fence
    &body[..body.find("```\n<!--").expect("closing fence")]
}

#[test]
fn readme_snippets_are_the_tested_example() {
    let readme = include_str!("../../README.md");
    assert_eq!(
        readme_block(readme, "usage"),
        include_str!("../../examples/bot/src/index.ts"),
        "README's Usage block must equal examples/bot/src/index.ts"
    );
    assert_eq!(
        readme_block(readme, "wrangler-jsonc"),
        include_str!("../../examples/bot/wrangler.jsonc"),
        "README's wrangler.jsonc block must equal examples/bot/wrangler.jsonc"
    );
}
