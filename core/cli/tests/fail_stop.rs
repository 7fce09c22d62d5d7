//! A server that cannot write says so and stops (fail-stop), and one that
//! would run out of descriptors or disk refuses or adapts at start: the real
//! `coord` binary under real process limits (`ulimit -f`, `ulimit -n`).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coord_client::client::Client;
use coord_client::{CreateMode, Error};

/// A `coord serve` child started through `sh` so that `limits` (shell
/// `ulimit` arguments) apply to it. Exceeding a file-size limit fails the
/// write (EFBIG) like a full disk because `coord serve` handles SIGXFSZ;
/// unhandled, the signal would kill it without a word.
struct Served {
    child: Child,
    addr: Option<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(limits: &str, data_dir: &Path, args: &[&str]) -> Served {
        let script = format!("ulimit {limits} || exit 99; exec \"$0\" \"$@\"");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_coord"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info,openraft=error")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start coord serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("coord: serving on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).ok();
        Served { child, addr, log }
    }

    fn addr(&self) -> &str {
        self.addr
            .as_deref()
            .unwrap_or_else(|| panic!("server did not start; its log:\n{}", self.log_text()))
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits up to `limit` for the process to exit by itself.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Served {
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
async fn a_server_whose_log_cannot_grow_answers_io_error_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    // 81920 blocks: 40 MiB (dash, 512-byte blocks) or 80 MiB (bash): the
    // first 16 MiB of log space is preallocated at start, later growth fails.
    let mut server = Served::start("-f 81920", dir.path(), &[]);
    let c = client(server.addr()).await;
    c.create("/big", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let value = vec![7u8; 1024 * 1024 - 64];
    let mut failure = None;
    for i in 0..200 {
        match c.set("/big", value.clone(), None).await {
            Ok(_) => {}
            Err(e) => {
                failure = Some((i, e));
                break;
            }
        }
    }
    let (acked, err) = failure.expect("writes failed once the log could not grow");
    assert!(acked > 0, "some writes succeeded before the limit");
    assert!(
        matches!(err, Error::Io(_)),
        "the failed write reports the storage error, not a shutdown: {err:?}"
    );
    let status = server
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| {
            panic!(
                "the server kept running after its storage failed:\n{}",
                server.log_text()
            )
        });
    assert_eq!(
        status.code(),
        Some(30),
        "exit code of an I/O failure; log:\n{}",
        server.log_text()
    );
    let log = server.log_text();
    assert!(
        log.contains("fail-stop"),
        "the log says why it stops:\n{log}"
    );
    assert!(
        log.contains(&dir.path().display().to_string()),
        "the log names the data dir:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_to_the_descriptor_limit_so_snapshots_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(
        "-n 256",
        dir.path(),
        &["--snapshot-every", "20", "--handshake-timeout-ms", "120000"],
    );
    let log = server.log_text();
    assert!(
        log.contains("capped") && log.contains("capped_to=128"),
        "the cap and its numbers are logged:\n{log}"
    );
    let c = client(server.addr()).await;
    // Idle sockets that never send a handshake: more than the process could
    // hold if each were accepted.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(server.addr()).expect("connect idle socket"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.create("/n", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..100u32 {
        c.set("/n", i.to_be_bytes().to_vec(), None)
            .await
            .unwrap_or_else(|e| panic!("write {i} failed: {e}\n{}", server.log_text()));
    }
    let snapshots = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".snap"))
        .count();
    assert!(
        snapshots > 0,
        "snapshots were taken while the sockets were open"
    );
    drop(idle);
}

#[test]
fn start_is_refused_when_the_disk_has_less_free_space_than_required() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(
        "-f unlimited",
        dir.path(),
        &["--min-free-disk-bytes", &(1u64 << 50).to_string()],
    );
    assert!(server.addr.is_none(), "must not serve");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits by itself");
    assert_eq!(status.code(), Some(30));
    let log = server.log_text();
    assert!(log.contains("--min-free-disk-bytes"), "{log}");
    assert!(log.contains(&dir.path().display().to_string()), "{log}");
}
