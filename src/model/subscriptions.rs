//! Subscriptions: a set of thread ids that never expires (Redis `SADD`/`SREM`/`SISMEMBER`).

use crate::base::args::Args;
use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::Result;
use crate::base::store::Store;
use crate::base::validate;

impl<D: Database> Store<D> {
    /// Idempotent: subscribing twice writes nothing the second time.
    pub fn subscribe(&self, thread_id: &str) -> Result<()> {
        self.write_subscription(thread_id, true)
    }

    pub fn unsubscribe(&self, thread_id: &str) -> Result<()> {
        self.write_subscription(thread_id, false)
    }

    /// One statement either way, and the read cache learns the answer after it succeeded.
    fn write_subscription(&self, thread_id: &str, subscribed: bool) -> Result<()> {
        let thread_id = validate::key("threadId", thread_id)?;
        let sql = if subscribed {
            "INSERT INTO subscriptions (thread_id) VALUES (?) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM subscriptions WHERE thread_id = ?"
        };
        self.db.exec(sql, &[Param::Text(thread_id)])?;
        self.reads.note_subscribed(thread_id, subscribed);
        Ok(())
    }

    /// Answered from the read cache when this instance knows (see `read_cache`).
    pub fn is_subscribed(&self, thread_id: &str) -> Result<bool> {
        let thread_id = validate::key("threadId", thread_id)?;
        if let Some(known) = self.reads.subscribed(thread_id) {
            return Ok(known);
        }
        let subscribed = self.db.returned_row(
            "SELECT 1 FROM subscriptions WHERE thread_id = ?",
            &[Param::Text(thread_id)],
        )?;
        self.reads.note_subscribed(thread_id, subscribed);
        Ok(subscribed)
    }
}

/// The RPC calls, their arguments read in wire order (`ts/shared/methods.ts`; see `base::args`).
impl<D: Database> Store<D> {
    pub fn subscribe_call(&self, args: &impl Args, _now: i64) -> Result<()> {
        self.subscribe(&args.string(0, "threadId")?)
    }

    pub fn unsubscribe_call(&self, args: &impl Args, _now: i64) -> Result<()> {
        self.unsubscribe(&args.string(0, "threadId")?)
    }

    pub fn is_subscribed_call(&self, args: &impl Args, _now: i64) -> Result<bool> {
        self.is_subscribed(&args.string(0, "threadId")?)
    }
}
