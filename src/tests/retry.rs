// #[cfg(test)]: compiled only for tests (declared `#[cfg(test)] mod retry_tests;` in lib.rs).
//! Native tests of retry safety (see `idempotency`): a call repeated with the same request id or
//! token after its first attempt ran answers what the first attempt answered and changes no row,
//! also across a re-open of the object (receipts live in rows, not memory).

use crate::base::db::{Database, QueryExt};
use crate::base::schema;
use crate::base::store::Store;
use crate::guarantees::idempotency::{Attempt, RECEIPT_WINDOW_MS};
use crate::model::lists::AppendOptions;
use crate::platform::native_db::NativeDb;

const T0: i64 = 1_800_000_000_000;
const TOKEN: &str = "cfdo_0123456789abcdef0123456789abcdef";
const OTHER: &str = "cfdo_ffffffffffffffffffffffffffffffff";
const R1: &str = "r1r1r1r1r1r1r1r1r1r1";
const R2: &str = "r2r2r2r2r2r2r2r2r2r2";

/// A first attempt with this id, and a retry of it.
fn first(id: &str) -> Option<Attempt<'_>> {
    Some(Attempt::first(id))
}

fn again(id: &str) -> Option<Attempt<'_>> {
    Some(Attempt::retry(id))
}

fn store() -> Store<NativeDb> {
    Store::open(NativeDb::open_in_memory(), None, T0).unwrap()
}

/// Every row of every table, to prove a retry wrote nothing.
fn snapshot(s: &Store<NativeDb>) -> String {
    [
        "subscriptions",
        "locks",
        "cache",
        "lists",
        "list_items",
        "queue_entries",
    ]
    .iter()
    .map(|t| {
        format!(
            "{t}: {:?}\n",
            s.db.exec(&format!("SELECT * FROM {t}"), &[]).unwrap()
        )
    })
    .collect()
}

/// Evicts and re-opens the object: memory is gone, rows stay.
fn reopen(s: Store<NativeDb>, now: i64) -> Store<NativeDb> {
    let Store { db, .. } = s;
    Store::open(db, None, now).unwrap()
}

fn opts(max_length: Option<f64>) -> AppendOptions {
    AppendOptions {
        max_length,
        ttl_ms: Some(60_000.0),
    }
}

#[test]
fn acquire_retry_gets_its_own_lock_back() {
    let s = store();
    let granted = s
        .acquire_lock("t", 30_000.0, first(TOKEN), None, T0)
        .unwrap()
        .unwrap();
    assert_eq!(granted.token, TOKEN);
    let before = snapshot(&s);
    let s = reopen(s, T0 + 5);
    let retry = s
        .acquire_lock("t", 30_000.0, again(TOKEN), None, T0 + 10)
        .unwrap();
    assert_eq!(retry, Some(granted.clone()), "same lock, same expiry");
    assert_eq!(snapshot(&s), before);
    // A genuine second caller is still refused.
    assert!(s
        .acquire_lock("t", 30_000.0, first(OTHER), None, T0 + 10)
        .unwrap()
        .is_none());
    // Once released, a late retry is just a late acquire.
    s.release_lock("t", TOKEN).unwrap();
    let again = s
        .acquire_lock("t", 30_000.0, again(TOKEN), None, T0 + 20)
        .unwrap()
        .unwrap();
    assert_eq!(again.expires_at, T0 + 20 + 30_000);
    // Tokens are checked like any argument.
    assert!(s.acquire_lock("u", 1.0, first("short"), None, T0).is_err());
    assert!(s
        .acquire_lock("u", 1.0, first("has space in it!!"), None, T0)
        .is_err());
}

#[test]
fn set_if_not_exists_retry_answers_true_once_written() {
    let s = store();
    assert!(s
        .set_if_not_exists("dedupe:m1", "true", Some(600_000.0), first(R1), T0)
        .unwrap());
    let before = snapshot(&s);
    let s = reopen(s, T0);
    assert!(s
        .set_if_not_exists("dedupe:m1", "true", Some(600_000.0), again(R1), T0 + 50)
        .unwrap());
    assert_eq!(snapshot(&s), before, "the retry wrote nothing");
    // A genuine duplicate (another request) and a caller without an id both get false.
    assert!(!s
        .set_if_not_exists("dedupe:m1", "true", Some(600_000.0), first(R2), T0 + 50)
        .unwrap());
    assert!(!s
        .set_if_not_exists("dedupe:m1", "true", Some(600_000.0), None, T0 + 50)
        .unwrap());
    // An overwrite by `set` clears the id: the key no longer holds what R1 wrote.
    s.set("dedupe:m1", "1", None, T0 + 60).unwrap();
    assert!(!s
        .set_if_not_exists("dedupe:m1", "true", None, again(R1), T0 + 70)
        .unwrap());
    assert!(s
        .set_if_not_exists("k", "1", None, first("bad id"), T0)
        .is_err());
}

#[test]
fn append_retry_adds_once_even_after_other_appends_and_trimming() {
    for max_length in [None, Some(100.0), Some(1.0)] {
        let s = store();
        s.append_to_list("l", "1", opts(max_length), first(R1), T0)
            .unwrap();
        for i in 0..5 {
            s.append_to_list(
                "l",
                &format!("{}", 10 + i),
                opts(max_length),
                first(&format!("other{i:016}")),
                T0 + 1 + i,
            )
            .unwrap();
        }
        // And one from a caller without ids: the history survives it.
        s.append_to_list("l", "99", opts(max_length), None, T0 + 8)
            .unwrap();
        let before = snapshot(&s);
        let s = reopen(s, T0 + 9);
        s.append_to_list("l", "1", opts(max_length), again(R1), T0 + 10)
            .unwrap();
        assert_eq!(snapshot(&s), before, "maxLength {max_length:?}");
        let list = s.get_list("l", T0 + 10).unwrap();
        let expected = match max_length {
            Some(1.0) => "[99]",
            _ => "[1,10,11,12,13,14,99]",
        };
        assert_eq!(list, expected);
    }
}

#[test]
fn append_retry_outside_the_window_appends_again() {
    // Documented: receipts last RECEIPT_WINDOW_MS; the adapter never retries that late.
    let s = store();
    s.append_to_list("l", "1", AppendOptions::default(), first(R1), T0)
        .unwrap();
    s.append_to_list(
        "l",
        "1",
        AppendOptions::default(),
        again(R1),
        T0 + RECEIPT_WINDOW_MS,
    )
    .unwrap();
    assert_eq!(s.get_list("l", T0 + RECEIPT_WINDOW_MS).unwrap(), "[1,1]");
}

#[test]
fn enqueue_retry_answers_the_first_depth_wherever_the_entry_went() {
    let far = (T0 + 90_000) as f64;
    let s = store();
    assert_eq!(
        s.enqueue("q", "\"a\"", far, Some(2.0), first(R1), None, T0)
            .unwrap(),
        1
    );
    // Still queued, with another entry behind it.
    assert_eq!(
        s.enqueue("q", "\"b\"", far, Some(2.0), first(R2), None, T0 + 1)
            .unwrap(),
        2
    );
    let before = snapshot(&s);
    let s = reopen(s, T0 + 2);
    assert_eq!(
        s.enqueue("q", "\"a\"", far, Some(2.0), again(R1), None, T0 + 3)
            .unwrap(),
        1
    );
    assert_eq!(snapshot(&s), before);
    // Dropped by maxSize: two more push "a" out; its retry still does not add it back.
    s.enqueue(
        "q",
        "\"c\"",
        far,
        Some(2.0),
        first("r3r3r3r3r3r3r3r3"),
        None,
        T0 + 4,
    )
    .unwrap();
    assert_eq!(s.queue_depth("q", None, T0 + 4).unwrap(), 2);
    assert_eq!(
        s.enqueue("q", "\"a\"", far, Some(2.0), again(R1), None, T0 + 5)
            .unwrap(),
        1
    );
    assert_eq!(s.queue_depth("q", None, T0 + 5).unwrap(), 2);
    // Taken: "b" is dequeued, then its enqueue is retried.
    assert_eq!(
        s.dequeue("q", first("d1d1d1d1d1d1d1d1"), None, T0 + 6)
            .unwrap()
            .entry()
            .as_deref(),
        Some("\"b\"")
    );
    assert_eq!(
        s.enqueue("q", "\"b\"", far, Some(2.0), again(R2), None, T0 + 7)
            .unwrap(),
        2
    );
    assert_eq!(s.queue_depth("q", None, T0 + 7).unwrap(), 1);
    assert_eq!(
        s.dequeue("q", first("d2d2d2d2d2d2d2d2"), None, T0 + 8)
            .unwrap()
            .entry()
            .as_deref(),
        Some("\"c\"")
    );
    assert_eq!(
        s.dequeue("q", first("d3d3d3d3d3d3d3d3"), None, T0 + 9)
            .unwrap()
            .entry(),
        None
    );
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
    assert_eq!(
        s.dequeue("q", first(d1), None, T0 + 10)
            .unwrap()
            .entry()
            .as_deref(),
        Some("1")
    );
    let before = snapshot(&s);
    let s = reopen(s, T0 + 11);
    assert_eq!(
        s.dequeue("q", again(d1), None, T0 + 12)
            .unwrap()
            .entry()
            .as_deref(),
        Some("1")
    );
    assert_eq!(snapshot(&s), before);
    assert_eq!(s.queue_depth("q", None, T0 + 12).unwrap(), 2);
    let mut rest = Vec::new();
    for i in 0..3 {
        let id = format!("next{i:012}");
        rest.push(
            s.dequeue("q", first(&id), None, T0 + 13 + i)
                .unwrap()
                .entry(),
        );
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
    s.dequeue("q", first(R2), None, T0 + 1).unwrap().entry();
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
    s.dequeue("q", first("r4r4r4r4r4r4r4r4"), None, T0 + 3)
        .unwrap()
        .entry();
    s.enqueue("q", "3", far, None, None, None, T0 + 3 + RECEIPT_WINDOW_MS)
        .unwrap();
    let rows =
        s.db.query_int("SELECT COUNT(*) FROM queue_entries", &[])
            .unwrap();
    assert_eq!(rows, Some(1));
}

/// The statements a layout-2 build (before request ids) runs, as it wrote them: they must keep
/// working on a layout-3 object, and must not see receipts as entries.
#[test]
fn a_layout_2_build_keeps_working_on_a_layout_3_object() {
    let s = store();
    let far = T0 + 90_000;
    s.enqueue("q", "\"taken\"", far as f64, None, first(R1), None, T0)
        .unwrap();
    s.enqueue("q", "\"kept\"", far as f64, None, first(R2), None, T0)
        .unwrap();
    // The oldest ("taken") is taken: it stays as a receipt.
    s.dequeue("q", first("d1d1d1d1d1d1d1d1"), None, T0)
        .unwrap()
        .entry();
    s.append_to_list("l", "1", AppendOptions::default(), first(R1), T0)
        .unwrap();
    s.set_if_not_exists("d", "true", Some(1_000.0), first(R1), T0)
        .unwrap();
    // What a layout-2 build checks before it serves the object.
    let required =
        s.db.query_int("SELECT COALESCE(MAX(version), 0) FROM _schema_version", &[])
            .unwrap();
    assert_eq!(required, Some(2), "a layout-2 build opens it");
    let db = &s.db;
    // Its queue statements: depth, dequeue, enqueue.
    let depth = db
        .query_int(
            "SELECT COUNT(*) FROM queue_entries WHERE queue_key = ?1 AND expires_at > ?2",
            &["q".into(), T0.into()],
        )
        .unwrap();
    assert_eq!(depth, Some(1), "the receipt is not counted");
    let next = db
        .query_text(
            "DELETE FROM queue_entries WHERE queue_key = ?1 AND seq = (
                 SELECT seq FROM queue_entries WHERE queue_key = ?1 AND expires_at > ?2
                 ORDER BY seq LIMIT 1)
             RETURNING value",
            &[("q").into(), T0.into()],
        )
        .unwrap();
    assert_eq!(
        next.as_deref(),
        Some("\"kept\""),
        "the receipt is never delivered again"
    );
    let last = db
        .query_int(
            "SELECT MAX(seq) FROM queue_entries WHERE queue_key = ?",
            &["q".into()],
        )
        .unwrap()
        .unwrap();
    db.exec(
        "INSERT INTO queue_entries (queue_key, seq, value, expires_at) VALUES (?1, ?2, ?3, ?4)",
        &["q".into(), (last + 1).into(), "\"v2\"".into(), far.into()],
    )
    .unwrap();
    // Its cache and list statements.
    db.exec(
        "INSERT INTO cache (key, value, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
        &["x".into(), "1".into(), crate::base::db::Param::Null],
    )
    .unwrap();
    db.exec(
        "INSERT INTO list_items (list_key, seq, value) VALUES (?1, ?2, ?3)",
        &["l".into(), 1i64.into(), "2".into()],
    )
    .unwrap();
    // Its sweep (expires_at only) deletes receipts: they were only for retries.
    db.exec(
        "DELETE FROM queue_entries WHERE (queue_key, seq) IN (SELECT queue_key, seq
             FROM queue_entries WHERE expires_at <= ?1 LIMIT ?2) RETURNING 1",
        &[T0.into(), 1000i64.into()],
    )
    .unwrap();
    // And this build reads all of it back.
    assert_eq!(s.get("x", T0).unwrap().as_deref(), Some("1"));
    assert_eq!(s.get_list("l", T0).unwrap(), "[1,2]");
    assert_eq!(
        s.dequeue("q", None, None, T0).unwrap().entry().as_deref(),
        Some("\"v2\"")
    );
    // After re-opening with this build, the layout stays current and nothing is migrated twice.
    let s = reopen(s, T0);
    assert_eq!(
        schema::stored_version(&s.db).unwrap(),
        schema::CURRENT_VERSION
    );
}

#[test]
fn a_layout_2_object_is_upgraded_in_place() {
    let db = NativeDb::open_in_memory();
    // Layout 2 exactly as the previous build created it.
    db.exec_script(
        "CREATE TABLE _schema_version (version INTEGER PRIMARY KEY);
         INSERT INTO _schema_version VALUES (2);",
    )
    .unwrap();
    db.exec_script(schema::V2_TABLES_FOR_TESTS).unwrap();
    db.exec_script(&format!(
        "INSERT INTO subscriptions VALUES ('t');
         INSERT INTO locks VALUES ('t', 'tok', {});
         INSERT INTO cache VALUES ('k', '1', NULL);
         INSERT INTO lists VALUES ('l', {});
         INSERT INTO list_items VALUES ('l', 0, '\"a\"');
         INSERT INTO queue_entries VALUES ('q', 0, '\"e\"', {});",
        T0 + 30_000,
        T0 + 60_000,
        T0 + 90_000
    ))
    .unwrap();
    let s = Store::open(db, None, T0).unwrap();
    assert_eq!(
        schema::stored_versions(&s.db).unwrap(),
        (schema::CURRENT_VERSION, 2)
    );
    assert!(s.is_subscribed("t").unwrap());
    assert!(s.extend_lock("t", "tok", 1_000.0, T0).unwrap());
    assert_eq!(s.get("k", T0).unwrap().as_deref(), Some("1"));
    // The old item has no receipts column value; appends continue after it.
    s.append_to_list("l", "\"b\"", AppendOptions::default(), first(R1), T0)
        .unwrap();
    s.append_to_list("l", "\"b\"", AppendOptions::default(), again(R1), T0)
        .unwrap();
    assert_eq!(s.get_list("l", T0).unwrap(), "[\"a\",\"b\"]");
    assert_eq!(
        s.dequeue("q", first(R2), None, T0)
            .unwrap()
            .entry()
            .as_deref(),
        Some("\"e\"")
    );
    assert_eq!(
        s.dequeue("q", again(R2), None, T0)
            .unwrap()
            .entry()
            .as_deref(),
        Some("\"e\"")
    );
}

#[test]
fn queue_entries_land_above_many_receipts_whatever_the_sweep_deleted() {
    let s = store();
    let far = (T0 + 3_600_000) as f64;
    let id = |kind: &str, i: i64| format!("{kind}{i:0>19}");
    // A busy thread: 300 messages queued and taken within the receipt window, each leaving its
    // dequeue's receipt behind.
    for i in 0..300 {
        let (e, d) = (id("e", i), id("d", i));
        s.enqueue(
            "q",
            &i.to_string(),
            far,
            Some(10.0),
            first(&e),
            None,
            T0 + i,
        )
        .unwrap();
        let taken = s.dequeue("q", first(&d), None, T0 + i).unwrap().entry();
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
    s.enqueue(
        "q",
        "\"x\"",
        far,
        Some(10.0),
        first(&id("e", 300)),
        None,
        T0 + 300,
    )
    .unwrap();
    assert_eq!(s.queue_depth("q", None, T0 + 300).unwrap(), 1);
    let x = s
        .dequeue("q", first(&id("d", 300)), None, T0 + 300)
        .unwrap();
    assert_eq!(x.entry().as_deref(), Some("\"x\""));
    // A retried dequeue still finds its receipt, down among the others.
    let again_taken = s.dequeue("q", again(&id("d", 7)), None, T0 + 301).unwrap();
    assert_eq!(again_taken.entry().as_deref(), Some("7"));
    // The sweep may delete the newest receipts first; a later entry still lands above the rest
    // and is delivered (also after a restart, which recomputes the floor).
    s.db.exec(
        "DELETE FROM queue_entries WHERE seq >= (SELECT MAX(seq) - 5 FROM queue_entries)",
        &[],
    )
    .unwrap();
    s.enqueue(
        "q",
        "\"y\"",
        far,
        None,
        first(&id("e", 301)),
        None,
        T0 + 302,
    )
    .unwrap();
    let s = reopen(s, T0 + 303);
    s.enqueue(
        "q",
        "\"z\"",
        far,
        None,
        first(&id("e", 302)),
        None,
        T0 + 303,
    )
    .unwrap();
    assert_eq!(s.queue_depth("q", None, T0 + 303).unwrap(), 2);
    let y = s
        .dequeue("q", first(&id("d", 301)), None, T0 + 303)
        .unwrap();
    assert_eq!(y.entry().as_deref(), Some("\"y\""));
    let z = s.dequeue("q", None, None, T0 + 303).unwrap();
    assert_eq!(z.entry().as_deref(), Some("\"z\""));
}
