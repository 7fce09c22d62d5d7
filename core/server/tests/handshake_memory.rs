//! Before its handshake a connection may send only `max_handshake_frame_bytes`:
//! connections that announce frames of the general limit (4 MiB) are
//! refused at once, and together cost the server almost nothing. (Alone in
//! its test binary: it counts the process's heap.)

mod counting;
mod raw;

use coord_proto::Error;
use coord_proto::wire::FrameReader;
use coord_server::server::Server;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;
const CONNECTIONS: usize = 100;

/// The reason in the server's `Closing` frame, read within the patience.
async fn refusal(stream: TcpStream) -> Option<Error> {
    let mut reader = FrameReader::new(stream, MIB);
    let frame = tokio::time::timeout(raw::PATIENCE, reader.next_frame())
        .await
        .expect("refused in time");
    let msg = coord_proto::proto::ServerMessage::decode(frame.ok()??).ok()?;
    match msg.body? {
        coord_proto::proto::server_message::Body::Closing(e) => Some((&e).into()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_announcing_large_frames_before_the_handshake_cost_almost_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = raw::config(&dir);
    assert_eq!(cfg.max_frame_bytes, 4 * MIB);
    let server = Server::start(cfg).await.unwrap();
    let addr = server.local_addr();

    let peak = counting::Peak::start();
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&(4 * MIB as u32 - 1).to_be_bytes())
            .await
            .unwrap();
        s.write_all(&[0u8; 1000]).await.unwrap();
        streams.push(s);
    }
    for s in streams {
        match refusal(s).await {
            Some(Error::TooLarge(d)) => {
                assert!(d.contains("max_handshake_frame_bytes = 4096"), "{d}")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
    let grown = peak.grown();
    assert!(
        grown < 8 * MIB,
        "{CONNECTIONS} connections grew the heap by {grown} bytes"
    );
    server.shutdown().await.unwrap();
}
