//! The state shared by the public API and the client's tasks, behind one
//! mutex, and every transition of it: submitting a request, installing a
//! connection (re-registering watches first), routing what a connection
//! hears (it is the connection's [`ConnectionEvents`]), connection loss,
//! expiry, close.
//!
//! Why one `std::sync::Mutex` and not tokio's: every critical section is short
//! and never awaits; one lock over the connection slot, the parked queue, the
//! watch table and the state makes "event routed before later responses" and
//! "watches re-registered before parked requests" simple to keep. This module
//! must not do I/O: sockets belong to `connection` and `outbox`, timers to
//! `supervisor`. Results are delivered after the mutex is released.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, mpsc, oneshot, watch};

use crate::error::{Error, Result};
use coord_proto::WatchEvent;
use coord_proto::proto;

use super::config::Config;
use super::connection::{ConnectionEvents, Terms};
use super::outbox::{Outbox, WriteQueue};
use super::request::{Action, Conn, Pending, Queued, Reply, complete};
use super::session::{Credentials, SessionState, StateHub, StateStream};
use super::watch::{EventResult, WatchMode, WatchTable, WatcherType};

/// Everything guarded by the mutex.
#[derive(Debug)]
struct Shared {
    next_xid: u64,
    conn: Option<Conn>,
    parked: VecDeque<Queued>,
    watches: WatchTable,
    hub: StateHub,
    creds: Credentials,
    /// Set once, on expiry or close: the error every later call gets.
    terminal: Option<Error>,
}

/// The client's shared core. Tasks hold an `Arc<Inner>`; the user's handles
/// hold it through `api::Handle`, whose drop closes the session.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Settings.
    pub(crate) config: Config,
    shared: Mutex<Shared>,
    last_zxid: AtomicU64,
    /// Watch events received from servers since the client started.
    events_received: AtomicU64,
    /// Local watchers woken by those events (a one-shot whose handle was
    /// dropped is not woken).
    watchers_woken: AtomicU64,
    epoch: Instant,
    /// Milliseconds after `epoch` at which the last frame arrived.
    last_heard_ms: AtomicU64,
    shutdown: watch::Sender<bool>,
    close_result: OnceCell<Result<()>>,
}

impl Inner {
    /// A client core in state `Connecting`, with no connection.
    pub(crate) fn new(config: Config) -> Arc<Self> {
        Arc::new(Inner {
            config,
            shared: Mutex::new(Shared {
                next_xid: 0,
                conn: None,
                parked: VecDeque::new(),
                watches: WatchTable::default(),
                hub: StateHub::new(),
                creds: Credentials::default(),
                terminal: None,
            }),
            last_zxid: AtomicU64::new(0),
            events_received: AtomicU64::new(0),
            watchers_woken: AtomicU64::new(0),
            epoch: Instant::now(),
            last_heard_ms: AtomicU64::new(0),
            shutdown: watch::channel(false).0,
            close_result: OnceCell::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock cannot leave the plain data here in
        // a state worse than a lost connection; keep serving.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Newest zxid seen in a response, an event or a handshake.
    pub(crate) fn last_zxid(&self) -> u64 {
        self.last_zxid.load(Ordering::Acquire)
    }

    /// Raises `last_zxid` to `zxid` if it is newer.
    pub(crate) fn saw_zxid(&self, zxid: u64) {
        self.last_zxid.fetch_max(zxid, Ordering::AcqRel);
    }

    /// Time since the last frame arrived.
    pub(crate) fn since_heard(&self) -> Duration {
        let now = self.epoch.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.last_heard_ms.load(Ordering::Acquire),
        ))
    }

    /// What every connection asks of its server.
    pub(crate) fn terms(&self) -> Terms {
        Terms {
            token: self.config.token.clone(),
            session_timeout: self.config.session_timeout,
            max_frame_bytes: self.config.max_frame_bytes,
            tls: self.config.tls.clone(),
        }
    }

    /// Session credentials (id 0 before the first handshake).
    pub(crate) fn creds(&self) -> Credentials {
        self.lock().creds
    }

    /// Current session state.
    pub(crate) fn state(&self) -> SessionState {
        self.lock().hub.current()
    }

    /// A stream of state changes, current state first.
    pub(crate) fn subscribe(&self) -> StateStream {
        self.lock().hub.subscribe()
    }

    /// True once expired or closed.
    pub(crate) fn is_terminal(&self) -> bool {
        self.lock().terminal.is_some()
    }

    /// A receiver that turns `true` when the tasks must stop.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Sends a request and waits for its response, within `request_timeout`
    /// (including any wait for a reconnect). A response carrying an error
    /// becomes that error.
    pub(crate) async fn call(
        &self,
        op: proto::request::Op,
        read: bool,
        action: Action,
    ) -> Result<proto::Response> {
        // Refused here rather than by the server, which would drop the
        // connection (and every other request in flight) over it. The margin
        // covers the xid, min_zxid and message wrappers.
        let len = op.encoded_len() + 32;
        if len > self.config.max_frame_bytes {
            return Err(Error::TooLarge(format!(
                "request of {len} bytes is over max_frame_bytes = {}",
                self.config.max_frame_bytes
            )));
        }
        let timeout = self.config.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, mut rx) = oneshot::channel();
        let xid = self.submit(op, Some(tx), read, action)?;
        match tokio::time::timeout_at(deadline, &mut rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(Error::Closed(
                "the client stopped before the request was answered".into(),
            )),
            Err(_) => {
                let mut s = self.lock();
                if let Some(i) = s.parked.iter().position(|q| q.xid == xid) {
                    s.parked.remove(i);
                    return Err(Error::OperationTimeout(format!(
                        "no connection to a server within {timeout:?}; the request was not sent"
                    )));
                }
                if let Some(conn) = s.conn.as_mut() {
                    conn.pending.remove(&xid);
                }
                drop(s);
                // The response may have landed just before we took the lock.
                match rx.try_recv() {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Error::OperationTimeout(format!(
                        "no response within {timeout:?}; the request may or may not have been applied"
                    ))),
                }
            }
        }
    }

    /// Assigns an xid and either queues the request on the connection or
    /// parks it until the next one. Fails at once after expiry or close.
    pub(crate) fn submit(
        &self,
        op: proto::request::Op,
        reply: Reply,
        read: bool,
        action: Action,
    ) -> Result<u64> {
        let mut s = self.lock();
        if let Some(e) = &s.terminal {
            return Err(e.clone());
        }
        s.next_xid += 1;
        let q = Queued {
            xid: s.next_xid,
            op,
            pending: Pending {
                reply,
                action,
                read,
            },
        };
        let xid = q.xid;
        let last_zxid = self.last_zxid();
        let back = match s.conn.as_mut() {
            Some(conn) => conn.send(q, last_zxid),
            None => Some(q),
        };
        if let Some(q) = back {
            s.parked.push_back(q);
        }
        Ok(xid)
    }

    /// Makes the connection to `addr` (its `outbox`) the live one after a
    /// handshake: records the credentials, sends `SetWatches` (every live
    /// watch, `last_zxid`) and then the parked requests, in order, and moves
    /// to `Connected`. Returns false (and installs nothing) once the client
    /// is terminal.
    pub(crate) fn install(&self, addr: String, outbox: Outbox, creds: Credentials) -> bool {
        let mut s = self.lock();
        if s.terminal.is_some() {
            return false;
        }
        let mut conn = Conn::new(addr, outbox);
        s.creds = creds;
        let last_zxid = self.last_zxid();
        if let Some(set) = s.watches.set_watches(last_zxid) {
            s.next_xid += 1;
            let q = Queued {
                xid: s.next_xid,
                op: proto::request::Op::SetWatches(set),
                pending: Pending {
                    reply: None,
                    action: Action::None,
                    read: false,
                },
            };
            let _ = conn.send(q, last_zxid);
        }
        let parked = std::mem::take(&mut s.parked);
        for q in parked.into_iter().filter(Queued::wanted) {
            if let Some(q) = conn.send(q, last_zxid) {
                s.parked.push_back(q);
            }
        }
        tracing::info!(server = %conn.addr, session = format_args!("{:#x}", creds.session_id), "connected");
        s.conn = Some(conn);
        s.hub.set(SessionState::Connected);
        true
    }

    /// The connection is gone: requests it may have carried fail with
    /// `ConnectionLoss`, those still in the writer's `queue` go back to the
    /// front of the parked queue, and the state becomes `Suspended`.
    pub(crate) fn connection_lost(&self, queue: &mut WriteQueue, reason: &str) {
        let mut s = self.lock();
        let Some(conn) = s.conn.take() else {
            return;
        };
        let addr = conn.addr.clone();
        tracing::warn!(server = %addr, %reason, "connection lost");
        let (unsent, in_flight) = conn.take_down(queue);
        for q in unsent.into_iter().rev() {
            s.parked.push_front(q);
        }
        let err = Error::ConnectionLoss(format!(
            "connection to {addr} lost ({reason}); the request may or may not have been applied"
        ));
        for p in in_flight {
            if let Some(reply) = p.reply {
                let _ = reply.send(Err(err.clone()));
            }
        }
        s.hub.set(SessionState::Suspended);
    }

    /// The session is over (expired, or closed when `closed`): every waiter
    /// and watcher gets the error, the state becomes terminal, the tasks stop.
    pub(crate) fn end(&self, err: Error) {
        let mut s = self.lock();
        if s.terminal.is_some() {
            return;
        }
        let state = match err {
            Error::Closed(_) => SessionState::Closed,
            _ => SessionState::Expired,
        };
        tracing::info!(session = format_args!("{:#x}", s.creds.session_id), %err, "session ended");
        s.terminal = Some(err.clone());
        let mut waiters: Vec<Reply> = s.parked.drain(..).map(|q| q.pending.reply).collect();
        if let Some(conn) = s.conn.take() {
            waiters.extend(conn.pending.into_values().map(|p| p.reply));
        }
        for reply in waiters.into_iter().flatten() {
            let _ = reply.send(Err(err.clone()));
        }
        s.watches.fail_all(&err);
        s.hub.set(state);
        drop(s);
        self.shutdown.send_replace(true);
    }

    /// Watch events received from servers so far.
    pub(crate) fn events_received(&self) -> u64 {
        self.events_received.load(Ordering::Relaxed)
    }

    /// Local watchers woken so far.
    pub(crate) fn watchers_woken(&self) -> u64 {
        self.watchers_woken.load(Ordering::Relaxed)
    }

    /// Ends the session as expired.
    pub(crate) fn expire(&self, detail: String) {
        self.end(Error::SessionExpired(detail));
    }

    /// Registers a persistent watcher locally (before its `AddWatch` is sent,
    /// so that a concurrent drop never removes the server's watch under it).
    pub(crate) fn add_persistent(
        &self,
        mode: WatchMode,
        path: &str,
        tx: mpsc::UnboundedSender<EventResult>,
    ) -> u64 {
        self.lock()
            .watches
            .add_persistent(mode, path.to_string(), tx)
    }

    /// Drops a persistent watcher; when it was the last one of its path and
    /// mode, removes the server's watch too (fire and forget).
    pub(crate) fn drop_persistent(&self, mode: WatchMode, path: &str, id: u64) {
        let last = self.lock().watches.remove_persistent(mode, path, id);
        if last {
            let kind = match mode {
                WatchMode::Persistent => WatcherType::Persistent,
                WatchMode::PersistentRecursive => WatcherType::PersistentRecursive,
            };
            let op = proto::request::Op::RemoveWatches(proto::RemoveWatchesRequest {
                path: path.to_string(),
                watcher_type: proto::WatcherType::from(kind) as i32,
            });
            // Only worth sending on a live connection: a reconnect re-registers
            // from the table, which no longer holds this watch.
            if self.lock().conn.is_some() {
                let _ = self.submit(op, None, false, Action::None);
            }
        }
    }

    /// True when a local watcher of `kind` waits on `path`.
    pub(crate) fn has_watch(&self, path: &str, kind: WatcherType) -> bool {
        self.lock().watches.has(path, kind)
    }

    /// Closes the session once; every call gets the first call's result.
    pub(crate) async fn close(&self) -> Result<()> {
        self.close_result
            .get_or_init(|| async {
                if self.is_terminal() {
                    return Ok(());
                }
                let op = proto::request::Op::CloseSession(proto::CloseSessionRequest {});
                let r = self.call(op, false, Action::Close).await;
                self.end(closed_error());
                match r {
                    Ok(_) | Err(Error::SessionExpired(_) | Error::Closed(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await
            .clone()
    }
}

/// What the live connection hears, routed under the mutex; results and
/// wake-ups are delivered after it is released.
impl ConnectionEvents for Inner {
    fn last_zxid(&self) -> u64 {
        Inner::last_zxid(self)
    }

    fn heard(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_heard_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// Routes a response to its waiter (after its watch action).
    fn on_response(&self, resp: proto::Response) {
        self.saw_zxid(resp.zxid);
        let mut s = self.lock();
        let Some(pending) = s.conn.as_mut().and_then(|c| c.pending.remove(&resp.xid)) else {
            tracing::debug!(xid = resp.xid, "response nobody waits for");
            return;
        };
        let (done, closed) = complete(pending, resp, &mut s.watches);
        drop(s);
        done.deliver();
        if closed {
            self.end(closed_error());
        }
    }

    /// Routes a watch event to the local watchers.
    fn on_event(&self, ev: &WatchEvent) {
        self.saw_zxid(ev.zxid);
        self.events_received.fetch_add(1, Ordering::Relaxed);
        let n = self.lock().watches.route(ev);
        self.watchers_woken.fetch_add(n as u64, Ordering::Relaxed);
        tracing::trace!(path = %ev.path, kind = ?ev.kind, watchers = n, "watch event");
    }

    /// Sends a ping if a connection is up (no waiter: any frame back counts).
    fn ping_due(&self) {
        let op = proto::request::Op::Ping(proto::PingRequest {});
        let mut s = self.lock();
        if s.conn.is_some() && s.terminal.is_none() {
            s.next_xid += 1;
            let q = Queued {
                xid: s.next_xid,
                op,
                pending: Pending {
                    reply: None,
                    action: Action::None,
                    read: false,
                },
            };
            if let Some(conn) = s.conn.as_mut() {
                let _ = conn.send(q, 0);
            }
        }
    }
}

/// The error calls get after `close`.
pub(crate) fn closed_error() -> Error {
    Error::Closed("the client was closed".into())
}
