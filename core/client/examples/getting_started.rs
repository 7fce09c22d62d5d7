//! Getting started: connect, lock, elect, watch (`cargo run --example getting_started`).
use coord_client::recipes::{Election, Lock};
use coord_client::{Client, CreateMode, WatchMode};
use futures::StreamExt;

pub async fn run(servers: &str) -> coord_client::Result<()> {
    let client = Client::connect(servers).await?;
    let lock = Lock::new(&client, "/locks/report");
    let token = lock.acquire().await?; // fencing token: rises with each holder
    println!("holding /locks/report, token {token}");
    lock.release().await?;
    let election = Election::new(&client, "/elections/scheduler", "host-a");
    println!("leading, term {}", election.campaign().await?.token);
    election.resign().await?;
    let mut changes = client.watch("/config", WatchMode::Persistent).await?;
    client
        .create("/config", "v1", CreateMode::Persistent)
        .await?;
    println!("{:?}", changes.next().await.transpose()?);
    client.close().await
}

#[tokio::main]
async fn main() -> coord_client::Result<()> {
    run(&std::env::var("COORD_SERVERS").unwrap_or("127.0.0.1:2281".into())).await
}
