//! The calls with one invalid argument the model test makes (`Op::Bad`): each must be refused
//! with an error that names the argument, and write nothing.

use crate::base::error::Error;
use crate::base::store::Store;
use crate::model::lists::AppendOptions;
use crate::platform::native_db::NativeDb;

pub(super) const BAD_CALLS: u8 = 12;

/// A call with one invalid argument; returns the argument name the error must cite.
pub(super) fn bad_call(
    s: &Store<NativeDb>,
    n: u8,
    k: &str,
    now: i64,
) -> (&'static str, Result<(), Error>) {
    let long_key = "k".repeat(crate::base::validate::MAX_KEY_BYTES + 1);
    match n {
        0 => ("key", s.set("", "1", None, now)),
        1 => ("ttlMs", s.set(k, "1", Some(f64::NAN), now)),
        2 => (
            "ttlMs",
            s.set_if_not_exists(k, "1", Some(-1.0), None, now).map(drop),
        ),
        3 => ("ttlMs", s.acquire_lock(k, 0.0, None, None, now).map(drop)),
        4 => (
            "ttlMs",
            s.extend_lock(k, "cfdo_x", f64::INFINITY, now).map(drop),
        ),
        5 => (
            "options.maxLength",
            s.append_to_list(
                k,
                "1",
                AppendOptions {
                    max_length: Some(1.5),
                    ttl_ms: None,
                },
                None,
                now,
            ),
        ),
        6 => (
            "options.ttlMs",
            s.append_to_list(
                k,
                "1",
                AppendOptions {
                    max_length: None,
                    ttl_ms: Some(f64::NEG_INFINITY),
                },
                None,
                now,
            ),
        ),
        7 => (
            "entry.expiresAt",
            s.enqueue(k, "1", f64::NAN, None, None, None, now).map(drop),
        ),
        8 => (
            "maxSize",
            s.enqueue(k, "1", 1e15, Some(-2.0), None, None, now)
                .map(drop),
        ),
        9 => ("threadId", s.subscribe("a\0b")),
        10 => ("key", s.get(&long_key, now).map(drop)),
        _ => ("value", s.set(k, "", None, now)),
    }
}
