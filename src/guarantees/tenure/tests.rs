//! Unit tests of the tenure rules, call by call on [`Tenures`] alone (no store).

use super::*;

const T0: i64 = 1_000_000;

/// The announced entry of `caller` lands on `key` at `at` and the holder takes it; its next two
/// dequeues (at `at + 1`, `at + 2`) find the queue empty and are answered at once: the first is
/// not final (an entry came before), the second is.
#[track_caller]
fn entry_then_final(t: &Tenures, key: &str, caller: Option<&str>, at: i64) {
    t.enqueued(key, caller, None, at);
    t.took_entry(key, at);
    assert_eq!(t.found_empty(key, None, at + 1), EmptyDequeue::Answer);
    assert_eq!(t.found_empty(key, None, at + 2), EmptyDequeue::Answer);
}

/// A refusal while the key's current tenure holds the lock (nothing without one).
trait AnnounceNow {
    fn announce_now(&self, key: &str, token: Option<&str>, patience: i64, now: i64);
}

impl AnnounceNow for Tenures {
    fn announce_now(&self, key: &str, token: Option<&str>, patience: i64, now: i64) {
        let current = self
            .map
            .borrow()
            .get(key)
            .map(|t| (t.token.clone(), t.expires_at));
        if let Some((holder, expires_at)) = current {
            self.announce(key, &holder, expires_at, token, patience, now);
        }
    }
}

#[test]
fn a_final_empty_dequeue_waits_only_while_an_announcement_is_live() {
    let t = Tenures::default();
    t.granted("k", "holder", T0 + 30_000, T0);
    // No announcement: answered at once, and the tenure is drained.
    assert_eq!(t.found_empty("k", None, T0), EmptyDequeue::Answer);
    assert_eq!(t.early_grant_from("k", T0).as_deref(), Some("holder"));

    t.granted("k", "h2", T0 + 30_000, T0);
    t.announce_now("k", Some("n1"), 1_000, T0);
    assert_eq!(t.early_grant_from("k", T0), None);
    assert_eq!(
        t.found_empty("k", None, T0 + 10),
        EmptyDequeue::WaitUntil(T0 + 2_000)
    );
    // Its queueDepth moves the deadline to one patience from then.
    t.depth_asked("k", Some("n1"), T0 + 100);
    assert_eq!(
        t.found_empty("k", None, T0 + 200),
        EmptyDequeue::WaitUntil(T0 + 1_100)
    );
    // Its enqueue fulfils it: the next look answers (the shell then finds the entry).
    t.enqueued("k", Some("n1"), None, T0 + 300);
    t.took_entry("k", T0 + 300);
    assert_eq!(t.found_empty("k", None, T0 + 400), EmptyDequeue::Answer);
    assert_eq!(
        t.early_grant_from("k", T0 + 400),
        None,
        "not final: an entry came before"
    );
    assert_eq!(t.found_empty("k", None, T0 + 500), EmptyDequeue::Answer);
    assert_eq!(t.early_grant_from("k", T0 + 500).as_deref(), Some("h2"));
}

#[test]
fn an_unfulfilled_announcement_costs_at_most_two_patiences() {
    let t = Tenures::default();
    t.granted("k", "h", T0 + 60_000, T0);
    t.announce_now("k", Some("n"), 6_000, T0);
    assert_eq!(
        t.found_empty("k", None, T0 + 1),
        EmptyDequeue::WaitUntil(T0 + 12_000)
    );
    assert_eq!(t.found_empty("k", None, T0 + 12_000), EmptyDequeue::Answer);
    assert!(t.early_grant_from("k", T0 + 12_000).is_some());
}

#[test]
fn the_holders_own_enqueue_and_depth_fulfil_nothing() {
    let t = Tenures::default();
    t.granted("k", "h", T0 + 60_000, T0);
    t.announce_now("k", Some("n"), 1_000, T0);
    t.enqueued("k", Some("h"), None, T0);
    t.depth_asked("k", Some("h"), T0);
    assert_eq!(
        t.found_empty("k", None, T0),
        EmptyDequeue::WaitUntil(T0 + 2_000)
    );
    // A retried refused acquire does not announce twice.
    t.announce_now("k", Some("n"), 1_000, T0 + 1);
    entry_then_final(&t, "k", Some("n"), T0 + 2);
}

#[test]
fn only_the_holders_first_enqueue_before_its_first_dequeue_counts_as_its_own() {
    // A newcomer's enqueue the adapter wrongly names as the holder's (flows of one thread in
    // one adapter) still fulfils its announcement once it cannot be the holder's own.
    let t = Tenures::default();
    t.granted("k", "h", T0 + 60_000, T0);
    t.announce_now("k", Some("n1"), 1_000, T0);
    t.announce_now("k", Some("n2"), 1_000, T0);
    t.enqueued("k", Some("h"), Some("r1"), T0 + 1); // the holder's own (debounce/burst): fulfils nothing
    t.enqueued("k", Some("h"), Some("r1"), T0 + 1); // its retry: still its own
    t.enqueued("k", Some("h"), Some("r2"), T0 + 2); // a second "own" one: a newcomer's (the oldest)
    t.took_entry("k", T0 + 3);
    assert_eq!(t.found_empty("k", None, T0 + 4), EmptyDequeue::Answer);
    assert_eq!(
        t.found_empty("k", None, T0 + 5),
        EmptyDequeue::WaitUntil(T0 + 2_000),
        "n2 is still coming"
    );
    // After the holder dequeued: a newcomer's.
    entry_then_final(&t, "k", Some("h"), T0 + 6);
    assert!(t.early_grant_from("k", T0 + 8).is_some());

    // Under `queue` the holder never enqueues: a newcomer's entry named as the holder's while
    // the holder's first dequeue is held is the newcomer's too.
    t.granted("q", "h", T0 + 60_000, T0);
    t.announce_now("q", Some("n"), 1_000, T0);
    assert_eq!(
        t.found_empty("q", None, T0 + 1),
        EmptyDequeue::WaitUntil(T0 + 2_000)
    );
    entry_then_final(&t, "q", Some("h"), T0 + 2);
}

#[test]
fn an_enqueue_naming_a_newcomer_that_already_arrived_fulfils_no_other() {
    // Burst, two newcomers in one adapter: the holder's own enqueue was named n1's (the
    // adapter's guess while the holder was fresh), so n1's real enqueue names n1 again — it
    // must not fulfil n2's announcement, whose newcomer has not enqueued yet.
    let t = Tenures::default();
    t.granted("k", "h", T0 + 60_000, T0);
    t.announce_now("k", Some("n1"), 1_000, T0);
    t.enqueued("k", Some("n1"), None, T0 + 1); // in fact the holder's own
    t.announce_now("k", Some("n2"), 1_000, T0 + 2);
    t.enqueued("k", Some("n1"), None, T0 + 3); // n1's real one
    t.took_entry("k", T0 + 4);
    t.took_entry("k", T0 + 5);
    assert_eq!(t.found_empty("k", None, T0 + 6), EmptyDequeue::Answer);
    assert_eq!(
        t.found_empty("k", None, T0 + 7),
        EmptyDequeue::WaitUntil(T0 + 2_002),
        "n2 is still coming"
    );
    entry_then_final(&t, "k", Some("n2"), T0 + 8);

    // A token-less announcement (a caller on the plain contract) is still fulfilled by an
    // enqueue naming a newcomer this object does not know.
    t.granted("p", "h", T0 + 60_000, T0);
    t.announce_now("p", None, 1_000, T0);
    t.enqueued("p", Some("stranger"), None, T0 + 1);
    t.took_entry("p", T0 + 2);
    assert_eq!(t.found_empty("p", None, T0 + 3), EmptyDequeue::Answer);
    assert_eq!(t.found_empty("p", None, T0 + 4), EmptyDequeue::Answer);
}

#[test]
fn waits_are_capped_even_if_announcements_keep_coming() {
    let t = Tenures::default();
    t.granted("k", "h", T0 + 10 * MAX_WAIT_MS, T0);
    let mut now = T0;
    let mut waited = 0;
    loop {
        t.announce_now("k", Some(&format!("n{now}")), MAX_PATIENCE_MS, now);
        match t.found_empty("k", None, now) {
            EmptyDequeue::WaitUntil(until) => {
                assert!(until <= T0 + MAX_WAIT_MS);
                waited += 1;
                now += 10_000;
            }
            EmptyDequeue::Answer => break,
        }
    }
    assert!(now >= T0 + MAX_WAIT_MS && waited > 1);
}

#[test]
fn a_moved_tenure_holds_and_grants_early_as_it_would_have() {
    let from = Tenures::default();
    from.granted("k", "h", T0 + 30_000, T0);
    from.announce_now("k", Some("n"), 1_000, T0);
    let moving = from.export("k", "h", T0 + 10).expect("live");
    assert_eq!(
        from.export("k", "other", T0 + 10),
        None,
        "another token's lock"
    );
    let to = Tenures::default();
    to.import("k", &moving, T0 + 30_000, false, T0 + 20);
    assert_eq!(
        to.found_empty("k", None, T0 + 30),
        EmptyDequeue::WaitUntil(T0 + 2_000)
    );
    to.enqueued("k", Some("n"), None, T0 + 40);
    assert_eq!(to.found_empty("k", None, T0 + 50), EmptyDequeue::Answer);
    assert_eq!(to.early_grant_from("k", T0 + 50).as_deref(), Some("h"));
    // Clamped: an announcement cannot hold longer than its patience allows from now.
    let mut long = moving.clone();
    long.announcements = vec![(None, T0 + 10_000_000, 10_000_000)];
    to.import("k", &long, T0 + 30_000, false, T0 + 20);
    match to.found_empty("k", None, T0 + 30) {
        EmptyDequeue::WaitUntil(at) => assert!(at <= T0 + 20 + 2 * MAX_PATIENCE_MS),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_restored_tenure_holds_an_acquire_until_the_holders_next_call() {
    // The lock was granted before this instance started: its holder may have made its final
    // dequeue (only its release left) or be in a handler. The newcomer's acquire is held.
    let t = Tenures::default();
    let hold = |tok: &str, now: i64| t.hold_acquire("k", "h", T0 + 30_000, tok, 6_000, now);
    assert_eq!(hold("n", T0), Some(T0 + ACQUIRE_HOLD_MS));
    assert_eq!(
        hold("n", T0 + 10),
        Some(T0 + ACQUIRE_HOLD_MS),
        "a re-ask or a retry keeps its start"
    );
    // The holder's dequeue meanwhile is held for it (it counts as an announcement)...
    assert!(matches!(
        t.found_empty("k", None, T0 + 20),
        EmptyDequeue::WaitUntil(_)
    ));
    // ...and settles it: the previous dequeue was not final, so refuse and announce.
    assert_eq!(hold("n", T0 + 30), None);
    assert_eq!(
        t.announce("k", "h", T0 + 30_000, Some("n"), 1_000, T0 + 30),
        Some(T0 + 2_030)
    );
    assert_eq!(
        t.announce("k", "h", T0 + 30_000, Some("n"), 1_000, T0 + 31),
        None,
        "a retry"
    );
    assert_eq!(
        hold("n", T0 + 32),
        None,
        "refused before: a retry is refused again"
    );
    t.enqueued("k", Some("n"), None, T0 + 40);
    t.took_entry("k", T0 + 40);
    assert_eq!(
        hold("m", T0 + 50),
        None,
        "known not final: refused as before"
    );

    // Without any call of the holder: refused after the bound.
    let u = Tenures::default();
    assert_eq!(
        u.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0),
        Some(T0 + ACQUIRE_HOLD_MS)
    );
    assert_eq!(
        u.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0 + ACQUIRE_HOLD_MS),
        None
    );

    // A restored tenure's one empty dequeue may itself have been final: still held.
    let r = Tenures::default();
    r.restore("k", "h", T0 + 30_000, Vec::new(), T0);
    assert_eq!(r.found_empty("k", None, T0 + 1), EmptyDequeue::Answer);
    assert_eq!(r.early_grant_from("k", T0 + 1), None);
    assert_eq!(
        r.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0 + 2),
        Some(T0 + 2 + ACQUIRE_HOLD_MS)
    );
    // A second empty dequeue is final and known: no hold, an early grant.
    let s = Tenures::default();
    s.restore("k", "h", T0 + 30_000, Vec::new(), T0);
    s.found_empty("k", None, T0 + 1);
    s.found_empty("k", None, T0 + 2);
    assert_eq!(s.early_grant_from("k", T0 + 2).as_deref(), Some("h"));

    // A caller that declared no retry budget is not held.
    let d = Tenures::default();
    assert_eq!(
        d.hold_acquire("k", "h", T0 + 30_000, "n", DEFAULT_PATIENCE_MS, T0),
        None
    );
    // A small budget bounds the hold.
    assert_eq!(
        d.hold_acquire("k", "h", T0 + 30_000, "n", 1_250, T0),
        Some(T0 + 250)
    );

    // A tenure this instance granted never holds an acquire.
    let g = Tenures::default();
    g.granted("k", "h", T0 + 30_000, T0);
    assert_eq!(g.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0), None);
    g.found_empty("k", None, T0 + 1);
    assert_eq!(
        g.hold_acquire("k", "h", T0 + 30_000, "n", 6_000, T0 + 2),
        None
    );
}

#[test]
fn nothing_happens_without_a_live_tenure() {
    let t = Tenures::default();
    t.announce_now("k", Some("n"), 1_000, T0);
    assert_eq!(t.found_empty("k", None, T0), EmptyDequeue::Answer);
    assert_eq!(t.early_grant_from("k", T0), None);
    t.granted("k", "h", T0 + 100, T0);
    assert_eq!(t.found_empty("k", None, T0 + 100), EmptyDequeue::Answer);
    assert_eq!(t.early_grant_from("k", T0 + 100), None, "expired tenure");
    assert_eq!(patience(None), DEFAULT_PATIENCE_MS);
    assert_eq!(patience(Some(f64::NAN)), DEFAULT_PATIENCE_MS);
    assert_eq!(patience(Some(1e12)), MAX_PATIENCE_MS);
}
