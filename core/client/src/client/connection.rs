//! One TCP connection to one server: the handshake, then a reader that routes
//! responses and events, and a writer that batches queued requests and sends
//! pings when idle.
//!
//! Owns the socket and nothing else: what a frame means for the session is
//! decided by `inner` (routing, state) and `supervisor` (what to do when this
//! connection ends). Every wait here is bounded by a timeout or by the
//! connection's end.
//!
//! Direct writes: a caller whose request is the only one in flight writes
//! its frame to the socket itself ([`Wire::send`]) instead of waking the
//! writer task, when the writer is idle (nothing queued, nothing half
//! written). For a thread outside the runtime (the Python binding's blocking
//! calls) that saves a thread wake-up per request; inside the runtime, a task
//! switch. Requests that find others in flight go through the writer, which
//! batches them into one write. Wire order stays submission order: the
//! `idle` flag only changes under the client's mutex, and a frame a caller
//! could not finish hands its unwritten tail to the writer, ahead of anything
//! queued after it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use prost::Message;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::Error;
use coord_proto::WatchEvent;
use coord_proto::proto;
use coord_proto::proto::server_message::Body;
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame, secret_from_bytes};

use super::inner::Inner;
use super::request::Conn;
use super::session::Credentials;

/// Most requests taken from the queue for one write.
const MAX_BATCH: usize = 1024;

/// A connection whose handshake succeeded.
#[derive(Debug)]
pub(crate) struct Established {
    /// `host:port` dialled.
    pub(crate) addr: String,
    /// Session credentials from the server's answer.
    pub(crate) creds: Credentials,
    reader: FrameReader<OwnedReadHalf>,
    writer: Arc<OwnedWriteHalf>,
    /// True while the writer task has nothing queued or half written.
    idle: Arc<AtomicBool>,
}

impl Established {
    /// The caller-side slot for this connection and the writer's queue.
    pub(crate) fn slot(&self) -> (Conn, mpsc::UnboundedReceiver<Outgoing>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Conn {
            addr: self.addr.clone(),
            wire: Wire {
                tx,
                socket: Arc::clone(&self.writer),
                idle: Arc::clone(&self.idle),
                scratch: BytesMut::new(),
            },
            pending: HashMap::new(),
        };
        (conn, rx)
    }
}

/// What the writer task is handed.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A request to encode and write; never written, so it may be re-sent
    /// on the next connection if this one ends first.
    Request(proto::Request),
    /// The unwritten tail of a frame a caller began writing itself (its
    /// request counts as written).
    Rest(Bytes),
}

/// The callers' side of the socket: the writer's queue, and direct writes
/// while the writer is idle. Used under the client's mutex only.
#[derive(Debug)]
pub(crate) struct Wire {
    tx: mpsc::UnboundedSender<Outgoing>,
    socket: Arc<OwnedWriteHalf>,
    idle: Arc<AtomicBool>,
    /// Reused encoding buffer for direct writes.
    scratch: BytesMut,
}

impl Wire {
    /// Sends `req`: written directly when `direct` (the caller's request is
    /// the only one in flight) and the writer is idle, else queued to the
    /// writer. Hands the request back when the writer is gone.
    pub(crate) fn send(&mut self, req: proto::Request, direct: bool) -> Option<proto::Request> {
        let req = if direct && self.idle.load(Ordering::Relaxed) {
            self.write_directly(req)?
        } else {
            req
        };
        self.idle.store(false, Ordering::Relaxed);
        match self.tx.send(Outgoing::Request(req)) {
            Ok(()) => None,
            Err(mpsc::error::SendError(Outgoing::Request(req))) => Some(req),
            Err(mpsc::error::SendError(Outgoing::Rest(_))) => unreachable!("a request was sent"),
        }
    }

    /// Writes the frame of `req` without waiting. `None` once it is on the
    /// socket or its tail is queued; the request back if nothing could be
    /// written (full socket buffer, or an error the writer will meet too).
    fn write_directly(&mut self, req: proto::Request) -> Option<proto::Request> {
        let msg = proto::ClientMessage {
            body: Some(proto::client_message::Body::Request(req)),
        };
        self.scratch.clear();
        encode_frame(&msg, &mut self.scratch);
        let written = self.socket.try_write(&self.scratch);
        let back = match written {
            Ok(n) if n == self.scratch.len() => None,
            Ok(n) if n > 0 => {
                self.idle.store(false, Ordering::Relaxed);
                let rest = Bytes::copy_from_slice(&self.scratch[n..]);
                // The writer's receiver outlives the slot (see `Conn::send`).
                let _ = self.tx.send(Outgoing::Rest(rest));
                None
            }
            _ => match msg.body {
                Some(proto::client_message::Body::Request(req)) => Some(req),
                _ => unreachable!("built above as a request"),
            },
        };
        if self.scratch.capacity() > 64 * 1024 {
            // One large frame must not pin its buffer for the connection's life.
            self.scratch = BytesMut::new();
        }
        back
    }
}

/// Why a handshake did not give a usable connection.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The session is gone (the server said so, or would not resume it).
    Expired(String),
    /// This server could not be used now; try another.
    Failed(Error),
}

/// Why a running connection ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The connection broke, timed out or was closed; reconnect.
    Lost(String),
    /// The server closed it because the session expired.
    Expired(String),
}

/// Dials `addr` and opens (`creds.session_id == 0`) or resumes the session,
/// all within `timeout`.
pub(crate) async fn open(
    inner: &Inner,
    addr: &str,
    creds: Credentials,
    timeout: Duration,
) -> Result<Established, HandshakeError> {
    match tokio::time::timeout(timeout, handshake(inner, addr, creds)).await {
        Ok(r) => r,
        Err(_) => Err(HandshakeError::Failed(Error::ConnectionLoss(format!(
            "no session from {addr} within {timeout:?}"
        )))),
    }
}

async fn handshake(
    inner: &Inner,
    addr: &str,
    creds: Credentials,
) -> Result<Established, HandshakeError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        HandshakeError::Failed(Error::ConnectionLoss(format!("{what} {addr}: {e}")))
    };
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| failed("cannot connect to", &e))?;
    // Small frames must not wait for Nagle: latency is the point of pipelining.
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let connect = proto::ClientMessage {
        body: Some(proto::client_message::Body::Connect(proto::Connect {
            protocol_version: PROTOCOL_VERSION,
            session_id: creds.session_id,
            session_secret: if creds.session_id == 0 {
                bytes::Bytes::new()
            } else {
                bytes::Bytes::copy_from_slice(&creds.secret)
            },
            requested_timeout_ms: inner.config.session_timeout.as_millis() as u32,
            last_zxid: inner.last_zxid(),
        })),
    };
    let mut buf = BytesMut::new();
    encode_frame(&connect, &mut buf);
    write_out(&wr, &buf)
        .await
        .map_err(|e| failed("cannot write to", &e))?;
    let mut reader = FrameReader::new(rd, inner.config.max_frame_bytes);
    let frame = match reader.next_frame().await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(failed("handshake refused by", &"connection closed")),
        Err(e) => return Err(failed("handshake failed with", &e)),
    };
    inner.heard();
    let msg = proto::ServerMessage::decode(frame).map_err(|e| {
        HandshakeError::Failed(Error::Protocol(format!(
            "bad handshake answer from {addr}: {e}"
        )))
    })?;
    let connected = match msg.body {
        Some(Body::Connected(c)) => c,
        Some(Body::Closing(e)) => {
            return Err(match Error::from(&e) {
                Error::SessionExpired(d) => HandshakeError::Expired(format!("{addr}: {d}")),
                other => HandshakeError::Failed(other),
            });
        }
        _ => {
            return Err(HandshakeError::Failed(Error::Protocol(format!(
                "{addr} answered the handshake with something other than Connected"
            ))));
        }
    };
    // `connected.last_zxid` is the server's state, not something this client
    // has seen: taking it as `last_zxid` would hide the changes missed while
    // disconnected from `SetWatches`.
    let creds = accept(creds, &connected, addr)?;
    if connected.protocol_version != PROTOCOL_VERSION {
        tracing::debug!(
            server = addr,
            version = connected.protocol_version,
            "server speaks another protocol version"
        );
    }
    Ok(Established {
        addr: addr.to_string(),
        creds,
        reader,
        writer: Arc::new(wr),
        idle: Arc::new(AtomicBool::new(true)),
    })
}

/// Checks the server's `Connected` against what was asked and returns the
/// session credentials to use from now on.
fn accept(
    asked: Credentials,
    c: &proto::Connected,
    addr: &str,
) -> Result<Credentials, HandshakeError> {
    let resuming = asked.session_id != 0;
    if resuming && (!c.resumed || c.session_id != asked.session_id) {
        return Err(HandshakeError::Expired(format!(
            "{addr} did not resume session {:#x}",
            asked.session_id
        )));
    }
    if c.session_id == 0 || c.timeout_ms == 0 {
        return Err(HandshakeError::Failed(Error::Protocol(format!(
            "{addr} answered with session {:#x} and timeout {} ms",
            c.session_id, c.timeout_ms
        ))));
    }
    let secret = if resuming && c.session_secret.is_empty() {
        asked.secret
    } else {
        secret_from_bytes(&c.session_secret).map_err(HandshakeError::Failed)?
    };
    Ok(Credentials {
        session_id: c.session_id,
        secret,
        timeout: Duration::from_millis(u64::from(c.timeout_ms)),
    })
}

/// Runs the connection until it ends. Requests come from `rx` (the caller
/// keeps the receiver so that what was never written can be re-sent).
pub(crate) async fn run(
    inner: &Inner,
    est: Established,
    rx: &mut mpsc::UnboundedReceiver<Outgoing>,
) -> Ended {
    let Established {
        reader,
        writer,
        idle,
        creds,
        ..
    } = est;
    // Something must arrive every 2/3 of the timeout; pings every 1/3 when
    // idle make sure the server has something to answer.
    // (Floors keep a degenerate negotiated timeout from spinning.)
    let read_timeout = (creds.timeout * 2 / 3).max(Duration::from_millis(20));
    let ping_every = (creds.timeout / 3).max(Duration::from_millis(10));
    tokio::select! {
        ended = read_loop(inner, reader, read_timeout) => ended,
        ended = write_loop(inner, &writer, &idle, rx, ping_every) => ended,
    }
}

async fn read_loop(
    inner: &Inner,
    mut reader: FrameReader<OwnedReadHalf>,
    read_timeout: Duration,
) -> Ended {
    loop {
        let frame = match tokio::time::timeout(read_timeout, reader.next_frame()).await {
            Err(_) => {
                return Ended::Lost(format!("nothing received for {read_timeout:?}"));
            }
            Ok(Err(e)) => return Ended::Lost(e.to_string()),
            Ok(Ok(None)) => return Ended::Lost("the server closed the connection".into()),
            Ok(Ok(Some(frame))) => frame,
        };
        inner.heard();
        let body = match proto::ServerMessage::decode(frame) {
            Ok(msg) => msg.body,
            Err(e) => return protocol_error(format!("undecodable frame: {e}")),
        };
        match body {
            Some(Body::Response(resp)) => inner.on_response(resp),
            Some(Body::Event(ev)) => match WatchEvent::try_from(ev) {
                Ok(ev) => inner.on_event(&ev),
                Err(e) => return protocol_error(e.to_string()),
            },
            Some(Body::Closing(e)) => {
                return match Error::from(&e) {
                    Error::SessionExpired(d) => Ended::Expired(d),
                    other => Ended::Lost(format!("the server is closing the connection: {other}")),
                };
            }
            Some(Body::Connected(_)) => return protocol_error("a second Connected".into()),
            None => return protocol_error("an empty message".into()),
        }
    }
}

fn protocol_error(detail: String) -> Ended {
    let err = Error::Protocol(detail);
    tracing::warn!(%err, "dropping the connection");
    Ended::Lost(err.to_string())
}

async fn write_loop(
    inner: &Inner,
    writer: &OwnedWriteHalf,
    idle: &AtomicBool,
    rx: &mut mpsc::UnboundedReceiver<Outgoing>,
    ping_every: Duration,
) -> Ended {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut batch = Vec::with_capacity(64);
    let mut next_ping = Instant::now() + ping_every;
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => {
                if n == 0 {
                    return Ended::Lost("the client dropped the connection".into());
                }
                for out in batch.drain(..) {
                    match out {
                        Outgoing::Request(req) => {
                            let msg = proto::ClientMessage {
                                body: Some(proto::client_message::Body::Request(req)),
                            };
                            encode_frame(&msg, &mut buf);
                        }
                        Outgoing::Rest(rest) => buf.extend_from_slice(&rest),
                    }
                }
                if let Err(e) = write_out(writer, &buf).await {
                    return Ended::Lost(format!("write failed: {e}"));
                }
                buf.clear();
                if buf.capacity() > 1024 * 1024 {
                    buf = BytesMut::with_capacity(8 * 1024);
                }
                if rx.is_empty() {
                    inner.writer_idle(idle, || rx.is_empty());
                }
                next_ping = Instant::now() + ping_every;
            }
            () = tokio::time::sleep_until(next_ping) => {
                inner.ping();
                next_ping = Instant::now() + ping_every;
            }
        }
    }
}

/// Writes all of `buf`, waiting for room when the socket buffer is full.
async fn write_out(writer: &OwnedWriteHalf, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match writer.try_write(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => writer.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(xid: u64, data: Vec<u8>) -> proto::Request {
        proto::Request {
            xid,
            min_zxid: 0,
            op: Some(proto::request::Op::SetData(proto::SetDataRequest {
                path: "/n".into(),
                data: data.into(),
                version: -1,
            })),
        }
    }

    /// A wire over a socket with a small send buffer, its queue, its read
    /// half (kept open) and the peer.
    async fn small_buffer_wire() -> (
        Wire,
        mpsc::UnboundedReceiver<Outgoing>,
        OwnedReadHalf,
        TcpStream,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(4096).unwrap();
        let stream = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let wire = Wire {
            tx,
            socket: Arc::new(wr),
            idle: Arc::new(AtomicBool::new(true)),
            scratch: BytesMut::new(),
        };
        (wire, rx, rd, peer)
    }

    #[tokio::test]
    async fn a_frame_written_in_part_hands_its_tail_to_the_writer_ahead_of_later_requests() {
        let (mut wire, mut rx, _rd, peer) = small_buffer_wire().await;
        // Direct: the caller writes what fits, the tail is queued.
        assert!(wire.send(request(1, vec![7; 1 << 20]), true).is_none());
        assert!(!wire.idle.load(Ordering::Relaxed));
        // The writer is busy now: the next request is queued, even if direct.
        assert!(wire.send(request(2, vec![8]), true).is_none());
        let Ok(Outgoing::Rest(tail)) = rx.try_recv() else {
            panic!("the unwritten tail comes first");
        };
        let Ok(Outgoing::Request(next)) = rx.try_recv() else {
            panic!("then the later request");
        };
        assert_eq!(next.xid, 2);
        // The writer's part, while the peer reads: two whole frames in order.
        let mut rest = BytesMut::from(&tail[..]);
        let msg = proto::ClientMessage {
            body: Some(proto::client_message::Body::Request(next)),
        };
        encode_frame(&msg, &mut rest);
        let writer = Arc::clone(&wire.socket);
        let write = tokio::spawn(async move { write_out(&writer, &rest).await });
        let mut reader = FrameReader::new(peer, 16 << 20);
        for xid in [1, 2] {
            let frame = reader.next_frame().await.unwrap().unwrap();
            let msg = proto::ClientMessage::decode(frame).unwrap();
            let Some(proto::client_message::Body::Request(r)) = msg.body else {
                panic!("a request");
            };
            assert_eq!(r.xid, xid);
        }
        write.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_idle_writer_lets_the_caller_write_and_a_busy_one_gets_the_request() {
        let (mut wire, mut rx, _rd, _peer) = small_buffer_wire().await;
        assert!(wire.send(request(1, vec![1; 100]), true).is_none());
        assert!(rx.try_recv().is_err(), "written directly, nothing queued");
        assert!(wire.idle.load(Ordering::Relaxed));
        assert!(wire.send(request(2, vec![2; 100]), false).is_none());
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Request(r)) if r.xid == 2));
        assert!(!wire.idle.load(Ordering::Relaxed));
    }

    fn connected(id: u64, resumed: bool, secret: &[u8]) -> proto::Connected {
        proto::Connected {
            protocol_version: PROTOCOL_VERSION,
            session_id: id,
            session_secret: bytes::Bytes::copy_from_slice(secret),
            timeout_ms: 3000,
            last_zxid: 9,
            resumed,
        }
    }

    #[test]
    fn a_new_session_takes_the_servers_credentials() {
        let c = accept(
            Credentials::default(),
            &connected(7, false, &[1; 16]),
            "h:1",
        )
        .unwrap();
        assert_eq!(c.session_id, 7);
        assert_eq!(c.secret, [1; 16]);
        assert_eq!(c.timeout, Duration::from_secs(3));
    }

    #[test]
    fn a_resume_answered_with_a_new_session_means_expired() {
        let asked = Credentials {
            session_id: 7,
            secret: [1; 16],
            timeout: Duration::from_secs(3),
        };
        assert!(matches!(
            accept(asked, &connected(8, false, &[2; 16]), "h:1"),
            Err(HandshakeError::Expired(_))
        ));
        let kept = accept(asked, &connected(7, true, &[]), "h:1").unwrap();
        assert_eq!(kept.secret, [1; 16]);
    }

    #[test]
    fn a_bad_secret_is_a_protocol_error() {
        assert!(matches!(
            accept(Credentials::default(), &connected(7, false, &[1; 3]), "h:1"),
            Err(HandshakeError::Failed(Error::Protocol(_)))
        ));
    }
}
