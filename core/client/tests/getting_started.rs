//! The README's Rust "Getting started" (examples/getting_started.rs, shown
//! verbatim there) runs against a real server.

#[path = "../examples/getting_started.rs"]
#[allow(dead_code, unreachable_pub)]
mod example;

use coord_client::Client;
use coord_server::testing::TestServer;

#[tokio::test]
async fn getting_started_runs_and_leaves_its_nodes() {
    let server = TestServer::start().await.expect("server");
    example::run(&server.addr())
        .await
        .expect("the example runs");
    let client = Client::connect(&server.addr()).await.expect("connect");
    let (data, _) = client.get("/config").await.expect("the watched node");
    assert_eq!(&data[..], b"v1");
    // Lock released and leadership resigned: no contender node is left.
    assert!(
        client
            .children("/locks/report")
            .await
            .expect("lock dir")
            .is_empty()
    );
    assert!(
        client
            .children("/elections/scheduler")
            .await
            .expect("election dir")
            .is_empty()
    );
    client.close().await.expect("close");
    server.stop().await.expect("stop");
}
