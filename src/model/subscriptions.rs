//! Subscriptions: a set of thread ids that never expires (Redis `SADD`/`SREM`/`SISMEMBER`).

use crate::base::db::{Database, Param, QueryExt};
use crate::base::error::Result;
use crate::base::store::Store;
use crate::base::validate;

impl<D: Database> Store<D> {
    /// Idempotent: subscribing twice writes nothing the second time.
    pub fn subscribe(&self, thread_id: &str) -> Result<()> {
        let thread_id = validate::key("threadId", thread_id)?;
        self.db.exec(
            "INSERT INTO subscriptions (thread_id) VALUES (?) ON CONFLICT DO NOTHING",
            &[Param::Text(thread_id)],
        )?;
        self.reads.note_subscribed(thread_id, true);
        Ok(())
    }

    pub fn unsubscribe(&self, thread_id: &str) -> Result<()> {
        let thread_id = validate::key("threadId", thread_id)?;
        self.db.exec(
            "DELETE FROM subscriptions WHERE thread_id = ?",
            &[Param::Text(thread_id)],
        )?;
        self.reads.note_subscribed(thread_id, false);
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
