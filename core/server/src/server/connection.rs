//! One client connection: handshake, then three cooperating futures in one
//! task — the reader (decode, admit, submit writes in order), the responder
//! (answers strictly in request order, running reads at their turn so a read
//! sees every earlier write of its session) and the writer (batches frames to
//! the socket). Watch events enter the same outbound queue as responses, from
//! inside `apply`, so a client sees an event before any response reflecting
//! newer data.
//!
//! A bad frame (oversize, undecodable, unknown type) closes only this
//! connection, after telling the client why; the session lives on until its
//! timeout so the client may resume it.
//!
//! The handshake attaches the connection to its session through the session
//! manager (`sessions`), which owns the registration; this module never edits
//! the connection or owner maps itself, and the registration is undone by a
//! guard however the task ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{Instrument, debug, info_span};

use super::Shared;
use super::dispatch::{self, Pending};
use super::sessions::{ConnGuard, ConnHandle};
use crate::error::Error;
use crate::state_machine::{Command, CommandKind, CommandResult, WatchEvent};
use crate::watch::{ConnId, EventSink};
use coord_proto::proto;
use coord_proto::wire::{
    FrameError, FrameReader, PROTOCOL_VERSION, encode_frame, secret_from_bytes,
};

/// What the writer sends.
pub(crate) enum Outgoing {
    Frame(Bytes),
    /// Write the closing reason (if any), flush, and end the connection.
    Close(Option<Error>),
}

/// Handle to ask a connection to close.
pub(crate) struct ConnControl {
    stop: watch::Sender<Option<Option<Error>>>,
}

impl ConnControl {
    /// Ask the connection to stop reading, finish what it has and close,
    /// telling the client `reason`. The first reason wins.
    pub(crate) fn close(&self, reason: Option<Error>) {
        self.stop.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }
}

/// The connection's end of the outbound queue, shared with the watch registry.
pub(crate) struct ConnSink {
    out: mpsc::UnboundedSender<Outgoing>,
    queued: AtomicUsize,
    limit: usize,
    /// Fired when the client stopped reading and the queue is over its limit.
    kill: Notify,
    stop: watch::Sender<Option<Option<Error>>>,
}

impl ConnSink {
    pub(crate) fn send_frame(&self, frame: Bytes) {
        let queued = self.queued.fetch_add(frame.len(), Ordering::Relaxed) + frame.len();
        if queued > self.limit {
            let reason = Error::TooLarge(format!(
                "client is not reading: {queued} bytes queued, limit max_outbound_bytes = {}",
                self.limit
            ));
            ConnControl {
                stop: self.stop.clone(),
            }
            .close(Some(reason));
            self.kill.notify_one();
            return;
        }
        let _ = self.out.send(Outgoing::Frame(frame));
    }
}

impl ConnHandle for ConnSink {
    fn close(&self, reason: Option<Error>) {
        ConnControl {
            stop: self.stop.clone(),
        }
        .close(reason);
    }
}

impl EventSink for ConnSink {
    fn push(&self, event: &WatchEvent) {
        self.send_frame(server_frame(proto::server_message::Body::Event(
            event.into(),
        )));
    }
}

/// Encodes one server message as a frame.
pub(crate) fn server_frame(body: proto::server_message::Body) -> Bytes {
    let mut buf = BytesMut::new();
    encode_frame(&proto::ServerMessage { body: Some(body) }, &mut buf);
    buf.freeze()
}

/// The session this connection serves, once the handshake attached it (the
/// replicated record is `state_machine::SessionInfo`; its liveness is the
/// `liveness` tracker's; the session manager owns both maps).
pub(crate) struct AttachedSession {
    pub(crate) id: u64,
    secret: [u8; 16],
    timeout_ms: u32,
    resumed: bool,
    /// This connection's registration; dropped with the connection's future.
    _attached: ConnGuard,
}

/// Serves one connection until it closes.
pub(crate) async fn run(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, conn: ConnId) {
    let span = info_span!("conn", id = conn, %peer);
    serve(shared, socket, conn).instrument(span).await;
}

async fn serve(shared: Arc<Shared>, socket: TcpStream, conn: ConnId) {
    let (rd, mut wr) = socket.into_split();
    let mut reader = FrameReader::new(rd, shared.cfg.max_frame_bytes);
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(None);
    let sink = Arc::new(ConnSink {
        out: out_tx,
        queued: AtomicUsize::new(0),
        limit: shared.cfg.max_outbound_bytes,
        kill: Notify::new(),
        stop: stop_tx.clone(),
    });
    let session = match tokio::time::timeout(
        shared.cfg.handshake_timeout,
        handshake(&shared, &mut reader, conn, &sink),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return refuse(&mut wr, e).await,
        Err(_) => {
            let e = Error::OperationTimeout(format!(
                "no handshake within handshake_timeout = {:?}",
                shared.cfg.handshake_timeout
            ));
            return refuse(&mut wr, e).await;
        }
    };
    debug!(
        session = format_args!("{:#x}", session.id),
        resumed = session.resumed,
        "session attached"
    );

    sink.send_frame(server_frame(proto::server_message::Body::Connected(
        proto::Connected {
            protocol_version: PROTOCOL_VERSION,
            session_id: session.id,
            session_secret: Bytes::copy_from_slice(&session.secret),
            timeout_ms: session.timeout_ms,
            last_zxid: *shared.applied.borrow(),
            resumed: session.resumed,
        },
    )));

    let (pending_tx, pending_rx) = mpsc::channel(shared.cfg.max_inflight_per_connection);
    let requests = async {
        let (reason, ()) = tokio::join!(
            read_loop(&shared, &mut reader, session.id, pending_tx, stop_rx),
            respond_loop(&shared, conn, session.id, pending_rx, &sink, &stop_tx),
        );
        let _ = sink.out.send(Outgoing::Close(reason));
    };
    tokio::join!(requests, write_loop(wr, out_rx, &sink));
    // `session` (and with it the registration) is dropped here, or wherever
    // this future is dropped if the task panics or is aborted.
}

async fn refuse(wr: &mut OwnedWriteHalf, e: Error) {
    debug!(error = %e, "handshake refused");
    let frame = server_frame(proto::server_message::Body::Closing((&e).into()));
    let _ = wr.write_all(&frame).await;
    let _ = wr.shutdown().await;
}

async fn handshake<R>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    conn: ConnId,
    sink: &Arc<ConnSink>,
) -> Result<AttachedSession, Error>
where
    R: tokio::io::AsyncRead + Unpin,
{
    let frame = match reader.next_frame().await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(Error::ConnectionLoss("closed before handshake".into())),
        Err(e) => return Err(frame_error(e)),
    };
    let msg = proto::ClientMessage::decode(frame)
        .map_err(|e| Error::Protocol(format!("undecodable handshake: {e}")))?;
    let connect = match msg.body {
        Some(proto::client_message::Body::Connect(c)) => c,
        _ => return Err(Error::Protocol("first message must be a Connect".into())),
    };
    if connect.protocol_version != PROTOCOL_VERSION {
        return Err(Error::Protocol(format!(
            "protocol version {} is not supported; this server speaks {PROTOCOL_VERSION}",
            connect.protocol_version
        )));
    }
    if connect.session_id == 0 {
        return open_session(shared, connect.requested_timeout_ms, conn, sink).await;
    }
    let id = connect.session_id;
    let secret = secret_from_bytes(&connect.session_secret)?;
    // First catch up with what the client has seen (never let it read older
    // state), then judge the session by the replicated table as of that
    // state: a close or expiry the client may have seen is applied by now.
    dispatch::wait_applied(shared, connect.last_zxid).await?;
    let sm = shared.read_sm();
    let timeout_ms = match sm.session(id) {
        Some(s) if s.secret == secret => s.timeout_ms,
        Some(_) => {
            return Err(Error::SessionExpired(format!(
                "session {id:#x}: wrong secret"
            )));
        }
        None => {
            return Err(Error::SessionExpired(format!(
                "session {id:#x} has expired or was closed"
            )));
        }
    };
    // Under the same read lock: no close or expiry can slip in between.
    let attached = shared.sessions.attach(&sm, conn, id, sink.clone())?;
    Ok(AttachedSession {
        id,
        secret,
        timeout_ms,
        resumed: true,
        _attached: attached,
    })
}

async fn open_session(
    shared: &Shared,
    requested_ms: u32,
    conn: ConnId,
    sink: &Arc<ConnSink>,
) -> Result<AttachedSession, Error> {
    let timeout_ms = shared.cfg.session_limits.negotiate(requested_ms);
    // Drawn by the leader and carried in the command: apply stays deterministic.
    for _ in 0..4 {
        let id = rand::random::<u64>() | 1;
        let secret: [u8; 16] = rand::random();
        let outcome = shared
            .replica
            .write(Command {
                session_id: 0,
                time_ms: shared.now_ms(),
                kind: CommandKind::CreateSession {
                    session_id: id,
                    timeout_ms,
                    secret,
                },
            })
            .await?;
        match outcome.result {
            Ok(CommandResult::SessionCreated { .. }) => {
                // Applying the create started its liveness tracking.
                let attached = shared
                    .sessions
                    .attach(&shared.read_sm(), conn, id, sink.clone())?;
                return Ok(AttachedSession {
                    id,
                    secret,
                    timeout_ms,
                    resumed: false,
                    _attached: attached,
                });
            }
            // An id collision (astronomically rare): draw again.
            Err(Error::BadArguments(_)) => continue,
            Err(e) => return Err(e),
            Ok(other) => {
                return Err(Error::Internal(format!(
                    "unexpected result for CreateSession: {other:?}"
                )));
            }
        }
    }
    Err(Error::Internal("could not draw a free session id".into()))
}

fn frame_error(e: FrameError) -> Error {
    match e {
        FrameError::TooLarge { .. } => Error::TooLarge(e.to_string()),
        FrameError::Truncated | FrameError::Io(_) => Error::ConnectionLoss(e.to_string()),
    }
}

/// Reads requests until the client leaves, breaks the protocol, or the
/// connection is asked to stop. Returns the reason to tell the client.
async fn read_loop<R>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    session: u64,
    pending: mpsc::Sender<Pending>,
    mut stop: watch::Receiver<Option<Option<Error>>>,
) -> Option<Error>
where
    R: tokio::io::AsyncRead + Unpin,
{
    loop {
        if let Some(reason) = stop.borrow().clone() {
            return reason;
        }
        let frame = tokio::select! {
            f = reader.next_frame() => f,
            _ = stop.changed() => continue,
        };
        let bytes = match frame {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e @ FrameError::TooLarge { .. }) => return Some(frame_error(e)),
            Err(_) => return None,
        };
        let request = match proto::ClientMessage::decode(bytes) {
            Ok(proto::ClientMessage {
                body: Some(proto::client_message::Body::Request(r)),
            }) => r,
            Ok(proto::ClientMessage {
                body: Some(proto::client_message::Body::Connect(_)),
            }) => return Some(Error::Protocol("unexpected second Connect".into())),
            Ok(proto::ClientMessage { body: None }) => {
                return Some(Error::Protocol("unknown message type".into()));
            }
            Err(e) => return Some(Error::Protocol(format!("undecodable frame: {e}"))),
        };
        shared.sessions.touch(session);
        let item = match dispatch::admit(shared, session, request).await {
            Ok(item) => item,
            Err(reason) => return Some(reason),
        };
        if pending.send(item).await.is_err() {
            return None;
        }
    }
}

async fn respond_loop(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    mut pending: mpsc::Receiver<Pending>,
    sink: &ConnSink,
    stop: &watch::Sender<Option<Option<Error>>>,
) {
    while let Some(item) = pending.recv().await {
        let (frame, close_after) = dispatch::complete(shared, conn, session, item).await;
        sink.send_frame(frame);
        if close_after {
            ConnControl { stop: stop.clone() }.close(None);
        }
    }
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    sink: &ConnSink,
) {
    // Grows with the traffic: an idle connection keeps no large buffer.
    let mut batch = BytesMut::new();
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = sink.kill.notified() => return,
        };
        let mut close = None;
        let mut next = first;
        // Gather everything already queued into one write.
        loop {
            match next {
                Some(Outgoing::Frame(f)) => {
                    sink.queued.fetch_sub(f.len(), Ordering::Relaxed);
                    batch.extend_from_slice(&f);
                }
                Some(Outgoing::Close(reason)) => {
                    close = Some(reason);
                    break;
                }
                None => {
                    close = Some(None);
                    break;
                }
            }
            if batch.len() >= 256 * 1024 {
                break;
            }
            next = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            };
        }
        if let Some(Some(reason)) = &close {
            batch.extend_from_slice(&server_frame(proto::server_message::Body::Closing(
                reason.into(),
            )));
        }
        if !batch.is_empty() {
            let written = tokio::select! {
                r = wr.write_all(&batch) => r,
                _ = sink.kill.notified() => return,
            };
            batch.clear();
            if written.is_err() {
                // The client is gone: stop reading too.
                ConnControl {
                    stop: sink.stop.clone(),
                }
                .close(None);
                return;
            }
        }
        if close.is_some() {
            let _ = wr.shutdown().await;
            return;
        }
    }
}
