//! The Rust side of the libcoord benchmark (`ffi/bench/run.sh`): the same
//! uncontended lock cycle and get loop as `ffi/bench/bench.c`, on the async
//! core client, awaited in a task of the same shared runtime.
//!
//! Usage: `bench_native SERVERS ITERATIONS`; prints `name ops mean_us` lines.

use std::time::Instant;

use ::coord_client::client::{Client, CreateMode};
use ::coord_client::embed;
use ::coord_client::recipes::Lock;

fn main() -> ::coord_client::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let servers = args.get(1).cloned().unwrap_or_else(Client::default_servers);
    let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let rt = embed::runtime()?;
    rt.block_on(async move {
        let c = Client::connect(&servers).await?;
        let _ = c
            .create(
                "/bench-rust",
                b"0123456789abcdef".to_vec(),
                CreateMode::Persistent,
            )
            .await;
        let lock = Lock::new(&c, "/bench-rust-lock");
        for _ in 0..n / 10 + 1 {
            lock.acquire().await?;
            lock.release().await?;
        }
        let t0 = Instant::now();
        for _ in 0..n {
            lock.acquire().await?;
            lock.release().await?;
        }
        let lock_us = t0.elapsed().as_secs_f64() / f64::from(n) * 1e6;
        let t0 = Instant::now();
        for _ in 0..n * 10 {
            c.get("/bench-rust").await?;
        }
        let get_us = t0.elapsed().as_secs_f64() / f64::from(n * 10) * 1e6;
        println!("lock_cycle {n} {lock_us:.1}");
        println!("get {} {get_us:.1}", n * 10);
        drop(lock);
        c.close().await
    })
}
