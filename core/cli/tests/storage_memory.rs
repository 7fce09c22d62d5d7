//! Memory of a real `coord serve` holding a raft log far larger than its
//! memory: large writes must cost disk, not resident memory, both while
//! writing and when the server restarts over that log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use coord_client::CreateMode;
use coord_client::client::Client;

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

struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    fn start(data_dir: &Path) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coord"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--snapshot-every", "1000000"])
            .args(["--max-data-bytes", &(2 * VALUE_BYTES).to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start coord serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("coord: serving on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server announced its address");
        ServerProcess { child, addr }
    }

    /// (current, peak) resident memory of the server process, KiB.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} missing in /proc status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn client(addr: &str) -> Client {
    Client::builder()
        .servers(addr.to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_writes_grow_the_log_on_disk_not_the_server_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let c = client(&server.addr).await;
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

    let server = ServerProcess::start(dir.path());
    let c = client(&server.addr).await;
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
