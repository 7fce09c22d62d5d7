//! Session lifecycle as the server's session manager sees it: closed sessions
//! stop being tracked at once (no later expiry), and a resume is judged by the
//! replicated session table only after the server caught up with the client.

mod support;

use std::time::Duration;

use bytes::BytesMut;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::tcp::OwnedWriteHalf;

use coord_client::{Client, CreateMode};
use coord_proto::proto::{self, client_message, request, server_message};
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame};
use support::eventually;

/// A bare protocol connection, to control exactly what a client sends.
struct Raw {
    rd: FrameReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
}

impl Raw {
    async fn open(addr: &str) -> Raw {
        let (rd, wr) = TcpStream::connect(addr).await.unwrap().into_split();
        Raw {
            rd: FrameReader::new(rd, 1 << 20),
            wr,
        }
    }

    async fn send(&mut self, body: client_message::Body) {
        let mut buf = BytesMut::new();
        encode_frame(&proto::ClientMessage { body: Some(body) }, &mut buf);
        self.wr.write_all(&buf).await.unwrap();
    }

    async fn connect(&mut self, session_id: u64, secret: &[u8], last_zxid: u64) {
        self.send(client_message::Body::Connect(proto::Connect {
            token: String::new(),
            protocol_version: PROTOCOL_VERSION,
            session_id,
            session_secret: secret.to_vec().into(),
            requested_timeout_ms: 10_000,
            last_zxid,
        }))
        .await;
    }

    async fn next(&mut self) -> server_message::Body {
        let frame = self.rd.next_frame().await.unwrap().expect("a frame");
        proto::ServerMessage::decode(frame).unwrap().body.unwrap()
    }

    /// A new session: returns its Connected message.
    async fn new_session(addr: &str) -> (Raw, proto::Connected) {
        let mut raw = Raw::open(addr).await;
        raw.connect(0, &[], 0).await;
        match raw.next().await {
            server_message::Body::Connected(c) => (raw, c),
            other => panic!("expected Connected, got {other:?}"),
        }
    }

    async fn close_session(&mut self) -> proto::Response {
        self.send(client_message::Body::Request(proto::Request {
            xid: 1,
            min_zxid: 0,
            op: Some(request::Op::CloseSession(proto::CloseSessionRequest {})),
        }))
        .await;
        match self.next().await {
            server_message::Body::Response(r) => r,
            other => panic!("expected the close's response, got {other:?}"),
        }
    }
}

fn expired_code() -> u32 {
    coord_proto::Error::SessionExpired(String::new()).code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_style_sessions_leave_no_tracked_session_and_cause_no_expiry() {
    const SESSIONS: usize = 1000;
    const WORKERS: usize = 8;
    // Long enough that a loaded machine does not expire a session between
    // its connect and its close; the wait below covers it.
    const TIMEOUT: Duration = Duration::from_millis(1500);
    let ts = support::start_server().await;
    let addr = ts.addr();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let addr = addr.clone();
        workers.spawn(async move {
            for i in (w..SESSIONS).step_by(WORKERS) {
                // What one `coord` CLI command does: connect, one op, close.
                let c = Client::builder()
                    .servers(addr.clone())
                    .session_timeout(TIMEOUT)
                    .connect()
                    .await
                    .unwrap_or_else(|e| panic!("session {i}: connect: {e}"));
                c.create(&format!("/cli-{i}"), Vec::new(), CreateMode::Ephemeral)
                    .await
                    .unwrap_or_else(|e| panic!("session {i}: create: {e}"));
                c.close()
                    .await
                    .unwrap_or_else(|e| panic!("session {i}: close: {e}"));
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        ts.server.session_count(),
        0,
        "a closed session is no longer tracked"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            ts.server.connection_count() == 0
        })
        .await,
        "every connection is gone"
    );
    let applied = ts.server.applied_zxid();
    // A session timeout and many housekeeping ticks later...
    tokio::time::sleep(TIMEOUT + Duration::from_millis(500)).await;
    assert_eq!(ts.server.expire_commands(), 0, "no expiry was proposed");
    assert_eq!(ts.server.applied_zxid(), applied, "nothing was written");
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_racing_the_close_it_has_seen_is_refused() {
    let ts = support::start_server().await;
    let (mut owner, hello) = Raw::new_session(&ts.addr()).await;
    // The resume claims to have seen the next zxid, which the close will
    // take: the server must wait for it, then find the session gone.
    let mut resume = Raw::open(&ts.addr()).await;
    resume
        .connect(hello.session_id, &hello.session_secret, hello.last_zxid + 1)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closed = owner.close_session().await;
    assert!(closed.error.is_none(), "close succeeded: {closed:?}");
    assert_eq!(closed.zxid, hello.last_zxid + 1);
    match resume.next().await {
        server_message::Body::Closing(e) => assert_eq!(e.code, expired_code()),
        other => panic!("a closed session was resumed: {other:?}"),
    }
    assert_eq!(ts.server.session_count(), 0);
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_close_is_refused() {
    let ts = support::start_server().await;
    let (mut owner, hello) = Raw::new_session(&ts.addr()).await;
    let closed = owner.close_session().await;
    let mut resume = Raw::open(&ts.addr()).await;
    resume
        .connect(hello.session_id, &hello.session_secret, closed.zxid)
        .await;
    match resume.next().await {
        server_message::Body::Closing(e) => assert_eq!(e.code, expired_code()),
        other => panic!("a closed session was resumed: {other:?}"),
    }
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_waits_until_the_server_applied_the_clients_last_zxid() {
    let ts = support::start_server().await;
    let (first, hello) = Raw::new_session(&ts.addr()).await;
    drop(first);
    let target = hello.last_zxid + 2;
    let mut resume = Raw::open(&ts.addr()).await;
    resume
        .connect(hello.session_id, &hello.session_secret, target)
        .await;
    let early = tokio::time::timeout(Duration::from_millis(300), resume.next()).await;
    assert!(
        early.is_err(),
        "answered before reaching zxid {target}: {early:?}"
    );
    // Another client's session and write bring the server to `target`.
    let other = support::client_of(&ts).await;
    other
        .create("/later", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    match resume.next().await {
        server_message::Body::Connected(c) => {
            assert!(c.resumed);
            assert!(c.last_zxid >= target, "{} < {target}", c.last_zxid);
        }
        other => panic!("expected the resume to succeed, got {other:?}"),
    }
    ts.stop().await.expect("clean shutdown");
}
