//! A connection task that ends abnormally (aborted mid-request, or before a
//! request) leaves nothing behind: no sink, no watch, no connection or owner
//! entry. The tests run real connection tasks against a running server's
//! state, on a listener of their own, so that they can abort the task.

use std::time::Duration;

use bytes::BytesMut;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::{Server, ServerConfig, connection};
use coord_proto::proto::{self, client_message, request, server_message};
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame};

async fn send(wr: &mut tokio::net::tcp::OwnedWriteHalf, body: client_message::Body) {
    let mut buf = BytesMut::new();
    encode_frame(&proto::ClientMessage { body: Some(body) }, &mut buf);
    wr.write_all(&buf).await.unwrap();
}

fn request(xid: u64, min_zxid: u64, op: request::Op) -> client_message::Body {
    client_message::Body::Request(proto::Request {
        xid,
        min_zxid,
        op: Some(op),
    })
}

/// Polls `cond` every 10 ms for up to 5 s.
async fn eventually(cond: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_connection_task_leaves_no_watch_and_no_map_entry() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig::for_test(dir.path()))
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = server.shared.clone();
    let task = tokio::spawn(async move {
        let (socket, peer) = listener.accept().await.unwrap();
        connection::run(shared, socket, peer, 1_000_000).await;
    });

    let (rd, mut wr) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut rd = FrameReader::new(rd, 1 << 20);
    send(
        &mut wr,
        client_message::Body::Connect(proto::Connect {
            token: String::new(),
            protocol_version: PROTOCOL_VERSION,
            session_id: 0,
            session_secret: Default::default(),
            requested_timeout_ms: 10_000,
            last_zxid: 0,
        }),
    )
    .await;
    let frame = rd.next_frame().await.unwrap().unwrap();
    let hello = match proto::ServerMessage::decode(frame).unwrap().body {
        Some(server_message::Body::Connected(c)) => c,
        other => panic!("expected Connected, got {other:?}"),
    };
    for (xid, path) in [(1, "/a"), (2, "/b")] {
        let op = request::Op::Exists(proto::ExistsRequest {
            path: path.into(),
            watch: true,
        });
        send(&mut wr, request(xid, 0, op)).await;
        rd.next_frame().await.unwrap().unwrap();
    }
    // A read the server cannot answer yet: the task is mid-request when aborted.
    let op = request::Op::Exists(proto::ExistsRequest {
        path: "/c".into(),
        watch: true,
    });
    send(&mut wr, request(3, hello.last_zxid + 1_000, op)).await;
    let sessions = server.shared.sessions.clone();
    assert!(eventually(|| server.watch_count() == 2).await);
    assert_eq!(server.connection_count(), 1);
    assert_eq!(sessions.owner_count(), 1);

    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(server.watch_count(), 0, "watches of the aborted connection");
    assert_eq!(server.connection_count(), 0, "connection entry");
    assert_eq!(sessions.owner_count(), 0, "session owner entry");
    // The session itself lives on until its timeout, for the client to resume.
    assert_eq!(server.session_count(), 1);
    drop((rd, wr));
    server.shutdown().await.unwrap();
}
