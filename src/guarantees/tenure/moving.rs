//! A tenure as it moves with its unit to the unit's new home after a re-shard: exported here,
//! imported there with every value clamped to what the new home would have set itself.

use super::patience::{MAX_PATIENCE_MS, MAX_WAIT_MS};
use super::state::{Announcement, LastDequeue, Tenure, Tenures};

/// A tenure as it moves with its unit to the unit's new home (src/sharding/, docs/resharding.md
/// "Spec: units"): everything this instance knows of it, so the new home holds the holder's final
/// dequeue and grants the lock early exactly as this one would have. Times are absolute (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MovingTenure {
    pub token: String,
    pub expires_at: i64,
    /// What the holder's last dequeue got: `Some(true)` an entry, `Some(false)` nothing.
    pub last_took_entry: Option<bool>,
    pub last_empty_request: Option<String>,
    pub drained: bool,
    /// `(token, deadline, patience)` of each live announcement.
    pub announcements: Vec<(Option<String>, i64, i64)>,
    pub waiting_since: Option<i64>,
    /// Whether the holder has dequeued (`None`: not sent, by builds before it — then it has if
    /// `last_took_entry` says a dequeue was made).
    pub dequeued: Option<bool>,
    /// The holder's own enqueue, if seen: `Some(request id)`.
    pub own_enqueue: Option<Option<String>>,
    /// The last dequeue is not known (a tenure rebuilt after a restart): `last_took_entry` then
    /// says `Some(true)`, which builds before this field read safely (no early grant after the next
    /// empty dequeue).
    pub last_unknown: bool,
}

impl Tenures {
    /// The live tenure on `key` of the lock `token` holds, as it moves with its unit.
    pub fn export(&self, key: &str, token: &str, now: i64) -> Option<MovingTenure> {
        let map = self.map.borrow();
        let t = map.get(key).filter(|t| t.live(now) && t.token == token)?;
        Some(MovingTenure {
            token: t.token.clone(),
            expires_at: t.expires_at,
            // Unknown goes as "took an entry" to builds that know no `last_unknown`: the safe
            // reading (the next empty dequeue drains nothing).
            last_took_entry: t.last_dequeue.map(|d| d != LastDequeue::Empty),
            last_empty_request: t.last_empty_request.clone(),
            drained: t.drained,
            announcements: t
                .announcements
                .iter()
                .filter(|a| a.deadline > now)
                .map(|a| (a.token.clone(), a.deadline, a.patience))
                .collect(),
            waiting_since: t.waiting_since,
            dequeued: Some(t.dequeued),
            own_enqueue: t.own_enqueue.clone(),
            last_unknown: t.last_dequeue == Some(LastDequeue::Unknown),
        })
    }

    /// The announcements of a moving tenure as its new home keeps them: live ones only, each
    /// deadline clamped to what this instance would have set itself, and a token for each (one
    /// drawn from its place for a tokenless one: rows are keyed by token). The import persists
    /// exactly these as rows (src/guarantees/announcements.rs) and [`Tenures::import`] keeps them in memory.
    pub fn clamped_announcements(moving: &MovingTenure, now: i64) -> Vec<(String, i64, i64)> {
        moving
            .announcements
            .iter()
            .enumerate()
            .filter(|(_, (_, deadline, _))| *deadline > now)
            .map(|(i, (token, deadline, patience))| {
                let patience = (*patience).clamp(1, MAX_PATIENCE_MS);
                (
                    token.clone().unwrap_or_else(|| format!("~moved-{now}-{i}")),
                    (*deadline).min(now + 2 * patience),
                    patience,
                )
            })
            .collect()
    }

    /// A tenure arrived with its unit (the unit's lock row holds `moving.token`): it goes on here.
    /// Values are clamped to what this instance would have set itself, so a malformed one can
    /// neither hold a dequeue longer than [`MAX_WAIT_MS`] nor outlive its lock. `persisted`: the
    /// import wrote its announcements' rows.
    pub fn import(
        &self,
        key: &str,
        moving: &MovingTenure,
        lock_expires_at: i64,
        persisted: bool,
        now: i64,
    ) {
        let expires_at = moving.expires_at.min(lock_expires_at);
        if expires_at <= now {
            return;
        }
        let last_dequeue = if moving.last_unknown {
            Some(LastDequeue::Unknown)
        } else {
            moving.last_took_entry.map(|entry| {
                if entry {
                    LastDequeue::Entry
                } else {
                    LastDequeue::Empty
                }
            })
        };
        let mut tenure = Tenure::new(&moving.token, expires_at, last_dequeue);
        tenure.last_empty_request = moving.last_empty_request.clone();
        // A drained tenure may grant early; an unknown last dequeue never drained one.
        tenure.drained = moving.drained && !moving.last_unknown;
        tenure.announcements = Self::clamped_announcements(moving, now)
            .into_iter()
            .map(Announcement::of_row)
            .collect();
        tenure.waiting_since = moving
            .waiting_since
            .map(|since| since.clamp(now - MAX_WAIT_MS, now));
        tenure.dequeued = moving
            .dequeued
            .unwrap_or(moving.last_took_entry.is_some() || moving.last_unknown);
        tenure.own_enqueue = moving.own_enqueue.clone();
        if persisted {
            tenure.rows = u32::try_from(tenure.announcements.len()).unwrap_or(u32::MAX);
        }
        self.insert(key, tenure, now);
    }
}
