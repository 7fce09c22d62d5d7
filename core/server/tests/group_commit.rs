//! Group commit: concurrent durable writes share fsyncs.

mod support;

use coord_client::client::CreateMode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_fsyncs() {
    let ts = support::start_server().await;
    let mut clients = Vec::new();
    for _ in 0..32 {
        clients.push(support::client_of(&ts).await);
    }
    clients[0]
        .create("/gc", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let fsyncs_before = ts.server.log_fsyncs();
    const PER_CLIENT: usize = 50;
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..PER_CLIENT {
                c.create(
                    &format!("/gc/{i}-{j}"),
                    vec![0u8; 100],
                    CreateMode::Persistent,
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let writes = (32 * PER_CLIENT) as u64;
    let fsyncs = ts.server.log_fsyncs() - fsyncs_before;
    eprintln!("{writes} writes, {fsyncs} fsyncs");
    assert!(
        fsyncs * 4 <= writes,
        "{writes} concurrent writes took {fsyncs} fsyncs: group commit is not batching"
    );
    ts.stop().await.expect("clean shutdown");
}
