//! Per-key FIFO queues (chat's concurrency queue: `enqueue`/`dequeue`/`queueDepth`).
//!
//! Each entry carries its own deadline, the `expiresAt` chat puts in the `QueueEntry`; an expired
//! entry is never returned or counted (chat would discard it on dequeue anyway). Like locks, queue
//! entries are consumed by their own protocol long before they expire, so they only ask the alarm
//! to exist, not to move earlier.
//!
//! Retry safety (see `idempotency`): an entry enqueued with a request id keeps that id and the
//! depth its enqueue answered; a dequeue with a request id does not delete the entry but marks it
//! taken by that id (`taken_by`), hides it from every live-entry query (`expires_at = 0`) and keeps
//! it as a receipt until `retain_until`. Entries dropped by `maxSize` are kept as receipts the same
//! way (`taken_by = ''`) when they carry a request id. So a retried enqueue finds its id wherever
//! its entry went — still queued, taken, or dropped — and a retried dequeue gets the very entry its
//! first attempt took. A queue's rows are its live entries (at most `maxSize` in chat's use) plus
//! the receipts of the last two minutes, so these lookups read a bounded number of rows.
//!
//! **The live floor.** Receipts always sit below every live entry: an entry is appended above
//! everything the queue holds, a dequeue takes the oldest live entry, and `maxSize` drops the
//! oldest. So the live entries are the range above the newest receipt, and every query that looks
//! for them starts there (`seq > floor`) instead of walking the receipts of the last two minutes,
//! which a busy thread's queue counts by the hundred. The floor is kept in memory per queue
//! ([`Store::live_floor`]): computed by one scan the first time this instance meets the queue,
//! raised as entries become receipts, forgotten when a re-sharding import or hand-over rewrites
//! the queue. An enqueue numbers its entry above the floor too, so no receipt deleted meanwhile
//! (the sweep deletes them in any order) can make a new entry fall under it. Old receipts are
//! deleted from the bottom, a few per enqueue, and by the sweep.
//!
//! Tenures (see `tenure`): `queueDepth` and `enqueue` tell the key's tenure a newcomer is on its
//! way (`caller` is the token the adapter knows the call by), and a holder's `dequeue` that would
//! be final may be held while an announced entry is still coming ([`Dequeued::WaitUntil`]).

use crate::base::alarm::Cleanup;
use crate::base::args::{as_attempt, Args};
use crate::base::db::{Database, Param, QueryExt, Value};
use crate::base::error::Result;
use crate::base::store::Store;
use crate::base::{live, validate};
use crate::guarantees::idempotency::{self, Attempt, RECEIPT_WINDOW_MS};
use crate::guarantees::tenure::{EmptyDequeue, EnqueuePlan};

/// Old receipts an enqueue looks at (from the bottom of its queue) to delete those past their
/// window: more than the one receipt a dequeue adds, so they never pile up between sweeps.
const RECEIPTS_DELETED_PER_ENQUEUE: i64 = 16;

/// What a dequeue answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dequeued {
    /// The entry's JSON text.
    Entry(String),
    /// Nothing queued.
    Empty,
    /// Not answered yet: ask again when the key is written, or at this time (Unix ms).
    WaitUntil(i64),
}

impl Dequeued {
    /// The answer as `Option`, for callers that never wait (tests, the native model).
    pub fn entry(self) -> Option<String> {
        match self {
            Dequeued::Entry(json) => Some(json),
            _ => None,
        }
    }
}

impl<D: Database> Store<D> {
    /// Appends an entry; with `max_size > 0` drops the oldest beyond `max_size`. Returns the depth.
    /// A retry of an enqueue that landed (same `request_id`) answers the depth the first attempt
    /// answered and writes nothing. `caller`: the token the adapter knows this call's flow by (a
    /// newcomer's refused acquire, or the holder's lock).
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue(
        &self,
        key: &str,
        json: &str,
        expires_at: f64,
        max_size: Option<f64>,
        attempt: Option<Attempt<'_>>,
        caller: Option<&str>,
        now: i64,
    ) -> Result<u32> {
        let (key, json, expires_at) = validate::queue_entry(key, json, expires_at)?;
        let max_size = validate::optional_limit("maxSize", max_size)?;
        let attempt = idempotency::checked(attempt)?;

        let (depth, added, plan) = self.db.transaction(&mut || {
            let (depth, added, repeated) =
                self.enqueue_rows(key, json, expires_at, max_size, attempt, now)?;
            if repeated {
                return Ok((depth, added, EnqueuePlan::Nothing));
            }
            // The announcement this entry fulfils loses its row with the entry's arrival, so
            // after a reset the row is there exactly while the entry is not (`announcements`).
            let plan = self
                .tenures
                .plan_enqueue(key, caller, attempt.map(|a| a.id), now);
            if let EnqueuePlan::Fulfils {
                token: Some(token),
                persisted: true,
            } = &plan
            {
                self.delete_announcement(key, token)?;
            }
            Ok((depth, added, plan))
        })?;
        if added {
            self.alarm.note_deadline(expires_at, Cleanup::Eventually);
        }
        self.tenures.apply_enqueue(key, plan, now);
        Ok(u32::try_from(depth).unwrap_or(u32::MAX))
    }

    /// The depth an earlier attempt of the enqueue `attempt` reported, if that attempt ran (its
    /// entry carries the request id, see `idempotency`). `None` for no request id.
    pub(crate) fn retried_enqueue_depth(
        &self,
        key: &str,
        attempt: Option<Attempt<'_>>,
    ) -> Result<Option<i64>> {
        let Some(id) = attempt.map(|a| a.id) else {
            return Ok(None);
        };
        self.db.query_int(
            "SELECT depth FROM queue_entries WHERE queue_key = ?1 AND request_id = ?2",
            &[Param::Text(key), Param::Text(id)],
        )
    }

    /// The rows of an enqueue, inside the caller's transaction: `(depth, added, repeated)` —
    /// `repeated` when this is a retry of an enqueue that landed.
    pub(crate) fn enqueue_rows(
        &self,
        key: &str,
        json: &str,
        expires_at: i64,
        max_size: Option<i64>,
        attempt: Option<Attempt<'_>>,
        now: i64,
    ) -> Result<(i64, bool, bool)> {
        let request_id = attempt.map(|a| a.id);
        if let Some(depth) = self.retried_enqueue_depth(key, attempt.filter(|a| a.retry))? {
            return Ok((depth, false, true));
        }
        let floor = self.live_floor(key)?;
        // What can never be delivered or asked for again, among the oldest rows: receipts past
        // their window (this is where most receipts are deleted: their one extra row) and
        // expired entries. A bounded read; the sweep deletes whatever expires above them.
        self.db.exec(
            &format!(
                "DELETE FROM queue_entries
                 WHERE queue_key = ?1 AND {}
                   AND seq IN (SELECT seq FROM queue_entries WHERE queue_key = ?1
                               ORDER BY seq LIMIT ?3)",
                live::queue_row_dead("?2")
            ),
            &[
                Param::Text(key),
                Param::Int(now),
                Param::Int(RECEIPTS_DELETED_PER_ENQUEUE),
            ],
        )?;
        let rows = self.db.exec(
            "SELECT (SELECT MAX(seq) FROM queue_entries WHERE queue_key = ?1),
                    (SELECT COUNT(*) FROM queue_entries
                     WHERE queue_key = ?1 AND seq > ?3 AND expires_at > ?2)",
            &[Param::Text(key), Param::Int(now), Param::Int(floor)],
        )?;
        let row = rows.into_iter().next().unwrap_or_default();
        let last_seq = row.first().and_then(|v| v.as_int());
        let live_before = row.get(1).and_then(|v| v.as_int()).unwrap_or(0);
        let live = expires_at > now;
        let live_after = live_before + i64::from(live);
        let depth = max_size.map_or(live_after, |max| live_after.min(max));
        if live {
            // Above the floor even if the receipts up to it were deleted meanwhile.
            let seq = last_seq.unwrap_or(-1).max(floor).saturating_add(1);
            self.db.exec(
                "INSERT INTO queue_entries (queue_key, seq, value, expires_at, request_id, depth)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    Param::Text(key),
                    Param::Int(seq),
                    Param::Text(json),
                    Param::Int(expires_at),
                    request_id.into(),
                    Param::Int(depth),
                ],
            )?;
        }
        if let Some(max) = max_size.filter(|max| live_after > *max) {
            self.drop_oldest_beyond(key, max, now)?;
        }
        Ok((depth, live, false))
    }

    /// Drops the live entries older than the newest `max` (the newest entry itself is always
    /// kept, like LTRIM). Those with a request id stay as receipts; the others go.
    fn drop_oldest_beyond(&self, key: &str, max: i64, now: i64) -> Result<()> {
        let floor = self.live_floor(key)?;
        const OLDER_THAN_NEWEST_MAX: &str = "queue_key = ?1 AND seq > ?5 AND expires_at > ?2
            AND seq <= (SELECT seq FROM queue_entries WHERE queue_key = ?1 AND seq > ?5
                        AND expires_at > ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)";
        let dropped = self.db.exec(
            &format!(
                "UPDATE queue_entries SET taken_by = '', expires_at = 0, retain_until = ?4
                 WHERE request_id IS NOT NULL AND {OLDER_THAN_NEWEST_MAX} RETURNING seq"
            ),
            &[
                Param::Text(key),
                Param::Int(now),
                Param::Int(max),
                Param::Int(now + RECEIPT_WINDOW_MS),
                Param::Int(floor),
            ],
        )?;
        self.db.exec(
            &format!(
                "DELETE FROM queue_entries WHERE request_id IS NULL AND {OLDER_THAN_NEWEST_MAX}"
            ),
            &[
                Param::Text(key),
                Param::Int(now),
                Param::Int(max),
                Param::Null,
                Param::Int(floor),
            ],
        )?;
        for seq in dropped
            .iter()
            .filter_map(|r| r.first().and_then(|v| v.as_int()))
        {
            self.raise_floor(key, seq);
        }
        Ok(())
    }

    /// The newest receipt's seq in `key`'s queue (-1 if none): every live entry is above it
    /// (see the module comment). Read once per queue and instance, then kept current.
    pub(crate) fn live_floor(&self, key: &str) -> Result<i64> {
        if let Some(floor) = self.queue_floors.get(key) {
            return Ok(floor);
        }
        let floor = self
            .db
            .query_int(
                "SELECT MAX(seq) FROM queue_entries WHERE queue_key = ?1 AND taken_by IS NOT NULL",
                &[Param::Text(key)],
            )?
            .unwrap_or(-1);
        self.queue_floors.insert(key.to_owned(), floor);
        Ok(floor)
    }

    /// Entry `seq` of `key`'s queue became a receipt. (A queue whose floor is not known yet
    /// reads it when it needs it.)
    fn raise_floor(&self, key: &str, seq: i64) {
        self.queue_floors
            .update(key, |floor| *floor = (*floor).max(seq));
    }

    /// Takes the oldest unexpired entry and returns its JSON text. With a `request_id` the entry
    /// is kept as that call's receipt, and a retry gets the same entry back. `holder`: the token
    /// of the lock the caller holds on `key`, if the adapter knows one.
    ///
    /// A holder's dequeue that finds the queue empty may be held ([`Dequeued::WaitUntil`]): the
    /// caller asks again, with the same arguments, when the key is written or at that time.
    pub fn dequeue(
        &self,
        key: &str,
        attempt: Option<Attempt<'_>>,
        holder: Option<&str>,
        now: i64,
    ) -> Result<Dequeued> {
        let key = validate::key("threadId", key)?;
        let attempt = idempotency::checked(attempt)?;
        let retry_of = attempt.filter(|a| a.retry).map(|a| a.id);
        if let Some(id) = retry_of {
            if let Some(taken) = self.receipt_of_dequeue(key, Some(id))? {
                return Ok(Dequeued::Entry(taken));
            }
            // The holder's final dequeue answered `null`: so does its retry.
            if self.tenures.answered_empty(key, id) {
                return Ok(Dequeued::Empty);
            }
            // The fence: a retried dequeue whose caller's lock is now held by another token
            // (granted early to a newcomer, or lost) gets nothing, even if this object restarted
            // meanwhile — an entry it took now could be handled beside the new holder's handler.
            if let Some(holder) = holder {
                if self.lock_held_by_other(key, holder, now)? {
                    return Ok(Dequeued::Empty);
                }
            }
        }
        let for_holder = self.tenures.is_holder(key, holder);
        match self.take_oldest(key, attempt.map(|a| a.id), now)? {
            Some(json) => {
                if for_holder {
                    self.tenures.took_entry(key, now);
                }
                Ok(Dequeued::Entry(json))
            }
            None if for_holder => Ok(
                match self.tenures.found_empty(key, attempt.map(|a| a.id), now) {
                    EmptyDequeue::Answer => Dequeued::Empty,
                    EmptyDequeue::WaitUntil(at) => Dequeued::WaitUntil(at),
                },
            ),
            None => Ok(Dequeued::Empty),
        }
    }

    /// Whether an unexpired lock on `key` is held by a token other than `token`.
    fn lock_held_by_other(&self, key: &str, token: &str, now: i64) -> Result<bool> {
        self.db.returned_row(
            "SELECT 1 FROM locks WHERE thread_id = ?1 AND token <> ?2 AND expires_at > ?3",
            &[Param::Text(key), Param::Text(token), Param::Int(now)],
        )
    }

    /// The entry a dequeue with this request id already took, if any.
    pub(crate) fn receipt_of_dequeue(
        &self,
        key: &str,
        request_id: Option<&str>,
    ) -> Result<Option<String>> {
        match request_id {
            Some(id) => self.db.query_text(
                "SELECT value FROM queue_entries WHERE queue_key = ?1 AND taken_by = ?2",
                &[Param::Text(key), Param::Text(id)],
            ),
            None => Ok(None),
        }
    }

    /// Removes (or, with a request id, marks taken) the oldest live entry: one row written.
    pub(crate) fn take_oldest(
        &self,
        key: &str,
        request_id: Option<&str>,
        now: i64,
    ) -> Result<Option<String>> {
        let floor = self.live_floor(key)?;
        const OLDEST_LIVE: &str = "queue_key = ?1 AND seq = (
            SELECT seq FROM queue_entries WHERE queue_key = ?1 AND seq > ?5 AND expires_at > ?2
            ORDER BY seq LIMIT 1)";
        match request_id {
            Some(id) => {
                let retain_until = now + RECEIPT_WINDOW_MS;
                let taken = self.db.exec(
                    &format!(
                        "UPDATE queue_entries SET taken_by = ?3, expires_at = 0, retain_until = ?4
                         WHERE {OLDEST_LIVE} RETURNING value, seq"
                    ),
                    &[
                        Param::Text(key),
                        Param::Int(now),
                        Param::Text(id),
                        Param::Int(retain_until),
                        Param::Int(floor),
                    ],
                )?;
                let Some(mut row) = taken.into_iter().next().map(Vec::into_iter) else {
                    return Ok(None);
                };
                let value = row.next().and_then(Value::into_text);
                if let Some(seq) = row.next().and_then(|v| v.as_int()) {
                    self.raise_floor(key, seq);
                }
                self.alarm.note_deadline(retain_until, Cleanup::Eventually);
                Ok(value)
            }
            None => self.db.query_text(
                &format!("DELETE FROM queue_entries WHERE {OLDEST_LIVE} RETURNING value"),
                &[
                    Param::Text(key),
                    Param::Int(now),
                    Param::Null,
                    Param::Null,
                    Param::Int(floor),
                ],
            ),
        }
    }

    /// The number of live entries. `caller`: the token the adapter knows this call's flow by (a
    /// newcomer asks before it enqueues).
    pub fn queue_depth(&self, key: &str, caller: Option<&str>, now: i64) -> Result<u32> {
        let key = validate::key("threadId", key)?;
        let depth = self.queue_depth_unchecked(key, now)?;
        self.tenures.depth_asked(key, caller, now);
        Ok(depth)
    }

    pub(crate) fn queue_depth_unchecked(&self, key: &str, now: i64) -> Result<u32> {
        let floor = self.live_floor(key)?;
        let count = self
            .db
            .query_int(
                "SELECT COUNT(*) FROM queue_entries
                 WHERE queue_key = ?1 AND seq > ?3 AND expires_at > ?2",
                &[Param::Text(key), Param::Int(now), Param::Int(floor)],
            )?
            .unwrap_or(0);
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }
}

/// The RPC calls, their arguments read in wire order (`ts/shared/methods.ts`; see `base::args`).
impl<D: Database> Store<D> {
    /// `threadId, entryJson, expiresAt, maxSize, requestId, retry, caller`.
    pub fn enqueue_call(&self, args: &impl Args, now: i64) -> Result<u32> {
        let (thread_id, entry_json, expires_at) = queue_entry_args(args)?;
        let (max_size, request_id) = (
            args.optional_number(3, "maxSize")?,
            args.attempt(4, "requestId")?,
        );
        let (caller, attempt) = (args.optional_string(6, "caller")?, as_attempt(&request_id));
        self.enqueue(
            &thread_id,
            &entry_json,
            expires_at,
            max_size,
            attempt,
            caller.as_deref(),
            now,
        )
    }

    /// `threadId, requestId, retry, holder`: a dequeue the object may hold.
    pub fn dequeue_call(&self, args: &impl Args, now: i64) -> Result<Dequeued> {
        let thread_id = args.string(0, "threadId")?;
        let request_id = args.attempt(1, "requestId")?;
        let holder = args.optional_string(3, "holder")?;
        self.dequeue(&thread_id, as_attempt(&request_id), holder.as_deref(), now)
    }

    /// `threadId, caller`.
    pub fn queue_depth_call(&self, args: &impl Args, now: i64) -> Result<u32> {
        let thread_id = args.string(0, "threadId")?;
        let caller = args.optional_string(1, "caller")?;
        self.queue_depth(&thread_id, caller.as_deref(), now)
    }
}

/// The queue entry an `enqueue` or a `claimOrEnqueue` starts with: `threadId, entryJson,
/// expiresAt`, under the names their errors give them.
pub fn queue_entry_args(args: &impl Args) -> Result<(String, String, f64)> {
    Ok((
        args.string(0, "threadId")?,
        args.string(1, "entry")?,
        args.number(2, "entry.expiresAt")?,
    ))
}
