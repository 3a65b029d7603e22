//! Rust core of `chat-state-cloudflare-do`: the Chat SDK state (subscriptions, locks, cache,
//! lists, queues) kept in a SQLite-backed Cloudflare Durable Object, plus the shard router.
//!
//! The crate is built in layers; each folder is one, and a module only uses the layers below it
//! (README "Architecture" draws the same picture):
//! - [`base`] — what every operation stands on: the SQL interface ([`base::db`]), the schema and
//!   its upgrades, the [`base::store::Store`] every operation hangs off, argument checks and the
//!   one error type;
//! - [`guarantees`] — what makes a call safe to repeat and chat's lock/queue race closed: request
//!   ids and receipts, lock tenures, claim-or-enqueue, the read cache;
//! - [`model`] — the state itself: subscriptions, locks, cache, lists, queues, and the expiry
//!   sweep, each a direct mapping of chat's `StateAdapter` methods;
//! - [`sharding`] — which object a key lives on and moving keys online to a new layout (the
//!   protocol is written down once, in `docs/resharding.md`);
//! - [`platform`] — the binding to workerd: `ctx.storage.sql` behind [`base::db::Database`], and
//!   every RPC method exported to JavaScript with `wasm-bindgen`.

pub mod base;
pub mod guarantees;
pub mod model;
pub mod platform;
pub mod sharding;

#[cfg(test)]
mod tests;
