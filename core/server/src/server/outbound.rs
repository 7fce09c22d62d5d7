//! What the server owes its clients: each connection's outbound queue
//! ([`ConnSink`]), the server-wide budget over all of them
//! ([`OutboundBudget`]) and the writer that drains a queue into the socket.
//!
//! Every frame is charged its bytes (length prefix included) plus
//! [`FRAME_OVERHEAD_BYTES`] for its queue slot and buffer header, from the
//! moment it is queued until the socket took it. A connection over its own
//! cap (`max_outbound_bytes`) is dropped; when all connections together go
//! over `max_total_outbound_bytes`, the one with the largest backlog — the
//! slowest reader — is dropped first, and so on until the total fits, with a
//! warning naming its address and session. A writer whose socket accepts no
//! byte for `write_timeout` gives up and closes the connection too, so a
//! client that stopped reading cannot hold a connection (or a shutdown) open.
//!
//! Dropping a connection's output releases its whole charge at once; frames
//! offered to it afterwards are discarded. Nothing here blocks: frames are
//! queued from inside `apply` (watch events), under the state's write lock.
//! This module never reads requests and never decides what to send.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};
use tracing::{info, warn};

use super::lock;
use crate::error::Error;
use crate::state_machine::WatchEvent;
use crate::watch::{ConnId, EventSink};
use coord_proto::proto;
use coord_proto::wire::encode_frame;

/// What one queued frame costs besides its bytes: its queue slot and the
/// shared buffer header behind a `Bytes`, rounded up.
pub(crate) const FRAME_OVERHEAD_BYTES: usize = 64;

/// Most bytes gathered into one socket write.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Set in a sink's backlog once its output was dropped: nothing more is
/// charged to it and its charge was released.
const DROPPED: usize = 1 << (usize::BITS - 1);

/// What the writer sends.
pub(crate) enum Outgoing {
    Frame(Bytes),
    /// Write the closing reason (if any), flush, and end the connection.
    Close(Option<Error>),
}

/// The stop signal of a connection: `Some(reason)` once it must close.
pub(crate) type StopSender = watch::Sender<Option<Option<Error>>>;

/// Asks a connection to stop reading, finish what it has and close, telling
/// the client `reason`. The first reason wins.
pub(crate) fn request_stop(stop: &StopSender, reason: Option<Error>) {
    stop.send_if_modified(|current| {
        if current.is_none() {
            *current = Some(reason);
            true
        } else {
            false
        }
    });
}

/// Encodes one server message as a frame.
pub(crate) fn server_frame(body: proto::server_message::Body) -> Bytes {
    let mut buf = BytesMut::new();
    encode_frame(&proto::ServerMessage { body: Some(body) }, &mut buf);
    buf.freeze()
}

/// How a connection's responses and events are written: coord's own
/// protocol, or ZooKeeper's (the connection's state writes each response
/// and event in ZooKeeper's form, see `zk::convert`).
#[derive(Clone)]
pub(crate) enum Dialect {
    Native,
    ZooKeeper(Arc<super::zk::ZkConn>),
}

impl Dialect {
    /// A response as a frame of this protocol; `None` when it has no form
    /// in it.
    pub(crate) fn encode(&self, resp: proto::Response) -> Option<Bytes> {
        match self {
            Dialect::Native => Some(server_frame(proto::server_message::Body::Response(resp))),
            Dialect::ZooKeeper(zk) => zk.response(resp),
        }
    }
}

/// The server-wide outbound budget (see the module docs).
pub(crate) struct OutboundBudget {
    limit: usize,
    total: AtomicUsize,
    /// Every connection with a queue; weak so a forgotten entry frees nothing late.
    sinks: Mutex<HashMap<ConnId, Weak<ConnSink>>>,
}

impl OutboundBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(OutboundBudget {
            limit,
            total: AtomicUsize::new(0),
            sinks: Mutex::new(HashMap::new()),
        })
    }

    /// Bytes charged to all connections now.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Drops the output of the connections with the largest backlogs until
    /// the total fits the budget again.
    fn shed(&self) {
        let sinks = lock(&self.sinks);
        // Each round drops one live sink, so this ends within sinks.len() rounds.
        for _ in 0..=sinks.len() {
            let total = self.total();
            if total <= self.limit {
                return;
            }
            let victim = sinks
                .values()
                .filter_map(Weak::upgrade)
                .filter(|s| s.backlog() > 0)
                .max_by_key(|s| s.backlog());
            let Some(victim) = victim else { return };
            let backlog = victim.backlog();
            let session = victim.session.load(Ordering::Relaxed);
            warn!(
                peer = %victim.peer,
                session = format_args!("{session:#x}"),
                backlog,
                total,
                limit = self.limit,
                "outbound budget max_total_outbound_bytes exceeded: disconnecting the client \
                 with the largest backlog ({} session {session:#x})",
                victim.peer
            );
            victim.drop_output(Error::TooLarge(format!(
                "the server's output for its clients reached {total} bytes, limit \
                 max_total_outbound_bytes = {}; this client had the largest backlog ({backlog} \
                 bytes) and was disconnected",
                self.limit
            )));
        }
    }
}

/// A connection's end of the outbound queue, shared with the watch registry
/// and the session manager.
pub(crate) struct ConnSink {
    out: mpsc::UnboundedSender<Outgoing>,
    /// Bytes charged for frames queued or being written, or [`DROPPED`].
    backlog: AtomicUsize,
    /// This connection's own cap (`max_outbound_bytes`).
    limit: usize,
    budget: Arc<OutboundBudget>,
    /// Wakes the writer when the output was dropped.
    kill: Notify,
    /// Wakes a responder waiting for the backlog to shrink
    /// ([`ConnSink::wait_backlog_at_most`]).
    drained: Notify,
    stop: StopSender,
    conn: ConnId,
    peer: SocketAddr,
    /// The session once the handshake attached one (0 before), for logs.
    session: AtomicU64,
    dialect: Dialect,
}

/// The receiving end of a [`ConnSink`], for [`write_loop`]; dropping it
/// takes the connection out of the budget.
pub(crate) struct Queue {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    sink: Arc<ConnSink>,
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.sink.release();
        lock(&self.sink.budget.sinks).remove(&self.sink.conn);
    }
}

impl ConnSink {
    /// A sink for connection `conn` registered with `budget`, and its queue.
    pub(crate) fn open(
        budget: &Arc<OutboundBudget>,
        limit: usize,
        stop: StopSender,
        conn: ConnId,
        peer: SocketAddr,
        dialect: Dialect,
    ) -> (Arc<ConnSink>, Queue) {
        let (out, rx) = mpsc::unbounded_channel();
        let sink = Arc::new(ConnSink {
            out,
            backlog: AtomicUsize::new(0),
            limit,
            budget: budget.clone(),
            kill: Notify::new(),
            drained: Notify::new(),
            stop,
            conn,
            peer,
            session: AtomicU64::new(0),
            dialect,
        });
        lock(&budget.sinks).insert(conn, Arc::downgrade(&sink));
        let queue = Queue {
            rx,
            sink: sink.clone(),
        };
        (sink, queue)
    }

    /// Names the session this connection carries, for logs.
    pub(crate) fn set_session(&self, id: u64) {
        self.session.store(id, Ordering::Relaxed);
    }

    /// Bytes charged to this connection now (0 once its output was dropped).
    fn backlog(&self) -> usize {
        let b = self.backlog.load(Ordering::Relaxed);
        if b & DROPPED != 0 { 0 } else { b }
    }

    /// Waits while more than `limit` bytes are queued for this connection,
    /// so a client that does not read stops costing the server replies it
    /// would have to build and hold; returns at once once the output was
    /// dropped (the connection is ending).
    pub(crate) async fn wait_backlog_at_most(&self, limit: usize) {
        loop {
            let b = self.backlog.load(Ordering::Acquire);
            if b & DROPPED != 0 || b <= limit {
                return;
            }
            // `notify_one` keeps a permit when nobody waits yet, so a drain
            // between the load and this await is not missed.
            self.drained.notified().await;
        }
    }

    /// The protocol this connection speaks.
    pub(crate) fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    /// Queues a response, written in this connection's protocol.
    pub(crate) fn send_response(&self, resp: proto::Response) {
        if let Some(frame) = self.dialect.encode(resp) {
            self.send_frame(frame);
        }
    }

    /// Queues a frame already in this connection's protocol, or drops this
    /// connection's output when it goes over its own cap; then enforces the
    /// server-wide budget.
    pub(crate) fn send_frame(&self, frame: Bytes) {
        let cost = frame.len() + FRAME_OVERHEAD_BYTES;
        // The total is raised first, so it never lags what the backlogs hold.
        self.budget.total.fetch_add(cost, Ordering::Relaxed);
        let charged = self
            .backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b & DROPPED == 0).then_some(b + cost)
            });
        let queued = match charged {
            Ok(before) => before + cost,
            Err(_) => {
                self.budget.total.fetch_sub(cost, Ordering::Relaxed);
                return;
            }
        };
        if queued > self.limit {
            let session = self.session.load(Ordering::Relaxed);
            info!(
                peer = %self.peer,
                session = format_args!("{session:#x}"),
                queued,
                limit = self.limit,
                "client is not reading: over max_outbound_bytes, closing its connection"
            );
            self.drop_output(Error::TooLarge(format!(
                "client is not reading: {queued} bytes queued, limit max_outbound_bytes = {}",
                self.limit
            )));
            return;
        }
        let _ = self.out.send(Outgoing::Frame(frame));
        if self.budget.total() > self.budget.limit {
            self.budget.shed();
        }
    }

    /// Queues the end of the connection (after everything queued before).
    pub(crate) fn send_close(&self, reason: Option<Error>) {
        let _ = self.out.send(Outgoing::Close(reason));
    }

    /// Asks the connection to stop reading and close, telling the client `reason`.
    pub(crate) fn request_stop(&self, reason: Option<Error>) {
        request_stop(&self.stop, reason);
    }

    /// Gives up on this client: releases its charge, discards what is queued
    /// or offered later, and ends the connection with `reason`.
    pub(crate) fn drop_output(&self, reason: Error) {
        if self.release() {
            self.request_stop(Some(reason));
            self.kill.notify_one();
        }
    }

    /// Marks the output dropped and releases its charge; `false` when it
    /// already was.
    fn release(&self) -> bool {
        let before = self.backlog.swap(DROPPED, Ordering::AcqRel);
        self.drained.notify_one();
        if before & DROPPED != 0 {
            return false;
        }
        self.budget.total.fetch_sub(before, Ordering::Relaxed);
        true
    }

    /// The socket took `bytes` of charged frames.
    fn written(&self, bytes: usize) {
        let released = self
            .backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b & DROPPED == 0).then(|| b.saturating_sub(bytes))
            });
        if released.is_ok() {
            self.budget.total.fetch_sub(bytes, Ordering::Relaxed);
        }
        self.drained.notify_one();
    }
}

impl super::sessions::ConnHandle for ConnSink {
    fn close(&self, reason: Option<Error>) {
        self.request_stop(reason);
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }
}

impl EventSink for ConnSink {
    fn session(&self) -> u64 {
        self.session.load(Ordering::Relaxed)
    }

    fn push(&self, event: &WatchEvent) {
        match &self.dialect {
            Dialect::Native => self.send_frame(server_frame(proto::server_message::Body::Event(
                event.into(),
            ))),
            Dialect::ZooKeeper(_) => {
                for frame in super::zk::convert::event_frames(event) {
                    self.send_frame(frame);
                }
            }
        }
    }
}

/// Why a write ended early.
enum WriteEnd {
    /// The client is gone (or the socket failed).
    Gone,
    /// No byte was taken for `write_timeout`.
    Stalled,
    /// The output was dropped.
    Killed,
}

/// Writes all of `buf`, giving up when one write makes no progress for
/// `timeout` or the output is dropped.
async fn write_with_progress<W: AsyncWrite + Unpin>(
    wr: &mut W,
    buf: &[u8],
    timeout: Duration,
    kill: &Notify,
) -> Result<(), WriteEnd> {
    let mut done = 0;
    while done < buf.len() {
        let step = tokio::select! {
            r = tokio::time::timeout(timeout, wr.write(&buf[done..])) => r,
            _ = kill.notified() => return Err(WriteEnd::Killed),
        };
        match step {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(WriteEnd::Gone),
            Ok(Ok(n)) => done += n,
            Err(_) => return Err(WriteEnd::Stalled),
        }
    }
    // A TLS stream may hold encrypted bytes the socket did not take yet;
    // a TCP half's flush does nothing.
    match tokio::time::timeout(timeout, wr.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteEnd::Gone),
        Err(_) => Err(WriteEnd::Stalled),
    }
}

/// Drains the queue into the socket until the connection closes, the client
/// is gone, the output is dropped or a write stalls for `write_timeout`.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut queue: Queue,
    write_timeout: Duration,
) {
    let sink = queue.sink.clone();
    let mut batch = BytesMut::new();
    loop {
        let first = tokio::select! {
            m = queue.rx.recv() => m,
            _ = sink.kill.notified() => return,
        };
        let mut close = None;
        let mut charged = 0;
        let mut next = first;
        // Gather everything already queued into one write.
        loop {
            match next {
                Some(Outgoing::Frame(f)) => {
                    charged += f.len() + FRAME_OVERHEAD_BYTES;
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
            if batch.len() >= WRITE_BATCH_BYTES {
                break;
            }
            next = match queue.rx.try_recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            };
        }
        if let Some(Some(reason)) = &close
            && matches!(sink.dialect, Dialect::Native)
        {
            // ZooKeeper's protocol has no closing message: its clients
            // learn only that the connection ended.
            batch.extend_from_slice(&server_frame(proto::server_message::Body::Closing(
                reason.into(),
            )));
        }
        if !batch.is_empty() {
            match write_with_progress(&mut wr, &batch, write_timeout, &sink.kill).await {
                Ok(()) => sink.written(charged),
                Err(WriteEnd::Killed) => return,
                Err(WriteEnd::Gone) => {
                    // The client is gone: stop reading too.
                    sink.request_stop(None);
                    return;
                }
                Err(WriteEnd::Stalled) => {
                    let session = sink.session.load(Ordering::Relaxed);
                    info!(
                        peer = %sink.peer,
                        session = format_args!("{session:#x}"),
                        ?write_timeout,
                        "client took no bytes for write_timeout: closing its connection"
                    );
                    sink.drop_output(Error::OperationTimeout(format!(
                        "client took no bytes for write_timeout = {write_timeout:?}"
                    )));
                    return;
                }
            }
            batch.clear();
            // An idle connection keeps no large buffer.
            if batch.capacity() > 2 * WRITE_BATCH_BYTES {
                batch = BytesMut::new();
            }
        }
        if close.is_some() {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(budget: &Arc<OutboundBudget>, conn: ConnId, limit: usize) -> (Arc<ConnSink>, Queue) {
        let (stop, _) = watch::channel(None);
        let peer = SocketAddr::from(([127, 0, 0, 1], 1000 + conn as u16));
        ConnSink::open(budget, limit, stop, conn, peer, Dialect::Native)
    }

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0u8; len])
    }

    #[test]
    fn frames_are_charged_with_their_overhead_and_released_when_written() {
        let budget = OutboundBudget::new(1 << 20);
        let (s, _q) = sink(&budget, 1, 1 << 20);
        s.send_frame(frame(100));
        s.send_frame(frame(10));
        assert_eq!(budget.total(), 110 + 2 * FRAME_OVERHEAD_BYTES);
        s.written(100 + FRAME_OVERHEAD_BYTES);
        assert_eq!(budget.total(), 10 + FRAME_OVERHEAD_BYTES);
    }

    #[test]
    fn over_the_budget_the_largest_backlog_is_dropped_first() {
        let budget = OutboundBudget::new(10_000);
        let (big, _qb) = sink(&budget, 1, 1 << 20);
        let (small, _qs) = sink(&budget, 2, 1 << 20);
        big.send_frame(frame(6_000));
        small.send_frame(frame(3_000));
        assert!(budget.total() < 10_000);
        // The small one's frame tips the total over: the big one goes.
        small.send_frame(frame(2_000));
        assert_eq!(big.backlog(), 0);
        assert!(big.backlog.load(Ordering::Relaxed) & DROPPED != 0);
        assert_eq!(small.backlog(), 5_000 + 2 * FRAME_OVERHEAD_BYTES);
        assert_eq!(budget.total(), small.backlog());
        // Frames offered to a dropped connection are discarded, not charged.
        big.send_frame(frame(1_000));
        assert_eq!(budget.total(), small.backlog());
        assert!(matches!(
            &*big.stop.borrow(),
            Some(Some(Error::TooLarge(d))) if d.contains("max_total_outbound_bytes")
        ));
    }

    #[test]
    fn own_cap_drops_only_that_connection_and_closing_releases_the_rest() {
        let budget = OutboundBudget::new(1 << 20);
        let (a, qa) = sink(&budget, 1, 1_000);
        let (b, _qb) = sink(&budget, 2, 1_000);
        b.send_frame(frame(100));
        a.send_frame(frame(2_000));
        assert!(matches!(
            &*a.stop.borrow(),
            Some(Some(Error::TooLarge(d))) if d.contains("max_outbound_bytes")
        ));
        assert_eq!(budget.total(), 100 + FRAME_OVERHEAD_BYTES);
        drop(qa);
        drop(b);
        assert_eq!(lock(&budget.sinks).len(), 1);
    }
}
