//! Retry safety: how a call retried after "it ran but the reply was lost" takes effect once.
//!
//! Cloudflare can run a call in the object and still fail it at the caller (a dropped
//! connection, an object reset on deploy). The adapter then retries it (`ts/retry.ts`) with the
//! same *request id* — 128 random bits it drew before the first attempt — and, for
//! `acquireLock`, the same lock token. The object recognises the retry by what the first attempt
//! left in the rows it wrote, never only in memory, so recognition survives an object reset
//! between the attempts. No first attempt writes a row it would not have written anyway:
//!
//! | call | what the first attempt leaves | a retry that finds it |
//! |---|---|---|
//! | `acquireLock` | the lock row holds the caller's own token | gets that lock back (its stored expiry) |
//! | `setIfNotExists` | `cache.request_id` on the row it wrote | answers `true`, writes nothing |
//! | `appendToList` | its id in `list_items.requests` of the list's newest item (see below) | writes nothing |
//! | `enqueue` | `queue_entries.request_id` and the depth it answered, `queue_entries.depth` | answers that depth, writes nothing |
//! | `dequeue` | the taken entry stays as a *receipt*: `taken_by` = the request id | gets that same entry |
//!
//! Every other method is naturally idempotent or last-writer-wins: a retry behaves exactly like
//! the same call arriving a little later (`set` may overwrite a write that landed in between;
//! `forceReleaseLock` may release a lock taken in between; `extendLock` extends again and answers
//! `true` while the token still holds the lock).
//!
//! Decisions and their reasons:
//! - **Receipts are kept for [`RECEIPT_WINDOW_MS`].** The adapter gives up retrying after its
//!   `maxElapsedMs` (at most [`MAX_RETRY_ELAPSED_MS`], which it enforces), so a receipt older than
//!   the window can never be asked for. A dequeued entry is not deleted but *marked*
//!   (`taken_by`, `expires_at = 0`, `retain_until = now + window`): an UPDATE writes the same one
//!   row a DELETE did, and the row's later deletion (by the next `enqueue` on that queue or the
//!   alarm's sweep) is the one extra row per dequeued entry that retry safety costs. Setting
//!   `expires_at` to 0 hides the receipt from every query that looks for live entries — including
//!   those of builds older than schema 3, which know nothing of receipts.
//! - **Entries dropped by `maxSize` are marked the same way** (`taken_by = ''`), so a retried
//!   `enqueue` whose entry has since been dropped still finds its id and does not add it again.
//! - **List appends keep their ids on the newest item.** A list has no per-list row on every
//!   append path (appends without a TTL never touch `lists`), and an item may be trimmed away by
//!   the next append, so an id stored on its own item could vanish. Instead each appended item
//!   carries the ids of the appends made to its list within the window, its own last
//!   ([`ListReceipts`]); the newest item always survives trimming, so a retry reads exactly one
//!   row to know whether its first attempt landed — whatever the list's length, `maxLength` or
//!   not. The cost is bytes, not rows: a few dozen per item for lists appended to less than once a
//!   second. The history is capped at [`MAX_LIST_RECEIPTS`] ids; an append retried after more than
//!   that many other appends to the same list within the window may be added twice (documented).
//! - **Ids are validated** ([`request_id`]): 16–64 characters of `[A-Za-z0-9_-]`, so they can be
//!   joined with `,` and `@` without escaping and never collide by accident.

use crate::error::{Error, Result};

/// How long a receipt (a taken or dropped queue entry, a list append's id) is kept.
pub const RECEIPT_WINDOW_MS: i64 = 120_000;

/// The longest `retry.maxElapsedMs` the adapter accepts: half the receipt window, so that even an
/// attempt that starts at the very end of its budget and is slow to arrive finds its receipt.
pub const MAX_RETRY_ELAPSED_MS: i64 = RECEIPT_WINDOW_MS / 2;

/// Most append ids one list item carries.
pub const MAX_LIST_RECEIPTS: usize = 256;

/// One attempt of a retry-safe call: the id its caller drew before the first attempt (a request
/// id, or `acquireLock`'s token), and whether this attempt is a retry. Only a retry looks for what
/// an earlier attempt left: a first attempt cannot have been seen before (the runtime's own
/// re-sends are refused once the object saw the call), so it reads no row more than it would
/// without retry safety.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    pub id: &'a str,
    pub retry: bool,
}

impl<'a> Attempt<'a> {
    pub fn first(id: &'a str) -> Self {
        Attempt { id, retry: false }
    }

    pub fn retry(id: &'a str) -> Self {
        Attempt { id, retry: true }
    }
}

/// Checks an optional request id and pairs it with the retry flag. `None` (a caller that
/// predates request ids, or a direct RPC call) means the call is not retry-safe but otherwise
/// works as always.
pub fn attempt<'a>(
    argument: &'static str,
    id: Option<&'a str>,
    retry: bool,
) -> Result<Option<Attempt<'a>>> {
    Ok(request_id(argument, id)?.map(|id| Attempt { id, retry }))
}

/// Validates the id of an attempt built by a caller (the store methods take [`Attempt`]s).
pub fn checked<'a>(attempt: Option<Attempt<'a>>) -> Result<Option<Attempt<'a>>> {
    match attempt {
        Some(a) => self::attempt("requestId", Some(a.id), a.retry),
        None => Ok(None),
    }
}

/// Checks an optional request id.
pub fn request_id<'a>(argument: &'static str, id: Option<&'a str>) -> Result<Option<&'a str>> {
    let Some(id) = id else { return Ok(None) };
    if !(16..=64).contains(&id.len()) {
        return Err(Error::invalid(
            argument,
            format!("must be 16 to 64 characters long, got {}", id.len()),
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
    Ok(Some(id))
}

/// The append ids a list's newest item carries: `id@unix_ms` entries joined by `,`, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReceipts {
    entries: Vec<(String, i64)>,
}

impl ListReceipts {
    /// Parses the column; anything malformed is skipped (the column is ours, but a receipt is an
    /// optimisation for retries, never a reason to fail an append).
    pub fn parse(column: Option<&str>) -> Self {
        let entries = column
            .unwrap_or("")
            .split(',')
            .filter_map(|entry| {
                let (id, at) = entry.split_once('@')?;
                Some((id.to_owned(), at.parse().ok()?))
            })
            .collect();
        ListReceipts { entries }
    }

    /// Whether an append with this id landed within the window before `now`.
    pub fn contains(&self, id: &str, now: i64) -> bool {
        self.entries
            .iter()
            .any(|(seen, at)| seen == id && now - at < RECEIPT_WINDOW_MS)
    }

    /// The history the next item carries: entries still inside the window, plus `id` (if any),
    /// capped at [`MAX_LIST_RECEIPTS`] by dropping the oldest. `None` when empty.
    pub fn next(mut self, id: Option<&str>, now: i64) -> Option<String> {
        self.entries.retain(|(_, at)| now - at < RECEIPT_WINDOW_MS);
        if let Some(id) = id {
            self.entries.push((id.to_owned(), now));
        }
        let excess = self.entries.len().saturating_sub(MAX_LIST_RECEIPTS);
        self.entries.drain(..excess);
        if self.entries.is_empty() {
            return None;
        }
        let mut column = String::new();
        for (i, (id, at)) in self.entries.iter().enumerate() {
            if i > 0 {
                column.push(',');
            }
            column.push_str(id);
            column.push('@');
            column.push_str(&at.to_string());
        }
        Some(column)
    }
}

/// Bytes the receipts column can take at most: the cap times the longest entry.
pub const MAX_LIST_RECEIPTS_BYTES: usize = MAX_LIST_RECEIPTS * (64 + 1 + 16 + 1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(
            request_id("requestId", Some("0123456789abcdef")),
            Ok(Some("0123456789abcdef"))
        );
        assert_eq!(request_id("requestId", None), Ok(None));
        for bad in [
            "short",
            "0123456789abcdef,",
            "0123456789abcde@",
            &"a".repeat(65),
        ] {
            let err = request_id("requestId", Some(bad)).unwrap_err().to_string();
            assert!(err.contains("`requestId`"), "{err}");
        }
    }

    #[test]
    fn list_receipts_window_and_cap() {
        let r = ListReceipts::parse(None);
        let col = r.next(Some("aaaaaaaaaaaaaaaa"), 1_000).unwrap();
        let r = ListReceipts::parse(Some(&col));
        assert!(r.contains("aaaaaaaaaaaaaaaa", 1_000 + RECEIPT_WINDOW_MS - 1));
        assert!(!r.contains("aaaaaaaaaaaaaaaa", 1_000 + RECEIPT_WINDOW_MS));
        assert!(!r.contains("bbbbbbbbbbbbbbbb", 1_000));
        // Outside the window the old id is dropped from the next item's history.
        let col = r
            .next(Some("bbbbbbbbbbbbbbbb"), 1_000 + RECEIPT_WINDOW_MS)
            .unwrap();
        assert_eq!(
            col,
            format!("bbbbbbbbbbbbbbbb@{}", 1_000 + RECEIPT_WINDOW_MS)
        );
        // Capped: the oldest go first.
        let mut col = None;
        for i in 0..MAX_LIST_RECEIPTS + 5 {
            col = ListReceipts::parse(col.as_deref()).next(Some(&format!("{i:016}")), 5_000);
        }
        let r = ListReceipts::parse(col.as_deref());
        assert!(!r.contains(&format!("{:016}", 4), 5_000));
        assert!(r.contains(&format!("{:016}", 5), 5_000));
        assert!(col.unwrap().len() <= MAX_LIST_RECEIPTS_BYTES);
        // Garbage is skipped, not fatal.
        assert_eq!(ListReceipts::parse(Some("x,y@z,@")).entries.len(), 0);
    }
}
