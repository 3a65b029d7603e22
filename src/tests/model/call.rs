//! One retryable call, made on the store and on the model side by side: the answer must match,
//! and a replay of a call that took effect must answer as it did and change no row.

use std::sync::atomic::Ordering;

use proptest::test_runner::TestCaseError;

use crate::guarantees::idempotency::{Attempt, MAX_LIST_RECEIPTS, RECEIPT_WINDOW_MS};
use crate::model::lists::AppendOptions;
use crate::model::locks::Lock;
use crate::model::queues::Dequeued;

use super::harness::{check, Harness};
use super::ops::{Call, KEYS};
use super::reference::{live, model_dequeue, model_ttl, Model, ModelList, ModelTenure, QueueRow};
use super::stats::{EARLY_GRANTS, HELD, REPLAYS_DEDUPED};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Answered,
    /// A dequeue the object holds (and the model agrees it must).
    Held,
}

/// Makes a retryable call on the store and checks its answer against the model, which knows
/// whether an identical earlier call (same request id or token) already took effect. When it did,
/// the call must answer as that one did and change no row.
pub(super) fn run_call(
    h: &mut Harness,
    m: &mut Model,
    call: &Call,
    replay: bool,
    at: &dyn Fn(&str) -> String,
) -> Result<Outcome, TestCaseError> {
    let now = m.now;
    pub(super) fn attempt(id: &Option<String>, retry: bool) -> Option<Attempt<'_>> {
        id.as_deref().map(|id| Attempt { id, retry })
    }
    let before = h.snapshot();
    let mut deduped = false;
    match call {
        Call::Acquire {
            k,
            ttl,
            token,
            patience,
        } => {
            let got = h
                .s()
                .acquire_lock(
                    KEYS[*k],
                    *ttl,
                    token.as_deref().map(|id| Attempt { id, retry: replay }),
                    *patience,
                    now,
                )
                .unwrap();
            let expires_at = now + ttl.ceil() as i64;
            let holder = m.lock_holder(*k).cloned();
            let early_grant = holder.as_ref().is_some_and(|(h, _)| {
                m.tenures
                    .get(k)
                    .is_some_and(|t| t.token == *h && t.drained())
            });
            match holder {
                Some((held, until)) if replay && token.as_ref() == Some(&held) => {
                    deduped = true;
                    let expect = Lock {
                        thread_id: KEYS[*k].into(),
                        token: held,
                        expires_at: until,
                    };
                    check(got.as_ref() == Some(&expect), || {
                        at(&format!("retried acquire got {got:?}, model {expect:?}"))
                    })?;
                }
                Some(_) if !early_grant => {
                    check(got.is_none(), || at("granted a lock that is held"))?;
                    let refused_with = token.clone().unwrap_or_else(|| "<drawn>".into());
                    let patience = crate::guarantees::tenure::patience(*patience);
                    // A holder granted before a re-open gets a (restored) tenure here.
                    if m.live_tenure(*k).is_none() {
                        let (holder, _) = m.lock_holder(*k).cloned().unwrap();
                        m.tenures
                            .insert(*k, ModelTenure::restored(&holder, Vec::new(), now));
                    }
                    if let Some(t) = m.live_tenure(*k) {
                        t.awaited.retain(|(_, deadline, _)| *deadline > now);
                        if token.is_none() || !t.awaited.iter().any(|(a, _, _)| *a == refused_with)
                        {
                            t.awaited
                                .push((refused_with.clone(), now + 2 * patience, patience));
                            if token.is_none() || !t.rows.iter().any(|(a, _, _)| *a == refused_with)
                            {
                                t.rows.push((refused_with.clone(), now, patience));
                            }
                        }
                    }
                    if token.is_some() {
                        m.refused.entry(*k).or_default().push(refused_with);
                    }
                }
                _ => {
                    // Free, or granted early after the holder's final dequeue.
                    if early_grant {
                        EARLY_GRANTS.fetch_add(1, Ordering::Relaxed);
                    }
                    let Some(lock) = got else {
                        return Err(TestCaseError::fail(at(&format!(
                            "acquire refused; model: {}",
                            if early_grant { "early grant" } else { "free" }
                        ))));
                    };
                    check(
                        lock.thread_id == KEYS[*k] && lock.expires_at == expires_at,
                        || at(&format!("acquire got {lock:?}, expiresAt {expires_at}")),
                    )?;
                    if let Some(token) = token {
                        check(lock.token == *token, || at("not the caller's token"))?;
                    }
                    check(!m.issued.contains(&lock.token) || token.is_some(), || {
                        at("token reused")
                    })?;
                    if !m.issued.contains(&lock.token) {
                        m.issued.push(lock.token.clone());
                    }
                    m.tenures.insert(*k, ModelTenure::new(&lock.token));
                    m.locks.insert(*k, (lock.token, expires_at));
                }
            }
        }
        Call::SetIfNotExists { k, json, ttl, rid } => {
            let got = h
                .s()
                .set_if_not_exists(KEYS[*k], json, *ttl, attempt(rid, replay), now)
                .unwrap();
            let entry = m.cache.get(k).filter(|(_, at, _)| live(*at, now));
            let expect = match entry {
                Some((_, _, Some(written_by))) if rid.as_ref() == Some(written_by) => {
                    deduped = true;
                    true
                }
                Some(_) => false,
                None => {
                    let ttl_ms = model_ttl(*ttl).unwrap();
                    m.cache
                        .insert(*k, (json.clone(), ttl_ms.map(|t| now + t), rid.clone()));
                    true
                }
            };
            check(got == expect, || {
                at(&format!("setIfNotExists returned {got}, model {expect}"))
            })?;
        }
        Call::Append {
            k,
            json,
            max,
            ttl,
            rid,
        } => {
            h.s()
                .append_to_list(
                    KEYS[*k],
                    json,
                    AppendOptions {
                        max_length: *max,
                        ttl_ms: *ttl,
                    },
                    attempt(rid, replay),
                    now,
                )
                .unwrap();
            let list = m.lists.entry(*k).or_default();
            if !live(list.expires, now) {
                *list = ModelList::default();
            } else if let Some(rid) = rid {
                deduped = list
                    .receipts
                    .iter()
                    .any(|(r, t)| r == rid && now - t < RECEIPT_WINDOW_MS);
            }
            if !deduped {
                list.receipts.retain(|(_, t)| now - t < RECEIPT_WINDOW_MS);
                if let Some(rid) = rid {
                    list.receipts.push((rid.clone(), now));
                }
                let excess = list.receipts.len().saturating_sub(MAX_LIST_RECEIPTS);
                list.receipts.drain(..excess);
                list.items.push(json.clone());
                if let Some(max) = max.filter(|m| *m > 0.0) {
                    let max = max as usize;
                    let len = list.items.len();
                    if len > max {
                        list.items.drain(..len - max);
                    }
                }
                if let Some(t) = model_ttl(*ttl).unwrap() {
                    list.expires = Some(now + t);
                }
            }
        }
        Call::Enqueue {
            k,
            json,
            expires_at,
            max,
            rid,
            caller,
        } => {
            let got = h
                .s()
                .enqueue(
                    KEYS[*k],
                    json,
                    *expires_at as f64,
                    *max,
                    attempt(rid, replay),
                    caller.as_deref(),
                    now,
                )
                .unwrap();
            let q = m.queues.entry(*k).or_default();
            let earlier = rid
                .as_ref()
                .and_then(|rid| q.iter().find(|r| r.rid.as_ref() == Some(rid)));
            let depth = match earlier {
                Some(row) => {
                    deduped = true;
                    row.depth
                }
                None => {
                    q.retain(|r| r.deadline() > now);
                    let live_before = q.iter().filter(|r| r.is_live(now)).count() as i64;
                    let live_after = live_before + i64::from(*expires_at > now);
                    let max = max.filter(|m| *m > 0.0).map(|m| m as i64);
                    let depth = max.map_or(live_after, |max| live_after.min(max));
                    if *expires_at > now {
                        q.push(QueueRow {
                            json: json.clone(),
                            expires_at: *expires_at,
                            rid: rid.clone(),
                            depth,
                            receipt: None,
                        });
                    }
                    if let Some(max) = max.filter(|max| live_after > *max) {
                        let live: Vec<usize> =
                            (0..q.len()).filter(|i| q[*i].is_live(now)).collect();
                        let dropped = &live[..live.len() - max as usize];
                        for &i in dropped.iter().rev() {
                            if q[i].rid.is_some() {
                                q[i].receipt = Some((String::new(), now + RECEIPT_WINDOW_MS));
                            } else {
                                q.remove(i);
                            }
                        }
                    }
                    depth
                }
            };
            check(i64::from(got) == depth, || {
                at(&format!("enqueue depth {got}, model {depth}"))
            })?;
            if !deduped {
                // A newcomer's enqueue fulfils its awaited refusal (the holder's own, nothing —
                // only its first, before it dequeued: any other is a newcomer's).
                if let Some(t) = m.live_tenure(*k) {
                    let own = caller.as_deref() == Some(t.token.as_str())
                        && match &t.own_enqueue {
                            None => !t.dequeued,
                            Some(seen) => seen.is_some() && seen == rid,
                        };
                    if own {
                        t.own_enqueue = Some(rid.clone());
                    } else {
                        t.awaited.retain(|(_, deadline, _)| *deadline > now);
                        if let Some(i) = t.pick_enqueued(caller.as_deref()) {
                            let (fulfilled, _, _) = t.awaited.remove(i);
                            t.rows.retain(|(a, _, _)| *a != fulfilled);
                        }
                    }
                }
            }
        }
        Call::Dequeue { k, rid, holder } => {
            let got = h
                .s()
                .dequeue(KEYS[*k], attempt(rid, replay), holder.as_deref(), now)
                .unwrap();
            let expect = model_dequeue(
                m,
                *k,
                rid.as_deref(),
                replay,
                holder.as_deref(),
                &mut deduped,
            );
            check(got == expect, || {
                at(&format!("dequeue = {got:?}, model {expect:?}"))
            })?;
            if let Dequeued::WaitUntil(_) = expect {
                HELD.fetch_add(1, Ordering::Relaxed);
                check(h.snapshot() == before, || at("a held dequeue changed rows"))?;
                return Ok(Outcome::Held);
            }
        }
    }
    if deduped {
        REPLAYS_DEDUPED.fetch_add(1, Ordering::Relaxed);
        check(h.snapshot() == before, || {
            at("a retry of a call that took effect changed rows")
        })?;
    }
    Ok(Outcome::Answered)
}
