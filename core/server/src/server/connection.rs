//! One client connection: handshake, then three cooperating futures in one
//! task — the reader (decode, admit, submit writes in order), the responder
//! (answers strictly in request order, running reads at their turn so a read
//! sees every earlier write of its session) and the writer (`outbound`:
//! batches frames to the socket). Watch events enter the same outbound queue
//! as responses, from inside `apply`, so a client sees an event before any
//! response reflecting newer data; a read that sets a watch queues its reply
//! under the state's lock, so the event it asked for cannot overtake it.
//!
//! Until the handshake is done only a frame of `max_handshake_frame_bytes`
//! is read; then `max_frame_bytes`. Each request frame's shape (xid, multi
//! ops, `SetWatches` paths) is checked against the limits before prost
//! decodes it, so a frame of millions of tiny entries is refused without
//! allocating them.
//!
//! A bad frame (oversize, undecodable, unknown type) closes only this
//! connection, after telling the client why; the session lives on until its
//! timeout so the client may resume it.
//!
//! Replies are built only while at most `max_reply_backlog_bytes` wait for
//! the client: one that stops reading holds the server to that backlog (and
//! its in-flight requests) until `write_timeout` cuts it, instead of having
//! megabytes of replies encoded for it up to its outbound cap.
//!
//! The handshake (`handshake`) attaches the connection to its session through
//! the session manager (`sessions`), which owns the registration; this module
//! never edits the connection or owner maps itself, and the registration is
//! undone by a guard however the task ends.
//!
//! On a TLS port the connection first goes through `tls::accept`; the loop
//! itself runs on any read and write halves, so the plain path keeps tokio's
//! lock-free TCP halves.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, debug, info_span, warn};

use super::acl_requests::PeerIdentity;
use super::dispatch::{self, Pending};
use super::handshake::{frame_error, handshake};
use super::outbound::{ConnSink, Dialect, server_frame, write_loop};
use super::tls;
use super::{Shared, shutting_down_error};
use crate::error::Error;
use crate::watch::ConnId;
use coord_proto::proto;
use coord_proto::wire::{FrameError, FrameReader, PROTOCOL_VERSION, frame_shape};

/// Serves one connection until it closes.
pub(crate) async fn run(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, conn: ConnId) {
    let span = info_span!("conn", id = conn, %peer);
    let forwarder = shared.forwarder.clone();
    // The export's frozen tree goes with the connection.
    let after = shared.clone();
    async {
        let Some(source) = &shared.tls else {
            let (rd, wr) = socket.into_split();
            return serve(shared, rd, wr, peer, conn, None).await;
        };
        match tls::accept(source, socket, shared.cfg.handshake_timeout).await {
            Ok(a) => {
                let subject = a.client_subject;
                let (rd, wr) = tokio::io::split(a.stream);
                serve(shared, rd, wr, peer, conn, subject).await
            }
            Err((why, plain)) => {
                if why.is_quiet() {
                    debug!(%why, "TLS connection closed before its handshake");
                } else {
                    warn!(%why, "TLS connection refused");
                }
                if let Some(socket) = plain {
                    // Told in the native protocol, so that a client without
                    // TLS reads why instead of undecodable bytes.
                    let (_, mut wr) = socket.into_split();
                    let e = Error::ConnectionLoss(
                        "server requires TLS on this port (connect with a CA: --tls-ca)".into(),
                    );
                    refuse(&mut wr, e, shared.cfg.write_timeout).await;
                }
            }
        }
    }
    .instrument(span)
    .await;
    forwarder.forget(conn);
    after.exports.forget(conn);
}

async fn serve<R, W>(
    shared: Arc<Shared>,
    rd: R,
    mut wr: W,
    peer: SocketAddr,
    conn: ConnId,
    x509_subject: Option<String>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let cfg = &shared.cfg;
    let mut reader = FrameReader::with_limit(
        rd,
        cfg.max_handshake_frame_bytes,
        "max_handshake_frame_bytes",
    );
    let (stop_tx, stop_rx) = watch::channel(None);
    let (sink, queue) = ConnSink::open(
        &shared.outbound,
        cfg.max_outbound_bytes,
        stop_tx,
        conn,
        peer,
        Dialect::Native,
    );
    let mut stopping = shared.stopping.clone();
    // A graceful stop does not wait for a client that is slow to say hello.
    // The verified client certificate's subject is the session's x509 identity.
    let peer_identity = PeerIdentity {
        x509_subject,
        ..PeerIdentity::tcp(peer)
    };
    let attached = tokio::select! {
        r = tokio::time::timeout(
            cfg.handshake_timeout,
            handshake(&shared, &mut reader, conn, &sink, &peer_identity),
        ) => Some(r),
        _ = stopping.wait_for(|s| *s) => None,
    };
    let session = match attached {
        Some(Ok(Ok(s))) => s,
        None => return refuse(&mut wr, shutting_down_error(), cfg.write_timeout).await,
        Some(Ok(Err(e))) => return refuse(&mut wr, e, cfg.write_timeout).await,
        Some(Err(_)) => {
            let e = Error::OperationTimeout(format!(
                "no handshake within handshake_timeout = {:?}",
                cfg.handshake_timeout
            ));
            return refuse(&mut wr, e, cfg.write_timeout).await;
        }
    };
    reader.set_limit(cfg.max_frame_bytes, "max_frame_bytes");
    sink.set_session(session.id);
    debug!(
        session = format_args!("{:#x}", session.id),
        resumed = session.resumed,
        x509_subject = session.x509_subject.as_deref(),
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

    let (pending_tx, pending_rx) = mpsc::channel(cfg.max_inflight_per_connection);
    let requests = async {
        let (reason, ()) = tokio::join!(
            read_loop(&shared, &mut reader, conn, session.id, pending_tx, stop_rx),
            respond_loop(&shared, conn, session.id, pending_rx, &sink),
        );
        sink.send_close(reason);
    };
    tokio::join!(requests, write_loop(wr, queue, cfg.write_timeout));
    // `session` (and with it the registration) is dropped here, or wherever
    // this future is dropped if the task panics or is aborted.
}

/// Tells a client why it was refused, giving up if it does not read.
pub(crate) async fn refuse<W: AsyncWrite + Unpin>(
    wr: &mut W,
    e: Error,
    write_timeout: std::time::Duration,
) {
    debug!(error = %e, "handshake refused");
    let frame = server_frame(proto::server_message::Body::Closing((&e).into()));
    let _ = tokio::time::timeout(write_timeout, wr.write_all(&frame)).await;
    let _ = wr.shutdown().await;
}

/// The next request frame, or why reading ends: the stop's reason, nothing
/// (the client left or broke off mid-frame), or a frame over the limit.
pub(crate) async fn next_frame<R>(
    reader: &mut FrameReader<R>,
    stop: &mut watch::Receiver<Option<Option<Error>>>,
) -> Result<Bytes, Option<Error>>
where
    R: tokio::io::AsyncRead + Unpin,
{
    loop {
        if let Some(reason) = stop.borrow().clone() {
            return Err(reason);
        }
        let frame = tokio::select! {
            f = reader.next_frame() => f,
            _ = stop.changed() => continue,
        };
        return match frame {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(None),
            Err(e @ FrameError::TooLarge { .. }) => Err(Some(frame_error(e))),
            Err(_) => Err(None),
        };
    }
}

/// Reads requests until the client leaves, breaks the protocol, or the
/// connection is asked to stop. Returns the reason to tell the client.
async fn read_loop<R>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    conn: ConnId,
    session: u64,
    pending: mpsc::Sender<Pending>,
    mut stop: watch::Receiver<Option<Option<Error>>>,
) -> Option<Error>
where
    R: tokio::io::AsyncRead + Unpin,
{
    loop {
        let bytes = match next_frame(reader, &mut stop).await {
            Ok(b) => b,
            Err(reason) => return reason,
        };
        // Counts first: prost would allocate every listed entry.
        let refused = match frame_shape(&bytes) {
            Ok(shape) => dispatch::refuse_by_shape(shared, session, &shape),
            Err(e) => return Some(Error::Protocol(format!("undecodable frame: {e}"))),
        };
        if let Some(answer) = refused {
            shared.sessions.touch(session);
            if pending.send(answer).await.is_err() {
                return None;
            }
            continue;
        }
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
        let item = match dispatch::admit(shared, conn, session, request).await {
            Ok(item) => item,
            Err(reason) => return Some(reason),
        };
        if pending.send(item).await.is_err() {
            return None;
        }
    }
}

pub(crate) async fn respond_loop(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    mut pending: mpsc::Receiver<Pending>,
    sink: &ConnSink,
) {
    let backlog_limit = shared.cfg.max_reply_backlog_bytes;
    while let Some(item) = pending.recv().await {
        // A client that does not read gets no more replies built for it:
        // this waits for its writer, the reader then stops at
        // `max_inflight_per_connection`, and TCP pushes back on the client.
        sink.wait_backlog_at_most(backlog_limit).await;
        let close_after = dispatch::complete(shared, conn, session, item, sink).await;
        if close_after {
            sink.request_stop(None);
        }
    }
}
