//! Children listings of directories larger than one reply: the client pages
//! transparently (`children`, `children_watch`, `children_with_stats`), offers
//! one page with a cursor (`children_page`) and the count alone
//! (`children_count`), and respects its own frame limit.
//!
//! Most tests lower the server's `--max-listing-bytes` to 2 KiB so that a few
//! thousand children need many pages: the same code path as a 4 MiB budget
//! with a hundred thousand children, which one test also runs at full size.

use std::time::Duration;

use coord_client::client::{Client, CreateMode, EventType, Op};
use coord_proto::children::DEFAULT_MAX_LISTING_BYTES;
use coord_server::server::{Server, ServerConfig};

/// Upper bound on any single wait in these tests.
const PATIENCE: Duration = Duration::from_secs(20);

struct Running {
    server: Server,
    _dir: tempfile::TempDir,
}

async fn server_with_listing_bytes(max_listing_bytes: usize) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.max_listing_bytes = max_listing_bytes;
    let server = Server::start(cfg).await.expect("server starts");
    Running { server, _dir: dir }
}

async fn client_of(r: &Running) -> Client {
    Client::builder()
        .servers(r.server.local_addr().to_string())
        .session_timeout(Duration::from_secs(5))
        .request_timeout(PATIENCE)
        .connect()
        .await
        .expect("client connects")
}

/// Creates `dir` and `n` children named `{prefix}{i:06}-...` (about 30 bytes),
/// 500 per multi; returns the names in name order.
async fn fill(c: &Client, dir: &str, prefix: &str, n: usize) -> Vec<String> {
    c.create(dir, Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let names: Vec<String> = (0..n)
        .map(|i| format!("{prefix}{i:06}-{}", "p".repeat(i % 17)))
        .collect();
    for chunk in names.chunks(500) {
        let ops = chunk
            .iter()
            .map(|name| Op::Create {
                acl: Vec::new(),
                path: format!("{dir}/{name}"),
                data: Vec::new().into(),
                mode: CreateMode::Persistent,
            })
            .collect();
        c.multi(ops).await.unwrap();
    }
    let mut sorted = names;
    sorted.sort();
    sorted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_of_a_directory_larger_than_one_reply_come_back_whole_in_name_order() {
    let r = server_with_listing_bytes(2048).await;
    let c = client_of(&r).await;
    let expected = fill(&c, "/big", "member-", 2000).await;
    let first = c.children_page("/big", None, None).await.unwrap();
    assert!(first.more, "the directory must not fit one reply");
    assert!(
        first.names.len() < 200,
        "{} names in one page",
        first.names.len()
    );
    assert_eq!(first.stat.num_children, 2000);
    assert_eq!(c.children("/big").await.unwrap(), expected);
    let (with_stats, parent) = c.children_with_stats("/big").await.unwrap();
    assert_eq!(parent.num_children, 2000);
    let names: Vec<&String> = with_stats.iter().map(|(n, _)| n).collect();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    let last = &with_stats[1999];
    assert_eq!(
        Some(last.1),
        c.exists(&format!("/big/{}", last.0)).await.unwrap()
    );
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_page_walks_the_directory_with_a_cursor_and_a_limit() {
    let r = server_with_listing_bytes(2048).await;
    let c = client_of(&r).await;
    let expected = fill(&c, "/walk", "m-", 250).await;
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 100, "paging did not end");
        let page = c
            .children_page("/walk", cursor.as_deref(), Some(40))
            .await
            .unwrap();
        assert!(page.names.len() <= 40);
        got.extend(page.names.iter().cloned());
        match page.next_start_after() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(got, expected);
    assert_eq!(pages, 7, "250 children in pages of 40");
    // A cursor between names starts at the next one.
    let page = c.children_page("/walk", Some("m-000100"), Some(1)).await;
    assert_eq!(page.unwrap().names, [expected[100].clone()]);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_count_tells_the_total_without_the_names() {
    let r = server_with_listing_bytes(2048).await;
    let c = client_of(&r).await;
    fill(&c, "/counted", "m-", 1200).await;
    assert_eq!(c.children_count("/counted").await.unwrap(), 1200);
    assert_eq!(c.children_count("/").await.unwrap(), 1);
    assert!(matches!(
        c.children_count("/absent").await,
        Err(coord_client::Error::NoNode(_))
    ));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_watch_set_by_a_paged_listing_covers_every_page() {
    let r = server_with_listing_bytes(2048).await;
    let c = client_of(&r).await;
    let expected = fill(&c, "/watched", "m-", 1000).await;
    // A change that sorts into the last page fires the watch set with the first.
    let (names, watch) = c.children_watch("/watched").await.unwrap();
    assert_eq!(names, expected);
    assert_eq!(r.server.watch_count(), 1, "one registration for all pages");
    let other = client_of(&r).await;
    other
        .create("/watched/zz-last", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let event = tokio::time::timeout(PATIENCE, watch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, EventType::NodeChildrenChanged);
    assert_eq!(event.path, "/watched");
    // The watch was one registration for the whole listing, now consumed.
    assert_eq!(r.server.watch_count(), 0);
    other.close().await.unwrap();
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_a_small_frame_limit_still_lists_a_large_directory() {
    // The server's budget is the default (4 MiB); the client accepts 8 KiB
    // frames and says so, so the server cuts pages for it.
    let r = server_with_listing_bytes(DEFAULT_MAX_LISTING_BYTES).await;
    let writer = client_of(&r).await;
    let expected = fill(&writer, "/small-frame", "m-", 1500).await;
    let c = Client::builder()
        .servers(r.server.local_addr().to_string())
        .max_frame_bytes(8 * 1024)
        .request_timeout(PATIENCE)
        .connect()
        .await
        .unwrap();
    assert!(
        c.children_page("/small-frame", None, None)
            .await
            .unwrap()
            .more
    );
    assert_eq!(c.children("/small-frame").await.unwrap(), expected);
    c.close().await.unwrap();
    writer.close().await.unwrap();
}

/// The size: 120,000 children, a 5 MB listing, over the client's
/// 4 MiB frame, with every setting at its default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_of_120k_children_lists_with_default_settings() {
    let r = server_with_listing_bytes(DEFAULT_MAX_LISTING_BYTES).await;
    let c = client_of(&r).await;
    const N: usize = 120_000;
    c.create("/huge", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let name = |i: usize| format!("worker-{i:06}-aaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    // Pipelined multis of 1000 creates (the default max_multi_ops).
    let batches: Vec<_> = (0..N / 1000)
        .map(|b| {
            let ops = (b * 1000..(b + 1) * 1000)
                .map(|i| Op::Create {
                    acl: Vec::new(),
                    path: format!("/huge/{}", name(i)),
                    data: Vec::new().into(),
                    mode: CreateMode::Persistent,
                })
                .collect();
            c.multi(ops)
        })
        .collect();
    for done in futures::future::join_all(batches).await {
        done.unwrap();
    }
    assert_eq!(c.children_count("/huge").await.unwrap(), N as u32);
    let first = c.children_page("/huge", None, None).await.unwrap();
    assert!(first.more, "5 MB of names cannot come in one 4 MiB reply");
    let all = c.children("/huge").await.unwrap();
    assert_eq!(all.len(), N);
    assert!(all.iter().enumerate().all(|(i, n)| *n == name(i)));
    c.close().await.unwrap();
}
