//! The Export request through the Rust client: pages come from one frozen
//! state (writes between pages do not show), depth first with children in
//! name order; a node the session may not READ fails the export naming it;
//! ephemerals are counted and marked; a cursor that does not continue the
//! open export, or one used after the last page or past the idle timeout,
//! is refused.

mod support;

use std::time::Duration;

use coord_client::Error;
use coord_client::client::{Client, CreateMode};
use coord_proto::Acl;
use coord_proto::acl::{digest_id, perms};
use coord_server::server::{Server, ServerConfig};

/// Pages of the export of `root` with `max_bytes` pages; (zxid, paths and
/// data in order, pages seen). Calls `between` after the first page.
async fn export_all(
    client: &Client,
    root: &str,
    max_bytes: u32,
    between: impl AsyncFnOnce(),
) -> (u64, Vec<(String, Vec<u8>)>, usize) {
    let mut page = client
        .export_page(root, None, max_bytes)
        .await
        .expect("first page");
    let zxid = page.zxid;
    let mut nodes = Vec::new();
    let mut between = Some(between);
    for pages in 1..10_000 {
        nodes.extend(page.nodes.iter().map(|n| (n.path.clone(), n.data.to_vec())));
        if let Some(f) = between.take() {
            f().await;
        }
        let Some(cursor) = page.cursor.clone() else {
            return (zxid, nodes, pages);
        };
        page = client
            .export_page(root, Some(&cursor), max_bytes)
            .await
            .expect("next page");
        assert_eq!(page.zxid, zxid, "every page reflects one state");
    }
    panic!("export of {root} did not finish in 10000 pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_between_pages_do_not_show_in_the_export() {
    let server = support::start_server().await;
    let client = support::client_of(&server).await;
    client
        .create("/s", "root", CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..20 {
        let path = format!("/s/c{i:02}");
        client
            .create(&path, vec![b'x'; 300], CreateMode::Persistent)
            .await
            .unwrap();
    }
    client
        .create("/s/c03/deep", "d", CreateMode::Persistent)
        .await
        .unwrap();
    let writer = support::client_of(&server).await;
    let (zxid, nodes, pages) = export_all(&client, "/s", 1024, async || {
        writer
            .create("/s/c99-new", "", CreateMode::Persistent)
            .await
            .unwrap();
        writer.delete("/s/c15", None).await.unwrap();
        writer.set("/s/c18", "changed", None).await.unwrap();
        client
            .create("/s/c19/mine", "", CreateMode::Persistent)
            .await
            .unwrap();
    })
    .await;
    assert!(pages > 3, "small pages: {pages}");
    let mut expected = vec![("/s".to_string(), b"root".to_vec())];
    for i in 0..20 {
        expected.push((format!("/s/c{i:02}"), vec![b'x'; 300]));
        if i == 3 {
            expected.push(("/s/c03/deep".to_string(), b"d".to_vec()));
        }
    }
    assert_eq!(
        nodes, expected,
        "depth first, name order, the state at the first page"
    );
    assert!(zxid > 0);

    // A new export sees the writes.
    let (later, nodes, _) = export_all(&client, "/s", 0, async || {}).await;
    assert!(later > zxid);
    let paths: Vec<&str> = nodes.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"/s/c99-new") && !paths.contains(&"/s/c15"));
    assert!(paths.contains(&"/s/c19/mine"));
    client.close().await.unwrap();
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_read_fails_the_export_naming_it() {
    let server = support::start_server().await;
    let client = support::client_of(&server).await;
    client
        .create("/a", "", CreateMode::Persistent)
        .await
        .unwrap();
    client
        .create("/a/open", "", CreateMode::Persistent)
        .await
        .unwrap();
    let only_bob = [Acl::new("digest", digest_id("bob", "pw"), perms::ALL)];
    client
        .create_with_acl("/a/open/secret", "s", CreateMode::Persistent, &only_bob)
        .await
        .unwrap();
    match client.export_page("/a", None, 0).await {
        Err(Error::NoAuth(why)) => assert!(why.contains("/a/open/secret"), "{why}"),
        other => panic!("expected NoAuth naming the node, got {other:?}"),
    }
    // With bob's identity the whole subtree is readable.
    client.add_auth("digest", b"bob:pw").await.unwrap();
    let page = client
        .export_page("/a", None, 0)
        .await
        .expect("bob may read all");
    assert_eq!(page.nodes.len(), 3);
    assert_eq!(page.nodes[2].acl, only_bob.to_vec());
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_are_counted_and_marked() {
    let server = support::start_server().await;
    let client = support::client_of(&server).await;
    client
        .create("/e", "", CreateMode::Persistent)
        .await
        .unwrap();
    client
        .create("/e/live", "", CreateMode::Ephemeral)
        .await
        .unwrap();
    client
        .create("/e/kept", "", CreateMode::Container)
        .await
        .unwrap();
    let page = client.export_page("/e", None, 0).await.unwrap();
    assert_eq!((page.total_nodes, page.ephemeral_nodes), (3, 1));
    let modes: Vec<_> = page
        .nodes
        .iter()
        .map(|n| (n.path.as_str(), n.mode))
        .collect();
    assert_eq!(
        modes,
        [
            ("/e", CreateMode::Persistent),
            ("/e/kept", CreateMode::Container),
            ("/e/live", CreateMode::Ephemeral)
        ]
    );
    assert!(page.cursor.is_none());
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_outside_the_open_export_is_refused() {
    let server = support::start_server().await;
    let client = support::client_of(&server).await;
    client
        .create("/p", "", CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..5 {
        let path = format!("/p/n{i}");
        client
            .create(&path, vec![0u8; 900], CreateMode::Persistent)
            .await
            .unwrap();
    }
    let first = client.export_page("/p", None, 1024).await.unwrap();
    let cursor = first.cursor.clone().expect("more pages");
    match client.export_page("/p", Some("/p/n4"), 1024).await {
        Err(Error::BadArguments(why)) => assert!(why.contains("does not continue"), "{why}"),
        other => panic!("expected BadArguments, got {other:?}"),
    }
    // Run to the end; the export is then closed.
    let mut at = Some(cursor);
    for _ in 0..10 {
        let Some(c) = at.take() else { break };
        at = client
            .export_page("/p", Some(&c), 1024)
            .await
            .unwrap()
            .cursor;
    }
    assert!(at.is_none(), "finished");
    match client.export_page("/p", Some("/p/n1"), 1024).await {
        Err(Error::BadArguments(why)) => assert!(why.contains("no open export"), "{why}"),
        other => panic!("expected BadArguments after the last page, got {other:?}"),
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_export_is_dropped_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.export_idle_timeout = Duration::from_secs(1);
    let server = Server::start(cfg).await.expect("server starts");
    let client = support::client_to(&server.local_addr().to_string(), Duration::from_secs(5)).await;
    client
        .create("/i", "", CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..3 {
        let path = format!("/i/n{i}");
        client
            .create(&path, vec![0u8; 900], CreateMode::Persistent)
            .await
            .unwrap();
    }
    // Within the timeout the export goes on.
    let first = client.export_page("/i", None, 1024).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = client
        .export_page("/i", first.cursor.as_deref(), 1024)
        .await
        .expect("not idle yet");
    // Past it, the frozen copy is gone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    match client
        .export_page("/i", second.cursor.as_deref(), 1024)
        .await
    {
        Err(Error::BadArguments(why)) => {
            assert!(
                why.contains("no open export") && why.contains("export_idle_timeout"),
                "{why}"
            )
        }
        other => panic!("expected BadArguments after the idle timeout, got {other:?}"),
    }
    client.close().await.unwrap();
    server.shutdown().await.unwrap();
}
