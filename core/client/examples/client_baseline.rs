//! The Rust client's side of the binding benchmarks
//! (`bindings/node/bench/bench.mjs`, `bindings/python/bench/run.sh`): the
//! workloads the bindings run, sequential on one client, in a
//! `#[tokio::main]` program of its own against the same server.
//! Prints one JSON line: `{"get": ops_per_s, "lockCycle": ops_per_s}`.
//!
//! Usage: `client_baseline ADDR DURATION_MS [in-task]`.

use std::time::{Duration, Instant};

use coord_client::client::{Client, CreateMode};
use coord_client::recipes::Lock;

#[tokio::main]
async fn main() -> coord_client::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(Client::default_servers);
    let ms: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3000);
    let window = Duration::from_millis(ms);
    // `in-task`: the loops run in a spawned task, on a runtime worker, next to
    // the connection's own tasks; by default they run where `#[tokio::main]`
    // puts them, on the main thread, as a blocking caller does.
    let (get, lock_cycle) = match args.next().as_deref() {
        Some("in-task") => tokio::spawn(workloads(addr, window))
            .await
            .map_err(|e| coord_client::Error::Internal(e.to_string()))??,
        _ => workloads(addr, window).await?,
    };
    println!("{{\"get\": {get:.1}, \"lockCycle\": {lock_cycle:.1}}}");
    Ok(())
}

/// Ops/s of `get` (100 B) and of an uncontended lock cycle.
async fn workloads(addr: String, window: Duration) -> coord_client::Result<(f64, f64)> {
    let client = Client::connect(&addr).await?;
    let node = "/bench-rust-get";
    match client
        .create(node, vec![b'x'; 100], CreateMode::Persistent)
        .await
    {
        Ok(_) | Err(coord_client::Error::NodeExists(_)) => {}
        Err(e) => return Err(e),
    }
    let get = rate(window, || async {
        client.get(node).await?;
        Ok(())
    })
    .await?;
    let lock = Lock::new(&client, "/bench-rust-lock");
    let lock_cycle = rate(window, || async {
        lock.acquire().await?;
        lock.release().await
    })
    .await?;
    drop(lock);
    client.close().await?;
    Ok((get, lock_cycle))
}

/// Ops per second of `op` run back to back for `window` (after a 10% warm-up).
async fn rate<F, Fut>(window: Duration, op: F) -> coord_client::Result<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = coord_client::Result<()>>,
{
    let warm = Instant::now();
    while warm.elapsed() < window / 10 {
        op().await?;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        op().await?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
