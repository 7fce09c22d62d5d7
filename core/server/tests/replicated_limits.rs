//! Limits decide outcomes, so they are replicated state: restarting a server
//! with a different `--max-data-bytes` changes the limit through the log from
//! then on, and never re-decides writes that were already acknowledged.

mod support;

use std::path::Path;
use std::time::Duration;

use coord_client::Error;
use coord_client::client::{Client, CreateMode};
use coord_server::server::{Server, ServerConfig};
use support::eventually;

const BIG: usize = 900 * 1024;
const LOWERED: usize = 524_288;

async fn start(dir: &Path, max_data_bytes: usize, snapshot_every: u64) -> (Server, Client) {
    let mut cfg = ServerConfig::for_test(dir);
    cfg.limits.max_data_bytes = max_data_bytes;
    cfg.snapshot_logs_since_last = snapshot_every;
    let server = Server::start(cfg).await.expect("server starts");
    let client = support::client_to(&server.local_addr().to_string(), Duration::from_secs(5)).await;
    (server, client)
}

async fn stop(server: Server, client: Client) {
    client.close().await.expect("close");
    server.shutdown().await.expect("shutdown");
}

fn snapshot_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("snapshots")).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".snap"))
            .count()
    })
}

fn big_data() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

async fn assert_too_large(client: &Client, path: &str) {
    match client
        .create(path, big_data(), CreateMode::Persistent)
        .await
    {
        Err(Error::TooLarge(d)) => assert!(d.contains("max_data_bytes"), "{d}"),
        other => panic!("900 KiB create of {path} under a 512 KiB limit: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_max_data_bytes_keeps_acknowledged_writes_and_applies_from_then_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, c) = start(dir.path(), 1024 * 1024, 10_000).await;
    c.create("/big", big_data(), CreateMode::Persistent)
        .await
        .expect("900 KiB under the default 1 MiB limit");
    let (_, before) = c.get("/big").await.expect("get");
    let zxid_before = server.applied_zxid();
    stop(server, c).await;
    assert_eq!(snapshot_count(dir.path()), 0, "the restart replays the log");

    let (server, c) = start(dir.path(), LOWERED, 10_000).await;
    let (data, after) = c
        .get("/big")
        .await
        .expect("the acknowledged write is still there");
    assert!(data == big_data(), "same data");
    assert_eq!(
        (after.czxid, after.mzxid, after.version),
        (before.czxid, before.mzxid, before.version)
    );
    assert!(
        server.applied_zxid() > zxid_before,
        "the limit change went through the log after the replayed writes"
    );
    assert_too_large(&c, "/big2").await;
    match c.set("/big", big_data(), None).await {
        Err(Error::TooLarge(_)) => {}
        other => panic!("900 KiB set under a 512 KiB limit: {other:?}"),
    }
    c.create("/small", vec![1u8; LOWERED], CreateMode::Persistent)
        .await
        .expect("exactly the new limit fits");
    stop(server, c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowered_limits_survive_a_snapshot_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, c) = start(dir.path(), 1024 * 1024, 20).await;
    c.create("/big", big_data(), CreateMode::Persistent)
        .await
        .expect("900 KiB under the default 1 MiB limit");
    let (_, before) = c.get("/big").await.expect("get");
    stop(server, c).await;

    let (server, c) = start(dir.path(), LOWERED, 20).await;
    for i in 0..40 {
        c.create(&format!("/n{i}"), Vec::new(), CreateMode::Persistent)
            .await
            .expect("small create");
    }
    let path = dir.path().to_path_buf();
    assert!(
        eventually(Duration::from_secs(10), || {
            let path = path.clone();
            async move { snapshot_count(&path) > 0 }
        })
        .await,
        "a snapshot was built"
    );
    stop(server, c).await;

    let (server, c) = start(dir.path(), LOWERED, 20).await;
    let (data, after) = c.get("/big").await.expect("get after the snapshot");
    assert!(data == big_data(), "same data");
    assert_eq!(
        (after.czxid, after.mzxid, after.version),
        (before.czxid, before.mzxid, before.version)
    );
    assert_too_large(&c, "/big2").await;
    stop(server, c).await;
}
