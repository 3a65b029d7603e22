//! One generated sequence, run against the store and the model: each operation's result is
//! compared, the invariants (see `model`) are checked after each, and the end state is read in
//! full.

use std::sync::atomic::Ordering;

use proptest::test_runner::TestCaseError;

use crate::base::db::Database;
use crate::base::error::Error;
use crate::base::live;
use crate::base::store::Store;
use crate::guarantees::idempotency::MAX_RETRY_ELAPSED_MS;
use crate::model::expiry::MIN_SWEEP_INTERVAL_MS;
use crate::tests::support::{self, T0};

use super::bad_calls::bad_call;
use super::call::{run_call, Outcome};
use super::harness::{check, check_counts, inject_delete_failure, Harness};
use super::ops::{value_json, Call, Op, KEYS};
use super::reference::{model_ttl, Model, ModelTenure};
use super::stats::{BAD_CALLS_TRIED, FAILED_SWEEPS, OPS, REOPENS, REPLAYS, SWEEPS};

/// How long the simulated runtime waits before retrying an alarm whose handler threw.
pub(super) const RETRY_BACKOFF_MS: i64 = 2_000;

pub(super) fn run_sequence(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut m = Model {
        now: T0,
        ..Model::default()
    };
    let mut h = Harness {
        store: Some(support::store()),
        runtime_alarm: None,
    };

    for (step, op) in ops.iter().enumerate() {
        let now = m.now;
        let at = |what: &str| format!("step {step} ({op:?}) at now=T0+{}: {what}", now - T0);
        OPS.fetch_add(1, Ordering::Relaxed);
        match op {
            Op::Advance(dt) => m.now += dt,
            Op::Subscribe(k) => {
                h.s().subscribe(KEYS[*k]).unwrap();
                m.subscriptions.insert(*k);
            }
            Op::Unsubscribe(k) => {
                h.s().unsubscribe(KEYS[*k]).unwrap();
                m.subscriptions.remove(k);
            }
            Op::IsSubscribed(k) => {
                let got = h.s().is_subscribed(KEYS[*k]).unwrap();
                check(got == m.subscriptions.contains(k), || at("isSubscribed"))?;
            }
            Op::Acquire(k, ttl, client_token, patience) => {
                let token = client_token.then(|| m.fresh_id("cfdo_"));
                let call = Call::Acquire {
                    k: *k,
                    ttl: *ttl,
                    token,
                    patience: *patience,
                };
                run_call(&mut h, &mut m, &call, false, &at)?;
                m.calls.push((call, now));
            }
            Op::SetIfNotExists(k, v, ttl, with_id) => {
                let rid = with_id.then(|| m.fresh_id("sine"));
                let call = Call::SetIfNotExists {
                    k: *k,
                    json: value_json(*v),
                    ttl: *ttl,
                    rid,
                };
                run_call(&mut h, &mut m, &call, false, &at)?;
                m.calls.push((call, now));
            }
            Op::Append(k, v, max, ttl, with_id) => {
                let rid = with_id.then(|| m.fresh_id("list"));
                let call = Call::Append {
                    k: *k,
                    json: value_json(*v),
                    max: *max,
                    ttl: *ttl,
                    rid,
                };
                run_call(&mut h, &mut m, &call, false, &at)?;
                m.calls.push((call, now));
            }
            Op::Enqueue(k, v, rel, max, with_id, hint) => {
                let rid = with_id.then(|| m.fresh_id("enqu"));
                let call = Call::Enqueue {
                    k: *k,
                    json: value_json(*v),
                    expires_at: now + rel,
                    max: *max,
                    rid,
                    caller: m.hint(*k, hint),
                };
                run_call(&mut h, &mut m, &call, false, &at)?;
                m.calls.push((call, now));
            }
            Op::Dequeue(k, with_id, hint) => {
                let rid = with_id.then(|| m.fresh_id("dequ"));
                let call = Call::Dequeue {
                    k: *k,
                    rid,
                    holder: m.hint(*k, hint),
                };
                match run_call(&mut h, &mut m, &call, false, &at)? {
                    Outcome::Held => m.pending.push((call, false)),
                    Outcome::Answered => m.calls.push((call, now)),
                }
            }
            Op::Replay(n) => {
                // Only calls that carried an id or token are retried, and only as soon as the
                // adapter would: within its longest retry budget.
                let retryable: Vec<&(Call, i64)> =
                    m.calls.iter().filter(|(c, _)| c.retryable()).collect();
                if !retryable.is_empty() {
                    let (call, made_at) = retryable[n % retryable.len()].clone();
                    if now - made_at < MAX_RETRY_ELAPSED_MS {
                        REPLAYS.fetch_add(1, Ordering::Relaxed);
                        if run_call(&mut h, &mut m, &call, true, &at)? == Outcome::Held {
                            m.pending.push((call, true));
                        }
                    }
                }
            }
            Op::Release(k, pick) => {
                let token = m.token(*k, pick);
                h.s().release_lock(KEYS[*k], &token).unwrap();
                if m.locks.get(k).is_some_and(|(t, _)| *t == token) {
                    m.locks.remove(k);
                }
                if m.tenures.get(k).is_some_and(|t| t.token == token) {
                    m.tenures.remove(k);
                }
            }
            Op::Extend(k, pick, ttl) => {
                let token = m.token(*k, pick);
                let got = h.s().extend_lock(KEYS[*k], &token, *ttl, now).unwrap();
                let expect = m.lock_holder(*k).is_some_and(|(t, _)| *t == token);
                check(got == expect, || at(&format!("extend returned {got}")))?;
                if expect {
                    m.locks.insert(*k, (token, now + ttl.ceil() as i64));
                }
            }
            Op::ForceRelease(k) => {
                h.s().force_release_lock(KEYS[*k]).unwrap();
                m.locks.remove(k);
                m.tenures.remove(k);
            }
            Op::Get(k) => {
                let got = h.s().get(KEYS[*k], now).unwrap();
                check(got == m.get(*k), || {
                    at(&format!("get = {got:?}, model {:?}", m.get(*k)))
                })?;
            }
            Op::Set(k, v, ttl) => {
                let json = value_json(*v);
                let ttl_ms = model_ttl(*ttl).unwrap();
                h.s().set(KEYS[*k], &json, *ttl, now).unwrap();
                m.cache.insert(*k, (json, ttl_ms.map(|t| now + t), None));
            }
            Op::Delete(k) => {
                h.s().delete(KEYS[*k]).unwrap();
                m.cache.remove(k);
            }
            Op::GetList(k) => {
                let got = h.s().get_list(KEYS[*k], now).unwrap();
                let expect = format!("[{}]", m.list(*k).join(","));
                check(got == expect, || {
                    at(&format!("getList = {got}, model {expect}"))
                })?;
            }
            Op::QueueDepth(k, hint) => {
                let caller = m.hint(*k, hint);
                let got = h.s().queue_depth(KEYS[*k], caller.as_deref(), now).unwrap();
                let expect = m.live_queue(*k).len() as u32;
                check(got == expect, || {
                    at(&format!("queueDepth {got}, model {expect}"))
                })?;
                // A newcomer's queueDepth: its enqueue is awaited one patience from now.
                if let Some(t) = m.live_tenure(*k) {
                    if caller.as_deref() != Some(t.token.as_str()) {
                        t.awaited.retain(|(_, deadline, _)| *deadline > now);
                        if let Some(i) = t.pick(caller.as_deref()) {
                            let (_, deadline, patience) = &mut t.awaited[i];
                            *deadline = now + *patience;
                        }
                    }
                }
            }
            Op::Inspect => check_counts(&h, &m, &at)?,
            Op::Alarm(fail_at) => {
                // The runtime only runs the handler when an alarm is armed; it clears it first.
                if h.runtime_alarm.take().is_some() {
                    let snapshot = h.snapshot();
                    let failed = match fail_at {
                        Some(n) => inject_delete_failure(&h, *n, now),
                        None => false,
                    };
                    let s = h.s();
                    s.begin_sweep();
                    let mut outcome = Ok(false);
                    loop {
                        match s.sweep_batch(now) {
                            Ok(batch) if batch.budget_exhausted => continue,
                            Ok(_) => break,
                            Err(e) => {
                                outcome = Err(e);
                                break;
                            }
                        }
                    }
                    let outcome = outcome.and_then(|_| s.finish_sweep(now, false));
                    SWEEPS.fetch_add(1, Ordering::Relaxed);
                    if failed {
                        FAILED_SWEEPS.fetch_add(1, Ordering::Relaxed);
                        h.s().db.exec_script("DROP TRIGGER refuse_delete").unwrap();
                        check(outcome.is_err(), || at("injected failure not reported"))?;
                        // One batch, one transaction: nothing was deleted.
                        check(h.snapshot() == snapshot, || at("failed sweep changed rows"))?;
                        // The runtime retries a handler that threw.
                        h.runtime_alarm = Some(now + RETRY_BACKOFF_MS);
                    } else {
                        check(outcome.is_ok(), || {
                            at(&format!("sweep failed: {outcome:?}"))
                        })?;
                        // Dead by the reads' own rule (`live`), but for lists: the sweep
                        // deletes a list once its stored bound has passed, a little after its
                        // exact expiry (see `lists`).
                        let left = h.count(
                            &format!(
                                "SELECT (SELECT COUNT(*) FROM cache WHERE NOT {})
                                      + (SELECT COUNT(*) FROM locks WHERE NOT ({}))
                                      + (SELECT COUNT(*) FROM queue_entries WHERE NOT ({}))
                                      + (SELECT COUNT(*) FROM lists WHERE expires_at <= ?1)",
                                live::cache("?1"),
                                live::lock("?1"),
                                live::queue_row("?1"),
                            ),
                            now,
                        );
                        check(left == 0, || at(&format!("{left} expired rows left")))?;
                        // The model's rows go the same way: expired entries, receipts past
                        // their window.
                        for q in m.queues.values_mut() {
                            q.retain(|r| r.deadline() > now);
                        }
                        // Announcement rows past their deadline.
                        for t in m.tenures.values_mut() {
                            t.rows.retain(|(_, at, patience)| at + 2 * patience > now);
                        }
                        // And tenures whose lock has expired are forgotten.
                        let locks = &m.locks;
                        m.tenures.retain(|k, t| {
                            locks
                                .get(k)
                                .is_some_and(|(tok, at)| *tok == t.token && *at > now)
                        });
                        // The next sweep is no sooner than the interval unless it must continue.
                        if let Some(next) = h.s().armed_alarm() {
                            check(next >= now + MIN_SWEEP_INTERVAL_MS, || {
                                at(&format!("re-armed at T0+{}", next - T0))
                            })?;
                        }
                    }
                    h.apply_alarm_request();
                    check_counts(&h, &m, &at)?;
                }
            }
            Op::Reopen(keep_alarm) => {
                REOPENS.fetch_add(1, Ordering::Relaxed);
                let Store { db, .. } = h.store.take().unwrap();
                if !keep_alarm {
                    h.runtime_alarm = None;
                }
                h.store = Some(Store::open(db, h.runtime_alarm, now).unwrap());
                // Memory is gone, and the replies of held dequeues are lost; the tenures with
                // live announcement rows whose holder still holds the lock come back from them.
                let tenures = std::mem::take(&mut m.tenures);
                for (k, t) in tenures {
                    let holds = m.lock_holder(k).is_some_and(|(h, _)| *h == t.token);
                    let restored = ModelTenure::restored(&t.token, t.rows, now);
                    if holds && !restored.rows.is_empty() {
                        m.tenures.insert(k, restored);
                    }
                }
                m.pending.clear();
            }
            Op::Bad(n, k) => {
                BAD_CALLS_TRIED.fetch_add(1, Ordering::Relaxed);
                let snapshot = h.snapshot();
                let (argument, result) = bad_call(h.s(), *n, KEYS[*k], now);
                match result {
                    Err(Error::InvalidArgument { argument: a, .. }) => {
                        check(a == argument, || at(&format!("error names `{a}`")))?
                    }
                    other => return Err(TestCaseError::fail(at(&format!("got {other:?}")))),
                }
                check(h.snapshot() == snapshot, || at("a rejected call wrote"))?;
                check(h.s().take_alarm_request().is_none(), || {
                    at("a rejected call moved the alarm")
                })?;
            }
        }
        // Held dequeues are asked again after every operation, as the shell does after every
        // write to their key and at their deadline.
        for (call, replay) in std::mem::take(&mut m.pending) {
            let again = |what: &str| at(&format!("held {call:?} asked again: {what}"));
            match run_call(&mut h, &mut m, &call, replay, &again)? {
                Outcome::Held => m.pending.push((call, replay)),
                Outcome::Answered => m.calls.push((call, m.now)),
            }
        }
        h.apply_alarm_request();
        // Whatever has a deadline is covered by an armed alarm.
        let next_deadline = h.s().next_deadline().unwrap();
        check(next_deadline.is_none() || h.runtime_alarm.is_some(), || {
            at(&format!(
                "rows with deadline T0+{} but no alarm armed",
                next_deadline.unwrap_or(0) - T0
            ))
        })?;
    }
    // Every held dequeue is answered by the longest wait there is.
    if !m.pending.is_empty() {
        m.now += crate::guarantees::tenure::MAX_WAIT_MS;
        for (call, replay) in std::mem::take(&mut m.pending) {
            let at = |what: &str| format!("held {call:?} at the end: {what}");
            check(
                run_call(&mut h, &mut m, &call, replay, &at)? == Outcome::Answered,
                || at("still held after the longest wait"),
            )?;
        }
    }
    // The end state, read in full.
    let now = m.now;
    for (k, name) in KEYS.iter().enumerate() {
        let at = |what: &str| format!("final state of {name}: {what}");
        check(h.s().get(name, now).unwrap() == m.get(k), || at("get"))?;
        let list = format!("[{}]", m.list(k).join(","));
        check(h.s().get_list(name, now).unwrap() == list, || at("getList"))?;
        check(
            h.s().queue_depth(name, None, now).unwrap() as usize == m.live_queue(k).len(),
            || at("queueDepth"),
        )?;
        check(
            h.s().is_subscribed(name).unwrap() == m.subscriptions.contains(&k),
            || at("isSubscribed"),
        )?;
    }
    Ok(())
}
