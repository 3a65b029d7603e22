//! Native tests that a call writes all or nothing: a bad argument is refused before any row is
//! written, and a failed transaction leaves the rows as they were.

use crate::base::db::Database;
use crate::base::error::Error;
use crate::tests::support::{append, count, opts, store, T0};

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
    append(&s, "l", "1", opts(None, Some(1_000.0)), T0);
    let result = s.db.transaction(&mut || {
        s.db.exec("DELETE FROM list_items", &[])?;
        Err::<(), _>(Error::storage("injected"))
    });
    assert!(result.is_err());
    assert_eq!(s.get_list("l", T0).unwrap(), "[1]");
}
