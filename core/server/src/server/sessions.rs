//! The session manager: the one owner, on this server, of session liveness
//! (the [`LivenessTracker`]), of which connections are open and of which
//! connection carries each session, and of the close, expire and move rules
//! that tie them together.
//!
//! It follows the replicated session table instead of the request path: a
//! session starts being tracked when its `CreateSession` is *applied*, and
//! stops when its `CloseSession` or `ExpireSessions` is applied (see
//! [`SessionManager::on_applied`]), so a server that merely applies the log
//! (a future follower) keeps the same picture. Connections register through
//! [`SessionManager::attach`], which checks the replicated table under the
//! state's read lock, and get a [`ConnGuard`] whose `Drop` removes the
//! connection's sink, watches and map entries however its task ends (return,
//! panic or abort).
//!
//! Cluster shape, for later: only the leader acts on [`SessionManager::expired`]
//! (housekeeping proposes `ExpireSessions`); a new leader calls
//! [`SessionManager::grant_full_timeouts`]; a follower will relay what
//! [`SessionManager::touch`] sees to the leader; `owners` is where the leader
//! records each session's owner connection and closes a moved session's old
//! one.
//!
//! This module never decides an outcome in the tree or the session table, and
//! never writes to the log or a socket: it only reacts to applied commands and
//! asks connections (through [`ConnHandle`]) to close.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use crate::error::Error;
use crate::liveness::LivenessTracker;
use crate::state_machine::{
    Command, CommandKind, CommandResult, Outcome, SessionInfo, StateMachine,
};
use crate::watch::{ConnId, EventSink, WatchRegistry};

/// What the manager may ask of a connection.
pub(crate) trait ConnHandle: Send + Sync {
    /// Stop reading, finish what is in flight and close, telling the client
    /// `reason` (`None`: a plain close). The first reason wins. Must not block:
    /// it is called under the state machine's write lock.
    fn close(&self, reason: Option<Error>);

    /// The client's address, when the transport knows it (the dashboard
    /// shows it next to the session).
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        None
    }
}

/// Connections and session owners, under one lock so a move, a close and a
/// registration never interleave.
#[derive(Default)]
struct Conns {
    open: HashMap<ConnId, Arc<dyn ConnHandle>>,
    /// The connection that currently carries each session.
    owners: HashMap<u64, ConnId>,
    /// On the leader: sessions carried by a connection on another member
    /// (learned from forwarded commands and attaches), which take precedence
    /// over `owners` until a local connection attaches again.
    remote: HashMap<u64, (u64, ConnId)>,
    /// Set once shutdown began: a connection that attaches afterwards is
    /// closed at once (it may have been accepted just before the listener stopped).
    shutting_down: bool,
}

/// See the module docs.
pub(crate) struct SessionManager {
    /// This member's id.
    node_id: u64,
    tracker: LivenessTracker,
    /// Sessions heard from since the last [`SessionManager::take_touched`]
    /// (a follower relays them to the leader); kept only while `relay` is
    /// set, so a leader's requests pay nothing for it.
    touched: Mutex<HashSet<u64>>,
    relay: AtomicBool,
    watches: Arc<WatchRegistry>,
    conns: Mutex<Conns>,
    /// `ExpireSessions` commands applied since start.
    expire_commands: AtomicU64,
}

impl SessionManager {
    pub(crate) fn new(watches: Arc<WatchRegistry>, node_id: u64) -> Self {
        SessionManager {
            node_id,
            tracker: LivenessTracker::new(),
            touched: Mutex::default(),
            relay: AtomicBool::new(false),
            watches,
            conns: Mutex::new(Conns::default()),
            expire_commands: AtomicU64::new(0),
        }
    }

    /// Restarts liveness from the replicated table: every session in it gets a
    /// full timeout from `now`, nothing else is tracked. A restarted single
    /// node does this at start; a new leader will do it when elected.
    pub(crate) fn grant_full_timeouts(&self, sessions: &[SessionInfo], now: Instant) {
        self.tracker.clear();
        for s in sessions {
            self.tracker
                .add(s.session_id, timeout_of(s.timeout_ms), now);
        }
    }

    /// Follows one applied command. Called under the state's write lock, in
    /// log order, before the applied zxid is published.
    pub(crate) fn on_applied(&self, cmd: &Command, outcome: &Outcome) {
        match (&cmd.kind, &outcome.result) {
            (
                CommandKind::CreateSession { .. },
                Ok(CommandResult::SessionCreated {
                    session_id,
                    timeout_ms,
                }),
            ) => {
                self.tracker
                    .add(*session_id, timeout_of(*timeout_ms), Instant::now());
            }
            (CommandKind::CloseSession, Ok(CommandResult::SessionClosed)) => {
                self.tracker.remove(cmd.session_id);
                lock(&self.conns).remote.remove(&cmd.session_id);
                // The connection answers the close first, then ends.
                self.close_owner(cmd.session_id, None);
            }
            (CommandKind::ExpireSessions(ids), _) => {
                self.expire_commands.fetch_add(1, Ordering::Relaxed);
                // Every listed id, ended or not: one that apply skipped is
                // gone from the table already and must not be proposed again.
                for &id in ids {
                    self.tracker.remove(id);
                    lock(&self.conns).remote.remove(&id);
                    self.close_owner(
                        id,
                        Some(Error::SessionExpired(format!("session {id:#x} expired"))),
                    );
                }
            }
            _ => {}
        }
    }

    /// The whole state was replaced (a snapshot from the leader installed):
    /// track exactly its sessions, each with a full timeout, and close every
    /// connection. Their clients resume on any member, re-registering their
    /// watches from the zxid they saw: that replays what changed, which a
    /// diff of two whole trees here could not do reliably. A session no
    /// longer in the state is told it ended.
    pub(crate) fn on_reset(&self, sm: &StateMachine) {
        self.grant_full_timeouts(&sm.sessions(), Instant::now());
        let conns = lock(&self.conns);
        for (session_id, conn) in &conns.owners {
            let Some(handle) = conns.open.get(conn) else {
                continue;
            };
            handle.close(Some(if sm.session(*session_id).is_none() {
                Error::SessionExpired(format!("session {session_id:#x} has ended"))
            } else {
                Error::ConnectionLoss(
                    "this server installed a snapshot from the leader: resume the session".into(),
                )
            }));
        }
    }

    /// A sign of life from the session's client: pushes its deadline.
    pub(crate) fn touch(&self, session_id: u64) {
        self.tracker.touch(session_id, Instant::now());
        if self.relay.load(Ordering::Relaxed) {
            lock(&self.touched).insert(session_id);
        }
    }

    /// Whether touches are kept for relaying (this member follows). Turning
    /// it off drops what was kept.
    pub(crate) fn set_relay(&self, relay: bool) {
        if self.relay.swap(relay, Ordering::Relaxed) && !relay {
            lock(&self.touched).clear();
        }
    }

    /// Sessions touched since the last call (a follower sends them to the
    /// leader, which owns liveness; the leader just clears them).
    pub(crate) fn take_touched(&self) -> Vec<u64> {
        lock(&self.touched).drain().collect()
    }

    /// On the leader: session `session_id` was resumed on member `node`
    /// through its connection `conn`. A local connection that carried it is
    /// closed with `SessionMoved`.
    pub(crate) fn attach_remote(&self, session_id: u64, node: u64, conn: ConnId) {
        self.tracker.touch(session_id, Instant::now());
        let mut conns = lock(&self.conns);
        conns.remote.insert(session_id, (node, conn));
        if let Some(local) = conns.owners.get(&session_id)
            && let Some(old) = conns.open.get(local)
        {
            old.close(Some(Error::SessionMoved(format!(
                "session {session_id:#x} was resumed on member {node}"
            ))));
        }
    }

    /// On the leader: may connection `conn` of member `node` write for
    /// `session_id`? Not when the session has moved to another connection
    /// since (`SessionMoved`). A session with no known owner (a new leader)
    /// takes this one.
    pub(crate) fn check_owner(
        &self,
        session_id: u64,
        node: u64,
        conn: ConnId,
    ) -> Result<(), Error> {
        let mut conns = lock(&self.conns);
        let owner = match conns.remote.get(&session_id) {
            Some(r) => Some(*r),
            None => conns.owners.get(&session_id).map(|c| (self.node_id, *c)),
        };
        match owner {
            Some(o) if o == (node, conn) => Ok(()),
            Some((n, _)) => Err(Error::SessionMoved(format!(
                "session {session_id:#x} moved to another connection{}",
                if n == self.node_id {
                    String::new()
                } else {
                    format!(" (on member {n})")
                }
            ))),
            None => {
                if node != self.node_id {
                    conns.remote.insert(session_id, (node, conn));
                }
                Ok(())
            }
        }
    }

    /// Sessions whose deadline passed (the leader proposes their expiry; they
    /// stay tracked until the `ExpireSessions` command is applied).
    pub(crate) fn expired(&self, now: Instant) -> Vec<u64> {
        self.tracker.expired(now)
    }

    /// Registers connection `conn` as the owner of `session_id`, which must be
    /// in `sm`'s session table (the caller holds the state's read lock, so no
    /// close or expiry can be applied between the check and the registration).
    /// A previous owner is closed with `SessionMoved`.
    pub(crate) fn attach<S>(
        self: &Arc<Self>,
        sm: &StateMachine,
        conn: ConnId,
        session_id: u64,
        sink: Arc<S>,
    ) -> Result<ConnGuard, Error>
    where
        S: ConnHandle + EventSink + 'static,
    {
        if sm.session(session_id).is_none() {
            return Err(Error::SessionExpired(format!(
                "session {session_id:#x} has ended"
            )));
        }
        // The guard exists before anything is registered, so even an early
        // return or panic below leaves nothing behind.
        let guard = ConnGuard {
            manager: self.clone(),
            conn,
            session_id,
        };
        let mut conns = lock(&self.conns);
        self.watches.attach(conn, sink.clone());
        conns.open.insert(conn, sink.clone());
        if conns.shutting_down {
            sink.close(Some(super::shutting_down_error()));
        }
        conns.remote.remove(&session_id);
        let previous = conns.owners.insert(session_id, conn);
        if let Some(prev) = previous.filter(|p| *p != conn)
            && let Some(old) = conns.open.get(&prev)
        {
            old.close(Some(Error::SessionMoved(format!(
                "session {session_id:#x} was resumed on another connection"
            ))));
        }
        self.tracker.touch(session_id, Instant::now());
        Ok(guard)
    }

    /// Shutdown began: close every connection and any that attaches later.
    pub(crate) fn begin_shutdown(&self) {
        let mut conns = lock(&self.conns);
        conns.shutting_down = true;
        for handle in conns.open.values() {
            handle.close(Some(super::shutting_down_error()));
        }
    }

    fn close_owner(&self, session_id: u64, reason: Option<Error>) {
        let conns = lock(&self.conns);
        if let Some(conn) = conns.owners.get(&session_id)
            && let Some(handle) = conns.open.get(conn)
        {
            handle.close(reason);
        }
    }

    fn detach(&self, conn: ConnId, session_id: u64) {
        {
            let mut conns = lock(&self.conns);
            conns.open.remove(&conn);
            if conns.owners.get(&session_id) == Some(&conn) {
                conns.owners.remove(&session_id);
            }
        }
        self.watches.detach(conn);
    }

    /// Sessions tracked as live.
    pub(crate) fn session_count(&self) -> usize {
        self.tracker.len()
    }

    /// Open (attached) connections.
    pub(crate) fn connection_count(&self) -> usize {
        lock(&self.conns).open.len()
    }

    /// The client address of each session carried by a connection on this
    /// server (sessions on other members are not listed).
    pub(crate) fn client_addrs(&self) -> HashMap<u64, std::net::SocketAddr> {
        let conns = lock(&self.conns);
        conns
            .owners
            .iter()
            .filter_map(|(session, conn)| Some((*session, conns.open.get(conn)?.peer_addr()?)))
            .collect()
    }

    /// Sessions with an owner connection on this server.
    #[cfg(test)]
    pub(crate) fn owner_count(&self) -> usize {
        lock(&self.conns).owners.len()
    }

    /// `ExpireSessions` commands applied since start.
    pub(crate) fn expire_commands(&self) -> u64 {
        self.expire_commands.load(Ordering::Relaxed)
    }
}

fn timeout_of(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// A connection's registration with the [`SessionManager`]. Dropping it (the
/// connection task returned, panicked or was aborted) removes the
/// connection's sink, watches and map entries.
pub(crate) struct ConnGuard {
    manager: Arc<SessionManager>,
    conn: ConnId,
    session_id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.manager.detach(self.conn, self.session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::state_machine::WatchEvent;

    struct Handle(Mutex<Vec<Option<Error>>>);

    impl ConnHandle for Handle {
        fn close(&self, reason: Option<Error>) {
            lock(&self.0).push(reason);
        }
    }

    impl EventSink for Handle {
        fn push(&self, _event: &WatchEvent) {}
    }

    fn handle() -> Arc<Handle> {
        Arc::new(Handle(Mutex::new(Vec::new())))
    }

    fn apply(sm: &mut StateMachine, mgr: &SessionManager, session_id: u64, kind: CommandKind) {
        let cmd = Command {
            origin: Default::default(),
            session_id,
            time_ms: 0,
            kind,
        };
        let (outcome, _) = sm.apply(&cmd);
        mgr.on_applied(&cmd, &outcome);
    }

    fn create(id: u64) -> CommandKind {
        CommandKind::CreateSession {
            identities: Vec::new(),
            session_id: id,
            timeout_ms: 1000,
            secret: [0; 16],
        }
    }

    #[test]
    fn applied_close_and_expiry_stop_tracking_and_close_the_owner() {
        let mut sm = StateMachine::new(Limits::default());
        let mgr = Arc::new(SessionManager::new(Arc::new(WatchRegistry::new()), 1));
        apply(&mut sm, &mgr, 0, create(3));
        apply(&mut sm, &mgr, 0, create(5));
        assert_eq!(mgr.session_count(), 2);
        let (h3, h5) = (handle(), handle());
        let g3 = mgr.attach(&sm, 1, 3, h3.clone()).unwrap();
        let _g5 = mgr.attach(&sm, 2, 5, h5.clone()).unwrap();

        apply(&mut sm, &mgr, 3, CommandKind::CloseSession);
        assert_eq!(mgr.session_count(), 1);
        assert_eq!(*lock(&h3.0), vec![None]);
        drop(g3);
        assert_eq!((mgr.connection_count(), mgr.owner_count()), (1, 1));

        apply(&mut sm, &mgr, 0, CommandKind::ExpireSessions(vec![5, 9]));
        assert_eq!(mgr.session_count(), 0);
        assert_eq!(mgr.expire_commands(), 1);
        assert!(matches!(
            lock(&h5.0).as_slice(),
            [Some(Error::SessionExpired(_))]
        ));
        assert!(mgr.attach(&sm, 4, 5, handle()).is_err());
    }

    #[test]
    fn a_resumed_session_closes_its_old_connection_and_keeps_the_new_owner() {
        let mut sm = StateMachine::new(Limits::default());
        let mgr = Arc::new(SessionManager::new(Arc::new(WatchRegistry::new()), 1));
        apply(&mut sm, &mgr, 0, create(3));
        let (old, new) = (handle(), handle());
        let g_old = mgr.attach(&sm, 1, 3, old.clone()).unwrap();
        let _g_new = mgr.attach(&sm, 2, 3, new.clone()).unwrap();
        assert!(matches!(
            lock(&old.0).as_slice(),
            [Some(Error::SessionMoved(_))]
        ));
        drop(g_old);
        assert_eq!((mgr.connection_count(), mgr.owner_count()), (1, 1));
        apply(&mut sm, &mgr, 3, CommandKind::CloseSession);
        assert_eq!(*lock(&new.0), vec![None]);
    }

    #[tokio::test]
    async fn a_connection_task_that_panics_leaves_no_registration() {
        let mut sm = StateMachine::new(Limits::default());
        let watches = Arc::new(WatchRegistry::new());
        let mgr = Arc::new(SessionManager::new(watches.clone(), 1));
        apply(&mut sm, &mgr, 0, create(3));
        let guard = mgr.attach(&sm, 1, 3, handle()).unwrap();
        watches.add(1, "/a", crate::watch::WatchKind::Data);
        let task = tokio::spawn(async move {
            let _guard = guard;
            panic!("connection task bug");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!((mgr.connection_count(), mgr.owner_count()), (0, 0));
        assert!(watches.is_empty());
        assert_eq!(
            mgr.session_count(),
            1,
            "the session outlives its connection"
        );
    }
}
