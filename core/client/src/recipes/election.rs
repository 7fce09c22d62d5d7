//! Leader election: herd-free, fair (first come, first elected), with a
//! fencing token per term.
//!
//! A candidate joins the waiting line of the election path with an
//! ephemeral-sequential node `<owner-id>__lock__NNNNNNNNNN` whose data is its
//! identity. The lowest sequence is the leader; every other candidate watches
//! only the candidate just ahead of it (the shared waiting line of
//! [`super::line`], as for the lock), so a leader's exit wakes exactly one
//! candidate. The **token** of a term is the czxid of the leader's node: it
//! strictly increases from one leader to the next, so a resource that
//! remembers the highest token it saw can refuse a deposed leader.
//!
//! Anybody, candidate or not, can ask who leads ([`Election::leader`]) or
//! follow every change of leader ([`Election::observe`]).
//!
//! **ZooKeeper clients**: this is kazoo's `Election` on the wire (a kazoo
//! `Lock` whose identifier is the candidate's identity), so kazoo candidates
//! and coord candidates on one path stand in one line: the first `__lock__`
//! node by sequence leads, whoever created it, and other children (even
//! `__rlock__` ones, which kazoo's election ignores too) play no part. kazoo's
//! `contenders()` reads coord identities from the node data (as UTF-8: give
//! kazoo-visible candidates a text identity), and [`Election::leader`] names a
//! kazoo leader by its identifier.
//!
//! # Error handling
//! - *Connection loss (Suspended)*: the client holds new requests until it has
//!   reconnected; a request in flight fails with `ConnectionLoss` and may or may
//!   not have been applied. A campaign recovers its candidate node through the
//!   owner id in its name and keeps waiting after the reconnect. A leader stays
//!   leader while its session lives: being Suspended does not end a term, but
//!   a leader that cannot tolerate doubt should pause its work while the
//!   client is Suspended ([`Client::state_changes`]).
//! - *Session expiry*: our node is gone with the session. A campaign fails with
//!   `SessionExpired`; a leader loses its term: [`Election::leadership_lost`]
//!   resolves, [`Election::lost_signal`] turns `true`, [`Election::is_leader`]
//!   turns `false`. The same happens when someone deletes our node.
//! - *Timeout* ([`Election::campaign_timeout`]): our node is deleted and the
//!   campaign fails with `LockTimeout`.
//! - *Cancellation*: dropping a campaign future deletes our node in the
//!   background; dropping an elected [`Election`] resigns in the background.
//!   [`Election::observe`] streams stop (and remove their watch) when dropped.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::sync::{Mutex as AsyncMutex, watch};
use tokio::time::Instant;

use super::line;
use super::sequence;
use super::support::{OwnedNode, child_path};
use crate::client::{Client, WatchMode};
use crate::error::{Error, Result};

/// Marker in candidate node names: `<owner-id>__lock__NNNNNNNNNN` (kazoo's
/// election is a lock, so its candidates are lock nodes).
pub const CANDIDATE_MARKER: &str = sequence::LOCK_MARKER;

/// The leader of an election, as anybody can see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    /// Full path of the leader's candidate node.
    pub node: String,
    /// The identity the leader campaigned with (its node's data).
    pub identity: Bytes,
    /// The term's fencing token: the czxid of the leader's node. Strictly
    /// increases from one leader to the next.
    pub token: u64,
}

/// The stream returned by [`Election::observe`].
pub type LeaderStream = BoxStream<'static, Result<Option<LeaderInfo>>>;

/// One candidate in the election at a path. See the module docs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::Election;
///
/// let election = Election::new(&client, "/elections/scheduler", "host-a:8080");
/// let term = election.campaign().await?; // waits until this client leads
/// assert!(election.is_leader());
/// let leader = Election::leader(&client, "/elections/scheduler").await?;
/// assert_eq!(leader.map(|l| l.token), Some(term.token));
/// election.resign().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct Election {
    client: Client,
    path: String,
    identity: Bytes,
    owner: String,
    /// Serialises the campaigns of this handle.
    campaigning: AsyncMutex<()>,
    /// Our current term. A std mutex: it is never held across an await.
    term: Mutex<Option<Term>>,
}

struct Term {
    info: LeaderInfo,
    /// Our candidate node: loss signal, deleted on resign or drop.
    node: OwnedNode,
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("path", &self.path)
            .field("owner", &self.owner)
            .field("identity", &self.identity)
            .finish()
    }
}

impl Election {
    /// A candidate in the election at `path` that will campaign with
    /// `identity` (the data others read from [`Election::leader`]).
    pub fn new(client: &Client, path: &str, identity: impl AsRef<[u8]>) -> Self {
        Election {
            client: client.clone(),
            path: path.to_string(),
            identity: Bytes::copy_from_slice(identity.as_ref()),
            owner: line::new_owner_id(),
            campaigning: AsyncMutex::new(()),
            term: Mutex::new(None),
        }
    }

    /// The election's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// This candidate's owner id (the prefix of its candidate nodes).
    pub fn owner_id(&self) -> &str {
        &self.owner
    }

    /// The identity this candidate campaigns with.
    pub fn identity(&self) -> &Bytes {
        &self.identity
    }

    /// Waits until this candidate is elected; returns its term. Returns the
    /// current term at once if it already leads.
    pub async fn campaign(&self) -> Result<LeaderInfo> {
        self.campaign_until(None).await
    }

    /// Like [`Election::campaign`], waiting at most `timeout`; `LockTimeout`
    /// afterwards (our candidate node is deleted).
    pub async fn campaign_timeout(&self, timeout: Duration) -> Result<LeaderInfo> {
        self.campaign_until(Some(Instant::now() + timeout)).await
    }

    async fn campaign_until(&self, deadline: Option<Instant>) -> Result<LeaderInfo> {
        let _one = self.campaigning.lock().await;
        let ended = {
            let mut term = self.term();
            match term.as_ref() {
                Some(t) if !t.node.is_lost() => return Ok(t.info.clone()),
                _ => term.take(),
            }
        };
        if let Some(t) = ended {
            // Lost: the node is gone already.
            t.node.forget();
        }
        let prefix = format!("{}{}", self.owner, CANDIDATE_MARKER);
        let (ours, cleanup) =
            line::enqueue(&self.client, &self.path, &prefix, &self.identity).await?;
        let name = ours.name.clone();
        let waited = line::wait_turn(
            &self.client,
            &self.path,
            ours.ahead.first_decision(sequence::CANDIDATE_BLOCKED_BY),
            deadline,
            |children| sequence::decide_lock(children, &name, sequence::CANDIDATE_BLOCKED_BY),
        )
        .await;
        if let Err(e) = waited {
            cleanup.run().await.ok();
            return Err(e);
        }
        let info = LeaderInfo {
            node: ours.path,
            identity: self.identity.clone(),
            token: ours.stat.czxid,
        };
        *self.term() = Some(Term {
            info: info.clone(),
            node: OwnedNode::hold(&self.client, cleanup),
        });
        Ok(info)
    }

    fn term(&self) -> std::sync::MutexGuard<'_, Option<Term>> {
        self.term
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives up leadership (deletes our node): the next candidate is elected.
    /// Does nothing if this candidate does not lead. To withdraw a candidate
    /// that is still waiting, drop its campaign future.
    pub async fn resign(&self) -> Result<()> {
        let Some(t) = self.term().take() else {
            return Ok(());
        };
        t.node.release().await
    }

    /// True while this candidate leads (elected, not resigned, not lost).
    pub fn is_leader(&self) -> bool {
        self.term().as_ref().is_some_and(|t| !t.node.is_lost())
    }

    /// Our current term, while we lead.
    pub fn term_info(&self) -> Option<LeaderInfo> {
        self.term()
            .as_ref()
            .filter(|t| !t.node.is_lost())
            .map(|t| t.info.clone())
    }

    /// Resolves when the current term is lost (session expired or our node
    /// deleted). Resolves at once if we do not lead; it does not resolve on
    /// [`Election::resign`] (that is not a loss).
    pub async fn leadership_lost(&self) {
        let rx = self.lost_signal();
        if let Some(mut rx) = rx {
            let _ = rx.wait_for(|lost| *lost).await;
        }
    }

    /// A receiver that turns `true` when the current term is lost (for
    /// bindings that surface loss as a callback, flag or signal); `None` when
    /// we do not lead.
    pub fn lost_signal(&self) -> Option<watch::Receiver<bool>> {
        self.term().as_ref().map(|t| t.node.lost_signal())
    }

    /// The current leader of the election at `path`, or `None` when nobody
    /// campaigns. Needs no standing in the election.
    pub async fn leader(client: &Client, path: &str) -> Result<Option<LeaderInfo>> {
        let children = match client.children(path).await {
            Ok(c) => c,
            Err(Error::NoNode(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The line only moves forward: if the first candidate left between
        // the listing and the read, the next one in sequence leads.
        for (_, name) in sequence::lock_line(&children, sequence::CANDIDATE_BLOCKED_BY) {
            let node = child_path(path, name);
            match client.get(&node).await {
                Ok((identity, stat)) => {
                    return Ok(Some(LeaderInfo {
                        node,
                        identity,
                        token: stat.czxid,
                    }));
                }
                Err(Error::NoNode(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The leader of the election at `path` now, then each change of leader
    /// (including "nobody"), without repeats. Built on a persistent watch of
    /// `path`, re-read after every event and every reconnect, so the last
    /// leader of a burst of changes is always reported. Ends after yielding
    /// the error that ended the session (`SessionExpired`, `Closed`).
    pub fn observe(client: &Client, path: &str) -> LeaderStream {
        super::support::changes(
            client,
            path,
            WatchMode::Persistent,
            |client, path| async move { Election::leader(&client, &path).await },
        )
    }
}
