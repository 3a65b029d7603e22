//! How long a newcomer is waited for: the patience a caller declares (its retry budget per call
//! plus a second, sent by the adapter) and the bounds this object puts on every wait.

use crate::guarantees::idempotency::MAX_RETRY_ELAPSED_MS;

/// The most patience a caller may declare: the adapter's longest retry budget plus a second.
pub const MAX_PATIENCE_MS: i64 = MAX_RETRY_ELAPSED_MS + 1_000;
/// Patience assumed when the caller declares none (an adapter without retries).
pub const DEFAULT_PATIENCE_MS: i64 = 1_000;
/// The longest one dequeue is ever held.
pub const MAX_WAIT_MS: i64 = 2 * MAX_PATIENCE_MS;
/// The longest a newcomer's acquire is held while the holder of a restored tenure may already
/// have made its final dequeue (see "Unknown is not final" in `tenure`): well within the adapter's
/// retry budget (5 s by default), so the held call needs no excuse from it (ts/shared/retry.ts).
pub const ACQUIRE_HOLD_MS: i64 = 1_000;

/// Clamps a caller's declared patience (ms) to what this object honours.
pub fn patience(declared: Option<f64>) -> i64 {
    match declared {
        Some(ms) if ms.is_finite() && ms > 0.0 => (ms.ceil() as i64).min(MAX_PATIENCE_MS),
        _ => DEFAULT_PATIENCE_MS,
    }
}

/// How long an acquire of a caller with this patience may be held: [`ACQUIRE_HOLD_MS`], or the
/// caller's retry budget (its patience less the second added to it) if that is smaller — nothing
/// for a caller that declared none.
pub(super) fn acquire_hold_ms(patience: i64) -> i64 {
    (patience - 1_000).clamp(0, ACQUIRE_HOLD_MS)
}
