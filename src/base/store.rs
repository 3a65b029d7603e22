//! The state store: one per Durable Object, over that object's SQLite database.
//!
//! Each concern adds its operations to [`Store`] in its own module (`subscriptions`, `locks`,
//! `cache`, `lists`, `queues`, `expiry`, `inspect`). Every operation takes `now` (Unix ms) from the
//! caller instead of reading a clock, so the native tests drive time exactly and the same code runs
//! in workerd with `Date.now()`.
//!
//! Atomicity comes from two places. A Durable Object runs one request at a time, and every store
//! method is synchronous, so no other call can interleave with one. Within a call, anything that
//! reads then writes is either a single SQL statement (an upsert with a `WHERE`, a `DELETE ...
//! RETURNING`) or runs inside [`Database::transaction`], so a failure part-way writes nothing.

use crate::base::alarm::AlarmSchedule;
use crate::base::db::{Database, RowCounts};
use crate::base::error::Result;
use crate::base::memo::{Memo, MemoSet};
use crate::base::schema;
use crate::guarantees::read_cache::ReadCache;
use crate::guarantees::tenure::Tenures;

/// Entries each memo of the store holds before it is cleared (see `memo`): queues, units and
/// previous homes a single object meets between two resets rarely come near it.
const MEMO_CAPACITY: usize = 10_000;

pub struct Store<D: Database> {
    pub(crate) db: D,
    pub(crate) alarm: AlarmSchedule,
    /// What `isSubscribed` and `get` would read, kept current by every write (see `read_cache`).
    pub(crate) reads: ReadCache,
    /// Lock tenures of this instance (see `tenure`), in memory; their announcements are also
    /// rows, from which a restarted instance rebuilds them (see `announcements`).
    pub(crate) tenures: Tenures,
    /// Where the migration drain stopped in each table (see `sharding`); memory only.
    pub(crate) drain_cursor: std::cell::RefCell<[Option<String>; 5]>,
    /// The `handoff_out` row, read once and kept current by the writes to it, so that a call
    /// with no migration going on pays no read for admission.
    pub(crate) outgoing_cache:
        std::cell::RefCell<Option<Option<crate::sharding::migration::Outgoing>>>,
    /// Routing keys known to be this object's during a migration (see `sharding`).
    pub(crate) owned_memo: MemoSet<String>,
    /// Units a caller said stay on this object under a layout it cannot compute.
    pub(crate) stays: MemoSet<String>,
    /// The live floor of each queue this instance has met (see `queues`).
    pub(crate) queue_floors: Memo<String, i64>,
    /// Previous homes known to have drained (a drained one never undrains): once known, a call
    /// routed from one reads nothing for admission.
    pub(crate) drained_sources: MemoSet<String>,
    /// The migrations this object receives units of, with whether they drained (see
    /// `admission`): read once, forgotten by every write to `handoff_sources`.
    pub(crate) incoming_cache: std::cell::RefCell<Option<Vec<(String, bool)>>>,
    /// Units a new home refused, as this previous home remembers them (see `sharding::stuck`).
    pub(crate) stuck: crate::sharding::stuck::StuckUnits,
}

impl<D: Database> Store<D> {
    /// Opens the store: upgrades the schema and makes sure an alarm will clean up whatever has a
    /// deadline. `armed_alarm` is what `ctx.storage.getAlarm()` returned.
    ///
    /// When no alarm is armed we look up the earliest deadline once (an indexed `MIN` per table)
    /// and request one; this heals an object whose alarm was lost and arms the first sweep of rows
    /// copied by a schema upgrade. When one is armed we trust it: every write path keeps it no
    /// later than the earliest cache or list deadline.
    pub fn open(db: D, armed_alarm: Option<i64>, now: i64) -> Result<Self> {
        schema::upgrade(&db)?;
        let store = Store {
            db,
            alarm: AlarmSchedule::new(armed_alarm),
            reads: ReadCache::default(),
            tenures: Tenures::default(),
            drain_cursor: Default::default(),
            outgoing_cache: Default::default(),
            owned_memo: Memo::new(MEMO_CAPACITY),
            stays: Memo::new(MEMO_CAPACITY),
            queue_floors: Memo::new(MEMO_CAPACITY),
            drained_sources: Memo::new(MEMO_CAPACITY),
            incoming_cache: Default::default(),
            stuck: Default::default(),
        };
        // The tenures a reset would otherwise have forgotten (see `announcements`).
        store.restore_tenures(now)?;
        if armed_alarm.is_none() {
            if let Some(deadline) = store.next_deadline()? {
                store.alarm.request(deadline.max(now));
            }
        }
        Ok(store)
    }

    /// The alarm time the last write asked for, if it must move. The caller (the wasm layer) passes
    /// it to `ctx.storage.setAlarm` right after the operation returns.
    pub fn take_alarm_request(&self) -> Option<i64> {
        self.alarm.take_request()
    }

    /// Whether an alarm request is waiting (without taking it).
    pub fn alarm_request(&self) -> Option<i64> {
        self.alarm.pending_request()
    }

    /// Asks for the alarm at `at` unless one is armed no later (the migration drain's next step).
    pub fn request_alarm_by(&self, at: i64) {
        if self.alarm.armed().is_none_or(|armed| armed > at) {
            self.alarm.request(at);
        }
    }

    /// Called when `setAlarm` failed: we no longer know what is armed, so the next write re-arms.
    pub fn alarm_request_failed(&self) {
        self.alarm.forget();
    }

    /// The alarm time this store believes is armed.
    pub fn armed_alarm(&self) -> Option<i64> {
        self.alarm.armed()
    }

    /// Rows are about to be written behind the memos that mirror them — the read cache (see
    /// `read_cache`) and the queues' live floors (see `queues`) — by the re-sharding import or
    /// hand-over: forgetting them is always safe, and the next call reads SQLite again.
    pub(crate) fn forget_row_memos(&self) {
        self.reads.clear();
        self.queue_floors.clear();
    }

    /// Cumulative SQLite rows read and written by this instance (what Cloudflare bills).
    pub fn row_counts(&self) -> RowCounts {
        self.db.row_counts()
    }
}
