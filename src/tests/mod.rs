//! Native tests of the core over rusqlite (`cargo test`), by what they exercise.

mod lock_queue_race;
mod model;
mod operations;
mod pages;
mod retry;
