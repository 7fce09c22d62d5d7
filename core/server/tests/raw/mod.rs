//! A bare protocol connection for the hardening tests: they play abusive
//! clients (silent, non-reading, oversized), so they write frames themselves.
//! Every wait is bounded ([`PATIENCE`]).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use coord_proto::proto::{self, client_message, request, server_message};
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame};
use coord_server::server::ServerConfig;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Longest a test waits for any one thing from the server.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A test server config on a temp dir (the dir must outlive the server).
pub fn config(dir: &tempfile::TempDir) -> ServerConfig {
    ServerConfig::for_test(dir.path())
}

/// A well-behaved client of `server`.
pub async fn client(server: &coord_server::server::Server) -> coord_client::Client {
    coord_client::Client::builder()
        .servers(server.local_addr().to_string())
        .connect()
        .await
        .unwrap()
}

pub struct Raw {
    pub rd: FrameReader<OwnedReadHalf>,
    pub wr: OwnedWriteHalf,
    pub connected: proto::Connected,
}

pub fn encode(body: client_message::Body) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(&proto::ClientMessage { body: Some(body) }, &mut buf);
    buf
}

pub fn request(xid: u64, op: request::Op) -> client_message::Body {
    client_message::Body::Request(proto::Request {
        xid,
        min_zxid: 0,
        op: Some(op),
    })
}

pub fn get_data(path: &str) -> request::Op {
    request::Op::GetData(proto::GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

pub fn add_watch(path: &str, recursive: bool) -> request::Op {
    let mode = if recursive {
        proto::WatchMode::PersistentRecursive
    } else {
        proto::WatchMode::Persistent
    };
    request::Op::AddWatch(proto::AddWatchRequest {
        path: path.into(),
        mode: mode as i32,
    })
}

impl Raw {
    /// Opens a new session with the given timeout.
    pub async fn session(addr: SocketAddr, timeout_ms: u32) -> Raw {
        Self::handshake(
            addr,
            proto::Connect {
                protocol_version: PROTOCOL_VERSION,
                requested_timeout_ms: timeout_ms,
                ..Default::default()
            },
        )
        .await
    }

    /// Sends `connect` and waits for `Connected`.
    pub async fn handshake(addr: SocketAddr, connect: proto::Connect) -> Raw {
        match Self::try_handshake(addr, connect).await {
            Ok(raw) => raw,
            Err(e) => panic!("expected Connected, the server refused: {e:?}"),
        }
    }

    /// Sends `connect`; `Connected` gives the connection, a refusal its
    /// reason (`None` if the server closed without one).
    #[allow(dead_code)] // Not every test binary refuses a handshake.
    pub async fn try_handshake(
        addr: SocketAddr,
        connect: proto::Connect,
    ) -> Result<Raw, Option<coord_proto::Error>> {
        let (rd, mut wr) = TcpStream::connect(addr).await.unwrap().into_split();
        wr.write_all(&encode(client_message::Body::Connect(connect)))
            .await
            .unwrap();
        let mut rd = FrameReader::new(rd, 64 << 20);
        let frame = tokio::time::timeout(PATIENCE, rd.next_frame())
            .await
            .expect("handshake answered in time");
        let Ok(Some(frame)) = frame else {
            return Err(None);
        };
        match proto::ServerMessage::decode(frame).unwrap().body {
            Some(server_message::Body::Connected(connected)) => Ok(Raw { rd, wr, connected }),
            Some(server_message::Body::Closing(e)) => Err(Some((&e).into())),
            other => panic!("expected Connected or Closing, got {other:?}"),
        }
    }

    pub async fn send(&mut self, body: client_message::Body) {
        self.wr.write_all(&encode(body)).await.unwrap();
    }

    /// The next server message; `None` once the server closed.
    pub async fn next(&mut self) -> Option<server_message::Body> {
        let frame = tokio::time::timeout(PATIENCE, self.rd.next_frame())
            .await
            .expect("the server answers in time");
        match frame {
            Ok(Some(f)) => proto::ServerMessage::decode(f).unwrap().body,
            Ok(None) | Err(_) => None,
        }
    }

    /// The response to `xid`, skipping events; panics on anything else.
    pub async fn response(&mut self, xid: u64) -> proto::Response {
        for _ in 0..1_000_000 {
            match self.next().await {
                Some(server_message::Body::Response(r)) if r.xid == xid => return r,
                Some(server_message::Body::Event(_)) => continue,
                other => panic!("expected the response to {xid}, got {other:?}"),
            }
        }
        panic!("no response to {xid}");
    }

    /// Sends one request and waits for its response.
    pub async fn call(&mut self, xid: u64, op: request::Op) -> proto::Response {
        self.send(request(xid, op)).await;
        self.response(xid).await
    }

    /// Reads until the server closes; returns the closing reason, if any.
    pub async fn closing_reason(&mut self) -> Option<coord_proto::Error> {
        let mut reason = None;
        for _ in 0..10_000_000 {
            match self.next().await {
                Some(server_message::Body::Closing(e)) => reason = Some((&e).into()),
                Some(_) => {}
                None => return reason,
            }
        }
        panic!("the server never closed");
    }
}

/// The error a response carries, if any.
pub fn error_of(r: &proto::Response) -> Option<coord_proto::Error> {
    r.error.as_ref().map(Into::into)
}
