//! Retry safety: how a call retried after "it ran but the reply was lost" takes effect once.
//!
//! Cloudflare can run a call in the object and still fail it at the caller (a dropped
//! connection, an object reset on deploy). The adapter then retries it (`ts/shared/retry.ts`) with the
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
//! - **List appends keep their id on their own item** ([`ListReceipts`]), with the time of the
//!   append (also when it has no id). An item trimmed away while its receipts are inside the
//!   window hands them to the item that trimmed it, so an id lives on exactly one item until its
//!   window ends. A retry reads the list's items newest first, in small pages, until it finds
//!   its id or reaches an item appended before the window (no older item can hold one): a retry
//!   soon after its first attempt reads a few rows, whatever the list's length. The cost of an
//!   append is one entry of bytes (an earlier layout carried every id of the window on the newest
//!   item: kilobytes per item on a busy list, and most of an append's time). A retry reads at most
//!   [`MAX_LIST_RECEIPTS`] items; an append retried after more than that many other appends to
//!   the same list within the window may be added twice (documented).
//! - **Ids are validated** ([`request_id`]): 16–64 characters of `[A-Za-z0-9_-]`, so they can be
//!   joined with `,` and `@` without escaping and never collide by accident.

use crate::base::error::Result;
use crate::base::validate;

/// How long a receipt (a taken or dropped queue entry, a list append's id) is kept.
pub const RECEIPT_WINDOW_MS: i64 = 120_000;

/// The longest `retry.maxElapsedMs` the adapter accepts: half the receipt window, so that even an
/// attempt that starts at the very end of its budget and is slow to arrive finds its receipt.
pub const MAX_RETRY_ELAPSED_MS: i64 = RECEIPT_WINDOW_MS / 2;

/// The receipts a list item carries are bounded where the row budget is set (`validate`: a
/// value's size limit leaves room for them), so the argument checks need nothing from here.
pub use crate::base::validate::{MAX_LIST_RECEIPTS, MAX_LIST_RECEIPTS_BYTES};

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
    validate::printable_id(argument, id, 16, 64).map(Some)
}

/// The receipts in a list item's `requests` column: `id@unix_ms` entries joined by `,`, oldest
/// first. The last entry is the item's own append (`@unix_ms` with no id when that append had
/// none); entries before it were *carried*: they belonged to items the append trimmed away while
/// still inside the window. Items written before this layout carried every id of the window, own
/// last, which reads the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReceipts {
    carried: Vec<(String, i64)>,
}

/// One `id@unix_ms` entry; `None` when malformed.
fn receipt_entry(entry: &str) -> Option<(&str, i64)> {
    let (id, at) = entry.split_once('@')?;
    Some((id, at.parse().ok()?))
}

impl ListReceipts {
    /// Whether `column` holds a receipt of the append `id` made within the window before `now`.
    /// Anything malformed is skipped (a receipt is an optimisation for retries, never a reason to
    /// fail an append).
    pub fn contains(column: &str, id: &str, now: i64) -> bool {
        column
            .split(',')
            .filter_map(receipt_entry)
            .any(|(seen, at)| !seen.is_empty() && seen == id && now - at < RECEIPT_WINDOW_MS)
    }

    /// When the item's own append was made (its last entry), if the column says.
    pub fn own_at(column: &str) -> Option<i64> {
        column
            .rsplit(',')
            .next()
            .and_then(receipt_entry)
            .map(|(_, at)| at)
    }

    /// Keeps the receipts of a trimmed item that are still inside the window.
    pub fn carry(&mut self, column: &str, now: i64) {
        self.carried.extend(
            column
                .split(',')
                .filter_map(receipt_entry)
                .filter(|(id, at)| !id.is_empty() && now - at < RECEIPT_WINDOW_MS)
                .map(|(id, at)| (id.to_owned(), at)),
        );
    }

    /// The column of a new item: what it carries (at most [`MAX_LIST_RECEIPTS`] − 1 entries, the
    /// newest), then its own entry.
    pub fn column(mut self, id: Option<&str>, now: i64) -> String {
        self.carried.sort_by_key(|(_, at)| *at);
        let excess = self.carried.len().saturating_sub(MAX_LIST_RECEIPTS - 1);
        let mut column = String::new();
        for (id, at) in self.carried.drain(..).skip(excess) {
            column.push_str(&id);
            column.push('@');
            column.push_str(&at.to_string());
            column.push(',');
        }
        column.push_str(id.unwrap_or(""));
        column.push('@');
        column.push_str(&now.to_string());
        column
    }
}

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
    fn list_receipts_window_carry_and_cap() {
        let own = ListReceipts::default().column(Some("aaaaaaaaaaaaaaaa"), 1_000);
        assert_eq!(own, "aaaaaaaaaaaaaaaa@1000");
        assert!(ListReceipts::contains(
            &own,
            "aaaaaaaaaaaaaaaa",
            1_000 + RECEIPT_WINDOW_MS - 1
        ));
        assert!(!ListReceipts::contains(
            &own,
            "aaaaaaaaaaaaaaaa",
            1_000 + RECEIPT_WINDOW_MS
        ));
        assert!(!ListReceipts::contains(&own, "bbbbbbbbbbbbbbbb", 1_000));
        assert_eq!(ListReceipts::own_at(&own), Some(1_000));
        // An append without an id still records when it was made, under no id.
        let anonymous = ListReceipts::default().column(None, 2_000);
        assert_eq!(anonymous, "@2000");
        assert!(!ListReceipts::contains(&anonymous, "", 2_000));
        // A trimmed item's receipts inside the window move to the new item, before its own.
        let mut carried = ListReceipts::default();
        carried.carry(&own, 3_000);
        carried.carry(
            &format!("cccccccccccccccc@{}", 3_000 - RECEIPT_WINDOW_MS),
            3_000,
        );
        let next = carried.column(Some("bbbbbbbbbbbbbbbb"), 3_000);
        assert_eq!(next, "aaaaaaaaaaaaaaaa@1000,bbbbbbbbbbbbbbbb@3000");
        assert_eq!(ListReceipts::own_at(&next), Some(3_000));
        // Capped: the oldest carried go first.
        let mut many = ListReceipts::default();
        for i in 0..MAX_LIST_RECEIPTS + 5 {
            many.carry(&format!("{i:016}@{}", 4_000 + i as i64), 5_000);
        }
        let col = many.column(Some("dddddddddddddddd"), 5_000);
        assert!(!ListReceipts::contains(&col, &format!("{:016}", 5), 5_000));
        assert!(ListReceipts::contains(&col, &format!("{:016}", 6), 5_000));
        assert!(col.len() <= MAX_LIST_RECEIPTS_BYTES);
        // Garbage is skipped, not fatal.
        assert!(!ListReceipts::contains("x,y@z,@", "y", 5_000));
        assert_eq!(ListReceipts::own_at("x,y@z"), None);
    }
}
