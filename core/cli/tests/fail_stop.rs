//! A server that cannot write says so and stops (fail-stop), and one that
//! would run out of descriptors or disk refuses or adapts at start: the real
//! `coord` binary under real process limits (`ulimit -f`, `ulimit -n`).

use std::net::TcpStream;
use std::time::Duration;

use coord_client::{CreateMode, Error};

mod support;
use support::{Served, client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_log_cannot_grow_answers_io_error_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    // Past the file-size limit a write fails (EFBIG) like on a full disk:
    // `coord serve` handles SIGXFSZ, which would otherwise kill it silently.
    // 81920 blocks: 40 MiB (dash, 512-byte blocks) or 80 MiB (bash): the
    // first 16 MiB of log space is preallocated at start, later growth fails.
    let mut server = Served::start_limited("-f 81920", dir.path(), &[]);
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
    let server = Served::start_limited(
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
    let mut server = Served::start_limited(
        "-f unlimited",
        dir.path(),
        &["--min-free-disk-bytes", &(1u64 << 50).to_string()],
    );
    assert!(!server.is_serving(), "must not serve");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits by itself");
    assert_eq!(status.code(), Some(30));
    let log = server.log_text();
    assert!(log.contains("--min-free-disk-bytes"), "{log}");
    assert!(log.contains(&dir.path().display().to_string()), "{log}");
}
