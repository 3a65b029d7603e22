//! Units a new home refused to import ("stuck"), as their previous home remembers them.
//!
//! A new home refuses a unit when it already holds live rows of it (`Store::import_unit`: nothing
//! is overwritten, that would be two owners' rows merged). The previous home keeps the unit
//! sealed — it serves it to nobody, its copy stays — and before this module its drain stopped at
//! the refusal: the step threw, the alarm never reached the expiry sweep, and the refused seal
//! headed every later batch. Now the drain notes the unit here, goes on with the others, retries
//! stuck units only when nothing else is left to move (at most once per [`RETRY_MS`] from the
//! alarm), and `inspect().migration.stuckUnits` reports each with the new home's reason. The
//! object does not count as drained while one is stuck: its copy is the only one.
//!
//! Memory only, like the drain cursor: after a restart the next step meets the refusal again
//! (once) and notes it again; the seal itself is durable.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;
use tsify::Tsify;

/// How long the alarm waits before it offers a stuck unit to its new home again.
pub const RETRY_MS: i64 = 60_000;
/// Stuck units remembered (each is a sealed unit; more than this many means something is wrong
/// everywhere, and the oldest are forgotten, to be met and noted again).
const MAX: usize = 1_000;
/// Stuck units listed by `inspect()`.
const LISTED: usize = 20;

/// One stuck unit, as `inspect()` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct StuckUnit {
    pub routing_key: String,
    /// The new home that refused it.
    pub destination: String,
    /// Its reason, as it answered.
    pub reason: String,
    /// When it first refused (Unix ms, this instance's memory).
    pub since: i64,
}

#[derive(Debug, Default)]
pub struct StuckUnits {
    map: RefCell<BTreeMap<String, StuckUnit>>,
}

impl StuckUnits {
    /// Notes the unit stuck; true when it was not already.
    pub fn note(&self, routing_key: &str, destination: &str, reason: &str, now: i64) -> bool {
        let mut map = self.map.borrow_mut();
        if map.len() >= MAX && !map.contains_key(routing_key) {
            if let Some(oldest) = map
                .values()
                .min_by_key(|u| u.since)
                .map(|u| u.routing_key.clone())
            {
                map.remove(&oldest);
            }
        }
        let known = map.get(routing_key).map(|u| u.since);
        let since = known.unwrap_or(now);
        map.insert(
            routing_key.to_owned(),
            StuckUnit {
                routing_key: routing_key.to_owned(),
                destination: destination.to_owned(),
                reason: reason.to_owned(),
                since,
            },
        );
        known.is_none()
    }

    /// The unit moved after all (or its copy went): it is no longer stuck.
    pub fn resolved(&self, routing_key: &str) {
        self.map.borrow_mut().remove(routing_key);
    }

    pub fn contains(&self, routing_key: &str) -> bool {
        self.map.borrow().contains_key(routing_key)
    }

    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }

    pub fn clear(&self) {
        self.map.borrow_mut().clear();
    }

    /// The first few, in key order, for `inspect()`.
    pub fn listed(&self) -> Vec<StuckUnit> {
        self.map.borrow().values().take(LISTED).cloned().collect()
    }
}
