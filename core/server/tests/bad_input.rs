//! Bad input closes only the offending connection, with a clear reason; other
//! sessions keep working and nothing acknowledged is lost.

mod raw;

use std::time::Duration;

use bytes::BytesMut;
use coord_client::CreateMode;
use coord_client::Error;
use coord_client::client::Client;
use coord_proto::proto;
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame};
use coord_server::server::{Server, ServerConfig};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Reads server frames until the server closes; returns the closing reason.
async fn closing_reason(stream: TcpStream) -> Option<Error> {
    let mut reader = FrameReader::new(stream, 64 * 1024 * 1024);
    let mut reason = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, reader.next_frame())
            .await
            .expect("server closes the bad connection in time");
        match frame {
            Ok(Some(f)) => {
                let msg = proto::ServerMessage::decode(f).expect("server frames decode");
                if let Some(proto::server_message::Body::Closing(e)) = msg.body {
                    reason = Some(Error::from(&e));
                }
            }
            Ok(None) | Err(_) => return reason,
        }
    }
}

async fn handshaken(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = BytesMut::new();
    encode_frame(
        &proto::ClientMessage {
            body: Some(proto::client_message::Body::Connect(proto::Connect {
                protocol_version: PROTOCOL_VERSION,
                requested_timeout_ms: 2000,
                ..Default::default()
            })),
        },
        &mut buf,
    );
    s.write_all(&buf).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.max_frame_bytes = 64 * 1024;
    cfg.limits.max_data_bytes = 32 * 1024;
    let server = Server::start(cfg).await.unwrap();
    let addr = server.local_addr();
    let healthy = Client::builder()
        .servers(addr.to_string())
        .connect()
        .await
        .unwrap();
    healthy
        .create("/ok", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();

    // A healthy client keeps writing while the attacks happen.
    let writer = {
        let c = healthy.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                c.create(&format!("/ok/n{i}"), Vec::new(), CreateMode::Persistent)
                    .await?;
            }
            Ok::<_, Error>(())
        })
    };

    // 1. Garbage instead of a handshake.
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage
        .write_all(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let reason = closing_reason(garbage).await;
    assert!(
        matches!(reason, Some(Error::Protocol(_))),
        "garbage: {reason:?}"
    );

    // 2. An oversize frame after a good handshake.
    let mut big = handshaken(addr).await;
    big.write_all(&(10 * 1024 * 1024u32).to_be_bytes())
        .await
        .unwrap();
    let reason = closing_reason(big).await;
    match reason {
        Some(Error::TooLarge(detail)) => assert!(detail.contains("max_frame_bytes"), "{detail}"),
        other => panic!("oversize frame: {other:?}"),
    }

    // 3. A well-formed frame of an unknown message type (field 99).
    let mut unknown = handshaken(addr).await;
    let mut payload = BytesMut::new();
    prost::encoding::uint64::encode(99, &7, &mut payload);
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    unknown.write_all(&frame).await.unwrap();
    let reason = closing_reason(unknown).await;
    match reason {
        Some(Error::Protocol(detail)) => assert!(detail.contains("unknown"), "{detail}"),
        other => panic!("unknown type: {other:?}"),
    }

    // 4. Undecodable bytes inside a frame after a good handshake.
    let mut broken = handshaken(addr).await;
    broken
        .write_all(&[0, 0, 0, 3, 0x0a, 0xff, 0xff])
        .await
        .unwrap();
    let reason = closing_reason(broken).await;
    assert!(
        matches!(reason, Some(Error::Protocol(_))),
        "undecodable: {reason:?}"
    );

    writer.await.unwrap().expect("healthy client unaffected");
    assert_eq!(healthy.children("/ok").await.unwrap().len(), 200);
    healthy.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_value_and_bad_path_get_clear_errors_without_closing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.limits.max_data_bytes = 1024;
    let server = Server::start(cfg).await.unwrap();
    let c = Client::builder()
        .servers(server.local_addr().to_string())
        .connect()
        .await
        .unwrap();
    match c
        .create("/big", vec![0u8; 2048], CreateMode::Persistent)
        .await
    {
        Err(Error::TooLarge(d)) => {
            assert!(d.contains("max_data_bytes") && d.contains("/big"), "{d}")
        }
        other => panic!("{other:?}"),
    }
    match c.create("/a//b", Vec::new(), CreateMode::Persistent).await {
        Err(Error::InvalidPath(d)) => assert!(d.contains("/a//b"), "{d}"),
        other => panic!("{other:?}"),
    }
    // Same connection still serves.
    c.create("/fine", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_frame_before_the_handshake_is_refused_naming_the_handshake_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.max_handshake_frame_bytes = 256;
    let server = Server::start(cfg).await.unwrap();
    let addr = server.local_addr();

    // 4 MiB announced (the general limit allows it), a few bytes sent.
    let mut big = TcpStream::connect(addr).await.unwrap();
    big.write_all(&(4u32 << 20).to_be_bytes()).await.unwrap();
    big.write_all(&[0u8; 100]).await.unwrap();
    match closing_reason(big).await {
        Some(Error::TooLarge(d)) => {
            assert!(d.contains("max_handshake_frame_bytes = 256"), "{d}")
        }
        other => panic!("oversize handshake: {other:?}"),
    }

    // A session is opened and resumed under the same limit: the largest
    // legitimate handshake fits, with every field at its widest.
    let first = raw::Raw::session(addr, 10_000).await;
    let hello = first.connected.clone();
    let widest = proto::Connect {
        token: String::new(),
        protocol_version: u32::MAX,
        session_id: u64::MAX,
        session_secret: vec![0xff; 16].into(),
        requested_timeout_ms: u32::MAX,
        last_zxid: u64::MAX,
    };
    let widest = raw::encode(proto::client_message::Body::Connect(widest));
    assert!(widest.len() < 100, "widest Connect: {} bytes", widest.len());
    let resumed = raw::Raw::handshake(
        addr,
        proto::Connect {
            token: String::new(),
            protocol_version: PROTOCOL_VERSION,
            session_id: hello.session_id,
            session_secret: hello.session_secret.clone(),
            requested_timeout_ms: u32::MAX,
            last_zxid: hello.last_zxid,
        },
    )
    .await;
    assert!(resumed.connected.resumed);
    assert_eq!(resumed.connected.session_id, hello.session_id);
    drop((first, resumed));
    server.shutdown().await.unwrap();
}
