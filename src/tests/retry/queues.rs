//! Native tests of retried queue calls: an enqueue retried answers its first depth wherever the
//! entry went, a dequeue retried gets the same entry, receipts go after their window, and new
//! entries land above any number of them.

use crate::base::db::{Database, QueryExt};
use crate::base::store::Store;
use crate::guarantees::idempotency::{Attempt, RECEIPT_WINDOW_MS};
use crate::platform::native_db::NativeDb;
use crate::tests::support::{again, first, reopen, snapshot, store, T0};

use super::{R1, R2};

/// A dequeue from queue `q` with no holder named: the entry it answered, if any.
fn take(s: &Store<NativeDb>, attempt: Option<Attempt<'_>>, now: i64) -> Option<String> {
    s.dequeue("q", attempt, None, now).unwrap().entry()
}

/// An enqueue to queue `q` of an entry expiring far ahead, with maxSize 2: the depth answered.
fn enqueue_max_2(s: &Store<NativeDb>, json: &str, attempt: Option<Attempt<'_>>, now: i64) -> u32 {
    s.enqueue(
        "q",
        json,
        (T0 + 90_000) as f64,
        Some(2.0),
        attempt,
        None,
        now,
    )
    .unwrap()
}

#[test]
fn enqueue_retry_answers_the_first_depth_wherever_the_entry_went() {
    let s = store();
    assert_eq!(enqueue_max_2(&s, "\"a\"", first(R1), T0), 1);
    // Still queued, with another entry behind it.
    assert_eq!(enqueue_max_2(&s, "\"b\"", first(R2), T0 + 1), 2);
    let before = snapshot(&s);
    let s = reopen(s, T0 + 2);
    assert_eq!(enqueue_max_2(&s, "\"a\"", again(R1), T0 + 3), 1);
    assert_eq!(snapshot(&s), before);
    // Dropped by maxSize: two more push "a" out; its retry still does not add it back.
    enqueue_max_2(&s, "\"c\"", first("r3r3r3r3r3r3r3r3"), T0 + 4);
    assert_eq!(s.queue_depth("q", None, T0 + 4).unwrap(), 2);
    assert_eq!(enqueue_max_2(&s, "\"a\"", again(R1), T0 + 5), 1);
    assert_eq!(s.queue_depth("q", None, T0 + 5).unwrap(), 2);
    // Taken: "b" is dequeued, then its enqueue is retried.
    assert_eq!(
        take(&s, first("d1d1d1d1d1d1d1d1"), T0 + 6).as_deref(),
        Some("\"b\"")
    );
    assert_eq!(enqueue_max_2(&s, "\"b\"", again(R2), T0 + 7), 2);
    assert_eq!(s.queue_depth("q", None, T0 + 7).unwrap(), 1);
    assert_eq!(
        take(&s, first("d2d2d2d2d2d2d2d2"), T0 + 8).as_deref(),
        Some("\"c\"")
    );
    assert_eq!(take(&s, first("d3d3d3d3d3d3d3d3"), T0 + 9), None);
}

#[test]
fn dequeue_retry_gets_the_same_entry_and_nothing_is_lost_or_doubled() {
    let far = (T0 + 90_000) as f64;
    let s = store();
    for (i, v) in ["1", "2", "3"].iter().enumerate() {
        s.enqueue("q", v, far, None, None, None, T0 + i as i64)
            .unwrap();
    }
    let d1 = "d1d1d1d1d1d1d1d1";
    assert_eq!(take(&s, first(d1), T0 + 10).as_deref(), Some("1"));
    let before = snapshot(&s);
    let s = reopen(s, T0 + 11);
    assert_eq!(take(&s, again(d1), T0 + 12).as_deref(), Some("1"));
    assert_eq!(snapshot(&s), before);
    assert_eq!(s.queue_depth("q", None, T0 + 12).unwrap(), 2);
    let mut rest = Vec::new();
    for i in 0..3 {
        let id = format!("next{i:012}");
        rest.push(take(&s, first(&id), T0 + 13 + i));
    }
    assert_eq!(rest, vec![Some("2".into()), Some("3".into()), None]);
    // A receipt is not an entry: no query for live entries sees it.
    assert_eq!(s.inspect(T0 + 20).unwrap().queued_entries, 0);
    assert_eq!(s.inspect(T0 + 20).unwrap().retry_receipts, 2 + 1);
}

#[test]
fn receipts_are_deleted_after_their_window() {
    let far = (T0 + 3_600_000) as f64;
    let s = store();
    s.enqueue("q", "1", far, None, first(R1), None, T0).unwrap();
    take(&s, first(R2), T0 + 1);
    assert_eq!(s.take_alarm_request(), Some(T0 + 3_600_000));
    // The alarm's sweep keeps the receipt inside its window and deletes it after.
    s.begin_sweep();
    s.sweep_batch(T0 + RECEIPT_WINDOW_MS).unwrap();
    assert_eq!(s.inspect(T0).unwrap().retry_receipts, 1);
    s.begin_sweep();
    s.sweep_batch(T0 + 1 + RECEIPT_WINDOW_MS).unwrap();
    let rows =
        s.db.query_int("SELECT COUNT(*) FROM queue_entries", &[])
            .unwrap();
    assert_eq!(rows, Some(0));
    // The next enqueue on the queue deletes old receipts too.
    s.enqueue("q", "2", far, None, first("r3r3r3r3r3r3r3r3"), None, T0 + 2)
        .unwrap();
    take(&s, first("r4r4r4r4r4r4r4r4"), T0 + 3);
    s.enqueue("q", "3", far, None, None, None, T0 + 3 + RECEIPT_WINDOW_MS)
        .unwrap();
    let rows =
        s.db.query_int("SELECT COUNT(*) FROM queue_entries", &[])
            .unwrap();
    assert_eq!(rows, Some(1));
}

/// An enqueue to queue `q` of an entry expiring in an hour, first attempt of request `id`.
fn enqueue_far(s: &Store<NativeDb>, json: &str, max_size: Option<f64>, id: &str, now: i64) {
    let far = (T0 + 3_600_000) as f64;
    s.enqueue("q", json, far, max_size, first(id), None, now)
        .unwrap();
}

#[test]
fn queue_entries_land_above_many_receipts_whatever_the_sweep_deleted() {
    let s = store();
    let id = |kind: &str, i: i64| format!("{kind}{i:0>19}");
    // A busy thread: 300 messages queued and taken within the receipt window, each leaving its
    // dequeue's receipt behind.
    for i in 0..300 {
        let (e, d) = (id("e", i), id("d", i));
        enqueue_far(&s, &i.to_string(), Some(10.0), &e, T0 + i);
        let taken = take(&s, first(&d), T0 + i);
        assert_eq!(taken, Some(i.to_string()));
    }
    let receipts =
        s.db.query_int(
            "SELECT COUNT(*) FROM queue_entries WHERE taken_by IS NOT NULL",
            &[],
        )
        .unwrap();
    assert!(
        receipts.unwrap() > 250,
        "the receipts are kept: {receipts:?}"
    );
    // (How few rows they read is measured in workerd, test/costs.test.ts: the native database
    // counts no reads.)
    enqueue_far(&s, "\"x\"", Some(10.0), &id("e", 300), T0 + 300);
    assert_eq!(s.queue_depth("q", None, T0 + 300).unwrap(), 1);
    assert_eq!(
        take(&s, first(&id("d", 300)), T0 + 300).as_deref(),
        Some("\"x\"")
    );
    // A retried dequeue still finds its receipt, down among the others.
    assert_eq!(take(&s, again(&id("d", 7)), T0 + 301).as_deref(), Some("7"));
    // The sweep may delete the newest receipts first; a later entry still lands above the rest
    // and is delivered (also after a restart, which recomputes the floor).
    s.db.exec(
        "DELETE FROM queue_entries WHERE seq >= (SELECT MAX(seq) - 5 FROM queue_entries)",
        &[],
    )
    .unwrap();
    enqueue_far(&s, "\"y\"", None, &id("e", 301), T0 + 302);
    let s = reopen(s, T0 + 303);
    enqueue_far(&s, "\"z\"", None, &id("e", 302), T0 + 303);
    assert_eq!(s.queue_depth("q", None, T0 + 303).unwrap(), 2);
    assert_eq!(
        take(&s, first(&id("d", 301)), T0 + 303).as_deref(),
        Some("\"y\"")
    );
    assert_eq!(take(&s, None, T0 + 303).as_deref(), Some("\"z\""));
}
