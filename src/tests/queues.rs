//! Native tests of the queues (`queues`): first in, first out, the oldest dropped past maxSize,
//! expired entries skipped.

use crate::tests::support::{store, T0};

#[test]
fn queue_is_fifo_and_drops_oldest() {
    let s = store();
    let far = (T0 + 90_000) as f64;
    for i in 0..4 {
        let depth = s
            .enqueue(
                "t",
                &format!("{{\"n\":{i}}}"),
                far,
                Some(3.0),
                None,
                None,
                T0,
            )
            .unwrap();
        assert_eq!(depth, (i + 1).min(3));
    }
    assert_eq!(s.queue_depth("t", None, T0).unwrap(), 3);
    assert_eq!(
        s.dequeue("t", None, None, T0).unwrap().entry().as_deref(),
        Some("{\"n\":1}")
    );
    assert_eq!(
        s.dequeue("t", None, None, T0).unwrap().entry().as_deref(),
        Some("{\"n\":2}")
    );
    assert_eq!(
        s.dequeue("t", None, None, T0).unwrap().entry().as_deref(),
        Some("{\"n\":3}")
    );
    assert_eq!(s.dequeue("t", None, None, T0).unwrap().entry(), None);
    assert_eq!(s.queue_depth("other", None, T0).unwrap(), 0);
    // maxSize 0 means unlimited.
    for _ in 0..20 {
        s.enqueue("u", "1", far, Some(0.0), None, None, T0).unwrap();
    }
    assert_eq!(s.queue_depth("u", None, T0).unwrap(), 20);
}

#[test]
fn expired_queue_entries_are_skipped() {
    let s = store();
    s.enqueue("t", "\"old\"", (T0 + 10) as f64, Some(10.0), None, None, T0)
        .unwrap();
    s.enqueue(
        "t",
        "\"new\"",
        (T0 + 1_000) as f64,
        Some(10.0),
        None,
        None,
        T0,
    )
    .unwrap();
    assert_eq!(s.queue_depth("t", None, T0 + 10).unwrap(), 1);
    assert_eq!(
        s.dequeue("t", None, None, T0 + 10)
            .unwrap()
            .entry()
            .as_deref(),
        Some("\"new\"")
    );
}
