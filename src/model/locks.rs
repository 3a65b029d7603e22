//! Distributed locks, one row per held lock.
//!
//! Each operation is a single SQL statement, so it is atomic by construction:
//! - acquire is an upsert that only overwrites an *expired* holder (`WHERE locks.expires_at <=
//!   now`), and `RETURNING` tells us whether it wrote: an unexpired lock is never granted twice;
//! - release and extend match on the token, so a holder that lost its lock (expired, force
//!   released, taken over) cannot touch the new holder's row, and extend never creates a row or
//!   revives an expired one.
//!
//! The caller may choose the token (the adapter draws 128 bits from Web Crypto before the first
//! attempt): a retry of an acquire whose reply was lost then finds the lock held by its own token
//! and gets that same lock back instead of `null` (see `idempotency`). Without a token the object
//! draws one, as before.
//!
//! Tenures (see `tenure`): every grant starts one in memory; a refused acquire announces the
//! newcomer's coming enqueue; and an acquire arriving after the holder's final dequeue is granted
//! at once (an *early grant*), which is what closes chat's lock/queue race.
//!
//! Locks take part in the expiry sweep but do not pull the alarm earlier (see
//! [`crate::base::alarm::Cleanup::Eventually`]): a lock is normally deleted by its release well before
//! its TTL, so re-arming the alarm for each acquire would cost a `setAlarm` per message for nothing.

use serde::Serialize;
use tsify::Tsify;

use crate::base::alarm::Cleanup;
use crate::base::args::{as_attempt, Args};
use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::{Error, Result};
use crate::base::store::Store;
use crate::base::validate;
use crate::guarantees::idempotency::Attempt;
use crate::guarantees::tenure;

/// A held lock, as chat's `Lock` type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    pub thread_id: String,
    pub token: String,
    /// Unix ms.
    pub expires_at: i64,
}

/// Lock tokens carry 128 bits from the platform CSPRNG (`crypto.getRandomValues` in workerd), so a
/// token cannot be guessed to release or extend somebody else's lock.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::storage(format!("no secure random source for a lock token: {e}")))?;
    let mut token = String::with_capacity(5 + 32);
    token.push_str("cfdo_");
    for byte in bytes {
        token.push_str(&format!("{byte:02x}"));
    }
    Ok(token)
}

/// What an acquire that may be held answers (see [`Store::acquire_lock_or_hold`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    Granted(Lock),
    Refused,
    /// Held: ask again, with the same arguments, by this time (Unix ms) or when the key is written.
    WaitUntil(i64),
}

impl<D: Database> Store<D> {
    /// [`Store::acquire_lock_or_hold`] without holding: a refusal is answered at once.
    pub fn acquire_lock(
        &self,
        thread_id: &str,
        ttl_ms: f64,
        token: Option<Attempt<'_>>,
        patience_ms: Option<f64>,
        now: i64,
    ) -> Result<Option<Lock>> {
        Ok(
            match self.acquire_lock_or_hold(thread_id, ttl_ms, token, patience_ms, false, now)? {
                Acquired::Granted(lock) => Some(lock),
                Acquired::Refused | Acquired::WaitUntil(_) => None,
            },
        )
    }

    /// Grants the lock if no unexpired holder has it. `token` is the caller's (`None`: draw one).
    /// A retry whose token already holds the lock is a retry of a granted acquire: it gets the
    /// lock back with its stored expiry, and nothing is written. `patience_ms` is how long the
    /// caller may take between its calls (its retry budget), for the announcement a refusal
    /// makes (see `tenure`). `hold`: a refusal that could strand the newcomer's entry (the
    /// holder of a restored tenure may only have its release left) may be held instead
    /// ([`Acquired::WaitUntil`]; the caller asks again) — only for a caller that sent its token,
    /// so that every ask is the same acquire.
    pub fn acquire_lock_or_hold(
        &self,
        thread_id: &str,
        ttl_ms: f64,
        token: Option<Attempt<'_>>,
        patience_ms: Option<f64>,
        hold: bool,
        now: i64,
    ) -> Result<Acquired> {
        let thread_id = validate::key("threadId", thread_id)?;
        let ttl_ms = validate::required_ttl("ttlMs", ttl_ms)?;
        let hold = hold && token.is_some();
        let retry = token.is_some_and(|t| t.retry);
        let token = match token {
            Some(token) => validate::new_token("token", token.id)?.to_owned(),
            None => new_token()?,
        };
        let expires_at = now + ttl_ms;
        let granted = |token: String| -> Result<Acquired> {
            self.alarm.note_deadline(expires_at, Cleanup::Eventually);
            let had_rows = self.tenures.granted(thread_id, &token, expires_at, now);
            self.tenure_ended(thread_id, had_rows)?;
            Ok(Acquired::Granted(Lock {
                thread_id: thread_id.to_owned(),
                token,
                expires_at,
            }))
        };
        if self.insert_lock_if_free(thread_id, &token, expires_at, now, None)? {
            return granted(token);
        }
        // Held. By this very token? Then this is a retry whose first attempt won.
        if let Some(held_until) = retry
            .then(|| self.lock_expiry(thread_id, &token, now))
            .transpose()?
            .flatten()
        {
            return Ok(Acquired::Granted(Lock {
                thread_id: thread_id.to_owned(),
                token,
                expires_at: held_until,
            }));
        }
        // Held by a holder that has made its final dequeue: grant the lock early.
        if let Some(from) = self.tenures.early_grant_from(thread_id, now) {
            if self.db.returned_row(
                "UPDATE locks SET token = ?3, expires_at = ?4
                 WHERE thread_id = ?1 AND token = ?2 AND expires_at > ?5 RETURNING 1",
                &[
                    Param::Text(thread_id),
                    Param::Text(&from),
                    Param::Text(&token),
                    Param::Int(expires_at),
                    Param::Int(now),
                ],
            )? {
                return granted(token);
            }
        }
        let patience = tenure::patience(patience_ms);
        // Held by the holder of a restored tenure that may have made its final dequeue: wait for
        // its next call rather than guess (see `tenure`, "Unknown is not final"). Writes nothing.
        if hold {
            if let Some((holder, holder_expires_at)) = self.lock_holder(thread_id, now)? {
                if let Some(at) = self.tenures.hold_acquire(
                    thread_id,
                    &holder,
                    holder_expires_at,
                    &token,
                    patience,
                    now,
                ) {
                    return Ok(Acquired::WaitUntil(at));
                }
            }
        }
        // Refused: announce the newcomer's coming enqueue, durably (src/guarantees/announcements.rs), in
        // one transaction with the read of the holder it waits on. Memory follows the commit.
        let holder = self.db.transaction(&mut || {
            let Some((holder, holder_expires_at)) = self.lock_holder(thread_id, now)? else {
                return Ok(None);
            };
            self.persist_announcement(
                thread_id,
                &token,
                &holder,
                now + 2 * patience,
                patience,
                now,
            )?;
            Ok(Some((holder, holder_expires_at)))
        })?;
        if let Some((holder, holder_expires_at)) = holder {
            self.tenures.announce(
                thread_id,
                &holder,
                holder_expires_at,
                Some(&token),
                patience,
                now,
            );
        }
        Ok(Acquired::Refused)
    }

    /// One upsert that only overwrites an expired holder — or the holder `early_grant_from`, whose
    /// tenure has made its final dequeue (see `tenure`); true when it wrote.
    pub(crate) fn insert_lock_if_free(
        &self,
        thread_id: &str,
        token: &str,
        expires_at: i64,
        now: i64,
        early_grant_from: Option<&str>,
    ) -> Result<bool> {
        self.db.returned_row(
            "INSERT INTO locks (thread_id, token, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (thread_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
             WHERE locks.expires_at <= ?4 OR locks.token = ?5
             RETURNING 1",
            &[
                Param::Text(thread_id),
                Param::Text(token),
                Param::Int(expires_at),
                Param::Int(now),
                early_grant_from.into(),
            ],
        )
    }

    /// Deletes the lock only if `token` still holds it.
    pub(crate) fn delete_lock(&self, thread_id: &str, token: &str) -> Result<()> {
        self.db.exec(
            "DELETE FROM locks WHERE thread_id = ?1 AND token = ?2",
            &[Param::Text(thread_id), Param::Text(token)],
        )?;
        Ok(())
    }

    /// The expiry of the lock if `token` holds it unexpired.
    pub(crate) fn lock_expiry(
        &self,
        thread_id: &str,
        token: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        self.db.query_int(
            "SELECT expires_at FROM locks WHERE thread_id = ?1 AND token = ?2 AND expires_at > ?3",
            &[Param::Text(thread_id), Param::Text(token), Param::Int(now)],
        )
    }

    /// Deletes the lock only if `token` still holds it; anything else is a silent no-op.
    pub fn release_lock(&self, thread_id: &str, token: &str) -> Result<()> {
        let thread_id = validate::key("lock.threadId", thread_id)?;
        let token = validate::key("lock.token", token)?;
        self.delete_lock(thread_id, token)?;
        let had_rows = self.tenures.released(thread_id, Some(token));
        self.tenure_ended(thread_id, had_rows)
    }

    /// Moves the expiry to `now + ttl_ms` if `token` holds an unexpired lock; `false` otherwise.
    pub fn extend_lock(&self, thread_id: &str, token: &str, ttl_ms: f64, now: i64) -> Result<bool> {
        let thread_id = validate::key("lock.threadId", thread_id)?;
        let token = validate::key("lock.token", token)?;
        let ttl_ms = validate::required_ttl("ttlMs", ttl_ms)?;
        let expires_at = now + ttl_ms;
        let extended = self.db.returned_row(
            "UPDATE locks SET expires_at = ?3
             WHERE thread_id = ?1 AND token = ?2 AND expires_at > ?4
             RETURNING 1",
            &[
                Param::Text(thread_id),
                Param::Text(token),
                Param::Int(expires_at),
                Param::Int(now),
            ],
        )?;
        if extended {
            self.alarm.note_deadline(expires_at, Cleanup::Eventually);
            self.tenures.extended(thread_id, token, expires_at);
        }
        Ok(extended)
    }

    /// Deletes the lock whoever holds it; the old holder's release then matches nothing.
    pub fn force_release_lock(&self, thread_id: &str) -> Result<()> {
        let thread_id = validate::key("threadId", thread_id)?;
        self.db.exec(
            "DELETE FROM locks WHERE thread_id = ?",
            &[Param::Text(thread_id)],
        )?;
        let had_rows = self.tenures.released(thread_id, None);
        self.tenure_ended(thread_id, had_rows)
    }
}

/// The RPC calls, their arguments read in wire order (`ts/shared/methods.ts`; see `base::args`).
impl<D: Database> Store<D> {
    /// `threadId, ttlMs, token, retry, patienceMs`: an acquire the object may hold.
    pub fn acquire_lock_call(&self, args: &impl Args, now: i64) -> Result<Acquired> {
        let (thread_id, ttl_ms) = (args.string(0, "threadId")?, args.number(1, "ttlMs")?);
        let (token, patience) = (
            args.attempt(2, "token")?,
            args.optional_number(4, "patienceMs")?,
        );
        self.acquire_lock_or_hold(&thread_id, ttl_ms, as_attempt(&token), patience, true, now)
    }

    /// `threadId, token` (the lock's).
    pub fn release_lock_call(&self, args: &impl Args, _now: i64) -> Result<()> {
        let thread_id = args.string(0, "lock.threadId")?;
        let token = args.string(1, "lock.token")?;
        self.release_lock(&thread_id, &token)
    }

    /// `threadId, token, ttlMs`.
    pub fn extend_lock_call(&self, args: &impl Args, now: i64) -> Result<bool> {
        let thread_id = args.string(0, "lock.threadId")?;
        let token = args.string(1, "lock.token")?;
        let ttl_ms = args.number(2, "ttlMs")?;
        self.extend_lock(&thread_id, &token, ttl_ms, now)
    }

    pub fn force_release_lock_call(&self, args: &impl Args, _now: i64) -> Result<()> {
        self.force_release_lock(&args.string(0, "threadId")?)
    }
}

#[cfg(test)]
mod tests {
    use super::new_token;

    #[test]
    fn tokens_are_128_bit_hex_and_distinct() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 32);
        assert!(a[5..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}
