//! A real `coord serve` starting over a damaged data directory: it must stop
//! at once and say which file, where, and what to do, rather than drop
//! acknowledged writes or hang.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use coord_client::CreateMode;
use coord_client::client::Client;

mod support;
use support::Served;

/// Starts a server, makes `writes` acknowledged creates, closes the client
/// (its session close is acknowledged too) and kills the server with SIGKILL.
async fn write_then_kill_9(data_dir: &Path, writes: usize) {
    let server = Served::start(data_dir, &[]);
    let c = Client::builder()
        .servers(server.addr().to_string())
        .session_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect");
    for i in 0..writes {
        c.create(&format!("/n{i}"), b"v".to_vec(), CreateMode::Persistent)
            .await
            .expect("acknowledged create");
    }
    c.close().await.expect("close");
    server.kill9();
}

/// Runs `coord serve` expecting it to fail; returns its stderr and how long
/// it took to exit (at most 60 s, then it is killed and the test fails).
fn serve_expecting_failure(data_dir: &Path) -> (String, Duration) {
    let started = Instant::now();
    let mut server = Served::start(data_dir, &[]);
    let status = server
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("coord serve still running after 60 s over a damaged data dir"));
    let took = started.elapsed();
    let text = server.log_text();
    assert!(!status.success(), "coord serve started: {text}");
    (text, took)
}

/// (offset, end) of the last entry frame of a log file.
fn last_entry_frame(wal: &Path) -> (u64, u64) {
    let bytes = std::fs::read(wal).expect("read log.wal");
    let mut off = 8; // the magic
    let mut last = None;
    while off + 9 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().expect("4 bytes")) as usize;
        if len == 0 || off + 8 + len > bytes.len() {
            break;
        }
        if bytes[off + 8] == 0x0a {
            last = Some((off as u64, (off + 8 + len) as u64));
        }
        off += 8 + len;
    }
    last.expect("an entry frame in log.wal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_acknowledged_write_stops_the_restart_with_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_then_kill_9(dir.path(), 20).await;
    let wal = dir.path().join("raft/log.wal");
    let (off, end) = last_entry_frame(&wal);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&wal)
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, (off + end) / 2).unwrap();
    byte[0] ^= 0x01;
    file.write_all_at(&byte, (off + end) / 2).unwrap();
    drop(file);

    let (stderr, took) = serve_expecting_failure(dir.path());
    for part in [
        wal.display().to_string(),
        format!("offset {off} is damaged"),
        format!("truncate -s {off}"),
        "Restore".to_string(),
    ] {
        assert!(stderr.contains(&part), "{part:?} missing from: {stderr}");
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_log_beside_a_vote_stops_the_start_at_once() {
    let dir = tempfile::tempdir().unwrap();
    write_then_kill_9(dir.path(), 3).await;
    let wal = dir.path().join("raft/log.wal");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(0)
        .unwrap();
    let (stderr, took) = serve_expecting_failure(dir.path());
    assert!(stderr.contains(&wal.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(&dir.path().join("raft/vote").display().to_string()),
        "{stderr}"
    );
    // It used to wait out openraft's 30 s start-up timeout.
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
