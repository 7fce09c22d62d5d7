//! The Proposer seam: how a client's write reaches the log from whichever
//! member the client is connected to.
//!
//! - On the leader a write goes to the local batcher ([`Replica::submit`]).
//! - On a follower or learner it is *forwarded*: the [`Forwarder`] keeps one
//!   forward stream to the current leader (see `peer.proto`) and sends the
//!   commands on it in the order they were admitted, so every session's
//!   writes enter the log in the order the client sent them. The command
//!   carries this member's id and a tag ([`Origin`]); when this member applies
//!   the entry, the observer hands the outcome to the waiting request
//!   ([`Forwarder::applied`]). The reply is therefore built from this
//!   member's own state after its own apply reached the write: the client
//!   reads its own writes here, and any watch event the write fired was
//!   delivered before the reply.
//! - When the stream breaks, the leader changes, or the leader refuses a
//!   command, every forwarded write not yet applied here fails with
//!   `ConnectionLoss`, and the connection that sent it is closed: the write
//!   may or may not have been applied, exactly as when a single server goes
//!   away, and the client resumes its session elsewhere.
//! - The same stream carries the sessions' signs of life (the leader owns
//!   liveness), session moves ([`Up::Attach`]), and read-index questions for
//!   `sync` ([`Forwarder::read_index`]).
//!
//! The leader's side is [`LeaderService`]: it re-stamps each command with the
//! leader's clock, refuses a command of a session whose owner is another
//! connection (`SessionMoved`), proposes the rest in order, and answers each
//! command once the leader applied it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::replication::peer::PeerStream;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::{Shared, lock};
use crate::error::Error;
use crate::replication::peer::{ForwardService, PeerConfig, frame, open_forward, proto};
use crate::replication::{NodeId, Replica};
use crate::state_machine::{Command, Origin, Outcome};
use crate::storage::{command_from_storage, command_to_storage};
use crate::watch::ConnId;

/// A write's outcome, once this member applied it.
pub(crate) type OutcomeFuture = Pin<Box<dyn Future<Output = Result<Outcome, Error>> + Send>>;

/// Most commands sent in one forwarded batch.
const MAX_BATCH: usize = 1024;

/// How long to wait before opening a stream again after a failure.
const RETRY: Duration = Duration::from_millis(50);

/// A forwarded write waiting for its outcome.
struct Waiter {
    conn: ConnId,
    tx: oneshot::Sender<Result<Outcome, Error>>,
}

/// What a follower sends its leader.
enum Up {
    Command { cmd: Command, conn: ConnId },
    Attach { session_id: u64, conn: ConnId },
    ReadIndex(u64),
}

/// The follower's side (see the module docs).
pub(crate) struct Forwarder {
    node_id: NodeId,
    /// Bytes of forwarded writes not yet answered, bounded like the
    /// leader's proposal queue (`max_pending_proposal_bytes`): past it the
    /// submitting connection waits (and stops reading its client).
    room: Arc<Semaphore>,
    room_max: usize,
    next_tag: AtomicU64,
    waiters: Mutex<HashMap<u64, Waiter>>,
    /// Connections one of whose forwarded writes failed with an unknown
    /// outcome: they are closing, and nothing more of theirs may be
    /// forwarded (a later write applied after an earlier one was lost would
    /// break the session's order).
    poisoned: Mutex<HashSet<ConnId>>,
    reads: Mutex<HashMap<u64, oneshot::Sender<Result<u64, Error>>>>,
    tx: mpsc::UnboundedSender<Up>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Up>>>,
}

impl Forwarder {
    pub(crate) fn new(node_id: NodeId, max_pending_bytes: usize) -> Forwarder {
        let room_max = max_pending_bytes.clamp(1, Semaphore::MAX_PERMITS);
        let (tx, rx) = mpsc::unbounded_channel();
        // Tags start at a random point: entries this member forwarded before
        // a restart may still be applied after it, and must not be taken for
        // new ones.
        let start = rand::random::<u64>() >> 1;
        Forwarder {
            node_id,
            room: Arc::new(Semaphore::new(room_max)),
            room_max,
            next_tag: AtomicU64::new(start.max(1)),
            waiters: Mutex::default(),
            poisoned: Mutex::default(),
            reads: Mutex::default(),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Forwards `cmd` (of connection `conn`) to the leader; the future
    /// resolves with the outcome once this member applied it. Waits while
    /// `max_pending_proposal_bytes` of forwarded writes are unanswered.
    pub(crate) async fn submit(
        &self,
        replica: &Replica,
        mut cmd: Command,
        conn: ConnId,
    ) -> Result<OutcomeFuture, Error> {
        if replica.leader() == Some(self.node_id) {
            return Err(Error::ConnectionLoss(
                "this server became the leader while the write was admitted".into(),
            ));
        }
        if lock(&self.poisoned).contains(&conn) {
            return Err(Error::ConnectionLoss(
                "an earlier write of this connection was lost with its leader".into(),
            ));
        }
        let charge = crate::replication::proposal_bytes(&cmd)
            .min(self.room_max)
            .min(u32::MAX as usize) as u32;
        let permit = self
            .room
            .clone()
            .acquire_many_owned(charge)
            .await
            .map_err(|_| Error::ShuttingDown("server is stopping".into()))?;
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        cmd.origin = Origin {
            node: self.node_id,
            tag,
        };
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(tag, Waiter { conn, tx });
        if self.tx.send(Up::Command { cmd, conn }).is_err() {
            lock(&self.waiters).remove(&tag);
            return Err(Error::ShuttingDown("server is stopping".into()));
        }
        Ok(Box::pin(async move {
            let _permit = permit;
            rx.await.unwrap_or_else(|_| {
                Err(Error::ConnectionLoss(
                    "the forwarded write was dropped; it may or may not have been applied".into(),
                ))
            })
        }))
    }

    /// Tells the leader that `session_id` is now carried by `conn` here.
    pub(crate) fn attach(&self, session_id: u64, conn: ConnId) {
        let _ = self.tx.send(Up::Attach { session_id, conn });
    }

    /// Asks the leader for a read index: its applied zxid once a quorum
    /// confirmed it still leads.
    pub(crate) async fn read_index(&self, replica: &Replica) -> Result<u64, Error> {
        match replica.leader() {
            Some(l) if l != self.node_id => {}
            _ => return Err(Error::NotLeader("no leader known for sync".into())),
        }
        let id = self.next_tag.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.reads).insert(id, tx);
        if self.tx.send(Up::ReadIndex(id)).is_err() {
            lock(&self.reads).remove(&id);
            return Err(Error::ShuttingDown("server is stopping".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(Error::ConnectionLoss("lost the leader during sync".into())))
    }

    /// This member applied `cmd`: if it forwarded it, the waiting request
    /// gets the outcome. Called by the apply observer, in log order.
    pub(crate) fn applied(&self, cmd: &Command, outcome: &Outcome) {
        if cmd.origin.node != self.node_id || cmd.origin.tag == 0 {
            return;
        }
        if let Some(w) = lock(&self.waiters).remove(&cmd.origin.tag) {
            let _ = w.tx.send(Ok(outcome.clone()));
        }
    }

    /// Fails every forwarded write and read index not yet answered.
    pub(crate) fn fail_all(&self, why: &str) {
        let waiters: Vec<_> = lock(&self.waiters).drain().collect();
        if !waiters.is_empty() {
            debug!(count = waiters.len(), why, "failing forwarded writes");
        }
        let mut poisoned = lock(&self.poisoned);
        for (_, w) in waiters {
            poisoned.insert(w.conn);
            let _ = w.tx.send(Err(Error::ConnectionLoss(format!(
                "{why}; the write may or may not have been applied"
            ))));
        }
        drop(poisoned);
        for (_, tx) in lock(&self.reads).drain() {
            let _ = tx.send(Err(Error::ConnectionLoss(why.to_string())));
        }
    }

    fn fail_one(&self, tag: u64, e: Error) {
        if let Some(w) = lock(&self.waiters).remove(&tag) {
            lock(&self.poisoned).insert(w.conn);
            let _ = w.tx.send(Err(e));
        }
    }

    /// Connection `conn` has ended: forget it.
    pub(crate) fn forget(&self, conn: ConnId) {
        lock(&self.poisoned).remove(&conn);
    }

    fn answer_read(&self, id: u64, r: Result<u64, Error>) {
        if let Some(tx) = lock(&self.reads).remove(&id) {
            let _ = tx.send(r);
        }
    }
}

/// Keeps the forward stream to the current leader until `shutdown`.
pub(crate) async fn run(
    shared: Weak<Shared>,
    peer: PeerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut rx) = shared.upgrade().and_then(|s| lock(&s.forwarder.rx).take()) else {
        return;
    };
    let mut metrics = match shared.upgrade() {
        Some(s) => s.replica.metrics(),
        None => return,
    };
    let mut unreachable_since: Option<std::time::Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some(s) = shared.upgrade() else { return };
        let me = s.forwarder.node_id;
        let leader = metrics.borrow_and_update().current_leader;
        let target = leader
            .filter(|l| *l != me)
            .and_then(|l| s.replica.member(l).map(|m| (l, m.peer_addr)));
        let Some((leader, addr)) = target else {
            if leader == Some(me) {
                // This member leads: nothing is forwarded any more.
                drain(&mut rx);
                s.forwarder.fail_all("this server became the leader");
                drop(s);
                wait_leader_change(&mut metrics, &mut shutdown, leader).await;
                continue;
            }
            // An election is under way: what waits here was never sent
            // anywhere, so it may go to the next leader; past the patience
            // it fails and the clients move on.
            let patience = s.forward_patience();
            drop(s);
            let changed = tokio::time::timeout(
                patience,
                wait_leader_change(&mut metrics, &mut shutdown, leader),
            )
            .await;
            if changed.is_err()
                && let Some(s) = shared.upgrade()
            {
                drain(&mut rx);
                s.forwarder.fail_all("no leader elected");
            }
            continue;
        };
        drop(s);
        let stream = match open_forward(&peer, leader, &addr).await {
            Ok(stream) => {
                unreachable_since = None;
                stream
            }
            Err(e) => {
                debug!(leader, %addr, error = %e, "cannot open the forward stream");
                // The leader may have died: an election follows. Unsent
                // writes wait for it, up to the patience.
                let since = *unreachable_since.get_or_insert_with(std::time::Instant::now);
                if let Some(s) = shared.upgrade()
                    && since.elapsed() >= s.forward_patience()
                {
                    drain(&mut rx);
                    s.forwarder.fail_all("cannot reach the leader");
                    unreachable_since = None;
                }
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        };
        info!(leader, %addr, "forwarding writes to the leader");
        let why = stream_to_leader(
            &shared,
            &peer,
            leader,
            stream,
            &mut rx,
            &mut metrics,
            &mut shutdown,
        )
        .await;
        if let Some(s) = shared.upgrade() {
            drain(&mut rx);
            s.forwarder.fail_all(&why);
        }
        debug!(leader, why, "forward stream ended");
        if metrics.borrow().current_leader == Some(leader) {
            // Same leader, broken stream: do not reopen in a tight loop.
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// Waits until the known leader differs from `leader` (or shutdown).
async fn wait_leader_change(
    metrics: &mut watch::Receiver<openraft::RaftMetrics<NodeId, crate::replication::Member>>,
    shutdown: &mut watch::Receiver<bool>,
    leader: Option<NodeId>,
) {
    loop {
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() || metrics.borrow_and_update().current_leader != leader {
                    return;
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Drops what was queued for a stream that is gone (the waiters are failed
/// by the caller).
fn drain(rx: &mut mpsc::UnboundedReceiver<Up>) {
    while rx.try_recv().is_ok() {}
}

/// Runs one forward stream; returns why it ended.
async fn stream_to_leader(
    shared: &Weak<Shared>,
    peer: &PeerConfig,
    leader: NodeId,
    stream: PeerStream,
    rx: &mut mpsc::UnboundedReceiver<Up>,
    metrics: &mut watch::Receiver<openraft::RaftMetrics<NodeId, crate::replication::Member>>,
    shutdown: &mut watch::Receiver<bool>,
) -> String {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let max = peer.max_frame_bytes;
    let reader_shared = shared.clone();
    let mut reader = tokio::spawn(async move {
        loop {
            let down: proto::ForwardDown = match frame::read(&mut rd, max).await {
                Ok(d) => d,
                Err(e) => return format!("the leader's stream ended: {e}"),
            };
            let Some(s) = reader_shared.upgrade() else {
                return "stopping".to_string();
            };
            for r in down.results {
                if let Some(proto::forward_result::Result::Failure(f)) = r.result {
                    let e = match Error::from_code(f.code, f.detail) {
                        // The session lives on another connection now: the
                        // request gets that answer and this connection ends.
                        moved @ Error::SessionMoved(_) => moved,
                        e => Error::ConnectionLoss(format!(
                            "the leader refused the forwarded write: {e}"
                        )),
                    };
                    s.forwarder.fail_one(r.tag, e);
                }
            }
            if let Some(r) = down.read_index {
                let result = match r.result {
                    Some(proto::read_index_reply::Result::Zxid(z)) => Ok(z),
                    Some(proto::read_index_reply::Result::Failure(f)) => {
                        Err(Error::from_code(f.code, f.detail))
                    }
                    None => Err(Error::Internal("read index answer without a result".into())),
                };
                s.forwarder.answer_read(r.id, result);
            }
        }
    });
    let touch_every = match shared.upgrade() {
        Some(s) => s.cfg.tick,
        None => return "stopping".into(),
    };
    let mut touch = tokio::time::interval(touch_every);
    touch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A message taken from the queue that did not fit the batch before it.
    let mut carry: Option<Up> = None;
    // A batch stays well inside a peer frame (a single write is at most a
    // client frame, which the settings keep below the peer frame).
    let batch_limit = max / 2;
    let why = loop {
        let up = if let Some(up) = carry.take() {
            up
        } else {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => item,
                    None => break "stopping".to_string(),
                },
                _ = touch.tick() => {
                    let Some(s) = shared.upgrade() else { break "stopping".into() };
                    let ids = s.sessions.take_touched();
                    if ids.is_empty() {
                        continue;
                    }
                    let msg = up_msg(proto::forward_up::Msg::Touches(proto::Touches { session_ids: ids }));
                    if let Err(e) = frame::write(&mut wr, &msg, max).await {
                        break format!("writing to the leader failed: {e}");
                    }
                    continue;
                }
                changed = metrics.changed() => {
                    if changed.is_err() {
                        break "raft stopped".into();
                    }
                    if metrics.borrow_and_update().current_leader != Some(leader) {
                        break "the leader changed".into();
                    }
                    continue;
                }
                _ = shutdown.changed() => break "stopping".into(),
                r = &mut reader => break r.unwrap_or_else(|e| format!("reader failed: {e}")),
            }
        };
        let msg = match up {
            Up::Command { cmd, conn } => {
                let mut bytes = crate::replication::proposal_bytes(&cmd);
                let mut commands = vec![forwarded(&cmd, conn)];
                while commands.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Up::Command { cmd, conn }) => {
                            let size = crate::replication::proposal_bytes(&cmd);
                            if bytes + size > batch_limit {
                                carry = Some(Up::Command { cmd, conn });
                                break;
                            }
                            bytes += size;
                            commands.push(forwarded(&cmd, conn));
                        }
                        Ok(other) => {
                            carry = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                up_msg(proto::forward_up::Msg::Batch(proto::ForwardBatch {
                    commands,
                }))
            }
            other => other_msg(other),
        };
        if let Err(e) = frame::write(&mut wr, &msg, max).await {
            break format!("writing to the leader failed: {e}");
        }
    };
    reader.abort();
    why
}

fn forwarded(cmd: &Command, conn: ConnId) -> proto::ForwardedCommand {
    proto::ForwardedCommand {
        command: Some(command_to_storage(cmd)),
        connection: conn,
    }
}

fn up_msg(msg: proto::forward_up::Msg) -> proto::ForwardUp {
    proto::ForwardUp { msg: Some(msg) }
}

/// A non-command message (commands are batched by the caller).
fn other_msg(up: Up) -> proto::ForwardUp {
    match up {
        Up::Attach { session_id, conn } => up_msg(proto::forward_up::Msg::Attach(proto::Attach {
            session_id,
            connection: conn,
        })),
        Up::ReadIndex(id) => up_msg(proto::forward_up::Msg::ReadIndex(proto::ReadIndexRequest {
            id,
        })),
        Up::Command { cmd, conn } => up_msg(proto::forward_up::Msg::Batch(proto::ForwardBatch {
            commands: vec![forwarded(&cmd, conn)],
        })),
    }
}

fn failure(e: &Error) -> proto::ForwardFailure {
    proto::ForwardFailure {
        code: e.code(),
        detail: e.detail().to_string(),
    }
}

/// The leader's side of forward streams (see the module docs).
pub(crate) struct LeaderService {
    pub(crate) shared: Weak<Shared>,
    pub(crate) max_frame_bytes: usize,
}

impl ForwardService for LeaderService {
    fn serve(
        &self,
        from: NodeId,
        stream: PeerStream,
    ) -> Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'static>> {
        Box::pin(serve_follower(
            self.shared.clone(),
            from,
            stream,
            self.max_frame_bytes,
        ))
    }
}

async fn serve_follower(
    shared: Weak<Shared>,
    from: NodeId,
    stream: PeerStream,
    max: usize,
) -> io::Result<()> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (out, mut out_rx) = mpsc::unbounded_channel::<proto::ForwardDown>();
    let writer = tokio::spawn(async move {
        while let Some(mut down) = out_rx.recv().await {
            // Results that are ready together go out in one message.
            while down.read_index.is_none() {
                match out_rx.try_recv() {
                    Ok(more) if more.read_index.is_none() => down.results.extend(more.results),
                    Ok(more) => {
                        down.results.extend(more.results);
                        down.read_index = more.read_index;
                    }
                    Err(_) => break,
                }
            }
            frame::write(&mut wr, &down, max).await?;
        }
        Ok::<_, io::Error>(())
    });
    let result = async {
        loop {
            let up: proto::ForwardUp = match frame::read(&mut rd, max).await {
                Ok(u) => u,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            };
            let Some(s) = shared.upgrade() else {
                return Ok(());
            };
            match up.msg {
                Some(proto::forward_up::Msg::Batch(b)) => {
                    propose_batch(&s, from, b, &out).await?;
                }
                Some(proto::forward_up::Msg::Touches(t)) => {
                    for id in t.session_ids {
                        s.sessions.touch(id);
                    }
                }
                Some(proto::forward_up::Msg::Attach(a)) => {
                    s.sessions.attach_remote(a.session_id, from, a.connection);
                }
                Some(proto::forward_up::Msg::ReadIndex(r)) => {
                    let (s, out) = (s.clone(), out.clone());
                    tokio::spawn(async move {
                        let result = match s.replica.ensure_linearizable().await {
                            Ok(()) => proto::read_index_reply::Result::Zxid(*s.applied.borrow()),
                            Err(e) => proto::read_index_reply::Result::Failure(failure(&e)),
                        };
                        let _ = out.send(proto::ForwardDown {
                            results: Vec::new(),
                            read_index: Some(proto::ReadIndexReply {
                                id: r.id,
                                result: Some(result),
                            }),
                        });
                    });
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "forward message without content",
                    ));
                }
            }
        }
    }
    .await;
    drop(out);
    writer.abort();
    if let Err(e) = &result {
        warn!(from, error = %e, "forward stream from a follower closed");
    }
    result
}

/// Proposes one forwarded batch in order; answers each command once applied.
async fn propose_batch(
    s: &Arc<Shared>,
    from: NodeId,
    batch: proto::ForwardBatch,
    out: &mpsc::UnboundedSender<proto::ForwardDown>,
) -> io::Result<()> {
    let mut waiting = Vec::with_capacity(batch.commands.len());
    for fc in batch.commands {
        let cmd = fc.command.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "forwarded command missing")
        })?;
        let mut cmd = command_from_storage(cmd)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let tag = cmd.origin.tag;
        if cmd.origin.node != from {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "member {from} forwarded a command of member {}",
                    cmd.origin.node
                ),
            ));
        }
        // The leader's clock decides every command's time.
        cmd.time_ms = s.now_ms();
        if cmd.session_id != 0 {
            s.sessions.touch(cmd.session_id);
            if let Err(e) = s.sessions.check_owner(cmd.session_id, from, fc.connection) {
                let _ = out.send(result_of(tag, Err(e)));
                continue;
            }
        }
        match s.replica.submit(cmd).await {
            Ok(fut) => waiting.push((tag, fut)),
            Err(e) => {
                let _ = out.send(result_of(tag, Err(e)));
            }
        }
    }
    if waiting.is_empty() {
        return Ok(());
    }
    let out = out.clone();
    tokio::spawn(async move {
        for (tag, fut) in waiting {
            let r = fut.await.map(|o| o.zxid);
            if out.send(result_of(tag, r)).is_err() {
                return;
            }
        }
    });
    Ok(())
}

fn result_of(tag: u64, r: Result<u64, Error>) -> proto::ForwardDown {
    let result = match r {
        Ok(zxid) => proto::forward_result::Result::Zxid(zxid),
        Err(e) => proto::forward_result::Result::Failure(failure(&e)),
    };
    proto::ForwardDown {
        results: vec![proto::ForwardResult {
            tag,
            result: Some(result),
        }],
        read_index: None,
    }
}
