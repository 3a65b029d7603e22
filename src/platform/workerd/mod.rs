//! The JavaScript boundary: [`WorkerdDb`] runs the store's SQL on `ctx.storage.sql`, and
//! [`StateCore`] / [`ShardRouter`] are what the TypeScript shell calls.
//!
//! Every exported function takes its arguments as raw `JsValue`s (typed in the `.d.ts` with
//! `unchecked_param_type`) and checks them itself. wasm-bindgen's own conversions would coerce a
//! number to a string, or replace a lone surrogate with U+FFFD so two distinct keys collide; here
//! a wrong argument becomes an error that names it. Nothing on these paths panics: a panic would
//! trap the wasm instance every object in the isolate shares.
//!
//! Nothing here is async either: every export runs to completion synchronously, and whatever must
//! be awaited (`setAlarm`, the pauses between sweep batches) is awaited by the TypeScript shell,
//! which asks [`StateCore::take_alarm_request`] after each write. Rust futures
//! (`wasm-bindgen-futures`) are deliberately not used: their task queue is global to the wasm
//! instance and schedules itself with one `queueMicrotask` at a time, so an object reset
//! (`ctx.abort()`, a deploy) while one of its futures was queued left that microtask unrun and the
//! queue marked as scheduled forever — every later future of every object in the isolate, their
//! constructors included, then hung. The reset fault tests (test/exactly-once.test.ts) found it.
//!
//! By concern: [`sql`] binds the store's SQL to `ctx.storage.sql`, [`args`] converts JavaScript
//! arguments, [`core`] opens the object's [`StateCore`] and runs its alarm, `exports_data` its
//! chat calls, `exports_handoff` its re-sharding calls, and [`router`] the Worker's
//! [`ShardRouter`].

mod args;
mod core;
mod exports_data;
mod exports_handoff;
mod router;
mod sql;

pub use self::core::StateCore;
pub use router::ShardRouter;
pub use sql::WorkerdDb;
