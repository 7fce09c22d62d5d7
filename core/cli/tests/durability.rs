//! Durability of acknowledged writes across `kill -9` of the real `coord`
//! binary, and state that must survive a restart (sequence counters, sessions).

use std::time::Duration;

use coord_client::CreateMode;
use coord_client::client::Client;

mod support;
use support::{Served, client};

fn start(dir: &std::path::Path) -> Served {
    Served::start(dir, &["--min-session-timeout-ms", "200"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let c = client(server.addr()).await;
    c.create("/durable", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    const N: usize = 300;
    // Concurrent writes so that many share one fsync (group commit).
    let mut tasks = Vec::new();
    for i in 0..N {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.create(
                &format!("/durable/n{i:04}"),
                format!("value-{i}").into_bytes(),
                CreateMode::Persistent,
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("acknowledged create");
    }
    let stat = c.set("/durable", b"last".to_vec(), Some(0)).await.unwrap();
    assert_eq!(stat.version, 1);
    server.kill9();

    let server = start(dir.path());
    let c = client(server.addr()).await;
    let children = c.children("/durable").await.unwrap();
    assert_eq!(children.len(), N, "every acknowledged create is back");
    for i in [0, N / 2, N - 1] {
        let (data, _) = c.get(&format!("/durable/n{i:04}")).await.unwrap();
        assert_eq!(data.as_ref(), format!("value-{i}").as_bytes());
    }
    let (data, stat) = c.get("/durable").await.unwrap();
    assert_eq!(data.as_ref(), b"last");
    assert_eq!(stat.version, 1);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_keep_growing_across_deletes_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let c = client(server.addr()).await;
    c.create("/q", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let first = c
        .create("/q/item-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .unwrap();
    let second = c
        .create("/q/item-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .unwrap();
    assert_eq!(first, "/q/item-0000000000");
    assert_eq!(second, "/q/item-0000000001");
    c.delete(&second, None).await.unwrap();
    server.kill9();

    let server = start(dir.path());
    let c = client(server.addr()).await;
    let third = c
        .create("/q/item-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .unwrap();
    // As in ZooKeeper 3.8 the suffix is the parent's cversion, which counts
    // child creates and deletes: the deleted item's number is never handed
    // out again, and the delete moved the counter too.
    assert_eq!(third, "/q/item-0000000003");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_its_ephemeral_survive_a_restart_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let owner = Client::builder()
        .servers(server.addr().to_string())
        .session_timeout(Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    owner
        .create("/eph", Vec::new(), CreateMode::Ephemeral)
        .await
        .unwrap();
    server.kill9();
    drop(owner);

    let server = start(dir.path());
    let c = client(server.addr()).await;
    // The restarted server gives the old session a full timeout, then expires it.
    let mut gone = false;
    for _ in 0..100 {
        if c.exists("/eph").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone,
        "the dead session's ephemeral was removed after its timeout"
    );
    c.close().await.unwrap();
}
