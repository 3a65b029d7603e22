//! The previous home's side of a hand-over: sealing a unit for the new home that asks for it and
//! answering its rows (whole or a page), then deleting its copy once the new home has it.
//! docs/resharding.md, "States of a unit R moving from S to D" and "Invariants, and why they hold".

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::Result;
use crate::base::store::Store;
use crate::base::validate;
use crate::sharding::migration::{Handed, Migration};
use crate::sharding::unit::{cols, int, text};

impl<D: Database> Store<D> {
    /// The seal: from this row on, this object serves `routing_key` to nobody. `confirmed`: the
    /// new home already has all of it (a unit with no rows here, under a layout this object
    /// cannot compute: the row stays as the marker saying where the unit went).
    fn write_seal(
        &self,
        routing_key: &str,
        destination: &str,
        seal_id: &str,
        confirmed: bool,
        now: i64,
    ) -> Result<()> {
        self.db.exec(
            "INSERT INTO handoff_sealed (routing_key, destination, seal_id, confirmed, sealed_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                Param::Text(routing_key),
                Param::Text(destination),
                Param::Text(seal_id),
                Param::Int(i64::from(confirmed)),
                Param::Int(now),
            ],
        )?;
        Ok(())
    }

    /// A new home `destination` asks for the unit of `routing_key` (on a call, or draining).
    /// Seals it for the asker (one transaction) and answers its rows — with `page` (a cursor and
    /// a byte budget, see `sharding::pages`) the part of the unit from that cursor that fits in
    /// the budget; `None`, the whole unit, as builds before pages asked — or answers that nothing
    /// of it is here (under a layout this object cannot compute, after writing the one-row marker
    /// that sends later callers to `destination`).
    #[allow(clippy::too_many_arguments)]
    pub fn hand_over(
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
                    self.write_seal(routing_key, destination, seal_id, true, now)?;
                }
                return Ok(Handed::Nothing);
            }
            self.write_seal(routing_key, destination, seal_id, false, now)?;
            Ok(handed)
        })
    }

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

    /// The new home `destination` refused the unit sealed here for it (see `sharding::stuck`).
    pub fn note_stuck(&self, routing_key: &str, destination: &str, reason: &str, now: i64) -> bool {
        self.stuck.note(routing_key, destination, reason, now)
    }

    /// Units noted stuck.
    pub fn stuck_count(&self) -> usize {
        self.stuck.len()
    }
}
