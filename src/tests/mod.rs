//! Native tests of the core over rusqlite (`cargo test`), by what they exercise.

mod handover;
mod model;
mod operations;
mod pages;
mod retry;
