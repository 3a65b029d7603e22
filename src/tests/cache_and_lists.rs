//! Native tests of the key part (`cache`, `lists`): strict TTL reads, setIfNotExists, and lists
//! that trim, keep their exact expiry and cost the same whatever their length.

use crate::base::db::QueryExt;
use crate::base::store::Store;
use crate::model::lists::AppendOptions;
use crate::platform::native_db::NativeDb;
use crate::tests::support::{append, count, opts, store, sweep, T0};

/// Appends 0, 1, … `n - 1` to list `l`, number `i` at `T0 + i`.
fn append_numbers(s: &Store<NativeDb>, n: i64, options: AppendOptions) {
    for i in 0..n {
        append(s, "l", &i.to_string(), options, T0 + i);
    }
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
    append_numbers(&s, 5, opts(Some(3.0), Some(10_000.0)));
    assert_eq!(s.get_list("l", T0 + 5).unwrap(), "[2,3,4]");
    assert_eq!(count(&s, "list_items"), 3);
    // No TTL keeps the existing expiry (T0 + 4 + 10_000).
    append(&s, "l", "5", opts(Some(3.0), None), T0 + 9_000);
    assert_eq!(s.get_list("l", T0 + 10_003).unwrap(), "[3,4,5]");
    assert_eq!(s.get_list("l", T0 + 10_004).unwrap(), "[]");
    // An expired list starts fresh, without TTL now.
    append(&s, "l", "6", opts(None, None), T0 + 20_000);
    assert_eq!(s.get_list("l", T0 + 10_i64.pow(10)).unwrap(), "[6]");
    assert_eq!(s.get_list("missing", T0).unwrap(), "[]");
}

#[test]
fn list_append_cost_is_independent_of_length() {
    let s = store();
    append_numbers(&s, 100, opts(Some(100.0), Some(1e9)));
    let before = s.row_counts().written;
    append(&s, "l", "100", opts(Some(100.0), Some(1e9)), T0 + 200);
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
    append(&s, "l", "0", opts(Some(3.0), Some(ttl as f64)), T0);
    assert_eq!(bound(&s), Some(T0 + ttl + 10_000));
    let mut rewrites = 0;
    let mut last = bound(&s);
    // One append a second for 60 s: the deadline passes the bound every 11 s.
    for i in 1..=60 {
        let before = s.row_counts().written;
        append(
            &s,
            "l",
            &i.to_string(),
            opts(Some(3.0), Some(ttl as f64)),
            T0 + i * 1_000,
        );
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
    append(&s, "l", r#""x""#, opts(Some(3.0), None), T0 + 61_000);
    assert_eq!(
        s.get_list("l", T0 + 60_000 + ttl - 1).unwrap(),
        r#"[59,60,"x"]"#
    );
    assert_eq!(s.get_list("l", T0 + 60_000 + ttl).unwrap(), "[]");
    // A shorter TTL shortens the exact expiry; the bound stays above it.
    append(
        &s,
        "l",
        r#""y""#,
        opts(Some(3.0), Some(1_000.0)),
        T0 + 62_000,
    );
    assert_eq!(s.get_list("l", T0 + 62_999).unwrap(), r#"[60,"x","y"]"#);
    assert_eq!(s.get_list("l", T0 + 63_000).unwrap(), "[]");
    // Expired at its exact expiry, swept once its bound has passed.
    let at_bound = bound(&s).unwrap();
    assert_eq!(sweep(&s, at_bound - 1), 0);
    assert_eq!(sweep(&s, at_bound), 3 + 1);
    assert_eq!(count(&s, "list_items") + count(&s, "lists"), 0);
}

#[test]
fn lists_and_cache_are_separate_key_spaces() {
    let s = store();
    s.set("k", "1", None, T0).unwrap();
    append(&s, "k", "2", opts(None, None), T0);
    s.delete("k").unwrap();
    assert_eq!(s.get_list("k", T0).unwrap(), "[2]");
}
