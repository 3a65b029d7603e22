//! Draining a previous home: finding the units still to move, in key order from a cursor kept in
//! memory, marking the migration drained, and whom to tell; and the migration part of
//! `inspect()`. docs/resharding.md, "Draining", is the protocol.

use crate::base::db::{Database, Param, QueryExt, Value};
use crate::base::error::Result;
use crate::base::live;
use crate::base::store::Store;
use crate::sharding::migration::{DrainItem, HandoffInspection};
use crate::sharding::routing::Router;
use crate::sharding::unit::{cols, text};

impl<D: Database> Store<D> {
    /// Up to `limit` units still to move: sealed ones not yet confirmed first (with their
    /// destination and seal), then units not sealed yet (destination `None` under a layout this
    /// object cannot compute: the caller supplies it). Units are found in key order from the
    /// in-memory drain cursor (which a full pass that finds nothing resets), so each pass over
    /// the tables reads every key once, not once per batch. A stuck unit (its new home refused
    /// it, see `sharding::stuck`) is left out unless `with_stuck`: it must not head every batch.
    pub fn drain_candidates(
        &self,
        limit: usize,
        with_stuck: bool,
        now: i64,
    ) -> Result<Vec<DrainItem>> {
        let mut cursor = self.drain_cursor.borrow().clone();
        let items = self.candidates(limit, now, &mut cursor, true, with_stuck)?;
        *self.drain_cursor.borrow_mut() = cursor;
        Ok(items)
    }

    /// How many units are still to move, counted up to `limit` from the first key: for
    /// `inspect()`, which must not move the drain's cursor (a count that did would make the next
    /// drain step skip the keys it counted until the cursor wraps round).
    fn units_to_move(&self, limit: usize, now: i64) -> Result<usize> {
        let mut cursor = Default::default();
        Ok(self.candidates(limit, now, &mut cursor, false, true)?.len())
    }

    /// Up to `limit` drain candidates from `cursor` on (advanced past what was read); with
    /// `wrap`, a pass that finds nothing starts over once from the first key.
    ///
    /// Keys are read [`SCAN_PAGE`] at a time whatever `limit` is, and a key whose new home is
    /// this object costs no query of its own (its home is computed first, its seal looked up only
    /// if it moves): `check_drained` asks for one candidate, and before it read a page of one key
    /// and looked up a seal per staying key — a million queries for a million staying keys.
    fn candidates(
        &self,
        limit: usize,
        now: i64,
        cursor: &mut [Option<String>; 5],
        wrap: bool,
        with_stuck: bool,
    ) -> Result<Vec<DrainItem>> {
        let mut items = Vec::new();
        let skipped = if with_stuck { 0 } else { self.stuck.len() };
        for row in self.db.exec(
            "SELECT routing_key, destination, seal_id FROM handoff_sealed WHERE confirmed = 0
             ORDER BY routing_key LIMIT ?1",
            &[Param::Int((limit + skipped) as i64)],
        )? {
            let mut c = cols(row).into_iter();
            let routing_key = text(c.next().flatten()).unwrap_or_default();
            if !with_stuck && self.stuck.contains(&routing_key) {
                continue;
            }
            items.push(DrainItem {
                routing_key,
                destination: text(c.next().flatten()),
                seal_id: text(c.next().flatten()),
                thread_unit: true,
            });
            if items.len() >= limit {
                return Ok(items);
            }
        }
        let out = self.outgoing()?;
        let self_name = out.as_ref().map(|o| o.name.clone()).unwrap_or_default();
        let router = out
            .as_ref()
            .and_then(|o| o.migration.layout.as_ref())
            .map(Router::from_desc)
            .transpose()?;
        let base = out.as_ref().and_then(|o| o.migration.base.clone());
        for pass in 0..2 {
            for (table, (sql, thread_scoped)) in drain_scans().iter().enumerate() {
                loop {
                    let from = cursor[table].clone().unwrap_or_default();
                    let rows = self.db.exec(
                        sql,
                        &[
                            Param::Text(&from),
                            Param::Int(now),
                            Param::Int(SCAN_PAGE.max(limit) as i64),
                        ],
                    )?;
                    if rows.is_empty() {
                        break;
                    }
                    for row in rows {
                        let Some(key) = row.into_iter().next().and_then(Value::into_text) else {
                            continue;
                        };
                        cursor[table] = Some(key.clone());
                        let (routing_key, thread_unit) = if *thread_scoped {
                            (key, true)
                        } else {
                            let (r, t) = crate::sharding::routing::routing_key(
                                crate::sharding::routing::Scope::Key,
                                &key,
                            );
                            (r.to_owned(), t)
                        };
                        // Computable: the layout says. Otherwise a key that is not a thread's goes
                        // to the new base object; a thread's needs the caller's shardKey.
                        let destination = match &router {
                            Some(r) => Some(r.home_of(&routing_key)),
                            None if !thread_unit => base.clone(),
                            None => None,
                        };
                        if destination.as_deref() == Some(self_name.as_str()) {
                            continue; // its new home is this very object: it stays
                        }
                        if items
                            .iter()
                            .any(|i: &DrainItem| i.routing_key == routing_key)
                            || self.stays.contains(&routing_key)
                            || self.sealed_for(&routing_key)?.is_some()
                        {
                            continue;
                        }
                        items.push(DrainItem {
                            routing_key,
                            destination,
                            seal_id: None,
                            thread_unit,
                        });
                        if items.len() >= limit {
                            return Ok(items);
                        }
                    }
                }
            }
            if !items.is_empty() || pass == 1 || !wrap {
                break;
            }
            // Nothing from the cursor on: start over once, for keys written behind it.
            *cursor = Default::default();
        }
        Ok(items)
    }

    /// Marks the migration drained if nothing of it is left to move: no unconfirmed seal (a
    /// stuck one included) and no unit whose new home is elsewhere. Returns whether it is drained.
    pub fn check_drained(&self, now: i64) -> Result<bool> {
        let Some(out) = self.outgoing()? else {
            return Ok(true);
        };
        if out.drained_at.is_some() {
            return Ok(true);
        }
        if !self.drain_candidates(1, true, now)?.is_empty() {
            return Ok(false);
        }
        *self.outgoing_cache.borrow_mut() = None;
        self.db.transaction(&mut || {
            self.db.exec(
                "UPDATE handoff_out SET drained_at = ?1 WHERE id = 1",
                &[Param::Int(now)],
            )?;
            self.lower_guard_if_done()
        })?;
        Ok(true)
    }

    /// Every new home has been told this object drained (see [`Outgoing::notified_at`]).
    pub fn mark_drain_notified(&self, now: i64) -> Result<()> {
        *self.outgoing_cache.borrow_mut() = None;
        self.db.exec(
            "UPDATE handoff_out SET notified_at = ?1 WHERE id = 1 AND drained_at IS NOT NULL",
            &[Param::Int(now)],
        )?;
        // Markers (shardKey layouts) expire from the alarm (see `handoff_guard`).
        if let Some(out) = self.outgoing()? {
            if let (None, Some(drained_at)) = (&out.migration.layout, out.drained_at) {
                self.request_alarm_by(drained_at + crate::sharding::guard::MARKER_LIFETIME_MS);
            }
        }
        Ok(())
    }

    /// The destinations a drained source tells: every object of a computable new layout, else the
    /// distinct destinations of its markers.
    pub fn drained_destinations(&self) -> Result<Vec<String>> {
        let Some(out) = self.outgoing()? else {
            return Ok(Vec::new());
        };
        if let Some(layout) = &out.migration.layout {
            let router = Router::from_desc(layout)?;
            return Ok(router
                .object_names()
                .into_iter()
                .filter(|n| *n != out.name)
                .collect());
        }
        Ok(self
            .db
            .exec("SELECT DISTINCT destination FROM handoff_sealed", &[])?
            .into_iter()
            .filter_map(|r| r.into_iter().next().and_then(Value::into_text))
            .collect())
    }

    /// For `inspect()`: what this object still holds for a migration.
    pub fn handoff_inspection(&self, now: i64) -> Result<HandoffInspection> {
        let out = self.outgoing()?;
        let sealed = self
            .db
            .query_int(
                "SELECT COUNT(*) FROM handoff_sealed WHERE confirmed = 0",
                &[],
            )?
            .unwrap_or(0);
        let markers = self
            .db
            .query_int(
                "SELECT COUNT(*) FROM handoff_sealed WHERE confirmed = 1",
                &[],
            )?
            .unwrap_or(0);
        let imports = self
            .db
            .query_int("SELECT COUNT(*) FROM handoff_in", &[])?
            .unwrap_or(0);
        let sources = self
            .db
            .exec("SELECT source FROM handoff_sources WHERE drained = 0", &[])?
            .into_iter()
            .filter_map(|r| r.into_iter().next().and_then(Value::into_text))
            .collect();
        let (migration, drained, units_to_move) = match &out {
            Some(o) if o.drained_at.is_none() => (
                Some(o.migration.id.clone()),
                false,
                i64::try_from(self.units_to_move(1000, now)?).unwrap_or(i64::MAX),
            ),
            Some(o) => (Some(o.migration.id.clone()), true, 0),
            None => (None, false, 0),
        };
        Ok(HandoffInspection {
            previous_home_of: migration,
            drained,
            units_to_move,
            sealed_units: sealed,
            markers,
            imported_records: imports,
            partial_imports: self.partial_imports()?,
            receiving_from: sources,
            stuck_count: i64::try_from(self.stuck.len()).unwrap_or(i64::MAX),
            stuck_units: self.stuck.listed(),
        })
    }
}

/// Keys a drain scan reads per query.
const SCAN_PAGE: usize = 512;

/// The keys a drain scans, one query per table: keys after the cursor (`?1`), live at `?2`, at
/// most `?3`. `true`: the key is a routing key already (thread-scoped tables).
fn drain_scans() -> [(String, bool); 5] {
    [
        (
            "SELECT thread_id FROM subscriptions WHERE thread_id > ?1 AND ?2 = ?2
         ORDER BY thread_id LIMIT ?3"
                .to_owned(),
            true,
        ),
        (
            format!(
            "SELECT thread_id FROM locks WHERE thread_id > ?1 AND {} ORDER BY thread_id LIMIT ?3",
            live::lock("?2")
        ),
            true,
        ),
        (
            format!(
                "SELECT DISTINCT queue_key FROM queue_entries WHERE queue_key > ?1
             AND {} ORDER BY queue_key LIMIT ?3",
                live::queue_row("?2")
            ),
            true,
        ),
        (
            format!(
                "SELECT key FROM cache WHERE key > ?1 AND {} ORDER BY key LIMIT ?3",
                live::cache("?2")
            ),
            false,
        ),
        (
            // Live lists only (`live`): an expired list is not a unit to move.
            format!(
                "SELECT k FROM (SELECT DISTINCT list_key AS k FROM list_items WHERE list_key > ?1
                            ORDER BY list_key)
             WHERE {} ORDER BY k LIMIT ?3",
                live::list_with_items("k", "?2")
            ),
            false,
        ),
    ]
}
