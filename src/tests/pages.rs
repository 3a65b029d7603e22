//! Native tests of paged units (see `pages`): a unit moved page by page, with resent,
//! out-of-order and duplicated pages, arrives whole and once, and is not held before it is.

use crate::base::store::Store;
use crate::model::lists::AppendOptions;
use crate::platform::native_db::NativeDb;
use crate::sharding::migration::{Handed, Migration};
use crate::sharding::routing::LayoutDesc;
use crate::sharding::unit::{PageImport, PageInfo, Unit};
use crate::tests::support::{first, store, T0};

const R: &str = "slack:C1:1.1";

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
        first("cfdo_tok0000000000000000000000000000"),
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

/// What the old home hands out first when asked for `R` in pages of `budget` bytes.
struct FirstPage {
    unit: Box<Unit>,
    seal_id: String,
    page: PageInfo,
}

fn hand_off_first_page(src: &Store<NativeDb>, budget: usize, now: i64) -> FirstPage {
    let Handed::Unit {
        unit,
        seal_id,
        page,
    } = src
        .hand_over(
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
    FirstPage {
        unit,
        seal_id,
        page: page.expect("a page"),
    }
}

/// The new home imports a page of the unit sealed `seal_id`, from the old home of migration `m`.
fn import(
    dst: &Store<NativeDb>,
    page: &Unit,
    seal_id: &str,
    info: &PageInfo,
    now: i64,
) -> PageImport {
    dst.import_page(
        "old",
        "m",
        page,
        seal_id,
        &info.from,
        info.next.as_deref(),
        info.shape.as_ref(),
        now,
    )
    .unwrap()
}

/// The new home imports the first page (again, when it is resent).
fn import_first(dst: &Store<NativeDb>, first: &FirstPage, now: i64) -> PageImport {
    import(dst, &first.unit, &first.seal_id, &first.page, now)
}

/// The new home holds what the old home held (the tenure aside: memory, see `tenure`).
fn assert_moved_whole(dst: &Store<NativeDb>, whole: &Unit, now: i64) {
    let mut moved = dst.collect_unit(R, now).unwrap();
    moved.tenure = None;
    let mut expected = whole.clone();
    expected.tenure = None;
    assert_eq!(moved, expected);
}

#[test]
fn a_unit_moved_in_pages_arrives_whole_once_and_is_not_held_before() {
    let (src, dst) = (store(), store());
    fill(&src);
    let whole = src.collect_unit(R, T0 + 100).unwrap();
    let now = T0 + 100;
    let budget = 8 * 1024;
    let first = hand_off_first_page(&src, budget, now);
    assert!(
        first.page.next.is_some(),
        "a unit this large takes several pages"
    );
    assert!(first.page.shape.is_some());
    // A page that does not start where the new home expects is not written.
    let later = src
        .collect_page(R, first.page.next.as_deref().unwrap(), budget, now)
        .unwrap();
    let later_info = PageInfo {
        shape: None,
        ..later.1
    };
    assert_eq!(
        import(&dst, &later.0, &first.seal_id, &later_info, now),
        PageImport::Expect(String::new())
    );
    let mut answer = import_first(&dst, &first, now);
    // The first page again (a resend): nothing written twice.
    assert_eq!(import_first(&dst, &first, now), answer);
    let mut pages = 1;
    while let PageImport::Expect(at) = answer {
        assert!(
            !dst.holds(R, None, now).unwrap(),
            "a partly imported unit is not held"
        );
        let (page_unit, info) = src.collect_page(R, &at, budget, now).unwrap();
        assert_eq!(info.from, at);
        let info = PageInfo {
            shape: None,
            ..info
        };
        answer = import(&dst, &page_unit, &first.seal_id, &info, now);
        pages += 1;
        assert!(pages < 100);
    }
    assert_eq!(answer, PageImport::Done(true));
    assert!(pages >= 5, "{pages} pages");
    assert!(dst.holds(R, None, now).unwrap());
    assert!(dst.has_import(R, &first.seal_id).unwrap());
    assert_moved_whole(&dst, &whole, now);
    // A page resent after the last: the unit is there already.
    assert_eq!(import_first(&dst, &first, now), PageImport::Done(false));
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
    let first = hand_off_first_page(&src, 8 * 1024, now);
    assert!(matches!(
        import_first(&dst, &first, now),
        PageImport::Expect(_)
    ));
    let whole = src.collect_unit(R, now).unwrap();
    assert!(dst
        .import_unit("old", "m", &whole, &first.seal_id, now)
        .unwrap());
    assert_eq!(dst.partial_imports().unwrap(), 0);
    assert_moved_whole(&dst, &whole, now);
}
