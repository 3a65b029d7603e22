//! A previous home's record of the migration it is a source of (`handoff_out`), and what an
//! object knows of the migrations it takes part in: starting one, retiring it, which sources
//! drained, which units are owned or stay. docs/resharding.md, "What identifies a migration" and
//! "Spec: state of each role", is the protocol.

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::{Error, Result};
use crate::base::store::Store;
use crate::base::validate;
use crate::sharding::migration::{memo_key, Migration, Outgoing};
use crate::sharding::routing::{LayoutDesc, Router};
use crate::sharding::unit::{cols, int, text};

impl<D: Database> Store<D> {
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
}
