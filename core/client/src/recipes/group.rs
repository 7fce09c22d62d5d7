//! Group membership: who is in the group now, and every change of it.
//!
//! A member is an ephemeral node `<group>/<member-name>` whose data is the
//! member's payload, so a member that dies (its session ends) leaves the group
//! by itself. Names are unique within a group: joining under a name another
//! live session holds fails with `NodeExists` (joining twice under one name
//! from the same session yields two handles on the same node). Anybody can
//! list the members ([`Group::members`]) or follow them
//! ([`Group::watch_members`]).
//!
//! # Error handling
//! - *Connection loss (Suspended)*: the client holds new requests until it has
//!   reconnected; a request in flight fails with `ConnectionLoss` and may or may
//!   not have been applied. A join whose reply was lost is recovered: a node
//!   under our name owned by our session is ours. A membership stays valid
//!   while the session lives.
//! - *Session expiry*: our node is gone with the session; [`Membership::lost`]
//!   resolves and [`Membership::is_lost`] turns `true` (also when someone
//!   deletes our node). Watch streams yield `SessionExpired` and end.
//! - *Timeout*: every call is bounded by the client's request timeout and
//!   fails with `OperationTimeout` (a join is retried a few times first).
//! - *Cancellation*: dropping a join future removes the node it may have
//!   created, in the background; dropping a [`Membership`] leaves the group in
//!   the background; dropping a [`MembersStream`] removes its watch. Leaving
//!   deletes our node only while our session owns it: a member that lost its
//!   node never deletes a newcomer's node of the same name.

use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::line::NodeCleanup;
use super::support::{OwnedNode, check_segment, child_path, create_own_ephemeral};
use crate::client::{Client, Stat, WatchMode};
use crate::error::{Error, Result};

/// A member as listed: its name and its payload.
pub type Member = (String, Bytes);

/// The stream returned by [`Group::watch_members`].
pub type MembersStream = BoxStream<'static, Result<Vec<Member>>>;

/// The group-membership operations on a group path (a namespace: groups need
/// no handle of their own; members hold a [`Membership`]).
#[derive(Debug, Clone, Copy)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::Group;
///
/// let me = Group::join(&client, "/groups/workers", "worker-1", "10.0.0.7:9000").await?;
/// let members = Group::members(&client, "/groups/workers").await?;
/// assert_eq!(members.len(), 1);
/// me.leave().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct Group;

impl Group {
    /// Joins the group at `path` as `member_name` with `payload` (creating
    /// the group path if missing). `NodeExists` when another live session
    /// holds that name; `BadArguments` when the name is not one path segment.
    pub async fn join(
        client: &Client,
        path: &str,
        member_name: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Membership> {
        check_segment("member name", member_name)?;
        let node = child_path(path, member_name);
        // Armed before the create: cancelling the join removes the node it
        // may have made (never another session's).
        let cleanup = NodeCleanup::owned(client, &node);
        let stat = match create_own_ephemeral(client, &node, payload.into()).await {
            Ok(stat) => stat,
            Err(e) => {
                cleanup.run().await.ok();
                return Err(e);
            }
        };
        Ok(Membership {
            client: client.clone(),
            node: OwnedNode::hold(client, cleanup),
            name: member_name.to_string(),
            stat,
        })
    }

    /// The members of the group at `path`, sorted by name (empty when the
    /// group does not exist). A member that leaves during the listing is
    /// omitted.
    pub async fn members(client: &Client, path: &str) -> Result<Vec<Member>> {
        // Sorted by name: the server lists children in name order.
        let names = match client.children(path).await {
            Ok(c) => c,
            Err(Error::NoNode(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        // Pipelined: the client sends every read before the first answer.
        let reads = names.iter().map(|n| {
            let node = child_path(path, n);
            async move { client.get(&node).await }
        });
        let datas = futures::future::join_all(reads).await;
        let mut members = Vec::with_capacity(names.len());
        for (name, read) in names.into_iter().zip(datas) {
            match read {
                Ok((payload, _)) => members.push((name, payload)),
                Err(Error::NoNode(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(members)
    }

    /// The members now, then the full list after every join, leave or
    /// payload change (without repeats). Built on a persistent-recursive watch
    /// of `path`, re-read after every event and every reconnect, so the last
    /// state of a burst is always reported. Ends after yielding the error that
    /// ended the session (`SessionExpired`, `Closed`).
    pub fn watch_members(client: &Client, path: &str) -> MembersStream {
        super::support::changes(
            client,
            path,
            WatchMode::PersistentRecursive,
            |client, path| async move { Group::members(&client, &path).await },
        )
    }
}

/// Our membership in a group. Dropping it leaves the group in the background;
/// [`Membership::leave`] leaves and waits.
#[must_use = "dropping a Membership leaves the group"]
pub struct Membership {
    client: Client,
    /// Our member node (deleted only while our session owns it).
    node: OwnedNode,
    name: String,
    stat: Stat,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("node", &self.node.path())
            .field("lost", &self.node.is_lost())
            .finish()
    }
}

impl Membership {
    /// Our member name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Full path of our member node.
    pub fn node(&self) -> &str {
        self.node.path()
    }

    /// The stat of our member node when it was created (or found again).
    pub fn stat(&self) -> &Stat {
        &self.stat
    }

    /// Replaces our payload (watchers see the change).
    pub async fn update(&self, payload: impl Into<Bytes>) -> Result<()> {
        self.client
            .set(self.node.path(), payload, None)
            .await
            .map(|_| ())
    }

    /// True once our membership was lost (session expired or node deleted).
    pub fn is_lost(&self) -> bool {
        self.node.is_lost()
    }

    /// Resolves when our membership is lost.
    pub async fn lost(&self) {
        self.node.lost().await;
    }

    /// A receiver that turns `true` when our membership is lost.
    pub fn lost_signal(&self) -> watch::Receiver<bool> {
        self.node.lost_signal()
    }

    /// Leaves the group (deletes our node) and waits for it.
    pub async fn leave(self) -> Result<()> {
        self.node.release().await
    }
}
