//! The server-wide outbound budget: when everything queued for clients goes
//! over `max_total_outbound_bytes`, the client with the largest backlog is
//! disconnected first — even when another client's answer tipped the total
//! over — with a warning naming its address and session. (Alone in its test
//! binary: it installs a log subscriber that captures the warning.)

mod raw;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coord_client::CreateMode;
use coord_proto::proto::server_message;
use coord_server::server::Server;
use raw::{PATIENCE, Raw, get_data, request};

const MIB: usize = 1024 * 1024;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Polls `cond` every 10 ms for at most `limit`.
async fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_budget_the_slowest_reader_is_disconnected_first() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.max_total_outbound_bytes = 32 * MIB;
    cfg.max_outbound_bytes = 64 * MIB;
    cfg.write_timeout = Duration::from_secs(3600);
    // Replies pile up for a client that does not read (the default stops
    // building them at 1 MiB; see slow_clients.rs), so backlogs can be built
    // from requests.
    cfg.max_reply_backlog_bytes = 64 * MIB;
    let server = Server::start(cfg).await.unwrap();
    let c = raw::client(&server).await;
    c.create("/big", vec![1u8; MIB], CreateMode::Persistent)
        .await
        .unwrap();

    // A asks for 1 MiB answers and never reads, until 20 MiB wait for it in
    // the server (the socket buffers take the first few).
    let mut slow = Raw::session(server.local_addr(), 30_000).await;
    let slow_addr = slow.wr.local_addr().unwrap();
    let slow_session = slow.connected.session_id;
    let mut sent = 0;
    for xid in 1..=64 {
        let before = server.outbound_bytes();
        slow.send(request(xid, get_data("/big"))).await;
        sent += 1;
        within(Duration::from_millis(300), || {
            server.outbound_bytes() > before
        })
        .await;
        if server.outbound_bytes() >= 20 * MIB {
            break;
        }
    }
    let slow_backlog = server.outbound_bytes();
    assert!(
        (20 * MIB..32 * MIB).contains(&slow_backlog),
        "{slow_backlog} bytes queued for A after {sent} requests"
    );

    // B asks for 24 MiB, also without reading yet: its answers tip the total
    // over 32 MiB while its own backlog is still below A's (about 12 MiB).
    let mut other = Raw::session(server.local_addr(), 30_000).await;
    for xid in 1..=24 {
        other.send(request(xid, get_data("/big"))).await;
    }
    assert!(
        within(PATIENCE, || logs
            .text()
            .contains("max_total_outbound_bytes"))
        .await,
        "no budget warning; logs: {}",
        logs.text()
    );
    let warning = logs.text();
    assert!(
        warning.contains(&slow_addr.to_string()) && warning.contains(&format!("{slow_session:#x}")),
        "the warning names A ({slow_addr}, session {slow_session:#x}): {warning}"
    );

    // B was spared: it reads every answer, then keeps working.
    for xid in 1..=24 {
        let r = other.response(xid).await;
        assert!(r.error.is_none(), "B's answer {xid}: {r:?}");
    }
    let ping = other
        .call(
            100,
            coord_proto::proto::request::Op::Ping(coord_proto::proto::PingRequest {}),
        )
        .await;
    assert!(ping.error.is_none());
    // A was cut off: after what the socket held, the connection ends.
    let mut answers = 0;
    for _ in 0..sent + 1 {
        match slow.next().await {
            Some(server_message::Body::Response(_)) => answers += 1,
            Some(server_message::Body::Closing(_)) => {}
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert!(
        answers < sent,
        "A got all {sent} answers: it was not cut off"
    );
    assert!(slow.next().await.is_none(), "A's connection is closed");
    assert!(
        within(PATIENCE, || server.outbound_bytes() < MIB).await,
        "backlogs released: {} bytes",
        server.outbound_bytes()
    );
    assert!(!warning.contains(&other.wr.local_addr().unwrap().to_string()));
    drop((slow, other));
    c.close().await.unwrap();
    server.shutdown().await.unwrap();
}
