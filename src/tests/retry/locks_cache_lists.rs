//! Native tests of retried lock, cache and list calls: an acquire retried with its token gets its
//! own lock back, a setIfNotExists retried with its request id answers true once written, an
//! append retried within the receipt window adds once.

use crate::guarantees::idempotency::RECEIPT_WINDOW_MS;
use crate::model::lists::AppendOptions;
use crate::tests::support::{again, append, first, reopen, snapshot, store, T0};

use super::{OTHER, R1, R2, TOKEN};

/// Append options with a minute's TTL.
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
        append(&s, "l", "99", opts(max_length), T0 + 8);
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
