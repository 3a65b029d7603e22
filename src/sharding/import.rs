//! The new home's side of a hand-over: importing a unit whole ([`Store::import_unit`]) or page by
//! page ([`Store::import_page`], see `pages`), and forgetting a drained source's records.
//! docs/resharding.md, "States of a unit R moving from S to D" and "Spec: messages".

use crate::base::alarm::Cleanup;
use crate::base::db::{Database, Param, QueryExt, Value};
use crate::base::error::{Error, Result};
use crate::base::store::Store;
use crate::base::validate;
use crate::sharding::pages::Cursor;
use crate::sharding::unit::{cols, text, PageImport, Shape, Unit};

impl<D: Database> Store<D> {
    /// The start of every import, whole or a page, inside its transaction: records that this
    /// object receives units of `source` in this migration — a record of an earlier migration
    /// from the same source (drained, or it could not have started this one) gives way to this
    /// one — and answers whether this seal of the unit was imported already (a resent message).
    fn note_source_and_check_imported(
        &self,
        source: &str,
        migration_id: &str,
        routing_key: &str,
        seal_id: &str,
    ) -> Result<bool> {
        self.db.exec(
            "INSERT INTO handoff_sources (source, migration, drained) VALUES (?1, ?2, 0)
             ON CONFLICT (source) DO UPDATE SET migration = excluded.migration, drained = 0
             WHERE handoff_sources.migration <> excluded.migration",
            &[Param::Text(source), Param::Text(migration_id)],
        )?;
        self.db.returned_row(
            "SELECT 1 FROM handoff_in WHERE routing_key = ?1 AND seal_id = ?2",
            &[Param::Text(routing_key), Param::Text(seal_id)],
        )
    }

    /// Imports a unit from `source` sealed with `seal_id`: its rows and the record, in one
    /// transaction. A second import of the same seal changes nothing. A unit this object already
    /// holds rows of is refused (a conflict: nothing is overwritten).
    pub fn import_unit(
        &self,
        source: &str,
        migration_id: &str,
        unit: &Unit,
        seal_id: &str,
        now: i64,
    ) -> Result<bool> {
        validate::key("source", source)?;
        validate::key("routingKey", &unit.routing_key)?;
        self.refuse_other_outgoing(migration_id)?;
        let r = unit.routing_key.as_str();
        self.forget_incoming();
        let imported = self.db.transaction(&mut || {
            if self.note_source_and_check_imported(source, migration_id, r, seal_id)? {
                return Ok(false);
            }
            // A part of the unit may live here already under a layout that kept parts apart
            // (0.1.x kept thread-scoped rows and cache keys on different objects): the parts
            // merge. The same row in both would be two owners: refused, nothing overwritten.
            // Pages of this very seal arrived first (the unit was larger then: rows have expired
            // since): they are rows of the same sealed copy, so the whole unit completes them.
            let paged = self.db.returned_row(
                "DELETE FROM handoff_partial WHERE routing_key = ?1 AND seal_id = ?2 RETURNING 1",
                &[Param::Text(r), Param::Text(seal_id)],
            )?;
            if !paged && (self.imported(r)? || self.overlaps(r, &Shape::of(unit), now)?) {
                return Err(Error::storage(format!(
                    "cannot import routing key {r:?} from {source}: this object already holds some of its rows"
                )));
            }
            self.raise_guard()?;
            if paged {
                self.write_rows(unit)?;
            } else {
                self.write_unit(unit)?;
            }
            self.write_tenure_rows(unit, now)?;
            self.db.exec(
                "INSERT INTO handoff_in (routing_key, source, seal_id) VALUES (?1, ?2, ?3)",
                &[Param::Text(r), Param::Text(source), Param::Text(seal_id)],
            )?;
            Ok(true)
        })?;
        if imported {
            self.note_unit_deadlines(unit);
            if let (Some(tenure), Some((token, expires_at))) = (&unit.tenure, &unit.lock) {
                if tenure.token == *token {
                    self.tenures.import(r, tenure, *expires_at, true, now);
                }
            }
        }
        self.note_owned(migration_id, r);
        Ok(imported)
    }

    /// Imported deadlines need the alarm like written ones.
    pub(crate) fn note_unit_deadlines(&self, unit: &Unit) {
        for at in unit.cache.iter().filter_map(|c| c.expires_at) {
            self.alarm.note_deadline(at, Cleanup::AtDeadline);
        }
        for at in unit.lists.iter().filter_map(|l| l.expires_at) {
            self.alarm.note_deadline(at, Cleanup::AtDeadline);
        }
        if let Some((_, at)) = &unit.lock {
            self.alarm.note_deadline(*at, Cleanup::Eventually);
        }
        for q in &unit.queue {
            self.alarm
                .note_deadline(q.retain_until.unwrap_or(q.expires_at), Cleanup::Eventually);
        }
    }

    /// Whether the unit sealed with `seal_id` was imported here (a previous home asks before it
    /// deletes its copy).
    pub fn has_import(&self, routing_key: &str, seal_id: &str) -> Result<bool> {
        self.db.returned_row(
            "SELECT 1 FROM handoff_in WHERE routing_key = ?1 AND seal_id = ?2",
            &[Param::Text(routing_key), Param::Text(seal_id)],
        )
    }

    /// `source` has drained: its records here are of no more use (deleted in bounded batches;
    /// returns how many are left).
    pub fn source_has_drained(&self, source: &str, migration_id: &str) -> Result<i64> {
        let recorded = self.db.query_text(
            "SELECT migration FROM handoff_sources WHERE source = ?1",
            &[Param::Text(source)],
        )?;
        if recorded.as_deref().is_some_and(|m| m != migration_id) {
            // News of an earlier migration than the one this object now receives: nothing to do.
            return Ok(0);
        }
        self.forget_incoming();
        self.db.exec(
            "INSERT INTO handoff_sources (source, migration, drained) VALUES (?1, ?2, 1)
             ON CONFLICT (source) DO UPDATE SET drained = 1",
            &[Param::Text(source), Param::Text(migration_id)],
        )?;
        self.lower_guard_if_done()?;
        self.db.exec(
            "DELETE FROM handoff_in WHERE routing_key IN (
                 SELECT routing_key FROM handoff_in WHERE source = ?1 LIMIT 1000)",
            &[Param::Text(source)],
        )?;
        Ok(self
            .db
            .query_int(
                "SELECT COUNT(*) FROM handoff_in WHERE source = ?1",
                &[Param::Text(source)],
            )?
            .unwrap_or(0))
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
            if self.note_source_and_check_imported(source, migration_id, r, seal_id)? {
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
