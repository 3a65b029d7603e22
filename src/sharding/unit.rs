//! A moving unit as Rust values: every row one object holds for one routing key ([`Unit`] and its
//! row types), the shape a new home checks before the first page ([`Shape`]), where a page starts
//! and ends ([`PageInfo`]), and the small helpers that read rows into them. docs/resharding.md,
//! "Spec: units", says what a unit holds; `wire` turns these into the JS values that move.

use crate::base::db::{Row, Value};
use crate::sharding::routing::THREAD_KEY_PREFIXES;

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

/// `?first,?first+1,…` for `count` numbered parameters: the `IN (…)` list of a unit's keys.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
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
