//! What holds across retries, resets and chat's own races: request ids and receipts
//! ([`idempotency`]), lock tenures and their announcements ([`tenure`], [`announcements`]), the
//! atomic claim-or-enqueue and release-or-dequeue ([`claims`]), and the in-memory read cache
//! ([`read_cache`]).

pub mod announcements;
pub mod claims;
pub mod idempotency;
pub mod read_cache;
pub mod tenure;
