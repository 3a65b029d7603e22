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

use crate::base::db::{Database, Param, QueryExt, Value};
use crate::base::error::{Error, Result};
use crate::base::live;
use crate::base::store::Store;
use crate::base::validate;
use crate::sharding::handoff::{
    cols, int, placeholders, text, unit_keys, CacheRow, ListItemRow, ListRow, QueueRow, Unit,
};

/// A page's byte budget: far below the 32 MiB an RPC carries, and above any one row (a value is
/// at most 2 MB), so a page always holds at least one row and a unit of small rows moves whole.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Rows read per query while a page is filled.
const BATCH: i64 = 64;

/// Bytes a row costs on the wire beyond its strings (numbers, brackets).
const ROW_OVERHEAD: usize = 64;

/// Which parts of a unit hold live rows: what the new home checks for overlap (it refuses to
/// import over live rows of its own) before the first page, since later pages are not yet known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    pub lock: bool,
    pub queue: bool,
    pub cache_keys: Vec<String>,
    pub list_keys: Vec<String>,
}

impl Shape {
    pub fn of(unit: &Unit) -> Shape {
        let mut list_keys: Vec<String> = unit
            .lists
            .iter()
            .map(|l| l.list_key.clone())
            .chain(unit.list_items.iter().map(|i| i.list_key.clone()))
            .collect();
        list_keys.sort_unstable();
        list_keys.dedup();
        Shape {
            lock: unit.lock.is_some(),
            queue: !unit.queue.is_empty(),
            cache_keys: unit.cache.iter().map(|c| c.key.clone()).collect(),
            list_keys,
        }
    }
}

/// Where a page starts and ends; the first one also says the unit's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    /// `""` for the first page.
    pub from: String,
    /// Where the next page starts; `None` on the last.
    pub next: Option<String>,
    /// On the first page.
    pub shape: Option<Shape>,
}

/// What a new home did with a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageImport {
    /// The unit is imported: by this page (`true`) or before (`false`).
    Done(bool),
    /// Send the page that starts here next.
    Expect(String),
}

/// A position in a unit's row order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
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

    fn parse(text: &str) -> Result<Cursor> {
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
        let n = keys.len();
        let mut params_keys: Vec<Param<'_>> = keys.iter().map(|k| Param::Text(k)).collect();
        params_keys.push(Param::Int(now));
        let key_list = placeholders(1, n);
        let now_p = format!("?{}", n + 1);
        let (pk, ps, pl) = (n + 2, n + 3, n + 4);
        while at.section <= 4 {
            let sql = match at.section {
                1 => format!(
                    "SELECT key, value, expires_at, request_id, 0,
                            LENGTH(key) + LENGTH(value) + COALESCE(LENGTH(request_id), 0)
                     FROM cache WHERE key IN ({key_list}) AND {} AND key > ?{pk} AND ?{ps} = ?{ps}
                     ORDER BY key LIMIT ?{pl}",
                    live::cache(&now_p)
                ),
                2 => format!(
                    "SELECT l.list_key, l.expires_at, NULL, NULL, 0, LENGTH(l.list_key)
                     FROM lists l WHERE l.list_key IN ({key_list}) AND {}
                       AND l.list_key > ?{pk} AND ?{ps} = ?{ps}
                     ORDER BY l.list_key LIMIT ?{pl}",
                    live::list("l.list_key", &now_p)
                ),
                3 => format!(
                    "SELECT i.list_key, i.value, i.requests, i.expires_at, i.seq,
                            LENGTH(i.list_key) + LENGTH(i.value) + COALESCE(LENGTH(i.requests), 0)
                     FROM list_items i WHERE i.list_key IN ({key_list}) AND {}
                       AND (i.list_key > ?{pk} OR (i.list_key = ?{pk} AND i.seq < ?{ps}))
                     ORDER BY i.list_key, i.seq DESC LIMIT ?{pl}",
                    live::list_with_items("i.list_key", &now_p)
                ),
                _ => format!(
                    "SELECT value, expires_at, request_id, depth, seq, taken_by, retain_until,
                            LENGTH(value) + COALESCE(LENGTH(request_id), 0)
                                + COALESCE(LENGTH(taken_by), 0)
                     FROM queue_entries WHERE queue_key = ?1 AND {}
                       AND seq > ?{ps} AND ?{pk} = ?{pk} AND ?1 IN ({key_list})
                     ORDER BY seq LIMIT ?{pl}",
                    live::queue_row(&now_p),
                ),
            };
            let mut params = params_keys.clone();
            let section_key = at.key.clone();
            params.push(Param::Text(&section_key));
            params.push(Param::Int(at.seq));
            params.push(Param::Int(BATCH));
            // workerd wants every parameter named: the `?n = ?n` and `?1 IN (…)` terms name
            // those a query does not otherwise use.
            let rows = self.db.exec(&sql, &params)?;
            let got = rows.len();
            for row in rows {
                let c = cols(row);
                let size =
                    ROW_OVERHEAD + usize::try_from(int(&c[c.len() - 1]).unwrap_or(0)).unwrap_or(0);
                if bytes > 0 && bytes + size > budget {
                    info.next = Some(at.text());
                    // The first of several pages says the whole unit's shape (a unit that fits
                    // in one page is its own).
                    if first {
                        info.shape =
                            Some(self.shape(routing_key, &keys, unit.lock.is_some(), now)?);
                    }
                    return Ok((unit, info));
                }
                bytes += size;
                let mut c = c.into_iter();
                match at.section {
                    1 => {
                        let row = CacheRow {
                            key: text(c.next().flatten()).unwrap_or_default(),
                            value: text(c.next().flatten()).unwrap_or_default(),
                            expires_at: int(&c.next().flatten()),
                            request_id: text(c.next().flatten()),
                        };
                        at.key = row.key.clone();
                        unit.cache.push(row);
                    }
                    2 => {
                        let row = ListRow {
                            list_key: text(c.next().flatten()).unwrap_or_default(),
                            expires_at: int(&c.next().flatten()),
                        };
                        at.key = row.list_key.clone();
                        unit.lists.push(row);
                    }
                    3 => {
                        let list_key = text(c.next().flatten()).unwrap_or_default();
                        let value = text(c.next().flatten()).unwrap_or_default();
                        let requests = text(c.next().flatten());
                        let expires_at = int(&c.next().flatten());
                        let seq = int(&c.next().flatten()).unwrap_or(0);
                        at.key = list_key.clone();
                        at.seq = seq;
                        unit.list_items.push(ListItemRow {
                            list_key,
                            seq,
                            value,
                            requests,
                            expires_at,
                        });
                    }
                    _ => {
                        let value = text(c.next().flatten()).unwrap_or_default();
                        let expires_at = int(&c.next().flatten()).unwrap_or(0);
                        let request_id = text(c.next().flatten());
                        let depth = int(&c.next().flatten());
                        let seq = int(&c.next().flatten()).unwrap_or(0);
                        let taken_by = text(c.next().flatten());
                        let retain_until = int(&c.next().flatten());
                        at.seq = seq;
                        unit.queue.push(QueueRow {
                            seq,
                            value,
                            expires_at,
                            request_id,
                            depth,
                            taken_by,
                            retain_until,
                        });
                    }
                }
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

    /// A unit's head: subscription, lock and tenure (the rest of `collect_unit` left empty).
    fn collect_head(&self, routing_key: &str, now: i64) -> Result<Unit> {
        let r = [Param::Text(routing_key), Param::Int(now)];
        let subscribed = self
            .db
            .returned_row("SELECT 1 FROM subscriptions WHERE thread_id = ?1", &r[..1])?;
        let lock = self.live_lock(routing_key, now)?;
        let tenure = lock
            .as_ref()
            .and_then(|(token, _)| self.tenures.export(routing_key, token, now));
        Ok(Unit {
            routing_key: routing_key.to_owned(),
            subscribed,
            lock,
            tenure,
            ..Unit::default()
        })
    }

    /// The shape of the unit of `routing_key` as it is here now.
    fn shape(&self, routing_key: &str, keys: &[String], lock: bool, now: i64) -> Result<Shape> {
        let queue = self.db.returned_row(
            &format!(
                "SELECT 1 FROM queue_entries WHERE queue_key = ?1 AND {} LIMIT 1",
                live::queue_row("?2")
            ),
            &[Param::Text(routing_key), Param::Int(now)],
        )?;
        let mut cache_keys = Vec::new();
        let mut list_keys = Vec::new();
        for key in keys {
            let p = [Param::Text(key), Param::Int(now)];
            if self.db.returned_row(
                &format!(
                    "SELECT 1 FROM cache WHERE key = ?1 AND {}",
                    live::cache("?2")
                ),
                &p,
            )? {
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

    /// Imports one page of a unit sealed by `source` (see the module comment): the first page
    /// (`from` empty, with the unit's `shape`) is refused like a whole unit over live rows here;
    /// each page is written once, in its own transaction, if it starts where the last one ended.
    #[allow(clippy::too_many_arguments)]
    pub fn import_page(
        &self,
        source: &str,
        migration_id: &str,
        page: &Unit,
        seal_id: &str,
        from: &str,
        next: Option<&str>,
        shape: Option<&Shape>,
        now: i64,
    ) -> Result<PageImport> {
        validate::key("source", source)?;
        validate::key("routingKey", &page.routing_key)?;
        validate::key("sealId", seal_id)?;
        Cursor::parse(from)?;
        if let Some(next) = next {
            Cursor::parse(next)?;
        }
        self.refuse_other_outgoing(migration_id)?;
        let r = page.routing_key.as_str();
        let done = self.db.transaction(&mut || {
            self.db.exec(
                "INSERT INTO handoff_sources (source, migration, drained) VALUES (?1, ?2, 0)
                 ON CONFLICT (source) DO UPDATE SET migration = excluded.migration, drained = 0
                 WHERE handoff_sources.migration <> excluded.migration",
                &[Param::Text(source), Param::Text(migration_id)],
            )?;
            if self.db.returned_row(
                "SELECT 1 FROM handoff_in WHERE routing_key = ?1 AND seal_id = ?2",
                &[Param::Text(r), Param::Text(seal_id)],
            )? {
                return Ok(PageImport::Done(false));
            }
            let partial = self
                .db
                .exec(
                    "SELECT seal_id, next_cursor FROM handoff_partial WHERE routing_key = ?1",
                    &[Param::Text(r)],
                )?
                .into_iter()
                .next()
                .map(|row| {
                    let mut c = cols(row).into_iter();
                    (
                        text(c.next().flatten()).unwrap_or_default(),
                        text(c.next().flatten()).unwrap_or_default(),
                    )
                });
            match &partial {
                None if !from.is_empty() => return Ok(PageImport::Expect(String::new())),
                None => {
                    let shape = shape.ok_or_else(|| {
                        Error::invalid("page", "a unit's first page must say its shape")
                    })?;
                    if self.imported(r)? || self.overlaps(r, shape, now)? {
                        return Err(Error::storage(format!(
                            "cannot import routing key {r:?} from {source}: this object already holds some of its rows"
                        )));
                    }
                    self.raise_guard()?;
                    self.clear_dead(r, shape)?;
                }
                Some((sealed, _)) if sealed != seal_id => {
                    return Err(Error::storage(format!(
                        "cannot import routing key {r:?} from {source}: another import of it is under way"
                    )));
                }
                Some((_, expected)) if expected != from => {
                    return Ok(PageImport::Expect(expected.clone()));
                }
                Some(_) => {}
            }
            self.write_rows(page)?;
            self.write_tenure_rows(page, now)?;
            Ok(match next {
                Some(next) => {
                    self.db.exec(
                        "INSERT INTO handoff_partial (routing_key, source, seal_id, next_cursor)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (routing_key) DO UPDATE SET next_cursor = excluded.next_cursor",
                        &[
                            Param::Text(r),
                            Param::Text(source),
                            Param::Text(seal_id),
                            Param::Text(next),
                        ],
                    )?;
                    PageImport::Expect(next.to_owned())
                }
                None => {
                    if partial.is_some() {
                        self.db.exec(
                            "DELETE FROM handoff_partial WHERE routing_key = ?1",
                            &[Param::Text(r)],
                        )?;
                    }
                    self.db.exec(
                        "INSERT INTO handoff_in (routing_key, source, seal_id) VALUES (?1, ?2, ?3)",
                        &[Param::Text(r), Param::Text(source), Param::Text(seal_id)],
                    )?;
                    PageImport::Done(true)
                }
            })
        })?;
        // What was written this time (an `Expect` for the page sent means it was written).
        let wrote = match &done {
            PageImport::Done(now_done) => *now_done,
            PageImport::Expect(at) => next == Some(at.as_str()),
        };
        if wrote {
            self.note_unit_deadlines(page);
            if let (Some(tenure), Some((token, expires_at))) = (&page.tenure, &page.lock) {
                if tenure.token == *token {
                    self.tenures.import(r, tenure, *expires_at, true, now);
                }
            }
        }
        if matches!(done, PageImport::Done(_)) {
            self.note_owned(migration_id, r);
        }
        Ok(done)
    }

    /// Units being imported page by page here (for `inspect()`).
    pub fn partial_imports(&self) -> Result<i64> {
        Ok(self
            .db
            .exec("SELECT COUNT(*) FROM handoff_partial", &[])?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .and_then(|v: Value| v.as_int())
            .unwrap_or(0))
    }
}
