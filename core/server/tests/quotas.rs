//! Subtree quotas through the native protocol and the Rust client: set, get
//! and clear; `QuotaExceeded` naming the quota's path and limit; a refused
//! multi applying nothing; usage after deletes and session ends; and quotas
//! surviving a restart, from the log and from a snapshot.

mod raw;
mod support;

use std::path::Path;
use std::time::Duration;

use coord_client::Error;
use coord_client::client::{Client, CreateMode, Op, QuotaLimits, QuotaUsage};
use coord_server::server::{Server, ServerConfig};
use support::eventually;

async fn start(dir: &Path, snapshot_every: u64) -> (Server, Client) {
    let mut cfg = ServerConfig::for_test(dir);
    cfg.snapshot_logs_since_last = snapshot_every;
    let server = Server::start(cfg).await.expect("server starts");
    let client = support::client_to(&server.local_addr().to_string(), Duration::from_secs(5)).await;
    (server, client)
}

async fn stop(server: Server, client: Client) {
    client.close().await.expect("close");
    server.shutdown().await.expect("shutdown");
}

fn limits(nodes: Option<u64>, bytes: Option<u64>) -> QuotaLimits {
    QuotaLimits {
        max_nodes: nodes,
        max_bytes: bytes,
    }
}

async fn usage(c: &Client, path: &str) -> QuotaUsage {
    c.get_quota(path).await.expect("get_quota").usage
}

fn exceeded<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::QuotaExceeded(d)) => d,
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_a_quota_fail_with_its_path_and_limit_and_clearing_lifts_it() {
    let server = support::start_server().await;
    let c = support::client_of(&server).await;
    c.create("/app", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.set_quota("/app", limits(Some(3), Some(8))).await.unwrap();
    let q = c.get_quota("/app").await.unwrap();
    assert_eq!(q.limits, limits(Some(3), Some(8)));
    assert_eq!(q.usage, QuotaUsage { nodes: 1, bytes: 0 });

    c.create("/app/a", b"12345".to_vec(), CreateMode::Persistent)
        .await
        .unwrap();
    let d = exceeded(
        c.create("/app/b", b"1234".to_vec(), CreateMode::Persistent)
            .await,
    );
    assert!(
        d.contains("/app/b") && d.contains("quota on /app") && d.contains("max_bytes = 8"),
        "{d}"
    );
    assert!(c.exists("/app/b").await.unwrap().is_none());
    c.create("/app/b", b"123".to_vec(), CreateMode::Persistent)
        .await
        .unwrap();
    let d = exceeded(c.create("/app/c", Vec::new(), CreateMode::Persistent).await);
    assert!(
        d.contains("max_nodes = 3") && d.contains("would hold 4"),
        "{d}"
    );
    exceeded(c.set("/app/b", b"1234".to_vec(), None).await);
    assert_eq!(usage(&c, "/app").await, QuotaUsage { nodes: 3, bytes: 8 });

    // A multi that would end over the quota applies nothing, even its
    // shrinking ops.
    let results = c
        .multi(vec![
            Op::Delete {
                path: "/app/a".into(),
                version: -1,
            },
            Op::Create {
                path: "/app/x".into(),
                data: Default::default(),
                mode: CreateMode::Persistent,
                acl: Vec::new(),
            },
            Op::Create {
                path: "/app/y".into(),
                data: Default::default(),
                mode: CreateMode::Persistent,
                acl: Vec::new(),
            },
        ])
        .await;
    let d = exceeded(results);
    assert!(d.contains("create /app/y"), "{d}");
    assert!(c.exists("/app/a").await.unwrap().is_some());
    assert!(c.exists("/app/x").await.unwrap().is_none());
    assert_eq!(usage(&c, "/app").await, QuotaUsage { nodes: 3, bytes: 8 });

    // Deletes give room back.
    c.delete("/app/a", None).await.unwrap();
    assert_eq!(usage(&c, "/app").await, QuotaUsage { nodes: 2, bytes: 3 });
    c.create("/app/c", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();

    c.clear_quota("/app").await.unwrap();
    assert!(matches!(c.get_quota("/app").await, Err(Error::NoNode(_))));
    c.create("/app/d", vec![0; 100], CreateMode::Persistent)
        .await
        .unwrap();
    assert!(matches!(c.clear_quota("/app").await, Err(Error::NoNode(_))));
    assert!(matches!(
        c.set_quota("/missing", limits(Some(1), None)).await,
        Err(Error::NoNode(_))
    ));
    c.close().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_of_a_closed_session_leave_the_quota_usage() {
    let server = support::start_server().await;
    let a = support::client_of(&server).await;
    let b = support::client_of(&server).await;
    a.create("/svc", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    a.set_quota("/svc", limits(Some(3), None)).await.unwrap();
    b.create("/svc/b1", b"x".to_vec(), CreateMode::Ephemeral)
        .await
        .unwrap();
    b.create("/svc/b2", Vec::new(), CreateMode::Ephemeral)
        .await
        .unwrap();
    exceeded(a.create("/svc/a", Vec::new(), CreateMode::Ephemeral).await);
    b.close().await.unwrap();
    assert_eq!(usage(&a, "/svc").await, QuotaUsage { nodes: 1, bytes: 0 });
    a.create("/svc/a", Vec::new(), CreateMode::Ephemeral)
        .await
        .unwrap();
    a.close().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_of_an_expired_session_leave_the_quota_usage() {
    use coord_proto::proto::{self, request};
    let server = support::start_server().await;
    let c = support::client_of(&server).await;
    c.create("/svc", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.set_quota("/svc", limits(Some(2), Some(5))).await.unwrap();
    let addr: std::net::SocketAddr = server.addr().parse().unwrap();
    let mut doomed = raw::Raw::session(addr, 200).await;
    let create = request::Op::Create(proto::CreateRequest {
        path: "/svc/e".into(),
        data: b"12345".to_vec().into(),
        mode: Some(proto::CreateMode {
            kind: proto::NodeKind::Ephemeral as i32,
            ..Default::default()
        }),
        ..Default::default()
    });
    let r = doomed.call(1, create).await;
    assert!(raw::error_of(&r).is_none(), "{r:?}");
    assert_eq!(usage(&c, "/svc").await, QuotaUsage { nodes: 2, bytes: 5 });
    exceeded(c.create("/svc/f", Vec::new(), CreateMode::Persistent).await);
    // The connection goes without closing its session: it expires.
    drop(doomed);
    let gone = eventually(Duration::from_secs(10), || async {
        c.get_quota("/svc").await.map(|q| q.usage) == Ok(QuotaUsage { nodes: 1, bytes: 0 })
    })
    .await;
    assert!(
        gone,
        "usage after the session expired: {:?}",
        c.get_quota("/svc").await
    );
    c.create("/svc/f", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.close().await.unwrap();
    server.stop().await.unwrap();
}

fn snapshot_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("snapshots")).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".snap"))
            .count()
    })
}

async fn assert_quota_holds(c: &Client, nodes: u64) {
    let q = c.get_quota("/q").await.expect("quota after restart");
    assert_eq!(q.limits, limits(Some(nodes), Some(1_000)));
    let n = q.usage.nodes;
    for i in n..nodes {
        c.create(&format!("/q/fill{i}"), Vec::new(), CreateMode::Persistent)
            .await
            .expect("room left under the quota");
    }
    exceeded(
        c.create("/q/over", Vec::new(), CreateMode::Persistent)
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_survive_a_restart_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, c) = start(dir.path(), 30).await;
    c.create("/q", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.set_quota("/q", limits(Some(5), Some(1_000)))
        .await
        .unwrap();
    c.create("/q/a", b"abc".to_vec(), CreateMode::Persistent)
        .await
        .unwrap();
    stop(server, c).await;
    assert_eq!(
        snapshot_count(dir.path()),
        0,
        "the first restart replays the log"
    );

    let (server, c) = start(dir.path(), 30).await;
    assert_eq!(usage(&c, "/q").await, QuotaUsage { nodes: 2, bytes: 3 });
    assert_quota_holds(&c, 5).await;
    c.set_quota("/q", limits(Some(50), Some(1_000)))
        .await
        .unwrap();
    for i in 0..40 {
        c.create(&format!("/other{i}"), Vec::new(), CreateMode::Persistent)
            .await
            .unwrap();
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
    let before = c.get_quota("/q").await.unwrap();
    stop(server, c).await;

    let (server, c) = start(dir.path(), 30).await;
    assert_eq!(c.get_quota("/q").await.unwrap(), before);
    assert_quota_holds(&c, 50).await;
    stop(server, c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_set_through_a_follower_is_enforced_by_every_member() {
    use coord_server::testing::TestCluster;
    let cluster = TestCluster::start(3).await.unwrap();
    let leader = cluster
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();
    let follower = cluster.other_than(leader);
    let on_follower = support::client_to(&cluster.addr(follower), Duration::from_secs(5)).await;
    on_follower
        .create("/c", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    on_follower
        .set_quota("/c", limits(Some(2), None))
        .await
        .unwrap();
    on_follower
        .create("/c/x", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    for id in cluster.members() {
        let c = support::client_to(&cluster.addr(id), Duration::from_secs(5)).await;
        c.sync("/").await.unwrap();
        assert_eq!(
            usage(&c, "/c").await,
            QuotaUsage { nodes: 2, bytes: 0 },
            "member {id}"
        );
        let d = exceeded(c.create("/c/y", Vec::new(), CreateMode::Persistent).await);
        assert!(d.contains("quota on /c"), "member {id}: {d}");
        c.close().await.unwrap();
    }
    on_follower.close().await.unwrap();
    cluster.stop().await.unwrap();
}
