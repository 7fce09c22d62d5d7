//! Request/response plumbing: the pending map of one connection (xid ->
//! waiter), the requests parked while no connection is up, and what a
//! response does besides resolving its waiter (watch actions, completion).
//!
//! Owns no lock and no socket: every function here runs under the client's
//! shared mutex (see `inner`), which is what makes "assign xid, record the
//! waiter, hand the frame to the outbox" one atomic step and keeps the wire
//! order equal to the xid order; how frames reach the wire is `outbox`'s.

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use coord_proto::proto;

use super::outbox::{Outbox, WriteQueue};
use super::watch::{EventResult, OneshotKind, WatchTable, WatcherType};

/// Where a caller waits for its response (`None`: fire and forget).
pub(crate) type Reply = Option<oneshot::Sender<Result<proto::Response>>>;

/// A one-shot watch asked for by a read, registered by the reader when the
/// response arrives (so that no event can slip between the two).
#[derive(Debug)]
pub(crate) enum OneshotRequest {
    /// `get_data`: a data watch if the read succeeded.
    Data,
    /// `get_children`: a child watch if the read succeeded.
    Child,
    /// `exists`: a data watch if the node exists, an exists watch if not.
    Exists,
}

/// What the reader does when the response arrives, before resolving the waiter.
#[derive(Debug, Default)]
pub(crate) enum Action {
    /// Nothing.
    #[default]
    None,
    /// Register a one-shot watcher.
    Watch {
        /// Watched path.
        path: String,
        /// Which kind of read set it.
        kind: OneshotRequest,
        /// The watcher.
        tx: oneshot::Sender<EventResult>,
    },
    /// Drop the local watchers a `RemoveWatches` removed on the server.
    RemoveWatches {
        /// Path.
        path: String,
        /// Kind removed.
        kind: WatcherType,
    },
    /// The session is closed: the client becomes `Closed`.
    Close,
}

/// A request waiting for its response.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The caller, if any.
    pub(crate) reply: Reply,
    /// What to do on the response.
    pub(crate) action: Action,
    /// Whether it is a read (gets `min_zxid`).
    pub(crate) read: bool,
}

/// A request not yet written to any connection.
#[derive(Debug)]
pub(crate) struct Queued {
    /// Its xid, already assigned.
    pub(crate) xid: u64,
    /// The operation.
    pub(crate) op: proto::request::Op,
    /// Its waiter.
    pub(crate) pending: Pending,
}

impl Queued {
    /// False when nobody waits any more (the caller was cancelled).
    pub(crate) fn wanted(&self) -> bool {
        self.pending.reply.as_ref().is_some_and(|r| !r.is_closed())
    }
}

/// The live connection as seen by callers: its outbox and its pending map.
#[derive(Debug)]
pub(crate) struct Conn {
    /// `host:port` of the server.
    pub(crate) addr: String,
    /// Where frames go (see `outbox`).
    outbox: Outbox,
    /// Requests written (or handed to the writer), by xid.
    pub(crate) pending: HashMap<u64, Pending>,
}

impl Conn {
    /// A connection to `addr` with nothing in flight yet.
    pub(crate) fn new(addr: String, outbox: Outbox) -> Conn {
        Conn {
            addr,
            outbox,
            pending: HashMap::new(),
        }
    }

    /// Records the waiter and sends the frame through the outbox, which may
    /// let the caller write it directly when no other request is in flight.
    /// The writer's end outlives the connection's install (the supervisor
    /// keeps it for teardown), so the send cannot fail while the connection
    /// is installed; if it ever does, the request is handed back to be parked.
    pub(crate) fn send(&mut self, q: Queued, last_zxid: u64) -> Option<Queued> {
        let req = proto::Request {
            xid: q.xid,
            min_zxid: if q.pending.read { last_zxid } else { 0 },
            op: Some(q.op),
        };
        match self.outbox.send(req, self.pending.is_empty()) {
            None => {
                self.pending.insert(q.xid, q.pending);
                None
            }
            Some(req) => req.op.map(|op| Queued {
                xid: req.xid,
                op,
                pending: q.pending,
            }),
        }
    }

    /// Takes back the requests still in the writer's queue (never written, so
    /// safe to send again), in order; pings and other internal requests are
    /// dropped. Every other pending request (a frame begun by a direct write
    /// included) is returned to be failed.
    pub(crate) fn take_down(mut self, queue: &mut WriteQueue) -> (VecDeque<Queued>, Vec<Pending>) {
        let mut unsent = VecDeque::new();
        for req in queue.unsent() {
            let (Some(pending), Some(op)) = (self.pending.remove(&req.xid), req.op) else {
                continue;
            };
            let q = Queued {
                xid: req.xid,
                op,
                pending,
            };
            if q.wanted() {
                unsent.push_back(q);
            }
        }
        (unsent, self.pending.into_values().collect())
    }
}

/// A caller's result, to hand over once the client's mutex is released
/// (waking a thread while holding the mutex lets the woken caller run into
/// the mutex, or the waker be preempted while holding it).
#[must_use = "the caller waits for this result"]
pub(crate) struct Completion {
    reply: Reply,
    outcome: Result<proto::Response>,
}

impl Completion {
    /// Resolves the caller's wait.
    pub(crate) fn deliver(self) {
        if let Some(reply) = self.reply {
            // The caller may have given up (timeout, cancellation): nothing to do.
            let _ = reply.send(self.outcome);
        }
    }
}

/// Turns a response into the caller's result and performs its action on the
/// watch table. Returns the result to deliver, and true when the action
/// closed the session.
pub(crate) fn complete(
    pending: Pending,
    resp: proto::Response,
    watches: &mut WatchTable,
) -> (Completion, bool) {
    let outcome = match &resp.error {
        Some(e) => Err(Error::from(e)),
        None => Ok(resp),
    };
    let mut closed = false;
    match pending.action {
        Action::None => {}
        Action::Watch { path, kind, tx } => {
            let kind = match (&kind, &outcome) {
                (OneshotRequest::Data, Ok(_)) => Some(OneshotKind::Data),
                (OneshotRequest::Child, Ok(_)) => Some(OneshotKind::Child),
                (OneshotRequest::Exists, Ok(r)) => Some(match &r.result {
                    Some(proto::response::Result::Exists(e)) if e.stat.is_some() => {
                        OneshotKind::Data
                    }
                    _ => OneshotKind::Exist,
                }),
                (OneshotRequest::Exists, Err(Error::NoNode(_))) => Some(OneshotKind::Exist),
                _ => None,
            };
            if let Some(kind) = kind {
                watches.add_oneshot(kind, path, tx);
            }
        }
        Action::RemoveWatches { path, kind } => {
            if matches!(outcome, Ok(_) | Err(Error::NoWatcher(_))) {
                let why = Error::Cancelled(format!("watch on {path} removed by remove_watches"));
                watches.remove(&path, kind, &why);
            }
        }
        Action::Close => closed = true,
    }
    let done = Completion {
        reply: pending.reply,
        outcome,
    };
    (done, closed)
}
