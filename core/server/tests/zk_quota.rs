//! Quotas seen from the ZooKeeper port: a create past a quota set through
//! the native client fails with ZooKeeper 3.8's QUOTAEXCEEDED (-125), and
//! the subtree is left as it was.

mod zkwire;

use coord_client::client::{Client, CreateMode, QuotaLimits};
use coord_server::server::{Server, ServerConfig};

const QUOTA_EXCEEDED: i32 = -125;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_create_past_a_quota_gets_quotaexceeded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.zk_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::start(cfg).await.unwrap();
    let native = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    native
        .create("/q", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    native
        .set_quota(
            "/q",
            QuotaLimits {
                max_nodes: Some(2),
                max_bytes: None,
            },
        )
        .await
        .unwrap();
    let mut z = zkwire::connect(server.zk_addr().expect("zk port")).await;
    assert_eq!(z.create("/q/a", b"", 0).await.err, 0);
    assert_eq!(z.create("/q/b", b"", 0).await.err, QUOTA_EXCEEDED);
    let names = native.children("/q").await.unwrap();
    assert_eq!(names, ["a"]);
    native.close().await.unwrap();
    server.shutdown().await.unwrap();
}
