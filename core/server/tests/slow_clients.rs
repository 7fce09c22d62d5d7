//! A client that stops reading cannot hold the server: its connection is
//! closed once writes to it make no progress for `write_timeout`, and a
//! graceful stop finishes within `shutdown_grace` even while such a client
//! (or one that never says hello) is connected. Until then it costs the
//! server at most `max_reply_backlog_bytes` plus one reply: no more replies
//! are built for it, and the server stops reading its requests.

mod raw;

use std::time::{Duration, Instant};

use coord_client::{Client, CreateMode};
use coord_server::server::Server;
use raw::{PATIENCE, Raw, add_watch, get_data, request};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;

/// Polls `cond` every 10 ms until it holds or [`PATIENCE`] passes.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// A client with a node of 1 MiB at `/big` and one at `/w` to change.
async fn writer(server: &Server) -> Client {
    let c = Client::builder()
        .servers(server.local_addr().to_string())
        .connect()
        .await
        .unwrap();
    c.create("/big", vec![7u8; MIB], CreateMode::Persistent)
        .await
        .unwrap();
    c.create("/w", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c
}

/// A session watching everything that then stops reading: it asks for 16
/// MiB of answers (more than the socket buffers hold) and never reads them.
async fn stuck_client(server: &Server) -> Raw {
    let mut raw = Raw::session(server.local_addr(), 30_000).await;
    let answer = raw.call(1, add_watch("/", true)).await;
    assert!(answer.error.is_none(), "{answer:?}");
    for xid in 2..18 {
        raw.send(request(xid, get_data("/big"))).await;
    }
    // The socket is full and the rest waits in the server's queue.
    assert!(
        eventually(|| server.outbound_bytes() > MIB).await,
        "answers pile up in the server: {} bytes",
        server.outbound_bytes()
    );
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gets_no_more_replies_built_until_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.write_timeout = Duration::from_secs(3600);
    let backlog_limit = cfg.max_reply_backlog_bytes;
    let server = Server::start(cfg).await.unwrap();
    let w = writer(&server).await;

    // 48 MiB of answers asked for at once, none read: the socket buffers
    // take a few, then the server holds at most the backlog limit plus the
    // reply built last (it would have built them all up to its 64 MiB cap).
    let mut raw = Raw::session(server.local_addr(), 30_000).await;
    const ASKED: u64 = 48;
    for xid in 1..=ASKED {
        raw.send(request(xid, get_data("/big"))).await;
    }
    assert!(
        eventually(|| server.outbound_bytes() > backlog_limit).await,
        "answers wait in the server: {} bytes",
        server.outbound_bytes()
    );
    let mut most = 0;
    for _ in 0..50 {
        most = most.max(server.outbound_bytes());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let one_reply = MIB + 4096;
    assert!(
        most <= backlog_limit + one_reply,
        "{most} bytes queued for a client that does not read (limit {backlog_limit} + one reply)"
    );

    // Other clients are served meanwhile.
    w.set("/w", b"meanwhile".to_vec(), None).await.unwrap();
    assert_eq!(&w.get("/w").await.unwrap().0[..], b"meanwhile");

    // Once it reads, every answer comes, in order, and complete.
    for xid in 1..=ASKED {
        let r = raw.response(xid).await;
        assert!(r.error.is_none(), "answer {xid}: {r:?}");
    }
    assert!(
        eventually(|| server.outbound_bytes() < MIB).await,
        "backlog drained: {} bytes",
        server.outbound_bytes()
    );
    drop(raw);
    w.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.write_timeout = Duration::from_secs(2);
    let server = Server::start(cfg).await.unwrap();
    let w = writer(&server).await;
    let stuck = stuck_client(&server).await;
    assert_eq!(server.connection_count(), 2);

    // Events keep piling up behind the unread answers.
    let events = {
        let w = w.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                w.set("/w", format!("{i}").into_bytes(), None).await?;
            }
            Ok::<_, coord_client::Error>(())
        })
    };
    let stalled_at = Instant::now();
    assert!(
        eventually(|| server.connection_count() == 1).await,
        "the non-reading connection is still open"
    );
    let took = stalled_at.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "closed after {took:?}, before the write timeout could pass"
    );
    events.await.unwrap().expect("the writer is unaffected");
    assert!(
        eventually(|| server.outbound_bytes() < MIB).await,
        "the dropped connection's backlog is released: {} bytes",
        server.outbound_bytes()
    );
    // The writer's own connection still works.
    assert_eq!(&w.get("/w").await.unwrap().0[..], b"49");
    drop(stuck);
    w.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_within_the_grace_despite_stuck_and_silent_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    // Only the grace can end the stuck connection, and only the stop signal
    // the silent one.
    cfg.write_timeout = Duration::from_secs(3600);
    cfg.handshake_timeout = Duration::from_secs(3600);
    cfg.shutdown_grace = Duration::from_millis(1000);
    let server = Server::start(cfg).await.unwrap();
    let w = writer(&server).await;
    let stuck = stuck_client(&server).await;
    let silent = TcpStream::connect(server.local_addr()).await.unwrap();
    w.close().await.unwrap();

    let started = Instant::now();
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown finishes despite a client that does not read")
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "finished in {took:?}: the stuck connection was not waited for at all"
    );
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    drop((stuck, silent));
}
