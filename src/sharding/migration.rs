//! The words of a migration (re-shard), as types: what a migration is ([`Migration`]), a previous
//! home's record of it ([`Outgoing`]), where a call may be served ([`Admission`]), what a previous
//! home answers ([`Handed`]), a drain step's item and the `inspect()` part. Types only: the
//! store's operations on them live in `outgoing`, `sealing`, `drain` and `import`, and the
//! protocol in docs/resharding.md.

use serde::Serialize;
use tsify::Tsify;

use crate::sharding::routing::LayoutDesc;
use crate::sharding::stuck::StuckUnit;
use crate::sharding::unit::{PageInfo, Unit};

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
    /// for pages (see `sharding::pages`): where this part of the unit starts and ends.
    Unit {
        unit: Box<Unit>,
        seal_id: String,
        page: Option<PageInfo>,
    },
    /// Nothing of the key is held here, and nothing will be created here: it is the asker's.
    Nothing,
    /// The unit went elsewhere.
    Moved { object: String },
}

/// A key of the in-memory memos, scoped to one migration.
pub(crate) fn memo_key(migration_id: &str, name: &str) -> String {
    format!("{migration_id}\u{0}{name}")
}

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
    /// Units arriving here page by page, not all there yet (see `sharding::pages`).
    pub partial_imports: i64,
    /// Previous homes this object is still receiving units from.
    pub receiving_from: Vec<String>,
    /// Units a new home refused and that stay sealed here (see `sharding::stuck`; this instance's
    /// memory: after a restart the next drain step finds them again).
    pub stuck_count: i64,
    /// The first of them, with the reason each new home gave.
    pub stuck_units: Vec<StuckUnit>,
}
