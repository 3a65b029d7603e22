//! Units too large for one message move in pages (docs/resharding.md, "Spec: messages").
//!
//! A unit has no size limit of its own — a 10,000-item history of 4 KB items is 40 MB — while one
//! RPC carries at most 32 MiB. So a unit whose rows exceed one page's byte budget
//! ([`PAGE_BYTES`]) is sent as a sequence of pages, each a unit of the same wire form holding a
//! part of the rows, in a fixed order:
//!
//! 0. the head: subscription, lock and its tenure (first page only);
//! 1. cache rows, by key; 2. `lists` rows, by key; 3. list items, by list key and *newest first*;
//! 4. queue rows, by seq.
//!
//! A page ends after the row that filled the budget (a page holds at least one row); its `next`
//! cursor — `"{section}:{seq}:{key}"`, the last row sent — is where the next page starts. A page
//! is read from the previous home's sealed copy, which nothing writes (the seal came first), with
//! the reads' liveness at the time of the page: a row that expires between pages is not sent,
//! as an expired row never moves. Items go newest first so that a list which expires between two
//! pages has its newest item — the one that carries the list's exact expiry — at the new home
//! already, and reads as expired there too.
//!
//! The new home writes each page in its own transaction and records how far it got in
//! `handoff_partial (routing_key, source, seal_id, next_cursor)`; the last page deletes that row
//! and writes the `handoff_in` record, in one transaction. A page that does not start where the
//! new home expects is not written, and is answered with the cursor it expects (`Expect`): so a
//! resent page, a lost reply, a reset of either side, or the pull and the drain sending the same
//! unit at once, all end with each row written once.
//!
//! # Invariants
//! - **One owner.** The seal comes before the first page, so the previous home serves the unit
//!   to nobody while pages move. The new home does not count a partly imported unit as held
//!   (`Store::holds` is false while its `handoff_partial` row exists), so it serves none of it:
//!   every call on it pulls (and the pull resumes the pages) until the last page committed.
//! - **Nothing lost.** The previous home deletes its copy only once the new home has the
//!   `handoff_in` record (`handoffHasImport`, or a `true`/`false` import answer), which only the
//!   last page writes.
//! - **Nothing doubled.** A page is written only if it starts at the recorded cursor, and advances
//!   it in the same transaction.
//!
//! A unit that fits in one page moves whole, exactly as before (one `handOver` reply, or one item
//! of a `handoffImport`). Builds before pages ask for whole units and get them.

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::{Error, Result};
use crate::base::live;
use crate::base::store::Store;
use crate::sharding::tables::{unit_params, MovedRow, CACHE, QUEUE};
use crate::sharding::unit::{cols, int, unit_keys, PageInfo, Shape, Unit};

/// A page's byte budget: far below the 32 MiB an RPC carries, and above any one row (a value is
/// at most 2 MB), so a page always holds at least one row and a unit of small rows moves whole.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Rows read per query while a page is filled.
const BATCH: i64 = 64;

/// Bytes a row costs on the wire beyond its strings (numbers, brackets).
const ROW_OVERHEAD: usize = 64;

/// A position in a unit's row order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    section: u8,
    seq: i64,
    key: String,
}

/// Below every seq (and exactly bindable in workerd).
const SEQ_MIN: i64 = -(1 << 53);
/// Above every seq.
const SEQ_MAX: i64 = (1 << 53) - 1;

impl Cursor {
    fn start() -> Cursor {
        Cursor {
            section: 0,
            seq: SEQ_MIN,
            key: String::new(),
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Cursor> {
        if text.is_empty() {
            return Ok(Cursor::start());
        }
        let bad = || Error::invalid("page", format!("has a malformed cursor {text:?}"));
        let mut parts = text.splitn(3, ':');
        let section = parts
            .next()
            .and_then(|s| s.parse::<u8>().ok())
            .filter(|s| (1..=4).contains(s))
            .ok_or_else(bad)?;
        let seq = parts
            .next()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(bad)?;
        let key = parts.next().ok_or_else(bad)?.to_owned();
        Ok(Cursor { section, seq, key })
    }

    fn text(&self) -> String {
        format!("{}:{}:{}", self.section, self.seq, self.key)
    }
}

/// What a page being filled reads and how full it is.
struct Fill<'k> {
    routing_key: &'k str,
    keys: &'k [String],
    now: i64,
    budget: usize,
    bytes: usize,
}

impl<D: Database> Store<D> {
    /// The part of the unit of `routing_key` from cursor `from` that fits in `budget` bytes, and
    /// where the next part starts (see the module comment).
    pub fn collect_page(
        &self,
        routing_key: &str,
        from: &str,
        budget: usize,
        now: i64,
    ) -> Result<(Unit, PageInfo)> {
        let mut at = Cursor::parse(from)?;
        let keys = unit_keys(routing_key);
        let mut unit = Unit {
            routing_key: routing_key.to_owned(),
            ..Unit::default()
        };
        let mut bytes = 0usize;
        let first = at.section == 0;
        if first {
            // The head is small: the whole unit's, minus its rows after it.
            let whole_head = self.collect_head(routing_key, now)?;
            unit.subscribed = whole_head.subscribed;
            unit.lock = whole_head.lock;
            unit.tenure = whole_head.tenure;
            bytes += ROW_OVERHEAD * 2;
            at = Cursor {
                section: 1,
                seq: SEQ_MIN,
                key: String::new(),
            };
        }
        let mut info = PageInfo {
            from: from.to_owned(),
            next: None,
            shape: None,
        };
        let mut fill = Fill {
            routing_key,
            keys: &keys,
            now,
            budget,
            bytes,
        };
        // Each section after the head: its rows past the cursor (`?K`: the cursor's key, `?S`:
        // its seq) in page order.
        while at.section <= 4 {
            let (got, full) = match at.section {
                1 => self.page_rows(&mut fill, &mut at, &mut unit.cache, "t.key > ?K", "t.key")?,
                2 => self.page_rows(
                    &mut fill,
                    &mut at,
                    &mut unit.lists,
                    "t.list_key > ?K",
                    "t.list_key",
                )?,
                3 => self.page_rows(
                    &mut fill,
                    &mut at,
                    &mut unit.list_items,
                    "(t.list_key > ?K OR (t.list_key = ?K AND t.seq < ?S))",
                    "t.list_key, t.seq DESC",
                )?,
                _ => self.page_rows(&mut fill, &mut at, &mut unit.queue, "t.seq > ?S", "t.seq")?,
            };
            if full {
                info.next = Some(at.text());
                // The first of several pages says the whole unit's shape (a unit that fits in
                // one page is its own).
                if first {
                    info.shape = Some(self.shape(routing_key, &keys, unit.lock.is_some(), now)?);
                }
                return Ok((unit, info));
            }
            if got < BATCH as usize {
                at = Cursor {
                    section: at.section + 1,
                    seq: if at.section + 1 == 3 {
                        SEQ_MAX
                    } else {
                        SEQ_MIN
                    },
                    key: String::new(),
                };
            }
        }
        Ok((unit, info))
    }

    /// Reads rows of one section from `at` on into `rows`, a batch, until the page's budget is
    /// full, advancing `at` past each row taken. Returns the rows the batch read and whether the
    /// page is full (the row that did not fit is left for the next page).
    fn page_rows<T: MovedRow>(
        &self,
        fill: &mut Fill<'_>,
        at: &mut Cursor,
        rows: &mut Vec<T>,
        after: &str,
        order: &str,
    ) -> Result<(usize, bool)> {
        let table = T::TABLE;
        let mut params = unit_params(table, fill.routing_key, fill.keys, fill.now);
        let now_at = params.len();
        let (pk, ps, pl) = (now_at + 1, now_at + 2, now_at + 3);
        let key = at.key.clone();
        params.push(Param::Text(&key));
        params.push(Param::Int(at.seq));
        params.push(Param::Int(BATCH));
        // workerd wants every parameter named: the `?n = ?n` terms name those a section's
        // cursor condition does not use.
        let after = after
            .replace("?K", &format!("?{pk}"))
            .replace("?S", &format!("?{ps}"));
        let sql = format!(
            "SELECT {}, {} FROM {} t WHERE {} AND {} AND {after} AND ?{pk} = ?{pk} AND ?{ps} = ?{ps}
             ORDER BY {order} LIMIT ?{pl}",
            table.select_list(),
            table.size_sql(),
            table.name,
            table.unit_sql(fill.keys.len()),
            table.live_sql(&format!("?{now_at}")),
        );
        let read = self.db.exec(&sql, &params)?;
        let got = read.len();
        for row in read {
            let c = cols(row);
            let size =
                ROW_OVERHEAD + usize::try_from(int(&c[c.len() - 1]).unwrap_or(0)).unwrap_or(0);
            if fill.bytes > 0 && fill.bytes + size > fill.budget {
                return Ok((got, true));
            }
            fill.bytes += size;
            let row = T::read(&mut c.into_iter());
            let (key, seq) = row.position();
            if let Some(key) = key {
                at.key = key.to_owned();
            }
            if let Some(seq) = seq {
                at.seq = seq;
            }
            rows.push(row);
        }
        Ok((got, false))
    }

    /// The shape of the unit of `routing_key` as it is here now.
    fn shape(&self, routing_key: &str, keys: &[String], lock: bool, now: i64) -> Result<Shape> {
        let queue = self.db.returned_row(
            &format!("{} LIMIT 1", QUEUE.live_row_sql()),
            &[Param::Text(routing_key), Param::Int(now)],
        )?;
        let mut cache_keys = Vec::new();
        let mut list_keys = Vec::new();
        for key in keys {
            let p = [Param::Text(key), Param::Int(now)];
            if self.db.returned_row(&CACHE.live_row_sql(), &p)? {
                cache_keys.push(key.clone());
            }
            if self
                .db
                .returned_row(&format!("SELECT 1 WHERE {}", live::list("?1", "?2")), &p)?
            {
                list_keys.push(key.clone());
            }
        }
        list_keys.sort_unstable();
        Ok(Shape {
            lock,
            queue,
            cache_keys,
            list_keys,
        })
    }
}
