//! Native tests of the core over rusqlite (`cargo test`), by what they exercise. `support` holds
//! what they share (the store's setup, its re-open, its sweep and the readings of its rows).

mod handover;
mod model;
mod operations;
mod pages;
mod retry;
mod support;
