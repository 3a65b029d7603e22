//! The tables a unit moves, described once: for each, its name, the column a unit's rows are found
//! by, its columns in the order of its row type, and its live-row test (from `live`). Collecting
//! a unit, writing one, deleting one (`unit_rows`) and reading one page (`pages`) all derive their
//! statements from these descriptions, so a column added to a moved table is added here and in its
//! row type, nowhere else. No store here. docs/resharding.md, "Spec: units", says what a unit
//! holds.

use crate::base::db::{Param, Value};
use crate::base::live;
use crate::sharding::unit::{
    int, placeholders, text, CacheRow, ListItemRow, ListRow, QueueRow, Unit,
};

/// How a unit's rows of a table are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selected {
    /// By the routing key itself (the unit's thread part: subscription, lock, queue).
    ByRoutingKey,
    /// By the unit's cache and list keys (its key part, see [`unit_keys`]).
    ByUnitKeys,
}

/// One column of a moved table.
pub(crate) struct Column {
    pub name: &'static str,
    /// A text column: its length counts towards a page's bytes.
    pub text: bool,
    pub nullable: bool,
}

const fn text_col(name: &'static str, nullable: bool) -> Column {
    Column {
        name,
        text: true,
        nullable,
    }
}

const fn int_col(name: &'static str) -> Column {
    Column {
        name,
        text: false,
        nullable: true,
    }
}

/// One moved table. Statements alias it `t`.
pub(crate) struct Table {
    pub name: &'static str,
    /// The column a unit's rows are found by.
    pub key: &'static str,
    pub selected: Selected,
    /// The columns a row type carries, in its field order (the key column too, if it carries it).
    pub columns: &'static [Column],
    /// The live-row test of a row `t`, given the SQL parameter holding the time; `None`: always
    /// live (a subscription).
    pub live: Option<fn(&str) -> String>,
    /// The order a unit's rows are collected in.
    pub order: &'static str,
    /// How a row is written: `INSERT OR REPLACE` (a unit completing its own pages rewrites the
    /// same rows), or keep what is there (a subscription is a set member).
    pub replace: bool,
}

fn list_live(now: &str) -> String {
    live::list("t.list_key", now)
}

fn list_item_live(now: &str) -> String {
    live::list_with_items("t.list_key", now)
}

pub(crate) const SUBSCRIPTIONS: Table = Table {
    name: "subscriptions",
    key: "thread_id",
    selected: Selected::ByRoutingKey,
    columns: &[],
    live: None,
    order: "t.thread_id",
    replace: false,
};

pub(crate) const LOCKS: Table = Table {
    name: "locks",
    key: "thread_id",
    selected: Selected::ByRoutingKey,
    columns: &[text_col("token", false), int_col("expires_at")],
    live: Some(live::lock),
    order: "t.thread_id",
    replace: true,
};

pub(crate) const QUEUE: Table = Table {
    name: "queue_entries",
    key: "queue_key",
    selected: Selected::ByRoutingKey,
    columns: &[
        int_col("seq"),
        text_col("value", false),
        int_col("expires_at"),
        text_col("request_id", true),
        int_col("depth"),
        text_col("taken_by", true),
        int_col("retain_until"),
    ],
    live: Some(live::queue_row),
    order: "t.seq",
    replace: true,
};

pub(crate) const CACHE: Table = Table {
    name: "cache",
    key: "key",
    selected: Selected::ByUnitKeys,
    columns: &[
        text_col("key", false),
        text_col("value", false),
        int_col("expires_at"),
        text_col("request_id", true),
    ],
    live: Some(live::cache),
    order: "t.key",
    replace: true,
};

pub(crate) const LISTS: Table = Table {
    name: "lists",
    key: "list_key",
    selected: Selected::ByUnitKeys,
    columns: &[text_col("list_key", false), int_col("expires_at")],
    // Lists that have expired are gone for readers: they do not move.
    live: Some(list_live),
    order: "t.list_key",
    replace: true,
};

pub(crate) const LIST_ITEMS: Table = Table {
    name: "list_items",
    key: "list_key",
    selected: Selected::ByUnitKeys,
    columns: &[
        text_col("list_key", false),
        int_col("seq"),
        text_col("value", false),
        text_col("requests", true),
        int_col("expires_at"),
    ],
    live: Some(list_item_live),
    order: "t.list_key, t.seq",
    replace: true,
};

/// Every moved table.
pub(crate) const MOVED: [&Table; 6] = [&SUBSCRIPTIONS, &LOCKS, &QUEUE, &CACHE, &LISTS, &LIST_ITEMS];

impl Table {
    /// `t.a, t.b, …`: the row type's columns.
    pub(crate) fn select_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("t.{}", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The bytes a row's strings take on the wire, as SQL (see `pages`).
    pub(crate) fn size_sql(&self) -> String {
        self.columns
            .iter()
            .filter(|c| c.text)
            .map(|c| match c.nullable {
                true => format!("COALESCE(LENGTH(t.{}), 0)", c.name),
                false => format!("LENGTH(t.{})", c.name),
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// Whether the row type carries the key column (else a write adds the routing key).
    pub(crate) fn carries_key(&self) -> bool {
        self.columns.iter().any(|c| c.name == self.key)
    }

    /// The live-row test, `now` the parameter holding the time.
    pub(crate) fn live_sql(&self, now: &str) -> String {
        self.live
            .map_or_else(|| format!("{now} = {now}"), |f| f(now))
    }

    /// The condition selecting a unit's rows: `?1` is the routing key; with `ByUnitKeys`,
    /// `?1..?keys` are the unit's keys (the routing key first, see [`unit_keys`]).
    pub(crate) fn unit_sql(&self, keys: usize) -> String {
        format!("t.{}", self.unit_sql_unaliased(keys))
    }

    /// [`Table::unit_sql`] of the table not aliased (a `DELETE`).
    pub(crate) fn unit_sql_unaliased(&self, keys: usize) -> String {
        match self.selected {
            Selected::ByRoutingKey => format!("{} = ?1", self.key),
            Selected::ByUnitKeys => format!("{} IN ({})", self.key, placeholders(1, keys)),
        }
    }

    /// A row of this table for the key `?1` that is live at `?2`.
    pub(crate) fn live_row_sql(&self) -> String {
        format!(
            "SELECT 1 FROM {} t WHERE t.{} = ?1 AND {}",
            self.name,
            self.key,
            self.live_sql("?2")
        )
    }

    pub(crate) fn insert_sql(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        if !self.carries_key() {
            names.push(self.key);
        }
        names.extend(self.columns.iter().map(|c| c.name));
        let (verb, tail) = match self.replace {
            true => ("INSERT OR REPLACE", ""),
            false => ("INSERT", " ON CONFLICT DO NOTHING"),
        };
        format!(
            "{verb} INTO {} ({}) VALUES ({}){tail}",
            self.name,
            names.join(", "),
            placeholders(1, names.len())
        )
    }
}

/// A row type of a moved table: read from and written as [`MovedRow::TABLE`]'s columns, in order.
pub(crate) trait MovedRow: Sized {
    const TABLE: &'static Table;
    /// Reads a row from its columns' values.
    fn read(c: &mut dyn Iterator<Item = Option<Value>>) -> Self;
    /// The row's values, in its columns' order.
    fn values(&self) -> Vec<Param<'_>>;
    /// Where the row stands in a page's row order: its key and its seq, where it has them.
    fn position(&self) -> (Option<&str>, Option<i64>);
    /// The unit's rows of this type.
    fn of(unit: &Unit) -> &[Self];
}

fn next_text(c: &mut dyn Iterator<Item = Option<Value>>) -> Option<String> {
    text(c.next().flatten())
}

fn next_int(c: &mut dyn Iterator<Item = Option<Value>>) -> Option<i64> {
    int(&c.next().flatten())
}

impl MovedRow for CacheRow {
    const TABLE: &'static Table = &CACHE;
    fn read(c: &mut dyn Iterator<Item = Option<Value>>) -> Self {
        CacheRow {
            key: next_text(c).unwrap_or_default(),
            value: next_text(c).unwrap_or_default(),
            expires_at: next_int(c),
            request_id: next_text(c),
        }
    }
    fn values(&self) -> Vec<Param<'_>> {
        vec![
            Param::Text(&self.key),
            Param::Text(&self.value),
            self.expires_at.into(),
            self.request_id.as_deref().into(),
        ]
    }
    fn position(&self) -> (Option<&str>, Option<i64>) {
        (Some(&self.key), None)
    }
    fn of(unit: &Unit) -> &[Self] {
        &unit.cache
    }
}

impl MovedRow for ListRow {
    const TABLE: &'static Table = &LISTS;
    fn read(c: &mut dyn Iterator<Item = Option<Value>>) -> Self {
        ListRow {
            list_key: next_text(c).unwrap_or_default(),
            expires_at: next_int(c),
        }
    }
    fn values(&self) -> Vec<Param<'_>> {
        vec![Param::Text(&self.list_key), self.expires_at.into()]
    }
    fn position(&self) -> (Option<&str>, Option<i64>) {
        (Some(&self.list_key), None)
    }
    fn of(unit: &Unit) -> &[Self] {
        &unit.lists
    }
}

impl MovedRow for ListItemRow {
    const TABLE: &'static Table = &LIST_ITEMS;
    fn read(c: &mut dyn Iterator<Item = Option<Value>>) -> Self {
        ListItemRow {
            list_key: next_text(c).unwrap_or_default(),
            seq: next_int(c).unwrap_or(0),
            value: next_text(c).unwrap_or_default(),
            requests: next_text(c),
            expires_at: next_int(c),
        }
    }
    fn values(&self) -> Vec<Param<'_>> {
        vec![
            Param::Text(&self.list_key),
            Param::Int(self.seq),
            Param::Text(&self.value),
            self.requests.as_deref().into(),
            self.expires_at.into(),
        ]
    }
    fn position(&self) -> (Option<&str>, Option<i64>) {
        (Some(&self.list_key), Some(self.seq))
    }
    fn of(unit: &Unit) -> &[Self] {
        &unit.list_items
    }
}

impl MovedRow for QueueRow {
    const TABLE: &'static Table = &QUEUE;
    fn read(c: &mut dyn Iterator<Item = Option<Value>>) -> Self {
        QueueRow {
            seq: next_int(c).unwrap_or(0),
            value: next_text(c).unwrap_or_default(),
            expires_at: next_int(c).unwrap_or(0),
            request_id: next_text(c),
            depth: next_int(c),
            taken_by: next_text(c),
            retain_until: next_int(c),
        }
    }
    fn values(&self) -> Vec<Param<'_>> {
        vec![
            Param::Int(self.seq),
            Param::Text(&self.value),
            Param::Int(self.expires_at),
            self.request_id.as_deref().into(),
            self.depth.into(),
            self.taken_by.as_deref().into(),
            self.retain_until.into(),
        ]
    }
    fn position(&self) -> (Option<&str>, Option<i64>) {
        (None, Some(self.seq))
    }
    fn of(unit: &Unit) -> &[Self] {
        &unit.queue
    }
}

/// The parameters that select a unit's rows of `table` (see [`Table::unit_sql`]), then `now`.
pub(crate) fn unit_params<'a>(
    table: &Table,
    routing_key: &'a str,
    keys: &'a [String],
    now: i64,
) -> Vec<Param<'a>> {
    let mut params: Vec<Param<'a>> = match table.selected {
        Selected::ByRoutingKey => vec![Param::Text(routing_key)],
        Selected::ByUnitKeys => keys.iter().map(|k| Param::Text(k)).collect(),
    };
    params.push(Param::Int(now));
    params
}
