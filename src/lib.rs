//! Rust core of `chat-state-cloudflare-do`: the Chat SDK state (subscriptions, locks, cache,
//! lists, queues) kept in a SQLite-backed Cloudflare Durable Object, plus the shard router.
//!
//! Layout, one module per concern:
//! - [`store`] — the [`store::Store`] every operation hangs off;
//! - [`subscriptions`], [`locks`], [`cache`], [`lists`], [`queues`] — the operations;
//! - [`tenure`] — lock tenures and the queue handover that closes chat's lock/queue race;
//! - [`claims`] — atomic claim-or-enqueue and release-or-dequeue;
//! - [`expiry`] — alarm scheduling and the sweep of expired rows;
//! - [`read_cache`] — subscriptions and values kept in memory, so reads skip SQLite;
//! - [`idempotency`] — request ids and receipts: a retried call takes effect once;
//! - [`schema`] — versioned tables and in-place upgrades;
//! - [`routing`] — which Durable Object a call goes to;
//! - [`handoff`] — online re-sharding: moving a key's rows to its new home, one unit at a time;
//! - [`inspect`] — read-only counts for operators;
//! - [`validate`] and [`error`] — argument checks and the error every path returns;
//! - [`db`] — the SQL interface; [`workerd`] implements it over `ctx.storage.sql` and exports
//!   everything to JavaScript with `wasm-bindgen`.

pub mod admission;
pub mod announcements;
pub mod cache;
pub mod claims;
pub mod db;
pub mod error;
pub mod expiry;
pub mod handoff;
pub mod handoff_guard;
pub mod handoff_live;
pub mod handoff_pages;
pub mod handoff_stuck;
pub mod handoff_wire;
pub mod idempotency;
pub mod inspect;
pub mod lists;
pub mod locks;
pub mod queues;
pub mod read_cache;
pub mod routing;
pub mod schema;
pub mod store;
pub mod subscriptions;
pub mod tenure;
pub mod validate;
pub mod workerd;

#[cfg(test)]
mod handover_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod native_db;
#[cfg(test)]
mod pages_tests;
#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod tests;
