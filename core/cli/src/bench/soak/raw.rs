//! A raw protocol client for the abusers: a TCP socket speaking coord's
//! frames (coord-proto's codec and prost messages) without the real
//! client's manners — it can skip the handshake, send any bytes, pipeline
//! without limit or stop reading. It also hand-encodes the one frame prost
//! cannot build cheaply: a multi of millions of empty ops.
//!
//! It reports how a connection ended ([`Ended`]) so that the abusers can
//! count which protection closed them.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

use coord_client::error::Error;
use coord_proto::proto::{self, client_message, request, server_message};
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame};

/// Largest server frame the raw client reads (replies hold 1 MiB values).
const READ_LIMIT: usize = 64 * 1024 * 1024;
/// Session timeout the raw clients ask for.
const SESSION_TIMEOUT_MS: u32 = 30_000;

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ended {
    /// The server said why (a `Closing` frame).
    Closing(String),
    /// The stream ended without a reason.
    Eof,
    /// A socket error (reset by the server, typically).
    Broken,
    /// Nothing happened before our deadline.
    TimedOut,
}

impl Ended {
    /// Counter name: `closed: TOO_LARGE`, `closed: eof`, `closed: reset`, `timeout`.
    pub(super) fn key(&self) -> String {
        match self {
            Ended::Closing(name) => format!("closed: {name}"),
            Ended::Eof => "closed: eof".into(),
            Ended::Broken => "closed: reset".into(),
            Ended::TimedOut => "timeout".into(),
        }
    }
}

/// What the next read gave.
pub(super) enum Received {
    Message(server_message::Body),
    Ended(Ended),
}

/// One raw connection.
pub(super) struct RawConn {
    rd: FrameReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    next_xid: u64,
    /// The server's applied zxid at the handshake.
    pub(super) last_zxid: u64,
}

impl RawConn {
    /// A TCP connection that has sent nothing yet.
    pub(super) async fn open(addr: SocketAddr) -> std::io::Result<RawConn> {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
        let (rd, wr) = stream.into_split();
        Ok(RawConn {
            rd: FrameReader::new(rd, READ_LIMIT),
            wr,
            next_xid: 1,
            last_zxid: 0,
        })
    }

    /// Opens a connection and a new session; `Err` says how it ended instead.
    pub(super) async fn handshaken(addr: SocketAddr, timeout: Duration) -> Result<RawConn, Ended> {
        let mut conn = RawConn::open(addr).await.map_err(|_| Ended::Broken)?;
        let mut buf = BytesMut::new();
        encode_frame(
            &proto::ClientMessage {
                body: Some(client_message::Body::Connect(proto::Connect {
                    protocol_version: PROTOCOL_VERSION,
                    requested_timeout_ms: SESSION_TIMEOUT_MS,
                    ..Default::default()
                })),
            },
            &mut buf,
        );
        conn.send(&buf).await.map_err(|_| Ended::Broken)?;
        match conn.recv(Instant::now() + timeout).await {
            Received::Message(server_message::Body::Connected(c)) => {
                conn.last_zxid = c.last_zxid;
                Ok(conn)
            }
            Received::Message(_) => Err(Ended::Closing("unexpected first message".into())),
            Received::Ended(e) => Err(e),
        }
    }

    pub(super) async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.wr.write_all(bytes).await
    }

    /// Appends one request frame to `out`; returns its xid.
    pub(super) fn request(&mut self, op: request::Op, out: &mut BytesMut) -> u64 {
        let xid = self.take_xid();
        encode_frame(
            &proto::ClientMessage {
                body: Some(client_message::Body::Request(proto::Request {
                    xid,
                    min_zxid: 0,
                    op: Some(op),
                })),
            },
            out,
        );
        xid
    }

    pub(super) fn take_xid(&mut self) -> u64 {
        let xid = self.next_xid;
        self.next_xid += 1;
        xid
    }

    /// The next server message, or how the connection ended.
    pub(super) async fn recv(&mut self, deadline: Instant) -> Received {
        match tokio::time::timeout_at(deadline, self.rd.next_frame()).await {
            Err(_) => Received::Ended(Ended::TimedOut),
            Ok(Ok(None)) => Received::Ended(Ended::Eof),
            Ok(Err(_)) => Received::Ended(Ended::Broken),
            Ok(Ok(Some(frame))) => match proto::ServerMessage::decode(frame) {
                Ok(proto::ServerMessage {
                    body: Some(server_message::Body::Closing(e)),
                }) => Received::Ended(Ended::Closing(Error::from(&e).name().to_string())),
                Ok(proto::ServerMessage { body: Some(body) }) => Received::Message(body),
                _ => Received::Ended(Ended::Closing("undecodable server frame".into())),
            },
        }
    }

    /// The next response (watch events are skipped, `events` counts them).
    pub(super) async fn response(
        &mut self,
        deadline: Instant,
        events: &mut u64,
    ) -> Result<proto::Response, Ended> {
        loop {
            match self.recv(deadline).await {
                Received::Message(server_message::Body::Response(r)) => return Ok(r),
                Received::Message(server_message::Body::Event(_)) => *events += 1,
                Received::Message(_) => {}
                Received::Ended(e) => return Err(e),
            }
        }
    }

    /// Reads everything until the connection ends or `deadline`; returns how
    /// it ended and how many bytes of frames came.
    pub(super) async fn drain(&mut self, deadline: Instant) -> (Ended, u64) {
        let mut bytes = 0u64;
        loop {
            match tokio::time::timeout_at(deadline, self.rd.next_frame()).await {
                Err(_) => return (Ended::TimedOut, bytes),
                Ok(Ok(None)) => return (Ended::Eof, bytes),
                Ok(Err(_)) => return (Ended::Broken, bytes),
                Ok(Ok(Some(frame))) => {
                    bytes += frame.len() as u64;
                    if let Ok(proto::ServerMessage {
                        body: Some(server_message::Body::Closing(e)),
                    }) = proto::ServerMessage::decode(frame)
                    {
                        return (Ended::Closing(Error::from(&e).name().to_string()), bytes);
                    }
                }
            }
        }
    }
}

/// The error name of a response, `None` when it succeeded.
pub(super) fn response_error(r: &proto::Response) -> Option<String> {
    r.error
        .as_ref()
        .map(|e| format!("error: {}", Error::from(e).name()))
}

/// A whole frame (length prefix included) holding a request `xid` whose
/// multi has `ops` empty ops: two bytes each on the wire, one decoded
/// `proto::Op` each on the server. Built by hand because a `Vec` of millions
/// of `proto::Op` would cost the harness what it means to cost the server.
pub(super) fn empty_ops_multi_frame(xid: u64, ops: usize) -> Bytes {
    // Field keys: ClientMessage.request = 2, Request.xid = 1,
    // Request.multi = 16, MultiRequest.ops = 1 (length-delimited but varint xid).
    const CLIENT_REQUEST: u64 = (2 << 3) | 2;
    const REQUEST_XID: u64 = 1 << 3;
    const REQUEST_MULTI: u64 = (16 << 3) | 2;
    const MULTI_OPS: u8 = (1 << 3) | 2;
    let multi_len = 2 * ops;
    let mut request = BytesMut::with_capacity(multi_len + 32);
    put_varint(&mut request, REQUEST_XID);
    put_varint(&mut request, xid);
    put_varint(&mut request, REQUEST_MULTI);
    put_varint(&mut request, multi_len as u64);
    for _ in 0..ops {
        request.put_u8(MULTI_OPS);
        request.put_u8(0);
    }
    let mut message = BytesMut::with_capacity(request.len() + 16);
    put_varint(&mut message, CLIENT_REQUEST);
    put_varint(&mut message, request.len() as u64);
    message.extend_from_slice(&request);
    let mut frame = BytesMut::with_capacity(message.len() + 4);
    frame.put_u32(message.len() as u32);
    frame.extend_from_slice(&message);
    frame.freeze()
}

fn put_varint(out: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_encoded_multi_decodes_as_that_many_empty_ops() {
        let frame = empty_ops_multi_frame(300, 70);
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4);
        let msg = proto::ClientMessage::decode(&frame[4..]).unwrap();
        let Some(client_message::Body::Request(req)) = msg.body else {
            panic!("not a request: {msg:?}");
        };
        assert_eq!(req.xid, 300);
        let Some(request::Op::Multi(multi)) = req.op else {
            panic!("not a multi");
        };
        assert_eq!(multi.ops.len(), 70);
        assert!(multi.ops.iter().all(|op| op.op.is_none()));
    }

    #[test]
    fn ended_keys_name_the_reason() {
        assert_eq!(
            Ended::Closing("TOO_LARGE".into()).key(),
            "closed: TOO_LARGE"
        );
        assert_eq!(Ended::Eof.key(), "closed: eof");
        assert_eq!(Ended::TimedOut.key(), "timeout");
    }
}
