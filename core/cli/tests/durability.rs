//! Durability of acknowledged writes across `kill -9` of the real `coord`
//! binary, and state that must survive a restart (sequence counters, sessions).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use coord_client::CreateMode;
use coord_client::client::Client;

/// A `coord serve` child process on an ephemeral loopback port.
struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    fn start(data_dir: &Path) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coord"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--min-session-timeout-ms", "200"])
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
            .recv_timeout(Duration::from_secs(30))
            .expect("server announced its address");
        ServerProcess { child, addr }
    }

    /// SIGKILL: no shutdown path runs.
    fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
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
        .session_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let c = client(&server.addr).await;
    c.create("/durable", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    const N: usize = 300;
    // Concurrent writes so that many share one fsync (group commit).
    let mut tasks = Vec::new();
    for i in 0..N {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.create(
                &format!("/durable/n{i:04}"),
                format!("value-{i}").into_bytes(),
                CreateMode::Persistent,
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("acknowledged create");
    }
    let stat = c.set("/durable", b"last".to_vec(), Some(0)).await.unwrap();
    assert_eq!(stat.version, 1);
    server.kill9();

    let server = ServerProcess::start(dir.path());
    let c = client(&server.addr).await;
    let children = c.children("/durable").await.unwrap();
    assert_eq!(children.len(), N, "every acknowledged create is back");
    for i in [0, N / 2, N - 1] {
        let (data, _) = c.get(&format!("/durable/n{i:04}")).await.unwrap();
        assert_eq!(data.as_ref(), format!("value-{i}").as_bytes());
    }
    let (data, stat) = c.get("/durable").await.unwrap();
    assert_eq!(data.as_ref(), b"last");
    assert_eq!(stat.version, 1);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_keep_growing_across_deletes_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let c = client(&server.addr).await;
    c.create("/q", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let first = c
        .create("/q/item-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .unwrap();
    let second = c
        .create("/q/item-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .unwrap();
    assert_eq!(first, "/q/item-0000000000");
    assert_eq!(second, "/q/item-0000000001");
    c.delete(&second, None).await.unwrap();
    server.kill9();

    let server = ServerProcess::start(dir.path());
    let c = client(&server.addr).await;
    let third = c
        .create("/q/item-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .unwrap();
    // As in ZooKeeper the suffix is the parent's cversion, which counts
    // creates: the deleted item's number is never handed out again.
    assert_eq!(third, "/q/item-0000000002");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_its_ephemeral_survive_a_restart_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let owner = Client::builder()
        .servers(server.addr.clone())
        .session_timeout(Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    owner
        .create("/eph", Vec::new(), CreateMode::Ephemeral)
        .await
        .unwrap();
    server.kill9();
    drop(owner);

    let server = ServerProcess::start(dir.path());
    let c = client(&server.addr).await;
    // The restarted server gives the old session a full timeout, then expires it.
    let mut gone = false;
    for _ in 0..100 {
        if c.exists("/eph").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone,
        "the dead session's ephemeral was removed after its timeout"
    );
    c.close().await.unwrap();
}
