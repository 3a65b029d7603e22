//! The system under test as the model test drives it: the store plus the runtime around it (its
//! alarm), the readings the invariants compare (row snapshots, counts, `inspect()`), and the
//! fault the alarm sweeps are given.

use proptest::test_runner::TestCaseError;

use crate::base::db::{Database, Param, QueryExt};
use crate::base::store::Store;
use crate::platform::native_db::NativeDb;
use crate::tests::support;

use super::ops::KEYS;
use super::reference::Model;

/// The system under test plus the runtime around it (its alarm).
pub(super) struct Harness {
    pub(super) store: Option<Store<NativeDb>>,
    /// The alarm as the runtime holds it: the last time the store asked for.
    pub(super) runtime_alarm: Option<i64>,
}

impl Harness {
    pub(super) fn s(&self) -> &Store<NativeDb> {
        self.store.as_ref().expect("store is open")
    }

    /// What the wasm layer does after each call: hand the requested alarm to the runtime.
    pub(super) fn apply_alarm_request(&mut self) {
        if let Some(at) = self.s().take_alarm_request() {
            self.runtime_alarm = Some(at);
        }
    }

    /// Every row of every table: compared before and after a call that must not write.
    pub(super) fn snapshot(&self) -> String {
        support::snapshot(self.s())
    }

    pub(super) fn count(&self, sql: &str, now: i64) -> i64 {
        self.s()
            .db
            .query_int(sql, &[Param::Int(now)])
            .unwrap()
            .unwrap_or(0)
    }
}

pub(super) fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if cond {
        Ok(())
    } else {
        Err(TestCaseError::fail(what()))
    }
}

/// Makes SQLite refuse to delete the `n`-th expired cache row or list item (as a full disk or
/// an I/O error would), so the sweep fails part-way. Returns false if there is no such row.
pub(super) fn inject_delete_failure(h: &Harness, n: u8, now: i64) -> bool {
    let cache_victim = h
        .s()
        .db
        .query_text(
            "SELECT key FROM cache WHERE expires_at <= ?1 ORDER BY key LIMIT 1 OFFSET ?2",
            &[Param::Int(now), Param::Int(i64::from(n))],
        )
        .unwrap();
    let trigger = match cache_victim {
        Some(key) => format!(
            "CREATE TEMP TRIGGER refuse_delete BEFORE DELETE ON main.cache
             WHEN old.key = '{}' BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            key.replace('\'', "''")
        ),
        None => {
            let expired_items = h.count(
                "SELECT COUNT(*) FROM list_items i JOIN lists l USING (list_key)
                 WHERE l.expires_at <= ?1",
                now,
            );
            if expired_items == 0 {
                return false;
            }
            "CREATE TEMP TRIGGER refuse_delete BEFORE DELETE ON main.list_items
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                .to_string()
        }
    };
    h.s().db.exec_script(&trigger).unwrap();
    true
}

/// The live counts `inspect()` reports must equal the model's.
pub(super) fn check_counts(
    h: &Harness,
    m: &Model,
    at: &dyn Fn(&str) -> String,
) -> Result<(), TestCaseError> {
    let got = h.s().inspect(m.now).unwrap();
    let lists: Vec<usize> = (0..KEYS.len()).map(|k| m.list(k).len()).collect();
    let expect = (
        m.subscriptions.len() as i64,
        (0..KEYS.len())
            .filter(|k| m.lock_holder(*k).is_some())
            .count() as i64,
        (0..KEYS.len()).filter(|k| m.get(*k).is_some()).count() as i64,
        lists.iter().filter(|n| **n > 0).count() as i64,
        lists.iter().sum::<usize>() as i64,
        (0..KEYS.len())
            .map(|k| m.live_queue(k).len())
            .sum::<usize>() as i64,
        m.receipts(),
    );
    let actual = (
        got.subscriptions,
        got.locks,
        got.cache_entries,
        got.lists,
        got.list_items,
        got.queued_entries,
        got.retry_receipts,
    );
    check(actual == expect, || {
        at(&format!("inspect counts {actual:?}, model {expect:?}"))
    })
}
