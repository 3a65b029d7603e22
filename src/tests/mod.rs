//! Native tests of the core over rusqlite (`cargo test`), by what they exercise: the thread part
//! (`subscriptions_and_locks`, `queues`), the key part (`cache_and_lists`), `all_or_nothing`
//! writes, `expiry`, `schema_upgrades`, `retry` safety, the lock/queue race (`lock_queue_race`), paged units (`pages`), the model-based
//! property test (`model`) and the README's examples (`readme`). `support` holds what they share
//! (the store's setup, its re-open, its sweep and the readings of its rows).

mod all_or_nothing;
mod cache_and_lists;
mod expiry;
mod lock_queue_race;
mod model;
mod pages;
mod queues;
mod readme;
mod retry;
mod schema_upgrades;
mod subscriptions_and_locks;
mod support;
