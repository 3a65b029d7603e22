//! Native tests of the thread part's subscriptions and locks (`subscriptions`, `locks`): a set,
//! and a lock that only its holder's token releases or extends, never past its expiry.

use crate::tests::support::{acquire, count, store, T0};

#[test]
fn subscriptions_are_a_set() {
    let s = store();
    assert!(!s.is_subscribed("t1").unwrap());
    s.subscribe("t1").unwrap();
    s.subscribe("t1").unwrap();
    assert!(s.is_subscribed("t1").unwrap());
    assert_eq!(count(&s, "subscriptions"), 1);
    s.unsubscribe("t1").unwrap();
    s.unsubscribe("t1").unwrap();
    assert!(!s.is_subscribed("t1").unwrap());
}

#[test]
fn lock_lifecycle() {
    let s = store();
    let lock = acquire(&s, "t", 30_000.0, T0).unwrap();
    assert_eq!(lock.expires_at, T0 + 30_000);
    assert!(acquire(&s, "t", 30_000.0, T0 + 1).is_none());
    // Wrong token: no-op.
    s.release_lock("t", "cfdo_wrong").unwrap();
    assert!(acquire(&s, "t", 30_000.0, T0 + 2).is_none());
    assert!(s
        .extend_lock("t", &lock.token, 30_000.0, T0 + 10_000)
        .unwrap());
    assert!(!s
        .extend_lock("t", "cfdo_wrong", 30_000.0, T0 + 10_000)
        .unwrap());
    // Extended: still held at the old deadline.
    assert!(acquire(&s, "t", 30_000.0, T0 + 30_000).is_none());
    s.release_lock("t", &lock.token).unwrap();
    let again = acquire(&s, "t", 30_000.0, T0 + 30_001).unwrap();
    assert_ne!(again.token, lock.token);
}

#[test]
fn expired_lock_never_blocks_and_is_never_extended() {
    let s = store();
    let old = acquire(&s, "t", 1_000.0, T0).unwrap();
    assert!(!s.extend_lock("t", &old.token, 1_000.0, T0 + 1_000).unwrap());
    let new = acquire(&s, "t", 1_000.0, T0 + 1_000).unwrap();
    // The old holder's release and extend touch nothing.
    s.release_lock("t", &old.token).unwrap();
    assert!(!s.extend_lock("t", &old.token, 1_000.0, T0 + 1_001).unwrap());
    assert!(acquire(&s, "t", 1_000.0, T0 + 1_001).is_none());
    assert!(s.extend_lock("t", &new.token, 1_000.0, T0 + 1_001).unwrap());
}

#[test]
fn extend_never_creates() {
    let s = store();
    assert!(!s.extend_lock("t", "cfdo_x", 1_000.0, T0).unwrap());
    assert_eq!(count(&s, "locks"), 0);
}

#[test]
fn force_release_makes_old_release_a_no_op() {
    let s = store();
    let old = acquire(&s, "t", 60_000.0, T0).unwrap();
    s.force_release_lock("t").unwrap();
    s.force_release_lock("t").unwrap();
    let new = acquire(&s, "t", 60_000.0, T0).unwrap();
    s.release_lock("t", &old.token).unwrap();
    assert!(acquire(&s, "t", 60_000.0, T0).is_none());
    s.release_lock("t", &new.token).unwrap();
    assert_eq!(count(&s, "locks"), 0);
}
