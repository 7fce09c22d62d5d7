//! A fair, herd-free distributed mutex with fencing tokens.
//!
//! To acquire, a [`Lock`] creates an ephemeral-sequential child
//! `<owner-id>__lock__NNNNNNNNNN` under the lock path, whose data is the owner
//! id. The lowest sequence holds the lock; every other waiter watches only the
//! node just ahead of it, so a release wakes exactly one waiter, in FIFO order.
//! The create asks the server for the node ahead of ours in the same round
//! trip, so an uncontended acquire is one round trip and a release another.
//!
//! **ZooKeeper clients**: the names and the line rules are kazoo's (`Lock`,
//! `WriteLock`, `ReadLock`; [`super::sequence::decide_lock`]), so a kazoo lock
//! and a coord lock on the same path, one through coord's ZooKeeper port,
//! exclude each other and hand over in FIFO order. A mutex waits for every
//! `__lock__` and `__rlock__` node ahead (kazoo's `WriteLock`; kazoo's `Lock`
//! creates the same names), a reader only for `__lock__` nodes; children of
//! any other name are ignored. kazoo's `contenders()` lists a coord holder by
//! its owner id.
//!
//! The **fencing token** of a hold is the czxid of our lock node: it strictly
//! increases from one holder to the next, so a storage system that remembers
//! the highest token it has seen can refuse a stale holder. [`Lock::guarded`]
//! does that inside coord itself: a multi that commits only while our lock node
//! exists.
//!
//! **Re-entrancy**: the owner is the `Lock` handle. Acquiring a handle that
//! already holds the lock counts up and returns the same token; it takes as
//! many [`Lock::release`] calls to let go. Two handles on the same path (in one
//! process or many) exclude each other.
//!
//! # Error handling
//! - *Connection loss (Suspended)* while acquiring: the create is recovered by
//!   finding our node through the owner id, waiting resumes after the client
//!   reconnects. While holding: the lock is still ours as long as the session
//!   lives; callers that cannot tolerate uncertainty watch the client's state.
//! - *Session expiry*: our node is gone with the session. A waiting acquire
//!   fails with `SessionExpired`; a held lock is lost: [`Lock::lost`] resolves,
//!   [`Lock::is_lost`] turns true and [`Lock::guarded`] fails with `LockLost`.
//!   The same happens when someone else deletes our node (an operator breaking
//!   the lock).
//! - *Timeout* ([`Lock::acquire_timeout`]): our node is deleted, `LockTimeout`.
//! - *Cancellation*: dropping a waiting `acquire` future deletes our node in the
//!   background; dropping a held `Lock` releases it in the background.
//!
//! **Status never waits**: [`Lock::is_held`], [`Lock::token`],
//! [`Lock::is_lost`], [`Lock::lost_signal`] answer at once, also while an
//! acquire of the same handle is waiting in line (they then report "not
//! held"); [`Lock::guarded`] and [`Lock::release`] do not wait for it either.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, watch};
use tokio::time::Instant;

use super::line::{self, Enqueued, NodeCleanup};
use super::sequence;
use super::support::OwnedNode;
use crate::client::{Client, Op, OpResult};
use crate::error::{Error, Result};
use coord_proto::failing_op;

pub use super::sequence::{LOCK_MARKER, READ_LOCK_MARKER};

/// Which line discipline a [`Lock`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// A mutex: one holder.
    Exclusive,
    /// The shared side of a read-write lock.
    Read,
    /// The exclusive side of a read-write lock.
    Write,
}

impl LockKind {
    fn marker(self) -> &'static str {
        match self {
            LockKind::Exclusive | LockKind::Write => LOCK_MARKER,
            LockKind::Read => READ_LOCK_MARKER,
        }
    }

    /// The kinds of node ahead of ours that keep us waiting.
    fn blocked_by(self) -> &'static [sequence::LockNode] {
        match self {
            LockKind::Exclusive | LockKind::Write => sequence::EXCLUSIVE_BLOCKED_BY,
            LockKind::Read => sequence::SHARED_BLOCKED_BY,
        }
    }

    fn decide(self, children: &[String], ours: &str) -> sequence::Decision {
        sequence::decide_lock(children, ours, self.blocked_by())
    }

    /// The first decision from what the create reported, when it is enough.
    fn first_decision(self, ahead: &line::Ahead) -> Option<sequence::Decision> {
        ahead.first_decision(self.blocked_by())
    }
}

/// A distributed mutex handle (or one side of a read-write lock). See the
/// module docs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::Lock;
///
/// let lock = Lock::new(&client, "/locks/report");
/// let token = lock.acquire().await?;
/// // Pass `token` to the storage you write to: it refuses writes whose token is
/// // lower than one it has seen, so a holder that lost the lock cannot overwrite.
/// assert!(lock.is_held() && lock.token() == Some(token));
/// lock.release().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct Lock {
    client: Client,
    path: String,
    owner: String,
    kind: LockKind,
    /// Serialises the acquires of this handle (held across their waits).
    acquiring: AsyncMutex<()>,
    /// The current hold. A std mutex, never held across an await: status
    /// calls answer at once even while an acquire waits in line.
    held: Mutex<Option<Held>>,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("path", &self.path)
            .field("owner", &self.owner)
            .finish()
    }
}

struct Held {
    /// Our lock node: loss signal, deleted on release or drop.
    node: OwnedNode,
    token: u64,
    count: u32,
}

impl Lock {
    /// A handle on the lock at `path` (the directory of its waiting line).
    pub fn new(client: &Client, path: &str) -> Self {
        Self::with_kind(client, path, LockKind::Exclusive)
    }

    /// A handle of the given kind (used by [`super::RwLock`]).
    pub fn with_kind(client: &Client, path: &str, kind: LockKind) -> Self {
        Lock {
            client: client.clone(),
            path: path.to_string(),
            owner: line::new_owner_id(),
            kind,
            acquiring: AsyncMutex::new(()),
            held: Mutex::new(None),
        }
    }

    fn held(&self) -> MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more hold if this handle holds the lock; its token.
    fn reenter(&self) -> Option<u64> {
        let mut held = self.held();
        let h = held.as_mut()?;
        h.count += 1;
        Some(h.token)
    }

    /// Which discipline this handle follows.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// The lock's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// This handle's owner id (the prefix of its lock nodes).
    pub fn owner_id(&self) -> &str {
        &self.owner
    }

    /// Waits for the lock; returns the fencing token.
    pub async fn acquire(&self) -> Result<u64> {
        self.acquire_until(None).await
    }

    /// Waits at most `timeout`; `LockTimeout` afterwards (our node is deleted).
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<u64> {
        self.acquire_until(Some(Instant::now() + timeout)).await
    }

    /// Takes the lock only if nobody holds or waits for it; never waits.
    /// `None` also while an acquire of this handle is waiting in line.
    pub async fn try_acquire(&self) -> Result<Option<u64>> {
        if let Some(token) = self.reenter() {
            return Ok(Some(token));
        }
        let Ok(_one) = self.acquiring.try_lock() else {
            return Ok(None);
        };
        // An acquire may have finished between the two checks.
        if let Some(token) = self.reenter() {
            return Ok(Some(token));
        }
        let (ours, cleanup) = self.enqueue().await?;
        let first = match self.kind.first_decision(&ours.ahead) {
            Some(d) => d,
            None => {
                let children = self.client.children(&self.path).await?;
                self.kind.decide(&children, &ours.name)
            }
        };
        if first != sequence::Decision::Acquired {
            cleanup.run().await?;
            return Ok(None);
        }
        Ok(Some(self.hold(&ours, cleanup)))
    }

    async fn enqueue(&self) -> Result<(Enqueued, NodeCleanup)> {
        let prefix = format!("{}{}", self.owner, self.kind.marker());
        // The data is what kazoo's `contenders()` reports for our node.
        line::enqueue(&self.client, &self.path, &prefix, self.owner.as_bytes()).await
    }

    async fn acquire_until(&self, deadline: Option<Instant>) -> Result<u64> {
        if let Some(token) = self.reenter() {
            return Ok(token);
        }
        let _one = self.acquiring.lock().await;
        // The acquire we queued behind may have taken the lock for us.
        if let Some(token) = self.reenter() {
            return Ok(token);
        }
        let (ours, cleanup) = self.enqueue().await?;
        let name = ours.name.clone();
        let kind = self.kind;
        let waited = line::wait_turn(
            &self.client,
            &self.path,
            kind.first_decision(&ours.ahead),
            deadline,
            |children| kind.decide(children, &name),
        )
        .await;
        if let Err(e) = waited {
            cleanup.run().await.ok();
            return Err(e);
        }
        Ok(self.hold(&ours, cleanup))
    }

    /// Records the hold of our node; returns its token.
    fn hold(&self, ours: &Enqueued, cleanup: NodeCleanup) -> u64 {
        let token = ours.stat.czxid;
        *self.held() = Some(Held {
            node: OwnedNode::hold(&self.client, cleanup),
            token,
            count: 1,
        });
        token
    }

    /// Releases one hold; the node is deleted when the count reaches zero.
    /// Releasing a lock that was lost succeeds (there is nothing left to free);
    /// releasing a lock not held is `NotHeld`.
    /// Does not wait for an acquire of this handle that is still in line.
    pub async fn release(&self) -> Result<()> {
        let last = {
            let mut held = self.held();
            let Some(h) = held.as_mut() else {
                return Err(Error::NotHeld(format!(
                    "{} is not held by this handle",
                    self.path
                )));
            };
            if h.count > 1 {
                h.count -= 1;
                return Ok(());
            }
            held.take()
        };
        match last {
            Some(h) => h.node.release().await,
            None => Ok(()),
        }
    }

    /// True while this handle holds the lock (and has not lost it). Answers
    /// at once.
    pub fn is_held(&self) -> bool {
        self.held().as_ref().is_some_and(|h| !h.node.is_lost())
    }

    /// The fencing token of the current hold. Answers at once.
    pub fn token(&self) -> Option<u64> {
        self.held().as_ref().map(|h| h.token)
    }

    /// True once the current hold was lost (session expired or node deleted).
    /// Answers at once.
    pub fn is_lost(&self) -> bool {
        self.held().as_ref().is_some_and(|h| h.node.is_lost())
    }

    /// A future that resolves when the current hold is lost. Resolves at once
    /// if the lock is not held.
    pub async fn lost(&self) {
        if let Some(mut rx) = self.lost_signal() {
            let _ = rx.wait_for(|lost| *lost).await;
        }
    }

    /// A receiver that turns `true` when the current hold is lost (for
    /// bindings that surface loss as a callback, flag or signal); `None` when
    /// not held. Answers at once.
    pub fn lost_signal(&self) -> Option<watch::Receiver<bool>> {
        self.held().as_ref().map(|h| h.node.lost_signal())
    }

    /// Commits `ops` atomically only if this handle still holds the lock (its
    /// node still exists); returns their results. A stale holder gets
    /// `LockLost` and nothing is written.
    pub async fn guarded(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let node = match self.held().as_ref() {
            Some(h) => h.node.path().to_string(),
            None => {
                return Err(Error::NotHeld(format!(
                    "{} is not held by this handle",
                    self.path
                )));
            }
        };
        let mut all = Vec::with_capacity(ops.len() + 1);
        all.push(Op::Check {
            path: node.clone(),
            version: -1,
        });
        all.extend(ops);
        let mut results = self.client.multi_results(all).await?;
        match results.first() {
            Some(OpResult::Error(Error::NoNode(_))) => Err(Error::LockLost(format!(
                "lock node {node} is gone; nothing was written"
            ))),
            _ => {
                if let Some((i, e)) = failing_op(&results) {
                    return Err(Error::from_code(
                        e.code(),
                        format!("op #{}: {}", i.saturating_sub(1), e.detail()),
                    ));
                }
                results.remove(0);
                Ok(results)
            }
        }
    }
}
