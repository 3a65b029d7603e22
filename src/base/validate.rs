//! Argument checks shared by every operation.
//!
//! The rule is simple: reject before touching storage, name the argument, say what is wrong. A
//! rejected call writes nothing and the object keeps serving. The limits come from the platform:
//! a Durable Object SQLite row holds at most 2 MB, so a value plus its key must fit in one row.

use crate::base::error::{Error, Result};

/// Longest key (thread id, cache/list/queue key) we accept, in UTF-8 bytes. Real chat keys are
/// well under 200 bytes; the cap keeps index pages dense and a runaway key from eating a row.
pub const MAX_KEY_BYTES: usize = 1024;

/// Largest value (JSON text) we accept, in UTF-8 bytes: the 2 MB SQLite row limit less room for
/// the key, the other columns of the row and a list item's retry receipts.
pub const MAX_VALUE_BYTES: usize = 2_000_000 - MAX_KEY_BYTES - 128 - MAX_LIST_RECEIPTS_BYTES;

/// Most append ids one list item carries (see `idempotency`).
pub const MAX_LIST_RECEIPTS: usize = 256;

/// Bytes the receipts column can take at most: the cap times the longest entry (a 64-character
/// request id, `@`, a 16-digit time, `,`).
pub const MAX_LIST_RECEIPTS_BYTES: usize = MAX_LIST_RECEIPTS * (64 + 1 + 16 + 1);

/// Longest TTL accepted. Any deadline must stay an exact integer in a JS number and a valid JS
/// `Date` for `setAlarm`; a century is far past any practical TTL and far inside both limits.
pub const MAX_TTL_MS: f64 = 100.0 * 365.0 * 24.0 * 3600.0 * 1000.0;

/// A key: non-empty, at most [`MAX_KEY_BYTES`], no NUL character (SQLite's C string functions and
/// many log sinks truncate at NUL, so two distinct keys could appear as one).
pub fn key<'a>(argument: &'static str, key: &'a str) -> Result<&'a str> {
    if key.is_empty() {
        return Err(Error::invalid(argument, "must be a non-empty string"));
    }
    at_most(argument, key.len(), MAX_KEY_BYTES, |n| {
        format!("is {n} bytes long; the limit is {MAX_KEY_BYTES} bytes")
    })?;
    if key.contains('\0') {
        return Err(Error::invalid(argument, "must not contain a NUL character"));
    }
    Ok(key)
}

/// A size check: `len` (bytes) at most `max`, else the error `describe(len)` says.
fn at_most(
    argument: &'static str,
    len: usize,
    max: usize,
    describe: impl FnOnce(usize) -> String,
) -> Result<()> {
    if len > max {
        return Err(Error::invalid(argument, describe(len)));
    }
    Ok(())
}

/// A lock token chosen by the caller (`acquireLock`): 16 to 128 characters of `[A-Za-z0-9_-]`.
/// The caller draws it from a CSPRNG; the length floor keeps a careless caller from choosing one
/// that could be guessed, and the alphabet keeps it printable in logs.
pub fn new_token<'a>(argument: &'static str, token: &'a str) -> Result<&'a str> {
    printable_id(argument, token, 16, 128)
}

/// An id the caller draws (a lock token, a request id): `min` to `max` characters of
/// `[A-Za-z0-9_-]`.
pub(crate) fn printable_id<'a>(
    argument: &'static str,
    id: &'a str,
    min: usize,
    max: usize,
) -> Result<&'a str> {
    if !(min..=max).contains(&id.len()) {
        return Err(Error::invalid(
            argument,
            format!("must be {min} to {max} characters long, got {}", id.len()),
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::invalid(
            argument,
            "must contain only letters, digits, '_' and '-'",
        ));
    }
    Ok(id)
}

/// A serialised value that must fit in one SQLite row.
pub fn value<'a>(argument: &'static str, json: &'a str) -> Result<&'a str> {
    if json.is_empty() {
        return Err(Error::invalid(
            argument,
            "must be JSON text, got an empty string",
        ));
    }
    at_most(argument, json.len(), MAX_VALUE_BYTES, |n| {
        format!("serialises to {n} bytes; the limit is {MAX_VALUE_BYTES} bytes (one SQLite row is at most 2 MB)")
    })?;
    Ok(json)
}

/// An optional TTL in milliseconds. `None` and `0` mean "no expiry"; fractions round up so a TTL
/// never ends early.
pub fn optional_ttl(argument: &'static str, ttl: Option<f64>) -> Result<Option<i64>> {
    match ttl {
        None => Ok(None),
        Some(ms) => {
            let ms = finite_non_negative(argument, ms)?;
            Ok((ms > 0).then_some(ms))
        }
    }
}

/// A TTL that must be positive (locks: a zero-length lock would be born expired).
pub fn required_ttl(argument: &'static str, ttl: f64) -> Result<i64> {
    let ms = finite_non_negative(argument, ttl)?;
    if ms == 0 {
        return Err(Error::invalid(argument, "must be greater than 0"));
    }
    Ok(ms)
}

fn not_negative(argument: &'static str, n: f64) -> Result<()> {
    if n < 0.0 {
        return Err(Error::invalid(
            argument,
            format!("must not be negative, got {n}"),
        ));
    }
    Ok(())
}

fn finite_non_negative(argument: &'static str, ms: f64) -> Result<i64> {
    if !ms.is_finite() {
        return Err(Error::invalid(
            argument,
            format!("must be a finite number of milliseconds, got {ms}"),
        ));
    }
    not_negative(argument, ms)?;
    if ms > MAX_TTL_MS {
        return Err(Error::invalid(
            argument,
            format!("must be at most {MAX_TTL_MS} ms (100 years), got {ms}"),
        ));
    }
    // In range [0, MAX_TTL_MS], so the cast cannot saturate.
    Ok(ms.ceil() as i64)
}

/// A count limit such as `maxLength` or `maxSize`: a non-negative integer, `0` meaning unlimited.
pub fn optional_limit(argument: &'static str, limit: Option<f64>) -> Result<Option<i64>> {
    let Some(n) = limit else { return Ok(None) };
    if !n.is_finite() || n.fract() != 0.0 {
        return Err(Error::invalid(
            argument,
            format!("must be a whole number, got {n}"),
        ));
    }
    not_negative(argument, n)?;
    if n > u32::MAX as f64 {
        return Err(Error::invalid(
            argument,
            format!("must be at most {}, got {n}", u32::MAX),
        ));
    }
    Ok((n > 0.0).then_some(n as i64))
}

/// A Unix-milliseconds timestamp supplied by the caller (a queue entry's `expiresAt`).
pub fn timestamp(argument: &'static str, ms: f64) -> Result<i64> {
    if !ms.is_finite() {
        return Err(Error::invalid(
            argument,
            format!("must be a finite Unix time in milliseconds, got {ms}"),
        ));
    }
    // 8.64e15 is the largest time a JS Date can hold.
    if !(0.0..=8.64e15).contains(&ms) {
        return Err(Error::invalid(
            argument,
            format!("must be between 0 and 8.64e15, got {ms}"),
        ));
    }
    Ok(ms.ceil() as i64)
}

/// A queue entry's arguments, as `enqueue` and `claimOrEnqueue` both take them: the thread id
/// (the queue's key), the entry's JSON and its `expiresAt`, checked in that order.
pub fn queue_entry<'a>(
    thread_id: &'a str,
    json: &'a str,
    expires_at: f64,
) -> Result<(&'a str, &'a str, i64)> {
    Ok((
        key("threadId", thread_id)?,
        value("entry", json)?,
        timestamp("entry.expiresAt", expires_at)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            key("key", "thread-state:slack:C1:1.2"),
            Ok("thread-state:slack:C1:1.2")
        );
        assert!(matches!(
            key("key", ""),
            Err(Error::InvalidArgument {
                argument: "key",
                ..
            })
        ));
        assert!(key("key", &"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(key("key", &"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(key("key", "a\0b").is_err());
        // Multi-byte characters count in bytes, not chars.
        assert!(key("key", &"é".repeat(MAX_KEY_BYTES / 2 + 1)).is_err());
    }

    #[test]
    fn ttls() {
        assert_eq!(optional_ttl("ttlMs", None), Ok(None));
        assert_eq!(optional_ttl("ttlMs", Some(0.0)), Ok(None));
        assert_eq!(optional_ttl("ttlMs", Some(1.2)), Ok(Some(2)));
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            MAX_TTL_MS * 2.0,
        ] {
            let err = optional_ttl("ttlMs", Some(bad)).unwrap_err();
            assert!(err.to_string().contains("`ttlMs`"), "{err}");
        }
        assert!(required_ttl("ttlMs", 0.0).is_err());
        assert_eq!(required_ttl("ttlMs", 30_000.0), Ok(30_000));
    }

    #[test]
    fn limits() {
        assert_eq!(optional_limit("maxLength", None), Ok(None));
        assert_eq!(optional_limit("maxLength", Some(0.0)), Ok(None));
        assert_eq!(optional_limit("maxLength", Some(100.0)), Ok(Some(100)));
        for bad in [1.5, -1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(optional_limit("maxLength", Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn values() {
        assert!(value("value", "true").is_ok());
        assert!(value("value", "").is_err());
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let err = value("value", &big).unwrap_err().to_string();
        assert!(err.contains("`value`") && err.contains("bytes"), "{err}");
    }
}
