//! Atomic lock-or-queue primitives, the ones the vercel/chat#928 discussion asks for: each is one
//! call and one transaction, so the race between "is the lock free?" and "enqueue", or between
//! "is the queue empty?" and "release", cannot happen at all.
//!
//! - [`Store::claim_or_enqueue`]: take the lock if it is free, else enqueue the entry — never
//!   both, never neither. A caller that gets the depth knows its entry is queued behind a holder
//!   that has not released yet, so that holder will see it.
//! - [`Store::release_or_dequeue`]: hand the holder the next entry (the lock stays held), or
//!   release the lock if there is none. Entries enqueued before the release are always seen; a
//!   claim after it always gets the lock.
//!
//! Both are retry-safe like the calls they combine (see `idempotency`): the claim carries the
//! caller's lock token and a request id for its entry, the release a request id for the entry it
//! may take. A tenure starts with every grant, so these calls mix with chat's own.

use serde::Serialize;
use tsify::Tsify;

use crate::base::alarm::Cleanup;
use crate::base::args::{as_attempt, Args};
use crate::base::db::Database;
use crate::base::error::Result;
use crate::base::store::Store;
use crate::base::validate;
use crate::guarantees::idempotency::{self, Attempt};
use crate::model::locks::Lock;
use crate::model::queues::queue_entry_args;

/// What `claimOrEnqueue` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Claim {
    /// The lock was free: the caller holds it now.
    Acquired { lock: Lock },
    /// The lock is held: the entry was enqueued; `depth` is the queue's depth after it.
    Queued { depth: u32 },
}

impl<D: Database> Store<D> {
    /// Takes the lock on `thread_id` if it is free (or its holder has made its final dequeue,
    /// see `tenure`), else enqueues `json` (FIFO, dropping the oldest beyond `max_size`) — in
    /// one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn claim_or_enqueue(
        &self,
        thread_id: &str,
        json: &str,
        entry_expires_at: f64,
        ttl_ms: f64,
        max_size: Option<f64>,
        token: Attempt<'_>,
        request_id: Option<Attempt<'_>>,
        now: i64,
    ) -> Result<Claim> {
        let (key, json, entry_expires_at) =
            validate::queue_entry(thread_id, json, entry_expires_at)?;
        let ttl = validate::required_ttl("options.ttlMs", ttl_ms)?;
        let max_size = validate::optional_limit("options.maxSize", max_size)?;
        let token_id = validate::new_token("token", token.id)?;
        let request_id = idempotency::checked(request_id)?;
        let expires_at = now + ttl;
        let lock = |expires_at| Lock {
            thread_id: key.to_owned(),
            token: token_id.to_owned(),
            expires_at,
        };
        let early_grant_from = self.tenures.early_grant_from(key, now);

        let (claim, granted, queued) = self.db.transaction(&mut || {
            if token.retry {
                // A retry of a claim that won gets its lock; one that queued, its depth — and
                // never the other, even if the lock has been freed since.
                if let Some(held_until) = self.lock_expiry(key, token_id, now)? {
                    return Ok((
                        Claim::Acquired {
                            lock: lock(held_until),
                        },
                        false,
                        false,
                    ));
                }
                if let Some(depth) = self.retried_enqueue_depth(key, request_id)? {
                    let depth = u32::try_from(depth).unwrap_or(u32::MAX);
                    return Ok((Claim::Queued { depth }, false, false));
                }
            }
            if self.insert_lock_if_free(
                key,
                token_id,
                expires_at,
                now,
                early_grant_from.as_deref(),
            )? {
                return Ok((
                    Claim::Acquired {
                        lock: lock(expires_at),
                    },
                    true,
                    false,
                ));
            }
            let (depth, added, _) =
                self.enqueue_rows(key, json, entry_expires_at, max_size, request_id, now)?;
            let depth = u32::try_from(depth).unwrap_or(u32::MAX);
            Ok((Claim::Queued { depth }, false, added))
        })?;
        if granted {
            self.alarm.note_deadline(expires_at, Cleanup::Eventually);
            let had_rows = self.tenures.granted(key, token_id, expires_at, now);
            self.tenure_ended(key, had_rows)?;
        }
        if queued {
            self.alarm
                .note_deadline(entry_expires_at, Cleanup::Eventually);
        }
        Ok(claim)
    }

    /// For the holder of `token`: the next live entry (the lock stays held), or — when there is
    /// none — the lock released and `None`. A caller that does not hold the lock gets `None` and
    /// changes nothing. One transaction.
    pub fn release_or_dequeue(
        &self,
        thread_id: &str,
        token: &str,
        request_id: Option<Attempt<'_>>,
        now: i64,
    ) -> Result<Option<String>> {
        let key = validate::key("lock.threadId", thread_id)?;
        let token = validate::key("lock.token", token)?;
        let request_id = idempotency::checked(request_id)?;
        let (entry, released) = self.db.transaction(&mut || {
            if let Some(taken) =
                self.receipt_of_dequeue(key, request_id.filter(|a| a.retry).map(|a| a.id))?
            {
                return Ok((Some(taken), false));
            }
            if self.lock_expiry(key, token, now)?.is_none() {
                return Ok((None, false));
            }
            if let Some(json) = self.take_oldest(key, request_id.map(|a| a.id), now)? {
                return Ok((Some(json), false));
            }
            self.delete_lock(key, token)?;
            Ok((None, true))
        })?;
        if released {
            let had_rows = self.tenures.released(key, Some(token));
            self.tenure_ended(key, had_rows)?;
        }
        Ok(entry)
    }
}

/// The RPC calls, their arguments read in wire order (`ts/shared/methods.ts`; see `base::args`).
impl<D: Database> Store<D> {
    /// `threadId, entryJson, expiresAt, ttlMs, maxSize, token, requestId, retry`.
    pub fn claim_or_enqueue_call(&self, args: &impl Args, now: i64) -> Result<Claim> {
        let (thread_id, entry_json, expires_at) = queue_entry_args(args)?;
        let (ttl_ms, max_size) = (
            args.number(3, "options.ttlMs")?,
            args.optional_number(4, "options.maxSize")?,
        );
        let (token, request_id) = (args.string(5, "token")?, args.attempt(6, "requestId")?);
        // The lock's token is retried along with the call's request id.
        let lock = Attempt {
            id: &token,
            retry: request_id.as_ref().is_some_and(|(_, r)| *r),
        };
        let (json, attempt) = (&entry_json, as_attempt(&request_id));
        self.claim_or_enqueue(
            &thread_id, json, expires_at, ttl_ms, max_size, lock, attempt, now,
        )
    }

    /// `threadId, token, requestId, retry`.
    pub fn release_or_dequeue_call(&self, args: &impl Args, now: i64) -> Result<Option<String>> {
        let thread_id = args.string(0, "lock.threadId")?;
        let token = args.string(1, "lock.token")?;
        let request_id = args.attempt(2, "requestId")?;
        self.release_or_dequeue(&thread_id, &token, as_attempt(&request_id), now)
    }
}
