//! Memory of a real `coord serve` holding a raft log far larger than its
//! memory: large writes must cost disk, not resident memory, both while
//! writing and when the server restarts over that log.

use coord_client::CreateMode;

/// Size of each written value.
const VALUE_BYTES: usize = 1024 * 1024;
/// Writes of `VALUE_BYTES` to one node (all of them stay in the log: the
/// entry-count snapshot threshold is far away and 1,000 entries are kept
/// behind any snapshot).
const WRITES: usize = 300;
/// Resident memory a server may reach while its log holds `WRITES` MiB:
/// the log cache, one snapshot of a 1 MiB tree, openraft's 64-entry read
/// chunks at restart and the debug binary itself fit; a log held in memory
/// does not.
const RSS_BOUND_KIB: u64 = 128 * 1024;

mod support;
use support::{Served, client};

fn start(dir: &std::path::Path) -> Served {
    let max_data = (2 * VALUE_BYTES).to_string();
    Served::start(
        dir,
        &["--snapshot-every", "1000000", "--max-data-bytes", &max_data],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_writes_grow_the_log_on_disk_not_the_server_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let c = client(server.addr()).await;
    c.create("/big", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..WRITES {
        let value = vec![(i % 251) as u8; VALUE_BYTES];
        c.set("/big", value, None).await.expect("large write");
    }
    let (rss, writing_peak) = server.rss_kib();
    let wal = std::fs::metadata(dir.path().join("raft/log.wal"))
        .expect("log.wal")
        .len();
    c.close().await.unwrap();
    drop(server);

    let server = start(dir.path());
    let c = client(server.addr()).await;
    let (data, stat) = c.get("/big").await.unwrap();
    assert_eq!(stat.version as usize, WRITES, "every write is back");
    assert_eq!(data[0], ((WRITES - 1) % 251) as u8);
    let (_, restart_peak) = server.rss_kib();
    c.close().await.unwrap();
    println!(
        "{WRITES} x {VALUE_BYTES} B writes: log.wal {} MiB, server RSS {} MiB (peak {} MiB), restart peak {} MiB",
        wal >> 20,
        rss >> 10,
        writing_peak >> 10,
        restart_peak >> 10
    );
    assert!(
        wal > (WRITES as u64 * VALUE_BYTES as u64) * 9 / 10,
        "the log holds the writes ({wal} bytes)"
    );
    assert!(
        writing_peak < RSS_BOUND_KIB,
        "peak RSS while writing {writing_peak} KiB, bound {RSS_BOUND_KIB} KiB"
    );
    assert!(
        restart_peak < RSS_BOUND_KIB,
        "peak RSS of the restart {restart_peak} KiB, bound {RSS_BOUND_KIB} KiB"
    );
}
