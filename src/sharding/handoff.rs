//! Online re-sharding: moving a routing key's rows from its previous home to its new home while
//! the bot keeps running. docs/resharding.md is the long form; this is the contract the code keeps.
//!
//! # Units and roles
//! A *unit* is everything one object holds for one routing key R (see `routing`): the
//! subscription and the lock of R, R's queue (receipts included), and the cache and list keys
//! whose routing key is R — `R` itself and `thread-state:R`, `channel-state:R`, `msg-history:R`,
//! `active-turn:R`, `abort-turn:R`: point lookups, never a scan. Units move whole. During a
//! migration an object may be a *previous home* (source) for units it holds and a *new home*
//! (destination) for units it receives; it learns each role from the first message of that
//! migration it receives.
//!
//! # States of a unit R moving from S to D
//! 1. **At S.** S owns R and serves it, whoever calls.
//! 2. **Sealed at S for D** (`handoff_sealed` row, written in one transaction with the decision).
//!    From this moment S never serves R again: every call for R at S is told to go to D. S's rows
//!    of R stay, untouched, as the copy D imports.
//! 3. **Imported at D** (the rows and a `handoff_in` record, one transaction). D owns R and
//!    serves it.
//! 4. **Cleaned at S**: once S knows D has R durably (D answered an import, or confirmed it), S
//!    deletes its copy and the seal. (Under a `shardKey` layout, which S cannot compute, the seal
//!    stays as a one-row marker saying where R went.)
//! 5. **Source drained**: S holds nothing of the migration any more and tells its destinations,
//!    which then forget their `handoff_in` records of S: no row of the migration is left. That S
//!    has told them is recorded apart (`notified_at`), so a reset in between is caught up by the
//!    next drain step.
//!
//! # Invariants (why they hold)
//! - **One owner.** Before the seal only S serves R (D never serves a unit it has not imported,
//!   nor creates one its source may still hold: it asks S first). The seal and the decision to
//!   hand R over are one transaction in S; after it S serves R to nobody. D serves R only after
//!   importing it, or after S answered that it holds nothing of R and will not create it. So at
//!   every moment at most one object serves R, and a lock is never held twice.
//! - **Nothing lost or doubled.** S deletes its copy only after D has confirmed the import, which
//!   D writes in one transaction with the rows; a lost reply or a crash anywhere leaves either the
//!   seal (S resends or re-confirms, D's record makes a second import a no-op) or nothing to do.
//!   D never re-imports over a unit it owns (its record, or its rows, say it owns R), so a unit
//!   emptied at D is never resurrected from a stale copy.
//! - **Time is kept.** Rows move with their deadlines, tokens, request ids and receipts; expired
//!   rows are not moved (they are deleted with the copy).
//! - **Who may create R.** During the migration S creates no unit it does not hold when it can
//!   compute the new layout (`shards`, `name`): it points the caller to R's new home. Under a
//!   `shardKey` new layout S cannot, so it keeps serving units nobody asked for; the first time D
//!   asks for one S holds nothing of, S writes the one-row marker, after which it points callers to
//!   D.
//! - **Runs of a migration do not mix.** Migration ids come from the layouts, so a → b → a → b
//!   repeats one. A new home's knowledge of a run (the source drained; units owned) is per id,
//!   and withdrawn before the source takes part in any other migration: the source *retires* the
//!   run (tells its new homes, `source_retired`, then deletes its record, `forget_outgoing`).
//! - **One migration at a time.** An object refuses to become the previous home of a second
//!   migration while the first is not drained, and refuses to start one while it is still
//!   receiving units of another: a clear error, nothing changed. Admission (`admission`, with
//!   the decision table in docs/resharding.md) refuses calls of a second one likewise, and takes
//!   a Worker one change behind for an old-layout caller of the current change.

use serde::Serialize;
use tsify::Tsify;

use crate::base::alarm::Cleanup;
use crate::base::db::{Database, Param, QueryExt, Row, Value};
use crate::base::error::{Error, Result};
use crate::base::live;
use crate::base::store::Store;
use crate::base::validate;
use crate::sharding::pages::Shape;
use crate::sharding::routing::{LayoutDesc, Router, THREAD_KEY_PREFIXES};

/// What a migration is: its id (the adapter derives it from both layouts) and, when the objects
/// can compute it, the new layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    pub id: String,
    /// The new layout, if built-in (`shards`, `name`); `None` under a `shardKey` function.
    pub layout: Option<LayoutDesc>,
    /// The jurisdiction of the namespace, if any (objects reach each other in it).
    pub jurisdiction: Option<String>,
    /// The new layout's base object: where every key that is not a thread's lives under a
    /// `shardKey` layout (with `layout`, its `name`).
    pub base: Option<String>,
}

/// A previous home's record of the migration it is a source of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    pub migration: Migration,
    /// This object's own name (objects do not know their names otherwise).
    pub name: String,
    pub started_at: i64,
    pub drained_at: Option<i64>,
    /// When the new homes were told that this object has drained (they then forget their
    /// records of it). Kept apart from `drained_at`: a reset between the two must not leave them
    /// untold, or they would keep records and keep asking this object about new keys.
    pub notified_at: Option<i64>,
}

/// Every row one object holds for one routing key, as it moves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unit {
    pub routing_key: String,
    pub subscribed: bool,
    /// `[token, expiresAt]`.
    pub lock: Option<(String, i64)>,
    pub cache: Vec<CacheRow>,
    pub lists: Vec<ListRow>,
    pub list_items: Vec<ListItemRow>,
    pub queue: Vec<QueueRow>,
    /// The lock's tenure at the previous home, if it has one (memory only there and here; see
    /// `tenure`): it moves so the new home holds the holder's final dequeue and hands the lock
    /// over as the previous home would have.
    pub tenure: Option<crate::guarantees::tenure::MovingTenure>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheRow {
    pub key: String,
    pub value: String,
    pub expires_at: Option<i64>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListRow {
    pub list_key: String,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListItemRow {
    pub list_key: String,
    pub seq: i64,
    pub value: String,
    pub requests: Option<String>,
    /// On a list's newest item, the list's exact expiry (see `lists`); none before layout 4.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub seq: i64,
    pub value: String,
    pub expires_at: i64,
    pub request_id: Option<String>,
    pub depth: Option<i64>,
    pub taken_by: Option<String>,
    pub retain_until: Option<i64>,
}

impl Unit {
    pub fn is_empty(&self) -> bool {
        !self.subscribed
            && self.lock.is_none()
            && self.cache.is_empty()
            && self.lists.is_empty()
            && self.list_items.is_empty()
            && self.queue.is_empty()
    }

    /// Rows the unit would write.
    pub fn rows(&self) -> usize {
        usize::from(self.subscribed)
            + usize::from(self.lock.is_some())
            + self.cache.len()
            + self.lists.len()
            + self.list_items.len()
            + self.queue.len()
    }
}

/// Where a call may be served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "admit"
)]
pub enum Admission {
    /// Here.
    Serve,
    /// Not here: the unit lives on `object` now. `layout`, when known, is the whole new layout,
    /// so the caller can route every key with it from now on.
    Moved {
        object: String,
        layout: Option<LayoutDesc>,
    },
    /// Not yet here: ask `source` for the unit of `routing_key` first (then import it and
    /// admit again).
    Pull { source: String, routing_key: String },
}

/// What a previous home answers when a new home asks for a unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Handed {
    /// The unit, sealed for the asker: import it with this seal id. `page`, when the asker asked
    /// for pages (see `handoff_pages`): where this part of the unit starts and ends.
    Unit {
        unit: Box<Unit>,
        seal_id: String,
        page: Option<crate::sharding::pages::PageInfo>,
    },
    /// Nothing of the key is held here, and nothing will be created here: it is the asker's.
    Nothing,
    /// The unit went elsewhere.
    Moved { object: String },
}

/// `?first,?first+1,…` for `count` numbered parameters: the `IN (…)` list of a unit's keys.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A key of the in-memory memos, scoped to one migration.
pub(crate) fn memo_key(migration_id: &str, name: &str) -> String {
    format!("{migration_id}\u{0}{name}")
}

/// The cache and list keys of a routing key's unit.
pub(crate) fn unit_keys(routing_key: &str) -> Vec<String> {
    std::iter::once(routing_key.to_owned())
        .chain(
            THREAD_KEY_PREFIXES
                .iter()
                .map(|p| format!("{p}{routing_key}")),
        )
        .collect()
}

pub(crate) fn text(v: Option<Value>) -> Option<String> {
    v.and_then(Value::into_text)
}

pub(crate) fn int(v: &Option<Value>) -> Option<i64> {
    v.as_ref().and_then(|v| v.as_int())
}

pub(crate) fn cols(row: Row) -> Vec<Option<Value>> {
    row.into_iter()
        .map(|v| if v == Value::Null { None } else { Some(v) })
        .collect()
}

impl<D: Database> Store<D> {
    // ---- the record of the migration this object is a previous home of ---------------------

    /// The migration this object is a previous home of, if any (from memory after the first
    /// read).
    pub fn outgoing(&self) -> Result<Option<Outgoing>> {
        if let Some(cached) = self.outgoing_cache.borrow().as_ref() {
            return Ok(cached.clone());
        }
        let read = self.read_outgoing()?;
        *self.outgoing_cache.borrow_mut() = Some(read.clone());
        Ok(read)
    }

    fn read_outgoing(&self) -> Result<Option<Outgoing>> {
        let rows = self.db.exec(
            "SELECT migration, new_name, new_shards, jurisdiction, self_name, started_at, drained_at,
                    notified_at
             FROM handoff_out WHERE id = 1",
            &[],
        )?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let mut c = cols(row).into_iter();
        let id = text(c.next().flatten()).unwrap_or_default();
        let new_name = text(c.next().flatten());
        let new_shards = int(&c.next().flatten());
        let jurisdiction = text(c.next().flatten());
        let name = text(c.next().flatten()).unwrap_or_default();
        let started_at = int(&c.next().flatten()).unwrap_or(0);
        let drained_at = int(&c.next().flatten());
        let notified_at = int(&c.next().flatten());
        let layout = match (&new_name, new_shards) {
            (Some(name), Some(shards)) => Some(LayoutDesc {
                name: name.clone(),
                shards: u32::try_from(shards).unwrap_or(1),
            }),
            _ => None,
        };
        Ok(Some(Outgoing {
            migration: Migration {
                id,
                layout,
                jurisdiction,
                base: new_name,
            },
            name,
            started_at,
            drained_at,
            notified_at,
        }))
    }

    /// Becomes (or already is) the previous home of `migration`, named `self_name`. Refuses a
    /// second migration before the first has drained, and refuses while this object is still
    /// receiving units of another migration.
    pub fn begin_outgoing(&self, migration: &Migration, self_name: &str, now: i64) -> Result<()> {
        validate::key("migration.id", &migration.id)?;
        validate::key("source", self_name)?;
        if let Some(layout) = &migration.layout {
            Router::from_desc(layout)?;
        }
        if self
            .outgoing()?
            .is_some_and(|current| current.migration.id == migration.id)
        {
            return Ok(());
        }
        if self.is_behind_known(&migration.id)? {
            // A Worker one change behind (its drain, say) must not restart a change that is over.
            return Err(Error::invalid(
                "migrateFrom",
                format!(
                    "object {self_name} takes part in a later layout change than migration {}: \
                     that one is over here; deploy the new layout to every Worker",
                    migration.id
                ),
            ));
        }
        self.refuse_other_outgoing(&migration.id)?;
        if let Some(other) = self.db.query_text(
            "SELECT migration FROM handoff_sources WHERE drained = 0 AND migration <> ?1 LIMIT 1",
            &[Param::Text(&migration.id)],
        )? {
            return Err(Error::invalid(
                "migrateFrom",
                format!(
                    "object {self_name} is still receiving keys from an earlier layout change \
                     (migration {other}); wait until it is drained (drainMigration() reports it) before \
                     changing the layout again"
                ),
            ));
        }
        // `new_name` is the new base object; `new_shards` is set only for a computable layout.
        let (new_name, new_shards) = match &migration.layout {
            Some(l) => (Some(l.name.as_str()), Some(i64::from(l.shards))),
            None => (migration.base.as_deref(), None),
        };
        // Under a layout this object can compute, its alarm drains it in the background.
        if migration.layout.is_some() {
            self.alarm.request(now);
        }
        // What this object knew as a new home of earlier migrations is over: it is a previous
        // home now. (Records of sources still draining were refused above.)
        self.forget_incoming();
        self.db.exec(
            "DELETE FROM handoff_sources WHERE drained = 1 AND migration <> ?1",
            &[Param::Text(&migration.id)],
        )?;
        self.drained_sources.clear();
        // Forget the cached record first: if this transaction rolls back, the next read is fresh.
        *self.outgoing_cache.borrow_mut() = None;
        self.raise_guard()?;
        self.db.exec(
            "INSERT OR REPLACE INTO handoff_out
                 (id, migration, new_name, new_shards, jurisdiction, self_name, started_at,
                  drained_at, notified_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL)",
            &[
                Param::Text(&migration.id),
                new_name.into(),
                new_shards.into(),
                migration.jurisdiction.as_deref().into(),
                Param::Text(self_name),
                Param::Int(now),
            ],
        )?;
        Ok(())
    }

    /// Retires the migration this object was a previous home of, once drained and its new homes
    /// told they no longer need to ask it (`source_retired` there): this object is about to be
    /// a home again under a later layout, so its redirects and markers are stale. Without this,
    /// a later migration with the same id (a → b → a → b) would meet the earlier one's records
    /// and serve keys nobody pulled.
    pub fn forget_outgoing(&self, superseded_by: Option<&str>) -> Result<()> {
        *self.outgoing_cache.borrow_mut() = None;
        self.forget_incoming();
        self.db.transaction(&mut || {
            self.db.exec("DELETE FROM handoff_out WHERE id = 1", &[])?;
            self.db.exec("DELETE FROM handoff_sealed", &[])?;
            if let Some(current) = superseded_by {
                // The change that retires this one is the current one here, even where this object
                // is only a new home that has received nothing of it yet: a caller one change
                // behind is then known as such (src/sharding/admission.rs), and never restarts the change
                // retired here. One row, under a source no object is named (names are never
                // empty), replaced by the next retirement and deleted when this object next
                // becomes a previous home.
                self.db.exec(
                    "INSERT INTO handoff_sources (source, migration, drained) VALUES ('', ?1, 1)
                     ON CONFLICT (source) DO UPDATE SET migration = excluded.migration, drained = 1",
                    &[Param::Text(current)],
                )?;
            }
            self.lower_guard_if_done()
        })?;
        *self.drain_cursor.borrow_mut() = Default::default();
        self.stays.clear();
        self.stuck.clear();
        Ok(())
    }

    /// `source` has retired `migration_id` (see `forget_outgoing`): what this object knew of it
    /// as a new home — that it drained, which units are owned — no longer holds.
    pub fn source_retired(&self, source: &str, migration_id: &str) -> Result<()> {
        self.forget_incoming();
        self.db.transaction(&mut || {
            self.db.exec(
                "DELETE FROM handoff_sources WHERE source = ?1 AND migration = ?2",
                &[Param::Text(source), Param::Text(migration_id)],
            )?;
            self.db.exec(
                "DELETE FROM handoff_in WHERE source = ?1",
                &[Param::Text(source)],
            )?;
            self.lower_guard_if_done()
        })?;
        let prefix = memo_key(migration_id, "");
        self.owned_memo.retain(|k, _| !k.starts_with(&prefix));
        self.drained_sources.clear();
        Ok(())
    }

    /// The unit is this object's now (imported, or its previous home answered it holds nothing
    /// and will not create it): later calls need not ask again. Memory only, and bounded.
    /// Kept per migration: a unit owned in one says nothing about the next.
    pub fn note_owned(&self, migration_id: &str, routing_key: &str) {
        self.owned_memo.note(memo_key(migration_id, routing_key));
    }

    /// The caller says the unit's new home under its layout is this very object (a layout this
    /// object cannot compute): it stays, and later drain passes skip it. Memory only: after a
    /// restart the caller is asked again.
    pub fn stays(&self, routing_key: &str) {
        self.stays.note(routing_key.to_owned());
    }

    pub(crate) fn sealed_for(&self, routing_key: &str) -> Result<Option<String>> {
        if self.no_seals()? {
            return Ok(None);
        }
        self.db.query_text(
            "SELECT destination FROM handoff_sealed WHERE routing_key = ?",
            &[Param::Text(routing_key)],
        )
    }

    pub(crate) fn imported(&self, routing_key: &str) -> Result<bool> {
        self.db.returned_row(
            "SELECT 1 FROM handoff_in WHERE routing_key = ?",
            &[Param::Text(routing_key)],
        )
    }

    /// Whether `source` has drained *this* migration: the same object may be a previous home
    /// again in a later one (a → b → a → b), and what it drained then says nothing about now.
    pub(crate) fn source_drained(&self, source: &str, migration_id: &str) -> Result<bool> {
        let memo_key = memo_key(migration_id, source);
        if self.drained_sources.contains(&memo_key) {
            return Ok(true);
        }
        let drained = self.db.returned_row(
            "SELECT 1 FROM handoff_sources WHERE source = ?1 AND migration = ?2 AND drained = 1",
            &[Param::Text(source), Param::Text(migration_id)],
        )?;
        if drained {
            self.drained_sources.note(memo_key);
        }
        Ok(drained)
    }

    /// Whether this object holds any live row of the unit: of its thread-scoped part
    /// (`Some(true)`: subscription, lock, queue), of its cache and list keys (`Some(false)`), or
    /// of either (`None`).
    pub fn holds(&self, routing_key: &str, part: Option<bool>, now: i64) -> Result<bool> {
        let keys = unit_keys(routing_key);
        let mut params: Vec<Param<'_>> = vec![Param::Text(routing_key), Param::Int(now)];
        params.extend(keys.iter().map(|k| Param::Text(k)));
        let placeholders = placeholders(3, keys.len());
        // "Live" is `handoff_live`'s, as in `collect_unit`: what this answers held is what a
        // hand-over would move, so a unit is never both held here and empty to its new home.
        let thread = format!(
            "EXISTS (SELECT 1 FROM subscriptions WHERE thread_id = ?1)
                   OR EXISTS (SELECT 1 FROM locks WHERE thread_id = ?1 AND {})
                   OR EXISTS (SELECT 1 FROM queue_entries WHERE queue_key = ?1 AND {})",
            live::lock("?2"),
            live::queue_row("?2"),
        );
        let lists = (3..3 + keys.len())
            .map(|i| live::list(&format!("?{i}"), "?2"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let keyed = format!(
            "EXISTS (SELECT 1 FROM cache WHERE key IN ({placeholders}) AND {})
                   OR {lists}",
            live::cache("?2"),
        );
        // A unit whose pages are still arriving is not held yet (see `handoff_pages`).
        let condition = match part {
            Some(true) => {
                // workerd wants exactly the parameters the statement names.
                params.truncate(2);
                thread
            }
            Some(false) => format!("({keyed}) AND ?1 = ?1"),
            None => format!("{thread} OR {keyed}"),
        };
        self.db.returned_row(
            &format!(
                "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM handoff_partial WHERE routing_key = ?1)
                 AND ({condition})"
            ),
            &params,
        )
    }

    // ---- the previous home's side ----------------------------------------------------------

    /// A new home `destination` asks for the unit of `routing_key` (on a call, or draining).
    /// Seals it for the asker (one transaction) and answers its rows; or answers that nothing of
    /// it is here (under a layout this object cannot compute, after writing the one-row marker
    /// that sends later callers to `destination`).
    pub fn hand_over(
        &self,
        routing_key: &str,
        destination: &str,
        migration: &Migration,
        self_name: &str,
        seal_id: &str,
        now: i64,
    ) -> Result<Handed> {
        self.hand_over_page(
            routing_key,
            destination,
            migration,
            self_name,
            seal_id,
            None,
            now,
        )
    }

    /// [`Store::hand_over`], answering the part of the unit from `page`'s cursor that fits in its
    /// byte budget (see `handoff_pages`); `None`: the whole unit, as builds before pages asked.
    #[allow(clippy::too_many_arguments)]
    pub fn hand_over_page(
        &self,
        routing_key: &str,
        destination: &str,
        migration: &Migration,
        self_name: &str,
        seal_id: &str,
        page: Option<(&str, usize)>,
        now: i64,
    ) -> Result<Handed> {
        validate::key("routingKey", routing_key)?;
        validate::key("destination", destination)?;
        validate::key("sealId", seal_id)?;
        let collect = |seal: String| -> Result<Handed> {
            Ok(match page {
                None => Handed::Unit {
                    unit: Box::new(self.collect_unit(routing_key, now)?),
                    seal_id: seal,
                    page: None,
                },
                Some((from, budget)) => {
                    let (unit, info) = self.collect_page(routing_key, from, budget, now)?;
                    Handed::Unit {
                        unit: Box::new(unit),
                        seal_id: seal,
                        page: Some(info),
                    }
                }
            })
        };
        self.db.transaction(&mut || {
            self.begin_outgoing(migration, self_name, now)?;
            if let Some(row) = self
                .db
                .exec(
                    "SELECT destination, seal_id, confirmed FROM handoff_sealed WHERE routing_key = ?",
                    &[Param::Text(routing_key)],
                )?
                .into_iter()
                .next()
            {
                let mut c = cols(row).into_iter();
                let dest = text(c.next().flatten()).unwrap_or_default();
                let seal = text(c.next().flatten()).unwrap_or_default();
                let confirmed = int(&c.next().flatten()).unwrap_or(0) != 0;
                if dest != destination {
                    return Ok(Handed::Moved { object: dest });
                }
                if confirmed {
                    return Ok(Handed::Nothing);
                }
                return collect(seal);
            }
            let handed = collect(seal_id.to_owned())?;
            let Handed::Unit { unit, .. } = &handed else {
                return Ok(handed);
            };
            // A first page holds a row whenever the unit has one.
            if unit.is_empty() {
                if migration.layout.is_none() {
                    // This object cannot compute where the key lives now: remember it.
                    self.db.exec(
                        "INSERT INTO handoff_sealed (routing_key, destination, seal_id, confirmed, sealed_at)
                         VALUES (?1, ?2, ?3, 1, ?4)",
                        &[
                            Param::Text(routing_key),
                            Param::Text(destination),
                            Param::Text(seal_id),
                            Param::Int(now),
                        ],
                    )?;
                }
                return Ok(Handed::Nothing);
            }
            self.db.exec(
                "INSERT INTO handoff_sealed (routing_key, destination, seal_id, confirmed, sealed_at)
                 VALUES (?1, ?2, ?3, 0, ?4)",
                &[
                    Param::Text(routing_key),
                    Param::Text(destination),
                    Param::Text(seal_id),
                    Param::Int(now),
                ],
            )?;
            Ok(handed)
        })
    }

    /// Every live row of a unit.
    /// The live lock of `routing_key` (token, deadline): what a unit carries of it, on the whole
    /// path and the paged one alike.
    pub(crate) fn live_lock(&self, routing_key: &str, now: i64) -> Result<Option<(String, i64)>> {
        Ok(self
            .db
            .exec(
                &format!(
                    "SELECT token, expires_at FROM locks WHERE thread_id = ?1 AND {}",
                    crate::base::live::lock("?2")
                ),
                &[Param::Text(routing_key), Param::Int(now)],
            )?
            .into_iter()
            .next()
            .map(|row| {
                let mut c = cols(row).into_iter();
                (
                    text(c.next().flatten()).unwrap_or_default(),
                    int(&c.next().flatten()).unwrap_or(0),
                )
            }))
    }

    pub fn collect_unit(&self, routing_key: &str, now: i64) -> Result<Unit> {
        let keys = unit_keys(routing_key);
        let key_params: Vec<Param<'_>> = keys.iter().map(|k| Param::Text(k)).collect();
        let placeholders = placeholders(1, keys.len());
        let now_at = keys.len() + 1;
        let mut with_now = key_params.clone();
        with_now.push(Param::Int(now));
        let r = [Param::Text(routing_key), Param::Int(now)];

        let subscribed = self
            .db
            .returned_row("SELECT 1 FROM subscriptions WHERE thread_id = ?1", &r[..1])?;
        let lock = self.live_lock(routing_key, now)?;
        let cache = self
            .db
            .exec(
                &format!(
                    "SELECT key, value, expires_at, request_id FROM cache WHERE key IN ({placeholders})
                     AND (expires_at IS NULL OR expires_at > ?{now_at}) ORDER BY key"
                ),
                &with_now,
            )?
            .into_iter()
            .map(|row| {
                let mut c = cols(row).into_iter();
                CacheRow {
                    key: text(c.next().flatten()).unwrap_or_default(),
                    value: text(c.next().flatten()).unwrap_or_default(),
                    expires_at: int(&c.next().flatten()),
                    request_id: text(c.next().flatten()),
                }
            })
            .collect();
        // Lists that have expired are gone for readers: they do not move.
        let lists: Vec<ListRow> = self
            .db
            .exec(
                &format!(
                    "SELECT l.list_key, l.expires_at FROM lists l WHERE l.list_key IN ({placeholders})
                     AND {} ORDER BY l.list_key",
                    live::list("l.list_key", &format!("?{now_at}"))
                ),
                &with_now,
            )?
            .into_iter()
            .map(|row| {
                let mut c = cols(row).into_iter();
                ListRow {
                    list_key: text(c.next().flatten()).unwrap_or_default(),
                    expires_at: int(&c.next().flatten()),
                }
            })
            .collect();
        let list_items = self
            .db
            .exec(
                &format!(
                    "SELECT i.list_key, i.seq, i.value, i.requests, i.expires_at FROM list_items i
                     WHERE i.list_key IN ({placeholders}) AND {}
                     ORDER BY i.list_key, i.seq",
                    live::list_with_items("i.list_key", &format!("?{now_at}"))
                ),
                &with_now,
            )?
            .into_iter()
            .map(|row| {
                let mut c = cols(row).into_iter();
                ListItemRow {
                    list_key: text(c.next().flatten()).unwrap_or_default(),
                    seq: int(&c.next().flatten()).unwrap_or(0),
                    value: text(c.next().flatten()).unwrap_or_default(),
                    requests: text(c.next().flatten()),
                    expires_at: int(&c.next().flatten()),
                }
            })
            .collect();
        let queue = self
            .db
            .exec(
                "SELECT seq, value, expires_at, request_id, depth, taken_by, retain_until
                 FROM queue_entries WHERE queue_key = ?1
                   AND COALESCE(retain_until, expires_at) > ?2 ORDER BY seq",
                &r,
            )?
            .into_iter()
            .map(|row| {
                let mut c = cols(row).into_iter();
                QueueRow {
                    seq: int(&c.next().flatten()).unwrap_or(0),
                    value: text(c.next().flatten()).unwrap_or_default(),
                    expires_at: int(&c.next().flatten()).unwrap_or(0),
                    request_id: text(c.next().flatten()),
                    depth: int(&c.next().flatten()),
                    taken_by: text(c.next().flatten()),
                    retain_until: int(&c.next().flatten()),
                }
            })
            .collect();
        let tenure = lock
            .as_ref()
            .and_then(|(token, _)| self.tenures.export(routing_key, token, now));
        Ok(Unit {
            routing_key: routing_key.to_owned(),
            subscribed,
            lock,
            cache,
            lists,
            list_items,
            queue,
            tenure,
        })
    }

    /// Deletes every row of a unit (live or expired), in the caller's transaction.
    fn delete_unit(&self, routing_key: &str) -> Result<()> {
        self.forget_row_memos();
        let keys = unit_keys(routing_key);
        let key_params: Vec<Param<'_>> = keys.iter().map(|k| Param::Text(k)).collect();
        let placeholders = placeholders(1, keys.len());
        let r = [Param::Text(routing_key)];
        self.db
            .exec("DELETE FROM subscriptions WHERE thread_id = ?1", &r)?;
        self.db.exec("DELETE FROM locks WHERE thread_id = ?1", &r)?;
        self.db
            .exec("DELETE FROM lock_announcements WHERE thread_id = ?1", &r)?;
        self.db
            .exec("DELETE FROM queue_entries WHERE queue_key = ?1", &r)?;
        for table in [
            "DELETE FROM cache WHERE key IN",
            "DELETE FROM list_items WHERE list_key IN",
            "DELETE FROM lists WHERE list_key IN",
        ] {
            self.db
                .exec(&format!("{table} ({placeholders})"), &key_params)?;
        }
        self.tenures.released(routing_key, None);
        Ok(())
    }

    /// The destination has the unit sealed with `seal_id` durably: delete this object's copy.
    /// Under a layout this object cannot compute, the seal stays as the marker of where R went.
    pub fn handed_over(&self, routing_key: &str, seal_id: &str) -> Result<bool> {
        let computable = self
            .outgoing()?
            .is_some_and(|o| o.migration.layout.is_some());
        self.db.transaction(&mut || {
            let sealed = self.db.returned_row(
                "SELECT 1 FROM handoff_sealed WHERE routing_key = ?1 AND seal_id = ?2",
                &[Param::Text(routing_key), Param::Text(seal_id)],
            )?;
            if !sealed {
                return Ok(false);
            }
            self.stuck.resolved(routing_key);
            self.delete_unit(routing_key)?;
            if computable {
                self.db.exec(
                    "DELETE FROM handoff_sealed WHERE routing_key = ?",
                    &[Param::Text(routing_key)],
                )?;
            } else {
                self.db.exec(
                    "UPDATE handoff_sealed SET confirmed = 1 WHERE routing_key = ?",
                    &[Param::Text(routing_key)],
                )?;
            }
            Ok(true)
        })
    }

    // ---- draining ---------------------------------------------------------------------------

    /// Up to `limit` units still to move: sealed ones not yet confirmed first (with their
    /// destination and seal), then units not sealed yet (destination `None` under a layout this
    /// object cannot compute: the caller supplies it). Units are found in key order from the
    /// in-memory drain cursor (which a full pass that finds nothing resets), so each pass over
    /// the tables reads every key once, not once per batch. A stuck unit (its new home refused
    /// it, see `handoff_stuck`) is left out unless `with_stuck`: it must not head every batch.
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
            for (table, (sql, thread_scoped)) in DRAIN_SCANS.iter().enumerate() {
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

    // ---- the new home's side ----------------------------------------------------------------

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
            // A record of an earlier migration from the same source (drained, or it could not
            // have started this one) gives way to this one.
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

    /// Whether any live row of a unit of this shape (other than its subscription, a set member)
    /// exists here.
    pub(crate) fn overlaps(&self, r: &str, shape: &Shape, now: i64) -> Result<bool> {
        if shape.lock
            && self.db.returned_row(
                "SELECT 1 FROM locks WHERE thread_id = ?1 AND expires_at > ?2",
                &[Param::Text(r), Param::Int(now)],
            )?
        {
            return Ok(true);
        }
        if shape.queue
            && self.db.returned_row(
                &format!(
                    "SELECT 1 FROM queue_entries WHERE queue_key = ?1 AND {}",
                    live::queue_row("?2")
                ),
                &[Param::Text(r), Param::Int(now)],
            )?
        {
            return Ok(true);
        }
        for key in &shape.cache_keys {
            if self.db.returned_row(
                "SELECT 1 FROM cache WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                &[Param::Text(key), Param::Int(now)],
            )? {
                return Ok(true);
            }
        }
        for key in &shape.list_keys {
            if self.db.returned_row(
                &format!("SELECT 1 WHERE {}", live::list("?1", "?2")),
                &[Param::Text(key), Param::Int(now)],
            )? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Rows of a unit of this shape that are still here are dead (`overlaps` found no live one):
    /// reads never see them and the sweep would delete them. They go before an import, or the
    /// imported queue and list rows would collide with their primary keys and the import would
    /// fail for ever.
    pub(crate) fn clear_dead(&self, r: &str, shape: &Shape) -> Result<()> {
        if shape.queue {
            self.db.exec(
                "DELETE FROM queue_entries WHERE queue_key = ?1",
                &[Param::Text(r)],
            )?;
        }
        for key in &shape.list_keys {
            self.db.exec(
                "DELETE FROM list_items WHERE list_key = ?1",
                &[Param::Text(key)],
            )?;
        }
        Ok(())
    }

    /// Writes a whole unit: clears what is dead of it, then writes its rows.
    pub(crate) fn write_unit(&self, unit: &Unit) -> Result<()> {
        self.clear_dead(&unit.routing_key, &Shape::of(unit))?;
        self.write_rows(unit)
    }

    /// Writes a unit's rows (a whole unit, or one page of one).
    pub(crate) fn write_rows(&self, unit: &Unit) -> Result<()> {
        self.forget_row_memos();
        let r = unit.routing_key.as_str();
        if unit.subscribed {
            self.db.exec(
                "INSERT INTO subscriptions (thread_id) VALUES (?) ON CONFLICT DO NOTHING",
                &[Param::Text(r)],
            )?;
        }
        if let Some((token, expires_at)) = &unit.lock {
            self.db.exec(
                "INSERT OR REPLACE INTO locks (thread_id, token, expires_at) VALUES (?1, ?2, ?3)",
                &[Param::Text(r), Param::Text(token), Param::Int(*expires_at)],
            )?;
        }
        for c in &unit.cache {
            self.db.exec(
                "INSERT OR REPLACE INTO cache (key, value, expires_at, request_id) VALUES (?1, ?2, ?3, ?4)",
                &[
                    Param::Text(&c.key),
                    Param::Text(&c.value),
                    c.expires_at.into(),
                    c.request_id.as_deref().into(),
                ],
            )?;
        }
        for l in &unit.lists {
            self.db.exec(
                "INSERT OR REPLACE INTO lists (list_key, expires_at) VALUES (?1, ?2)",
                &[Param::Text(&l.list_key), l.expires_at.into()],
            )?;
        }
        for i in &unit.list_items {
            self.db.exec(
                // OR REPLACE: a unit completing its own pages rewrites the same rows.
                "INSERT OR REPLACE INTO list_items (list_key, seq, value, requests, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &[
                    Param::Text(&i.list_key),
                    Param::Int(i.seq),
                    Param::Text(&i.value),
                    i.requests.as_deref().into(),
                    i.expires_at.into(),
                ],
            )?;
        }
        for q in &unit.queue {
            self.db.exec(
                "INSERT OR REPLACE INTO queue_entries
                     (queue_key, seq, value, expires_at, request_id, depth, taken_by, retain_until)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &[
                    Param::Text(r),
                    Param::Int(q.seq),
                    Param::Text(&q.value),
                    Param::Int(q.expires_at),
                    q.request_id.as_deref().into(),
                    q.depth.into(),
                    q.taken_by.as_deref().into(),
                    q.retain_until.into(),
                ],
            )?;
        }
        Ok(())
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

    /// The new home `destination` refused the unit sealed here for it (see `handoff_stuck`).
    pub fn note_stuck(&self, routing_key: &str, destination: &str, reason: &str, now: i64) -> bool {
        self.stuck.note(routing_key, destination, reason, now)
    }

    /// Units noted stuck.
    pub fn stuck_count(&self) -> usize {
        self.stuck.len()
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
const DRAIN_SCANS: [(&str, bool); 5] = [
    (
        "SELECT thread_id FROM subscriptions WHERE thread_id > ?1 AND ?2 = ?2
         ORDER BY thread_id LIMIT ?3",
        true,
    ),
    (
        "SELECT thread_id FROM locks WHERE thread_id > ?1 AND expires_at > ?2
         ORDER BY thread_id LIMIT ?3",
        true,
    ),
    (
        "SELECT DISTINCT queue_key FROM queue_entries WHERE queue_key > ?1
         AND COALESCE(retain_until, expires_at) > ?2 ORDER BY queue_key LIMIT ?3",
        true,
    ),
    (
        "SELECT key FROM cache WHERE key > ?1 AND (expires_at IS NULL OR expires_at > ?2)
         ORDER BY key LIMIT ?3",
        false,
    ),
    (
        // Live lists only (`handoff_live`): an expired list is not a unit to move.
        "SELECT k FROM (SELECT DISTINCT list_key AS k FROM list_items WHERE list_key > ?1
                        ORDER BY list_key)
         WHERE COALESCE(COALESCE((SELECT expires_at FROM list_items WHERE list_key = k
                                  ORDER BY seq DESC LIMIT 1),
                                 (SELECT expires_at FROM lists WHERE list_key = k)) > ?2, 1)
         ORDER BY k LIMIT ?3",
        false,
    ),
];

/// One unit a drain step handles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct DrainItem {
    pub routing_key: String,
    /// Where it goes: known for sealed units and under computable layouts.
    pub destination: Option<String>,
    /// Set when the unit is sealed already.
    pub seal_id: Option<String>,
    /// Whether the unit is a thread's (found by a thread id, or a thread-derived key): under a
    /// `shardKey` layout it goes to the thread's object, else to the base object.
    pub thread_unit: bool,
}

/// The migration part of `inspect()`.
#[derive(Debug, Clone, PartialEq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct HandoffInspection {
    /// The migration this object is a previous home of, if any.
    pub previous_home_of: Option<String>,
    /// Whether it has drained (holds nothing more of it).
    pub drained: bool,
    /// Units still to move (up to 1,000 counted).
    pub units_to_move: i64,
    /// Units sealed and awaiting the new home's confirmation.
    pub sealed_units: i64,
    /// One-row markers of where keys went (layouts the object cannot compute).
    pub markers: i64,
    /// Records of units imported here from previous homes not yet drained.
    pub imported_records: i64,
    /// Units arriving here page by page, not all there yet (see `handoff_pages`).
    pub partial_imports: i64,
    /// Previous homes this object is still receiving units from.
    pub receiving_from: Vec<String>,
    /// Units a new home refused and that stay sealed here (see `handoff_stuck`; this instance's
    /// memory: after a restart the next drain step finds them again).
    pub stuck_count: i64,
    /// The first of them, with the reason each new home gave.
    pub stuck_units: Vec<crate::sharding::stuck::StuckUnit>,
}
