// #[cfg(test)]: compiled only for tests (declared `#[cfg(test)] mod pages_tests;` in lib.rs).
//! Native tests of paged units (see `handoff_pages`): a unit moved page by page, with resent,
//! out-of-order and duplicated pages, arrives whole and once, and is not held before it is.

use crate::base::store::Store;
use crate::guarantees::idempotency::Attempt;
use crate::model::lists::AppendOptions;
use crate::platform::native_db::NativeDb;
use crate::sharding::migration::{Handed, Migration};
use crate::sharding::routing::LayoutDesc;
use crate::sharding::unit::PageImport;

const T0: i64 = 1_800_000_000_000;
const R: &str = "slack:C1:1.1";

fn store() -> Store<NativeDb> {
    Store::open(NativeDb::open_in_memory(), None, T0).unwrap()
}

fn migration() -> Migration {
    Migration {
        id: "m".into(),
        layout: Some(LayoutDesc {
            name: "new".into(),
            shards: 4,
        }),
        jurisdiction: None,
        base: Some("new".into()),
    }
}

/// A unit of many rows at `s`: subscription, lock, cache keys, two lists, a queue.
fn fill(s: &Store<NativeDb>) {
    s.subscribe(R).unwrap();
    s.acquire_lock(
        R,
        60_000.0,
        Some(Attempt::first("cfdo_tok0000000000000000000000000000")),
        None,
        T0,
    )
    .unwrap()
    .unwrap();
    s.set(
        &format!("thread-state:{R}"),
        "\"state\"",
        Some(3_600_000.0),
        T0,
    )
    .unwrap();
    s.set(R, &format!("\"{}\"", "v".repeat(900)), None, T0)
        .unwrap();
    for i in 0..40 {
        let opts = AppendOptions {
            max_length: Some(100.0),
            ttl_ms: Some(3_600_000.0),
        };
        s.append_to_list(
            &format!("msg-history:{R}"),
            &format!("\"{i:0>1000}\""),
            opts,
            None,
            T0 + i,
        )
        .unwrap();
    }
    s.append_to_list(
        &format!("active-turn:{R}"),
        "1",
        AppendOptions::default(),
        None,
        T0,
    )
    .unwrap();
    for i in 0..5 {
        s.enqueue(
            R,
            &format!("\"e{i}\""),
            (T0 + 600_000) as f64,
            Some(10.0),
            None,
            None,
            T0,
        )
        .unwrap();
    }
}

#[test]
fn a_unit_moved_in_pages_arrives_whole_once_and_is_not_held_before() {
    let (src, dst) = (store(), store());
    fill(&src);
    let whole = src.collect_unit(R, T0 + 100).unwrap();
    let now = T0 + 100;
    let budget = 8 * 1024;
    let Handed::Unit {
        unit,
        seal_id,
        page,
    } = src
        .hand_over_page(
            R,
            "new:shard-1",
            &migration(),
            "old",
            "seal1",
            Some(("", budget)),
            now,
        )
        .unwrap()
    else {
        panic!("expected a unit");
    };
    let first = page.expect("a page");
    assert!(
        first.next.is_some(),
        "a unit this large takes several pages"
    );
    assert!(first.shape.is_some());
    // A page that does not start where the new home expects is not written.
    let later = src
        .collect_page(R, first.next.as_deref().unwrap(), budget, now)
        .unwrap();
    assert_eq!(
        dst.import_page(
            "old",
            "m",
            &later.0,
            &seal_id,
            &later.1.from,
            later.1.next.as_deref(),
            None,
            now
        )
        .unwrap(),
        PageImport::Expect(String::new())
    );
    let mut answer = dst
        .import_page(
            "old",
            "m",
            &unit,
            &seal_id,
            "",
            first.next.as_deref(),
            first.shape.as_ref(),
            now,
        )
        .unwrap();
    // The first page again (a resend): nothing written twice.
    assert_eq!(
        dst.import_page(
            "old",
            "m",
            &unit,
            &seal_id,
            "",
            first.next.as_deref(),
            first.shape.as_ref(),
            now
        )
        .unwrap(),
        answer
    );
    let mut pages = 1;
    while let PageImport::Expect(at) = answer {
        assert!(
            !dst.holds(R, None, now).unwrap(),
            "a partly imported unit is not held"
        );
        let (page_unit, info) = src.collect_page(R, &at, budget, now).unwrap();
        assert_eq!(info.from, at);
        answer = dst
            .import_page(
                "old",
                "m",
                &page_unit,
                &seal_id,
                &at,
                info.next.as_deref(),
                None,
                now,
            )
            .unwrap();
        pages += 1;
        assert!(pages < 100);
    }
    assert_eq!(answer, PageImport::Done(true));
    assert!(pages >= 5, "{pages} pages");
    assert!(dst.holds(R, None, now).unwrap());
    assert!(dst.has_import(R, &seal_id).unwrap());
    let mut moved = dst.collect_unit(R, now).unwrap();
    moved.tenure = None;
    let mut expected = whole.clone();
    expected.tenure = None;
    assert_eq!(moved, expected);
    // A page resent after the last: the unit is there already.
    assert_eq!(
        dst.import_page(
            "old",
            "m",
            &unit,
            &seal_id,
            "",
            first.next.as_deref(),
            first.shape.as_ref(),
            now
        )
        .unwrap(),
        PageImport::Done(false)
    );
    assert_eq!(dst.partial_imports().unwrap(), 0);
}

#[test]
fn a_small_unit_is_one_page() {
    let src = store();
    src.subscribe(R).unwrap();
    src.set(&format!("thread-state:{R}"), "1", None, T0)
        .unwrap();
    let (unit, info) = src
        .collect_page(R, "", crate::sharding::pages::PAGE_BYTES, T0)
        .unwrap();
    assert_eq!(info.next, None);
    assert!(unit.subscribed && unit.cache.len() == 1);
    assert!(
        src.collect_page(R, "9:0:x", 10, T0).is_err(),
        "a malformed cursor"
    );
}

#[test]
fn a_whole_unit_completes_its_own_pages() {
    // The drain sent pages; by the time the pull asked, rows had expired and the unit fitted one
    // message: the whole unit (same seal, same sealed copy) completes the import.
    let (src, dst) = (store(), store());
    fill(&src);
    let now = T0 + 100;
    let Handed::Unit {
        unit,
        seal_id,
        page,
    } = src
        .hand_over_page(
            R,
            "new:shard-1",
            &migration(),
            "old",
            "seal1",
            Some(("", 8 * 1024)),
            now,
        )
        .unwrap()
    else {
        panic!("expected a unit");
    };
    let first = page.unwrap();
    assert!(matches!(
        dst.import_page(
            "old",
            "m",
            &unit,
            &seal_id,
            "",
            first.next.as_deref(),
            first.shape.as_ref(),
            now
        )
        .unwrap(),
        PageImport::Expect(_)
    ));
    let whole = src.collect_unit(R, now).unwrap();
    assert!(dst.import_unit("old", "m", &whole, &seal_id, now).unwrap());
    assert_eq!(dst.partial_imports().unwrap(), 0);
    let mut moved = dst.collect_unit(R, now).unwrap();
    moved.tenure = None;
    let mut expected = whole;
    expected.tenure = None;
    assert_eq!(moved, expected);
}
