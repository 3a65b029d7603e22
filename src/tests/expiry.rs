//! Native tests of expiry (`expiry`): when the alarm moves, what a sweep deletes, in bounded
//! batches, and how it re-arms.

use crate::base::store::Store;
use crate::model::expiry::{MIN_SWEEP_INTERVAL_MS, SWEEP_BATCH_ROWS};
use crate::platform::native_db::NativeDb;
use crate::tests::support::{acquire, append, count, opts, store, sweep, T0};

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
    append(&s, "l", "1", opts(None, Some(1_000.0)), T0 + 2);
    // (at the list's bound: its deadline plus a quarter of its TTL, see `lists`)
    assert_eq!(s.take_alarm_request(), Some(T0 + 1_002 + 250));
    // Locks and queue entries never pull an armed alarm in.
    acquire(&s, "t", 10.0, T0 + 3).unwrap();
    s.enqueue("q", "1", (T0 + 20) as f64, Some(1.0), None, None, T0 + 3)
        .unwrap();
    assert_eq!(s.take_alarm_request(), None);
    assert_eq!(s.armed_alarm(), Some(T0 + 1_252));
}

#[test]
fn a_lock_arms_the_alarm_when_none_is_armed() {
    let s = store();
    acquire(&s, "t", 30_000.0, T0).unwrap();
    assert_eq!(s.take_alarm_request(), Some(T0 + 30_000));
}

#[test]
fn sweep_deletes_only_expired_rows_and_rearms() {
    let s = store();
    s.set("dead", "1", Some(1_000.0), T0).unwrap();
    s.set("live", "1", Some(100_000.0), T0).unwrap();
    s.set("forever", "1", None, T0).unwrap();
    acquire(&s, "dead-lock", 1_000.0, T0);
    acquire(&s, "live-lock", 100_000.0, T0);
    s.enqueue("q", "\"dead\"", (T0 + 1_000) as f64, None, None, None, T0)
        .unwrap();
    s.enqueue("q", "\"live\"", (T0 + 100_000) as f64, None, None, None, T0)
        .unwrap();
    for i in 0..5 {
        append(
            &s,
            "dead-list",
            &i.to_string(),
            opts(None, Some(1_000.0)),
            T0,
        );
        append(
            &s,
            "live-list",
            &i.to_string(),
            opts(None, Some(200_000.0)),
            T0,
        );
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
        append(&s, "big", &i.to_string(), opts(None, Some(1_000.0)), T0);
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
