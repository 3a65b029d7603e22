//! Counters over the whole run of the model test (every sequence tried, shrinking included),
//! printed at its end to show what the generated sequences exercised.

use std::sync::atomic::AtomicU64;

/// Figures over the whole run (every sequence tried, shrinking included).
pub(super) static OPS: AtomicU64 = AtomicU64::new(0);
pub(super) static SWEEPS: AtomicU64 = AtomicU64::new(0);
pub(super) static FAILED_SWEEPS: AtomicU64 = AtomicU64::new(0);
pub(super) static REOPENS: AtomicU64 = AtomicU64::new(0);
pub(super) static BAD_CALLS_TRIED: AtomicU64 = AtomicU64::new(0);
pub(super) static REPLAYS: AtomicU64 = AtomicU64::new(0);
pub(super) static REPLAYS_DEDUPED: AtomicU64 = AtomicU64::new(0);
pub(super) static EARLY_GRANTS: AtomicU64 = AtomicU64::new(0);
pub(super) static HELD: AtomicU64 = AtomicU64::new(0);
pub(super) static FENCED: AtomicU64 = AtomicU64::new(0);
