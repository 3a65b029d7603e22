//! A unit's rows in this object's SQLite: whether it holds one, collecting it, writing it,
//! deleting it, and the import's overlap check, all derived from the descriptions in `tables`.
//! docs/resharding.md, "Spec: units", says what a unit holds and which rows are live.

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::Result;
use crate::base::live;
use crate::base::store::Store;
use crate::sharding::tables::{
    unit_params, MovedRow, Table, CACHE, LOCKS, MOVED, QUEUE, SUBSCRIPTIONS,
};
use crate::sharding::unit::{
    cols, int, placeholders, text, unit_keys, CacheRow, ListItemRow, ListRow, QueueRow, Shape, Unit,
};

impl<D: Database> Store<D> {
    /// Whether this object holds any live row of the unit: of its thread part (`Some(true)`:
    /// subscription, lock, queue), of its key part (`Some(false)`: cache and list keys), or of
    /// either (`None`). What this answers held is what a hand-over would move (the same `live`
    /// tests as [`Store::collect_unit`]), so a unit is never both held here and empty to its new
    /// home.
    pub fn holds(&self, routing_key: &str, part: Option<bool>, now: i64) -> Result<bool> {
        let keys = unit_keys(routing_key);
        let mut params: Vec<Param<'_>> = vec![Param::Text(routing_key), Param::Int(now)];
        params.extend(keys.iter().map(|k| Param::Text(k)));
        let placeholders = placeholders(3, keys.len());
        let thread = [&SUBSCRIPTIONS, &LOCKS, &QUEUE]
            .iter()
            .map(|t| format!("EXISTS ({})", t.live_row_sql()))
            .collect::<Vec<_>>()
            .join(" OR ");
        let lists = (3..3 + keys.len())
            .map(|i| live::list(&format!("?{i}"), "?2"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let keyed = format!(
            "EXISTS (SELECT 1 FROM cache t WHERE t.key IN ({placeholders}) AND {})
                   OR {lists}",
            CACHE.live_sql("?2"),
        );
        // A unit whose pages are still arriving is not held yet (see `pages`).
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

    /// The live lock of `routing_key` (token, deadline): what a unit carries of it, on the whole
    /// path and the paged one alike.
    pub(crate) fn live_lock(&self, routing_key: &str, now: i64) -> Result<Option<(String, i64)>> {
        Ok(self
            .db
            .exec(
                &format!(
                    "SELECT {} FROM locks t WHERE t.thread_id = ?1 AND {}",
                    LOCKS.select_list(),
                    LOCKS.live_sql("?2")
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

    /// A unit's head: subscription, lock and its tenure (its other rows left empty).
    pub(crate) fn collect_head(&self, routing_key: &str, now: i64) -> Result<Unit> {
        let subscribed = self.db.returned_row(
            "SELECT 1 FROM subscriptions WHERE thread_id = ?1",
            &[Param::Text(routing_key)],
        )?;
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

    /// Every live row of the unit of `routing_key` of one row type, in the table's order.
    fn live_rows<T: MovedRow>(
        &self,
        routing_key: &str,
        keys: &[String],
        now: i64,
    ) -> Result<Vec<T>> {
        let table = T::TABLE;
        let params = unit_params(table, routing_key, keys, now);
        let sql = format!(
            "SELECT {} FROM {} t WHERE {} AND {} ORDER BY {}",
            table.select_list(),
            table.name,
            table.unit_sql(keys.len()),
            table.live_sql(&format!("?{}", params.len())),
            table.order
        );
        Ok(self
            .db
            .exec(&sql, &params)?
            .into_iter()
            .map(|row| T::read(&mut cols(row).into_iter()))
            .collect())
    }

    /// Every live row of a unit.
    pub fn collect_unit(&self, routing_key: &str, now: i64) -> Result<Unit> {
        let keys = unit_keys(routing_key);
        Ok(Unit {
            cache: self.live_rows(routing_key, &keys, now)?,
            lists: self.live_rows(routing_key, &keys, now)?,
            list_items: self.live_rows(routing_key, &keys, now)?,
            queue: self.live_rows(routing_key, &keys, now)?,
            ..self.collect_head(routing_key, now)?
        })
    }

    /// Deletes every row of a unit (live or expired), in the caller's transaction.
    pub(crate) fn delete_unit(&self, routing_key: &str) -> Result<()> {
        self.forget_row_memos();
        let keys = unit_keys(routing_key);
        for table in MOVED {
            let mut params = unit_params(table, routing_key, &keys, 0);
            params.pop();
            self.db.exec(
                &format!(
                    "DELETE FROM {} WHERE {}",
                    table.name,
                    table.unit_sql_unaliased(keys.len())
                ),
                &params,
            )?;
        }
        // The lock's announcements are its tenure's (see `announcements`), not rows that move.
        self.db.exec(
            "DELETE FROM lock_announcements WHERE thread_id = ?1",
            &[Param::Text(routing_key)],
        )?;
        self.tenures.released(routing_key, None);
        Ok(())
    }

    /// Whether any live row of a unit of this shape (other than its subscription, a set member)
    /// exists here.
    pub(crate) fn overlaps(&self, r: &str, shape: &Shape, now: i64) -> Result<bool> {
        let live = |table: &Table, key: &str| {
            self.db
                .returned_row(&table.live_row_sql(), &[Param::Text(key), Param::Int(now)])
        };
        if shape.lock && live(&LOCKS, r)? {
            return Ok(true);
        }
        if shape.queue && live(&QUEUE, r)? {
            return Ok(true);
        }
        for key in &shape.cache_keys {
            if live(&CACHE, key)? {
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
            self.db
                .exec(&SUBSCRIPTIONS.insert_sql(), &[Param::Text(r)])?;
        }
        if let Some((token, expires_at)) = &unit.lock {
            self.db.exec(
                &LOCKS.insert_sql(),
                &[Param::Text(r), Param::Text(token), Param::Int(*expires_at)],
            )?;
        }
        self.write_moved::<CacheRow>(unit)?;
        self.write_moved::<ListRow>(unit)?;
        self.write_moved::<ListItemRow>(unit)?;
        self.write_moved::<QueueRow>(unit)
    }

    fn write_moved<T: MovedRow>(&self, unit: &Unit) -> Result<()> {
        let rows = T::of(unit);
        if rows.is_empty() {
            return Ok(());
        }
        let sql = T::TABLE.insert_sql();
        for row in rows {
            let mut params = Vec::new();
            if !T::TABLE.carries_key() {
                params.push(Param::Text(&unit.routing_key));
            }
            params.extend(row.values());
            self.db.exec(&sql, &params)?;
        }
        Ok(())
    }
}
