//! What a migration leaves behind, and how long: the guard against older builds, the lifetime of
//! `shardKey` markers, and a drained previous home that costs nothing. (docs/resharding.md,
//! "Spec: state of each role" and "What is not guaranteed".)
//!
//! **The guard.** A build without this protocol (0.1.x, or this package before it) ignores
//! seals, partial imports and `via`: rolled back onto an object in the middle of a migration it
//! would serve a sealed copy beside its new home's (two owners, and a unit emptied at the new home
//! resurrected), or a half-imported unit. Builds of this package refuse an object whose
//! `_schema_version` is above the layout they know (see `schema`), so while an object takes
//! part in a migration it carries [`REQUIRES`] there: as a previous home from its record's
//! first write until it drained with no seal left (or, under `shardKey`, until its markers
//! expire), and as a new home from its first import until every previous home it receives from
//! has drained. What cannot be refused: 0.1.x, which never reads the number.
//!
//! **Markers.** Under a `shardKey` layout a drained previous home keeps one row per unit that was
//! asked for, telling late callers (Workers still on the previous layout) where it went. They
//! are deleted [`MARKER_LIFETIME_MS`] after the drain, by the alarm; a call that comes later
//! still gets the clear refusal a drained previous home gives for keys it does not hold.

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::Result;
use crate::base::store::Store;

/// The `_schema_version` an object carries while it takes part in a migration: above every
/// layout a build without this protocol knows (4), so such builds refuse the object.
pub const REQUIRES: i64 = 5;

/// How long a drained `shardKey` previous home keeps its markers.
pub const MARKER_LIFETIME_MS: i64 = 7 * 24 * 3_600_000;

/// Markers deleted per alarm.
const MARKER_BATCH: i64 = 1_000;

impl<D: Database> Store<D> {
    /// Raises the guard (in the caller's transaction); writes nothing if it is up already.
    pub(crate) fn raise_guard(&self) -> Result<()> {
        self.db.exec(
            "INSERT OR IGNORE INTO _schema_version (version) VALUES (?1)",
            &[Param::Int(REQUIRES)],
        )?;
        Ok(())
    }

    /// Lowers the guard if nothing of a migration is left here that an older build would
    /// misread: no undrained record as a previous home, no seal or marker, no partial import, no
    /// previous home still draining into this object.
    pub(crate) fn lower_guard_if_done(&self) -> Result<()> {
        let busy = self.db.returned_row(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM handoff_out WHERE drained_at IS NULL)
                OR EXISTS (SELECT 1 FROM handoff_sealed)
                OR EXISTS (SELECT 1 FROM handoff_partial)
                OR EXISTS (SELECT 1 FROM handoff_sources WHERE drained = 0)",
            &[],
        )?;
        if !busy {
            self.db.exec(
                "DELETE FROM _schema_version WHERE version = ?1",
                &[Param::Int(REQUIRES)],
            )?;
        }
        Ok(())
    }

    /// Whether no seal row can exist here: a previous home that drained under a layout it can
    /// compute deleted every seal, and writes none after (it seals only what it holds, and under
    /// such a layout it holds no unit whose new home is elsewhere). Admission then skips the
    /// seal lookup: a drained previous home costs no read for the keys that stay on it.
    pub(crate) fn no_seals(&self) -> Result<bool> {
        Ok(self
            .outgoing()?
            .is_some_and(|o| o.drained_at.is_some() && o.migration.layout.is_some()))
    }

    /// The alarm's part: deletes the markers of a drained `shardKey` previous home that have
    /// outlived [`MARKER_LIFETIME_MS`] (a batch at a time), and asks for the alarm when the next
    /// are due. Returns how many it deleted.
    pub fn expire_markers(&self, now: i64) -> Result<i64> {
        let Some(out) = self.outgoing()? else {
            return Ok(0);
        };
        let Some(drained_at) = out.drained_at else {
            return Ok(0);
        };
        if out.migration.layout.is_some() || out.notified_at.is_none() {
            return Ok(0);
        }
        // A marker lives from the drain (it was needed until then) for the lifetime.
        let due = drained_at + MARKER_LIFETIME_MS;
        if now < due {
            self.request_alarm_by(due);
            return Ok(0);
        }
        let deleted = self.db.transaction(&mut || {
            let n = self
                .db
                .exec(
                    "DELETE FROM handoff_sealed WHERE routing_key IN (
                         SELECT routing_key FROM handoff_sealed WHERE confirmed = 1 LIMIT ?1)
                     RETURNING 1",
                    &[Param::Int(MARKER_BATCH)],
                )?
                .len();
            self.lower_guard_if_done()?;
            Ok(n as i64)
        })?;
        if deleted >= MARKER_BATCH {
            self.request_alarm_by(now);
        }
        Ok(deleted)
    }
}
