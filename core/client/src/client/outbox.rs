//! The outbox of one connection: the queue of frames to write, and the one
//! rule that keeps them in order on the wire. Requests reach the socket in
//! the order they were given to [`Outbox::send`]; a caller writes its frame
//! itself only while the writer task has nothing queued and nothing half
//! written; a frame a caller could only partly write hands its unwritten
//! tail to the writer, ahead of anything sent after it.
//!
//! It owns the write side of the socket after the handshake and nothing
//! else: it knows no xid, pending map, session or lock. What a request is
//! for, and when it may be re-sent, is decided by `request` and `inner`;
//! when the connection ends, by `connection` and `supervisor`.
//!
//! Why a caller may write directly: a caller whose request is the only one
//! in flight writes its frame to the socket instead of waking the writer
//! task. For a thread outside the runtime (the Python binding's blocking
//! calls) that saves a thread wake-up per request; inside the runtime, a
//! task switch. Requests that find others in flight go through the writer,
//! which batches them into one write.
//!
//! How the rule is kept without a lock of its own: `queued` counts what was
//! handed to the writer and is not yet fully on the socket (a caller adds
//! one before handing over; the writer subtracts a batch once it is
//! written). A caller writes directly only when it reads zero, so it can
//! never overtake a queued frame nor interleave with a write in progress.
//! Callers are serialized by `&mut Outbox` (the client holds it under its
//! mutex), so two direct writes never race either.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use coord_proto::proto;
use coord_proto::wire::encode_frame;

use super::transport::WriteSide;

/// Most frames taken from the queue for one write.
const MAX_BATCH: usize = 1024;

/// A direct-write buffer grown past this by one large frame is dropped after
/// the write, so that it does not stay pinned for the connection's life.
const SCRATCH_KEEP: usize = 64 * 1024;

/// The writer's buffer is shrunk back after a batch larger than this.
const BUF_KEEP: usize = 1024 * 1024;

/// A new outbox over `socket`: the callers' end and the writer's end.
pub(crate) fn new(socket: WriteSide) -> (Outbox, WriteQueue) {
    let socket = Arc::new(socket);
    let queued = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let outbox = Outbox {
        tx,
        socket: Arc::clone(&socket),
        queued: Arc::clone(&queued),
        scratch: BytesMut::new(),
    };
    let queue = WriteQueue {
        rx,
        socket,
        queued,
        batch: Vec::with_capacity(64),
        taken: 0,
        buf: BytesMut::with_capacity(8 * 1024),
    };
    (outbox, queue)
}

/// What a caller hands to the writer.
#[derive(Debug)]
enum Outgoing {
    /// A request to encode and write. Never written, so it may be re-sent on
    /// the next connection if this one ends first.
    Request(proto::Request),
    /// The unwritten tail of a frame a caller began writing itself (its
    /// request counts as written).
    Rest(Bytes),
}

/// The callers' end: writes a frame directly while the writer is idle, else
/// hands it to the writer.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    socket: Arc<WriteSide>,
    /// Frames (or tails) handed to the writer and not yet fully written.
    queued: Arc<AtomicUsize>,
    /// Reused encoding buffer for direct writes.
    scratch: BytesMut,
}

impl Outbox {
    /// Sends `req` after everything sent before it. Written by the caller
    /// when `direct` (it is the only request in flight, so batching has
    /// nothing to gain) and the writer is idle; else handed to the writer.
    /// Hands the request back, unwritten, when the writer's end is gone.
    pub(crate) fn send(&mut self, req: proto::Request, direct: bool) -> Option<proto::Request> {
        let req = if direct && self.writer_idle() {
            self.write_directly(req)?
        } else {
            req
        };
        match self.hand_off(Outgoing::Request(req)) {
            None => None,
            Some(Outgoing::Request(req)) => Some(req),
            Some(Outgoing::Rest(_)) => unreachable!("a request was handed off"),
        }
    }

    /// True when the writer has written everything it was handed.
    fn writer_idle(&self) -> bool {
        // Acquire: pairs with the writer's release after its write, so a
        // direct write is ordered after the writer's last one.
        self.queued.load(Ordering::Acquire) == 0
    }

    /// Queues `out` for the writer, counted before it can be seen there.
    /// Gives it back when the writer's end is gone.
    fn hand_off(&mut self, out: Outgoing) -> Option<Outgoing> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        // On failure the count stays up: the writer is gone, and every later
        // frame must be handed back the same way rather than written.
        self.tx
            .send(out)
            .err()
            .map(|mpsc::error::SendError(out)| out)
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
        let back = match self.socket.try_write(&self.scratch) {
            Ok(n) if n == self.scratch.len() => None,
            Ok(n) if n > 0 => {
                let rest = Bytes::copy_from_slice(&self.scratch[n..]);
                // If the writer is gone, so is the connection: the request
                // counts as in flight and fails with it.
                let _ = self.hand_off(Outgoing::Rest(rest));
                None
            }
            _ => match msg.body {
                Some(proto::client_message::Body::Request(req)) => Some(req),
                _ => unreachable!("built above as a request"),
            },
        };
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = BytesMut::new();
        }
        back
    }
}

/// The writer task's end: waits for frames, writes them in batches, and
/// gives back what was never written when the connection ends.
#[derive(Debug)]
pub(crate) struct WriteQueue {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    socket: Arc<WriteSide>,
    queued: Arc<AtomicUsize>,
    /// Received by [`WriteQueue::ready`], encoded by [`WriteQueue::flush`].
    batch: Vec<Outgoing>,
    /// Frames in `buf`, subtracted from `queued` once `buf` is written.
    taken: usize,
    buf: BytesMut,
}

impl WriteQueue {
    /// Waits until frames are queued; false when the callers' end is gone.
    /// Cancel-safe: nothing is taken from the queue unless it returns.
    pub(crate) async fn ready(&mut self) -> bool {
        self.rx.recv_many(&mut self.batch, MAX_BATCH).await > 0
    }

    /// Writes everything [`WriteQueue::ready`] took, in one write, waiting
    /// for room when the socket buffer is full. Once it returns `Ok`, callers
    /// may write directly again (unless more was queued meanwhile). Not
    /// cancel-safe: a frame begun on the socket is lost with the connection.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        for out in self.batch.drain(..) {
            match out {
                Outgoing::Request(req) => {
                    let msg = proto::ClientMessage {
                        body: Some(proto::client_message::Body::Request(req)),
                    };
                    encode_frame(&msg, &mut self.buf);
                }
                Outgoing::Rest(rest) => self.buf.extend_from_slice(&rest),
            }
            self.taken += 1;
        }
        write_all(&self.socket, &self.buf).await?;
        self.buf.clear();
        if self.buf.capacity() > BUF_KEEP {
            self.buf = BytesMut::with_capacity(8 * 1024);
        }
        // Release: pairs with the callers' acquire (see `writer_idle`).
        self.queued.fetch_sub(self.taken, Ordering::AcqRel);
        self.taken = 0;
        Ok(())
    }

    /// The requests still queued, in order: never written, so safe to send
    /// on another connection. Tails of frames begun by a caller are skipped
    /// (their requests count as in flight). Call once the connection ended.
    pub(crate) fn unsent(&mut self) -> impl Iterator<Item = proto::Request> + '_ {
        let (batch, rx) = (&mut self.batch, &mut self.rx);
        batch
            .drain(..)
            .chain(std::iter::from_fn(move || rx.try_recv().ok()))
            .filter_map(|out| match out {
                Outgoing::Request(req) => Some(req),
                Outgoing::Rest(_) => None,
            })
    }
}

/// Writes all of `buf`, waiting for room when the socket buffer is full.
pub(crate) async fn write_all(socket: &WriteSide, buf: &[u8]) -> std::io::Result<()> {
    socket.write_all(buf).await
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
