//! Children listings: pages cover every child once in name order within the
//! byte budget, unpaged listings that do not fit are refused, counts are cheap.

use coord_proto::children::MIN_LISTING_BYTES;
use coord_proto::wire::listed_entry_len;
use coord_proto::{ChildrenPage, ListChildren, ListShape};

use super::Harness;
use crate::error::Error;

/// `/d` with `n` children whose names are about 30 bytes.
fn dir_with(n: usize) -> Harness {
    let mut h = Harness::new();
    h.mk("/d");
    for i in 0..n {
        h.mk(&format!(
            "/d/member-{:05}-{}",
            (i * 7919) % n,
            "x".repeat(i % 13)
        ));
    }
    h
}

fn page_req(start_after: Option<&str>, limit: Option<u32>, with_stats: bool) -> ListChildren {
    ListChildren {
        shape: ListShape::Page {
            with_stats,
            start_after: start_after.map(str::to_string),
            limit,
        },
        ..ListChildren::all("/d")
    }
}

/// Bytes of a page's entries, as the budget counts them.
fn entry_bytes(p: &ChildrenPage) -> usize {
    p.names
        .iter()
        .enumerate()
        .map(|(i, n)| listed_entry_len(n, p.stats.get(i)))
        .sum()
}

/// Lists `/d` page after page (bounded); returns the names and the page count.
fn all_pages(
    h: &Harness,
    budget: usize,
    limit: Option<u32>,
    with_stats: bool,
) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..=10_000 {
        let p =
            h.sm.list_children(&page_req(cursor.as_deref(), limit, with_stats), budget)
                .unwrap();
        assert!(entry_bytes(&p) <= budget, "page {pages} over the budget");
        assert!(limit.is_none_or(|l| p.names.len() <= l as usize));
        assert_eq!(p.stat, h.stat("/d"), "every page carries the parent's stat");
        if with_stats {
            for (n, s) in p.names.iter().zip(&p.stats) {
                assert_eq!(*s, h.stat(&format!("/d/{n}")));
            }
        }
        names.extend(p.names.iter().cloned());
        match p.next_start_after() {
            Some(next) => cursor = Some(next.to_string()),
            None => return (names, pages),
        }
    }
    panic!("paging did not end");
}

#[test]
fn pages_return_every_child_once_in_name_order_within_the_budget() {
    let h = dir_with(400);
    let (expected, _) = h.sm.children("/d").unwrap();
    for with_stats in [false, true] {
        let (names, pages) = all_pages(&h, MIN_LISTING_BYTES, None, with_stats);
        assert_eq!(names, expected, "with_stats = {with_stats}");
        assert!(pages > 5, "{pages} pages: the budget must have cut them");
    }
    let (names, pages) = all_pages(&h, usize::MAX, Some(7), false);
    assert_eq!(names, expected);
    assert_eq!(pages, 400_usize.div_ceil(7));
}

#[test]
fn unpaged_listing_that_does_not_fit_is_too_large_naming_the_path() {
    let h = dir_with(400);
    let err =
        h.sm.list_children(&ListChildren::all("/d"), MIN_LISTING_BYTES)
            .unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge(m) if m.contains("children of /d") && m.contains("paged")),
        "{err:?}"
    );
    // The same listing fits the default budget: one reply, nothing more.
    let all =
        h.sm.list_children(&ListChildren::all("/d"), usize::MAX)
            .unwrap();
    assert_eq!(all.names, h.sm.children("/d").unwrap().0);
    assert!(!all.more);
}

#[test]
fn a_smaller_client_frame_cuts_pages_smaller() {
    let h = dir_with(200);
    let mut req = page_req(None, None, false);
    req.client_max_frame = 1024 + 300;
    let p = h.sm.list_children(&req, usize::MAX).unwrap();
    assert!(p.more);
    assert!(entry_bytes(&p) <= 300, "{}", entry_bytes(&p));
}

#[test]
fn a_page_always_holds_one_child_unless_it_alone_overflows_the_client_frame() {
    let mut h = Harness::new();
    h.mk("/d");
    let long = "n".repeat(2000);
    h.mk(&format!("/d/{long}"));
    h.mk("/d/z");
    // Over the server budget (1024) but within the client's frame: listed.
    let p = h.sm.list_children(&page_req(None, None, false), 0).unwrap();
    assert_eq!((p.names, p.more), (vec![long.clone()], true));
    // Over what the client's frame allows: refused, naming the child.
    let mut req = page_req(None, None, false);
    req.client_max_frame = 2048;
    let err = h.sm.list_children(&req, 0).unwrap_err();
    assert!(matches!(&err, Error::TooLarge(m) if m.contains(&format!("/d/{long}"))));
}

#[test]
fn count_only_gives_the_total_without_names() {
    let h = dir_with(50);
    let req = ListChildren {
        shape: ListShape::Count,
        ..ListChildren::all("/d")
    };
    let p = h.sm.list_children(&req, MIN_LISTING_BYTES).unwrap();
    assert!(p.names.is_empty() && !p.more);
    assert_eq!(p.stat.num_children, 50);
    let missing = ListChildren {
        shape: ListShape::Count,
        ..ListChildren::all("/nope")
    };
    assert_eq!(
        h.sm.list_children(&missing, 0),
        Err(Error::NoNode("/nope".into()))
    );
}

#[test]
fn a_listing_takes_the_child_set_under_the_lock_and_walks_it_after() {
    let mut h = dir_with(5_000);
    let listing =
        h.sm.list_children_deferred(&ListChildren::all("/d"), usize::MAX)
            .unwrap();
    // Without stats, nothing per child is done under the lock: the listing
    // holds the tree's own set (one pointer), not a copy of it.
    assert!(listing.shares_children_with(h.sm.tree.node("/d").unwrap()));
    // Changes after the lock do not reach a listing already taken, and the
    // tree's set is copied (only along the changed path) rather than changed
    // under the listing.
    h.mk("/d/zz-after");
    h.op(0, super::delete_op("/d/member-00000-", -1)).unwrap();
    assert!(!listing.shares_children_with(h.sm.tree.node("/d").unwrap()));
    let page = listing.finish().unwrap();
    assert_eq!(page.names.len(), 5_000);
    assert!(page.names.iter().any(|n| n == "member-00000-"));
    assert!(!page.names.iter().any(|n| n == "zz-after"));
    let now =
        h.sm.list_children(&ListChildren::all("/d"), usize::MAX)
            .unwrap();
    assert_eq!(now.names.len(), 5_000);
    assert!(now.names.iter().any(|n| n == "zz-after"));
    assert!(!now.names.iter().any(|n| n == "member-00000-"));
}
