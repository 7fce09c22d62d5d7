//! One ZooKeeper connection: a four-letter word, or the connect handshake
//! followed by the request loop. The responder and writer are the native
//! connection's (`connection::respond_loop`, `outbound::write_loop`); only
//! reading differs: packets are jute, translated by `convert`, limited by
//! `zk_max_packet_bytes` (ZooKeeper's `jute.maxbuffer`).
//!
//! ZooKeeper's protocol has no way to tell a client why it is closed: a
//! packet too large, an undecodable one or a protocol violation closes the
//! connection with a log line naming the client, and only that connection.
//! The same holds for a refused TLS handshake or plain text on a TLS port.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use super::convert::{self, Decoded};
use super::jute::Jute;
use super::records::{ConnectRequest, ConnectResponse};
use super::{ZkConn, four_letter, local};
use crate::error::Error;
use crate::server::Shared;
use crate::server::acl_requests::PeerIdentity;
use crate::server::connection::{next_frame, respond_loop};
use crate::server::dispatch::{self, Pending};
use crate::server::handshake::{self, AttachedSession, frame_error};
use crate::server::outbound::{ConnSink, Dialect, write_loop};
use crate::server::tls;
use crate::watch::ConnId;
use coord_proto::proto;
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION};

/// Serves one ZooKeeper-port connection until it closes.
pub(crate) async fn run(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, conn: ConnId) {
    let span = info_span!("zk", id = conn, %peer);
    let forwarder = shared.forwarder.clone();
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
            // ZooKeeper's protocol cannot say why: the log does.
            Err((why, _)) if why.is_quiet() => {
                debug!(%why, "TLS connection closed before its handshake");
            }
            Err((why, _)) => warn!(%why, "TLS connection refused on the ZooKeeper port"),
        }
    }
    .instrument(span)
    .await;
    forwarder.forget(conn);
}

async fn serve<R, W>(
    shared: Arc<Shared>,
    mut rd: R,
    mut wr: W,
    peer: SocketAddr,
    conn: ConnId,
    x509_subject: Option<String>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let cfg = &shared.cfg;
    let mut stopping = shared.stopping.clone();
    // The first four bytes are a packet length or a four-letter word.
    let mut head = [0u8; 4];
    let first = tokio::select! {
        r = tokio::time::timeout(cfg.handshake_timeout, rd.read_exact(&mut head)) => r,
        _ = stopping.wait_for(|s| *s) => return,
    };
    if !matches!(first, Ok(Ok(_))) {
        debug!("closed or silent before its first packet");
        return;
    }
    if let Some(word) = four_letter::parse(head) {
        let text = four_letter::answer(&shared, word);
        let _ = tokio::time::timeout(cfg.write_timeout, wr.write_all(text.as_bytes())).await;
        let _ = wr.shutdown().await;
        return;
    }
    let mut reader = FrameReader::with_limit(
        std::io::Cursor::new(head).chain(rd),
        cfg.max_handshake_frame_bytes,
        "max_handshake_frame_bytes",
    );
    let zk = ZkConn::new(conn, peer, shared.zk_stats.clone());
    let (stop_tx, stop_rx) = watch::channel(None);
    let (sink, queue) = ConnSink::open(
        &shared.outbound,
        cfg.max_outbound_bytes,
        stop_tx,
        conn,
        peer,
        Dialect::ZooKeeper(zk.clone()),
    );
    // The verified client certificate's subject is the session's x509 identity.
    let peer_identity = PeerIdentity {
        x509_subject,
        ..PeerIdentity::tcp(peer)
    };
    let attached = tokio::select! {
        r = tokio::time::timeout(
            cfg.handshake_timeout,
            connect(&shared, &mut reader, conn, &sink, &peer_identity),
        ) => r,
        _ = stopping.wait_for(|s| *s) => return,
    };
    let session = match attached {
        Ok(Ok(s)) => s,
        Ok(Err(Refused::Expired(why))) => {
            // As ZooKeeper: a session it cannot resume is answered with
            // timeout 0, which tells the client to start a new one.
            debug!(why, "ZooKeeper session not resumed");
            let frame = connect_frame(&ConnectResponse {
                passwd: Some(Bytes::from_static(&[0; 16])),
                ..Default::default()
            });
            let _ = tokio::time::timeout(cfg.write_timeout, wr.write_all(&frame)).await;
            let _ = wr.shutdown().await;
            return;
        }
        Ok(Err(Refused::Other(e))) => {
            info!(error = %e, "ZooKeeper connect refused; closing the connection");
            return;
        }
        Err(_) => {
            debug!(timeout = ?cfg.handshake_timeout, "no ZooKeeper connect within handshake_timeout");
            return;
        }
    };
    reader.set_limit(cfg.zk_max_packet_bytes, "zk_max_packet_bytes");
    sink.set_session(session.id);
    debug!(
        session = format_args!("{:#x}", session.id),
        resumed = session.resumed,
        x509_subject = session.x509_subject.as_deref(),
        "ZooKeeper session attached"
    );
    sink.send_frame(connect_frame(&ConnectResponse {
        protocol_version: 0,
        timeout: i32::try_from(session.timeout_ms).unwrap_or(i32::MAX),
        session_id: session.id as i64,
        passwd: Some(Bytes::copy_from_slice(&session.secret)),
        read_only: false,
    }));

    let (pending_tx, pending_rx) = mpsc::channel(cfg.max_inflight_per_connection);
    let requests = async {
        let (reason, ()) = tokio::join!(
            read_loop(
                &shared,
                &zk,
                &mut reader,
                conn,
                session.id,
                pending_tx,
                stop_rx
            ),
            respond_loop(&shared, conn, session.id, pending_rx, &sink),
        );
        sink.send_close(reason);
    };
    tokio::join!(requests, write_loop(wr, queue, cfg.write_timeout));
}

/// Why a connect was not accepted.
enum Refused {
    /// The session cannot be resumed (expired, closed, wrong password).
    Expired(String),
    Other(Error),
}

fn connect_frame(r: &ConnectResponse) -> Bytes {
    let mut w = BytesMut::with_capacity(48);
    w.put_i32(0);
    r.write(&mut w);
    let len = super::jute::len_i32(w.len() - 4);
    w[..4].copy_from_slice(&len.to_be_bytes());
    w.freeze()
}

/// Reads the ConnectRequest and opens or resumes its session.
async fn connect<R: AsyncRead + Unpin>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    conn: ConnId,
    sink: &Arc<ConnSink>,
    peer: &PeerIdentity,
) -> Result<AttachedSession, Refused> {
    let frame = match reader.next_frame().await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(Refused::Other(Error::ConnectionLoss("closed".into()))),
        Err(e) => return Err(Refused::Other(frame_error(e))),
    };
    let req = ConnectRequest::decode(frame)
        .map_err(|e| Refused::Other(Error::Protocol(format!("ConnectRequest: {e}"))))?;
    let f = req.fields;
    let resuming = f.session_id != 0;
    let connect = proto::Connect {
        token: String::new(),
        protocol_version: PROTOCOL_VERSION,
        session_id: f.session_id as u64,
        session_secret: if resuming {
            f.passwd.unwrap_or_default()
        } else {
            Bytes::new()
        },
        requested_timeout_ms: u32::try_from(f.timeout).unwrap_or(0),
        last_zxid: u64::try_from(f.last_zxid_seen).unwrap_or(0),
    };
    match handshake::attach(shared, connect, conn, sink, peer).await {
        Ok(s) => Ok(s),
        Err(Error::SessionExpired(why)) => Err(Refused::Expired(why)),
        // A password that is not 16 bytes cannot be the session's.
        Err(Error::BadArguments(why)) if resuming => Err(Refused::Expired(why)),
        Err(e) => Err(Refused::Other(e)),
    }
}

/// Reads packets until the client leaves, breaks the protocol or the
/// connection is asked to stop; returns the reason (for the log only).
async fn read_loop<R: AsyncRead + Unpin>(
    shared: &Shared,
    zk: &Arc<ZkConn>,
    reader: &mut FrameReader<R>,
    conn: ConnId,
    session: u64,
    pending: mpsc::Sender<Pending>,
    mut stop: watch::Receiver<Option<Option<Error>>>,
) -> Option<Error> {
    loop {
        let bytes = match next_frame(reader, &mut stop).await {
            Ok(b) => b,
            // The reader's own limit (a stop for another reason was logged
            // where it was decided).
            Err(Some(e @ Error::TooLarge(_))) if e.detail().contains("zk_max_packet_bytes") => {
                warn!(
                    session = format_args!("{session:#x}"),
                    error = %e,
                    "ZooKeeper packet over zk_max_packet_bytes: closing this connection"
                );
                return Some(e);
            }
            Err(reason) => return reason,
        };
        shared.sessions.touch(session);
        let max_ops = || shared.read_sm().limits().max_multi_ops;
        let decoded = match convert::decode_request(bytes, zk, max_ops) {
            Ok(d) => d,
            Err(e) => {
                warn!(
                    session = format_args!("{session:#x}"),
                    error = %e,
                    "undecodable ZooKeeper packet: closing this connection"
                );
                return Some(Error::Protocol(e.0));
            }
        };
        zk.received();
        let item = match decoded {
            Decoded::Native(request) => match dispatch::admit(shared, conn, session, request).await
            {
                Ok(item) => item,
                Err(reason) => return Some(reason),
            },
            Decoded::Local { xid, op } => local::pending(zk.clone(), xid, op),
        };
        if pending.send(item).await.is_err() {
            return None;
        }
    }
}
