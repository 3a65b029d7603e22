//! Native tests of how chat's lock/queue race is closed — the held final dequeue and the early
//! grant (see `tenure`) — and of the atomic claim primitives (`claims`), call by call in the orders
//! chat 4.41.1 makes them.

use crate::base::db::QueryExt;
use crate::base::store::Store;
use crate::guarantees::claims::Claim;
use crate::guarantees::idempotency::Attempt;
use crate::guarantees::tenure::MAX_WAIT_MS;
use crate::model::queues::Dequeued;
use crate::platform::native_db::NativeDb;

const T0: i64 = 1_800_000_000_000;
const LOCK_TTL: f64 = 30_000.0;
const H: &str = "cfdo_holder00000000000000000000000";
const N: &str = "cfdo_newcomer000000000000000000000";
const M: &str = "cfdo_third000000000000000000000000";
/// The patience the adapter declares with its default retry policy (5 s budget + 1 s).
const PATIENCE: Option<f64> = Some(6_000.0);

fn store() -> Store<NativeDb> {
    Store::open(NativeDb::open_in_memory(), None, T0).unwrap()
}

fn acquire(s: &Store<NativeDb>, token: &str, now: i64) -> Option<String> {
    s.acquire_lock("t", LOCK_TTL, Some(Attempt::first(token)), PATIENCE, now)
        .unwrap()
        .map(|l| l.token)
}

fn entry(s: &Store<NativeDb>, text: &str, caller: Option<&str>, now: i64) -> u32 {
    s.enqueue(
        "t",
        &format!("\"{text}\""),
        (now + 90_000) as f64,
        Some(10.0),
        None,
        caller,
        now,
    )
    .unwrap()
}

fn dequeue(s: &Store<NativeDb>, id: &str, holder: Option<&str>, now: i64) -> Dequeued {
    s.dequeue("t", Some(Attempt::first(id)), holder, now)
        .unwrap()
}

/// A dequeue that finds nothing and is answered at once (not held).
#[track_caller]
fn assert_empty(s: &Store<NativeDb>, id: &str, holder: Option<&str>, now: i64) {
    assert_eq!(dequeue(s, id, holder, now), Dequeued::Empty);
}

/// The object restarts: a fresh instance over the same rows, with nothing in memory.
fn restart(s: Store<NativeDb>, now: i64) -> Store<NativeDb> {
    let Store { db, .. } = s;
    Store::open(db, None, now).unwrap()
}

#[test]
fn the_928_interleaving_is_closed_by_holding_the_final_dequeue() {
    // holder: acquire, handler…; newcomer: acquire (refused) | holder: dequeue (final, empty) |
    // newcomer: queueDepth, enqueue. Without the mitigation the entry is stranded.
    let s = store();
    assert_eq!(acquire(&s, H, T0).as_deref(), Some(H));
    assert_eq!(acquire(&s, N, T0 + 1), None);
    let held = dequeue(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 2);
    assert_eq!(held, Dequeued::WaitUntil(T0 + 1 + 12_000));
    assert_eq!(s.queue_depth("t", Some(N), T0 + 3).unwrap(), 0);
    assert_eq!(entry(&s, "newcomer's", Some(N), T0 + 4), 1);
    // The shell asks again after the write: the entry is answered, the dequeue is not final.
    assert_eq!(
        dequeue(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 4),
        Dequeued::Entry("\"newcomer's\"".into())
    );
    // chat handles it, then: a round that ends empty (not final), then the final one.
    assert_empty(&s, "d2d2d2d2d2d2d2d2", Some(H), T0 + 5);
    assert_empty(&s, "d3d3d3d3d3d3d3d3", Some(H), T0 + 6);
    s.release_lock("t", H).unwrap();
    assert_eq!(s.queue_depth("t", None, T0 + 7).unwrap(), 0);
}

#[test]
fn an_acquire_after_the_final_dequeue_is_granted_early() {
    // holder: final dequeue | newcomer: acquire | holder: releaseLock.
    let s = store();
    acquire(&s, H, T0);
    assert_empty(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 1);
    assert_eq!(acquire(&s, N, T0 + 2).as_deref(), Some(N), "granted early");
    // The old holder's calls act as for a token that lost the lock.
    assert!(!s.extend_lock("t", H, LOCK_TTL, T0 + 3).unwrap());
    s.release_lock("t", H).unwrap();
    assert_eq!(acquire(&s, M, T0 + 4), None, "N still holds it");
    assert!(s.extend_lock("t", N, LOCK_TTL, T0 + 5).unwrap());
}

#[test]
fn a_retried_final_dequeue_answers_null_again_and_never_takes_the_new_holders_entries() {
    let s = store();
    acquire(&s, H, T0);
    assert_empty(&s, "dfdfdfdfdfdfdfdf", Some(H), T0 + 1);
    // Its reply was lost; meanwhile the lock is granted early and the new tenure queues entries.
    acquire(&s, N, T0 + 2);
    assert_eq!(acquire(&s, M, T0 + 3), None);
    entry(&s, "for N", Some(M), T0 + 4);
    let retry = |s: &Store<NativeDb>, now| {
        s.dequeue("t", Some(Attempt::retry("dfdfdfdfdfdfdfdf")), Some(H), now)
            .unwrap()
    };
    assert_eq!(retry(&s, T0 + 5), Dequeued::Empty);
    // Also after a restart, when no memory of the first answer is left: the fence.
    let s = restart(s, T0 + 6);
    assert_eq!(retry(&s, T0 + 7), Dequeued::Empty);
    assert_eq!(s.queue_depth("t", None, T0 + 7).unwrap(), 1);
    assert_eq!(
        dequeue(&s, "dNdNdNdNdNdNdNdN", Some(N), T0 + 8),
        Dequeued::Entry("\"for N\"".into())
    );
}

#[test]
fn a_restarted_object_holds_for_a_refusal_but_grants_nothing_early_until_it_saw_the_final_dequeue()
{
    // Issue 18: a reset between the refusal and the holder's final dequeue used to forget the
    // announcement, and the dequeue answered null while the entry was still coming (stranded).
    let s = store();
    acquire(&s, H, T0);
    assert_eq!(acquire(&s, N, T0 + 1), None);
    let s = restart(s, T0 + 2);
    // Rebuilt from its row: the holder's dequeue is held for the newcomer's entry...
    assert_eq!(
        dequeue(&s, "d0d0d0d0d0d0d0d0", Some(H), T0 + 3),
        Dequeued::WaitUntil(T0 + 1 + 12_000)
    );
    assert_eq!(entry(&s, "newcomer's", Some(N), T0 + 4), 1);
    assert_eq!(
        dequeue(&s, "d0d0d0d0d0d0d0d0", Some(H), T0 + 5),
        Dequeued::Entry("\"newcomer's\"".into())
    );
    // ...and the entry's arrival deleted the row: another restart holds nothing.
    let s = restart(s, T0 + 6);
    assert_empty(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 7);

    // A refusal on a restarted instance, of a lock granted before it started, announces too.
    let s = restart(s, T0 + 8);
    assert_eq!(acquire(&s, M, T0 + 9), None);
    assert_eq!(
        dequeue(&s, "d2d2d2d2d2d2d2d2", Some(H), T0 + 10),
        Dequeued::WaitUntil(T0 + 9 + 12_000)
    );
    // Unfulfilled, the wait ends at the deadline; what came before that dequeue is unknown
    // here (it may end a round chat follows with a handler), so nothing is granted early yet.
    assert_empty(&s, "d2d2d2d2d2d2d2d2", Some(H), T0 + 9 + 12_000);
    assert_eq!(acquire(&s, N, T0 + 9 + 12_001), None);
    // A fresh tenure on this instance brings the early grant back.
    s.release_lock("t", H).unwrap();
    acquire(&s, N, T0 + 9 + 12_002);
    assert_empty(&s, "d3d3d3d3d3d3d3d3", Some(N), T0 + 9 + 12_003);
    assert_eq!(acquire(&s, M, T0 + 9 + 12_004).as_deref(), Some(M));
}

#[test]
fn a_retried_refusal_announces_once_even_across_a_restart() {
    let s = store();
    acquire(&s, H, T0);
    assert_eq!(acquire(&s, N, T0 + 1), None);
    let s = restart(s, T0 + 2);
    let retried = s
        .acquire_lock("t", LOCK_TTL, Some(Attempt::retry(N)), PATIENCE, T0 + 3)
        .unwrap();
    assert_eq!(retried, None);
    let rows = |s: &Store<NativeDb>| {
        s.db.query_int("SELECT COUNT(*) FROM lock_announcements", &[])
            .unwrap()
    };
    assert_eq!(rows(&s), Some(1));
    // One entry fulfils the one announcement: the next empty dequeue is not held.
    assert_eq!(entry(&s, "n", Some(N), T0 + 4), 1);
    assert_eq!(rows(&s), Some(0));
    assert_eq!(
        dequeue(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 5),
        Dequeued::Entry("\"n\"".into())
    );
    assert_empty(&s, "d2d2d2d2d2d2d2d2", Some(H), T0 + 6);
    // The release deletes whatever is left (here: nothing), the sweep any past its deadline.
    assert_eq!(acquire(&s, M, T0 + 7), None);
    assert_eq!(rows(&s), Some(1));
    s.release_lock("t", H).unwrap();
    assert_eq!(rows(&s), Some(0));
}

#[test]
fn without_contention_the_lock_contract_is_unchanged() {
    let s = store();
    acquire(&s, H, T0);
    // Dequeues with nothing refused never wait.
    assert_empty(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 1);
    assert_empty(&s, "d2d2d2d2d2d2d2d2", Some(H), T0 + 2);
    s.release_lock("t", H).unwrap();
    assert_eq!(acquire(&s, N, T0 + 3).as_deref(), Some(N));
    // Before its final dequeue a holder keeps the lock against everyone.
    assert_eq!(acquire(&s, M, T0 + 4), None);
    entry(&s, "m", Some(M), T0 + 5);
    assert_eq!(
        dequeue(&s, "d3d3d3d3d3d3d3d3", Some(N), T0 + 6),
        Dequeued::Entry("\"m\"".into())
    );
    assert_eq!(
        acquire(&s, M, T0 + 7),
        None,
        "a dequeue that got an entry is not final"
    );
}

#[test]
fn a_newcomer_that_never_enqueues_costs_at_most_its_patience_twice() {
    // onQueueFull "drop-newest": the newcomer reads a full queue and returns.
    let s = store();
    acquire(&s, H, T0);
    assert_eq!(acquire(&s, N, T0 + 1), None);
    assert_eq!(s.queue_depth("t", Some(N), T0 + 2).unwrap(), 0);
    // After its queueDepth, one patience.
    assert_eq!(
        dequeue(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 3),
        Dequeued::WaitUntil(T0 + 2 + 6_000)
    );
    assert_empty(&s, "d1d1d1d1d1d1d1d1", Some(H), T0 + 2 + 6_000);
    // And the early grant still follows the final dequeue.
    assert_eq!(acquire(&s, M, T0 + 6_100).as_deref(), Some(M));
    // A dequeue is never held longer than the cap, whatever patience callers declare.
    let s = store();
    acquire(&s, H, T0);
    s.acquire_lock("t", LOCK_TTL, Some(Attempt::first(N)), Some(1e9), T0)
        .unwrap();
    match dequeue(&s, "d1d1d1d1d1d1d1d1", Some(H), T0) {
        Dequeued::WaitUntil(at) => assert!(at <= T0 + MAX_WAIT_MS),
        other => panic!("{other:?}"),
    }
}

#[test]
fn claim_or_enqueue_and_release_or_dequeue_never_strand_an_entry() {
    let s = store();
    let claim = |token: &str, text: &str, id: &str, retry: bool, now: i64| {
        s.claim_or_enqueue(
            "t",
            &format!("\"{text}\""),
            (now + 90_000) as f64,
            LOCK_TTL,
            Some(10.0),
            Attempt { id: token, retry },
            Some(Attempt { id, retry }),
            now,
        )
        .unwrap()
    };
    let first = claim(H, "h", "c1c1c1c1c1c1c1c1", false, T0);
    assert!(matches!(&first, Claim::Acquired { lock } if lock.token == H));
    assert_eq!(
        claim(N, "n", "c2c2c2c2c2c2c2c2", false, T0 + 1),
        Claim::Queued { depth: 1 }
    );
    // Retries answer the same, even after the lock is free again.
    assert_eq!(claim(H, "h", "c1c1c1c1c1c1c1c1", true, T0 + 2), first);
    assert_eq!(
        claim(N, "n", "c2c2c2c2c2c2c2c2", true, T0 + 2),
        Claim::Queued { depth: 1 }
    );
    let release = |id: &str, retry: bool, now: i64| {
        s.release_or_dequeue("t", H, Some(Attempt { id, retry }), now)
            .unwrap()
    };
    assert_eq!(
        release("r1r1r1r1r1r1r1r1", false, T0 + 3).as_deref(),
        Some("\"n\"")
    );
    assert_eq!(
        release("r1r1r1r1r1r1r1r1", true, T0 + 3).as_deref(),
        Some("\"n\"")
    );
    assert_eq!(release("r2r2r2r2r2r2r2r2", false, T0 + 4), None);
    // Released: the next claim gets the lock; the old holder's calls change nothing.
    assert_eq!(release("r3r3r3r3r3r3r3r3", false, T0 + 5), None);
    assert!(matches!(
        claim(M, "m", "c3c3c3c3c3c3c3c3", false, T0 + 6),
        Claim::Acquired { .. }
    ));
    assert_eq!(
        claim(N, "n2", "c4c4c4c4c4c4c4c4", false, T0 + 7),
        Claim::Queued { depth: 1 }
    );
    assert_eq!(
        s.release_or_dequeue("t", H, None, T0 + 8).unwrap(),
        None,
        "not the holder: nothing taken"
    );
    assert_eq!(s.queue_depth("t", None, T0 + 8).unwrap(), 1);
}
