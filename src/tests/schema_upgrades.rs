//! Native tests of the SQLite schema's upgrades (`schema`): an older schema version is upgraded in
//! place keeping its rows, a newer one is refused, and a schema-version-2 build keeps working on
//! an object this build upgraded.

use crate::base::db::{Database, QueryExt};
use crate::base::schema;
use crate::base::store::Store;
use crate::model::lists::AppendOptions;
use crate::platform::native_db::NativeDb;
use crate::tests::support::{
    acquire, again, append, assert_current_schema, first, opts, reopen, store, sweep, T0,
};

const R1: &str = "r1r1r1r1r1r1r1r1r1r1";
const R2: &str = "r2r2r2r2r2r2r2r2r2r2";

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
    assert_current_schema(&s);
    assert!(s.is_subscribed("slack:C1:1").unwrap());
    assert!(acquire(&s, "slack:C1:1", 1_000.0, T0).is_none());
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

#[test]
fn lists_written_before_schema_version_4_keep_their_exact_expiry() {
    let s = store();
    // As a schema-version-3 build left them: items without an expiry, the exact one in `lists`.
    s.db.exec_script(&format!(
        "INSERT INTO lists VALUES ('old', {});
         INSERT INTO list_items (list_key, seq, value) VALUES ('old', 0, '1'), ('old', 1, '2');",
        T0 + 5_000
    ))
    .unwrap();
    assert_eq!(s.get_list("old", T0 + 4_999).unwrap(), "[1,2]");
    assert_eq!(s.get_list("old", T0 + 5_000).unwrap(), "[]");
    // An append without a TTL keeps that expiry, now on its item.
    append(&s, "old", "3", opts(None, None), T0 + 1_000);
    assert_eq!(s.get_list("old", T0 + 4_999).unwrap(), "[1,2,3]");
    assert_eq!(s.get_list("old", T0 + 5_000).unwrap(), "[]");
    // Sweeping at the old exact expiry deletes it (the bound was exact).
    assert_eq!(sweep(&s, T0 + 5_000), 3 + 1);
}

/// The statements a schema-version-2 build (before request ids) runs, as it wrote them: they must keep
/// working on a schema-version-3 object, and must not see receipts as entries.
#[test]
fn a_version_2_build_keeps_working_on_a_version_3_object() {
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
    // What a schema-version-2 build checks before it serves the object.
    let required =
        s.db.query_int("SELECT COALESCE(MAX(version), 0) FROM _schema_version", &[])
            .unwrap();
    assert_eq!(required, Some(2), "a schema-version-2 build opens it");
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
    // After re-opening with this build, the schema version stays current and nothing is
    // upgraded twice.
    let s = reopen(s, T0);
    assert_current_schema(&s);
}

#[test]
fn a_version_2_object_is_upgraded_in_place() {
    let db = NativeDb::open_in_memory();
    // Schema version 2 exactly as the previous build created it.
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
