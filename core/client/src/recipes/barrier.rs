//! Barriers: [`Barrier`] (one node holds everybody back until it is removed)
//! and [`DoubleBarrier`] (a fixed number of members enter together and leave
//! together), after ZooKeeper's recipes.
//!
//! A [`Barrier`] is a persistent node: while it exists, [`Barrier::wait`]
//! blocks; removing it releases every waiter (each watches the node itself:
//! one event wakes them all, which is what a barrier is for).
//!
//! A [`DoubleBarrier`] of `count` members lives under one path. Entering
//! creates the ephemeral child `<member-id>`; the member whose node completes
//! the set creates the [`READY_NODE`], which releases every member waiting to
//! enter. Leaving follows ZooKeeper's herd-free protocol: the lowest member
//! waits for the highest, every other member deletes its node and waits for
//! the lowest; the last one out deletes the ready node, so the path can be
//! used for the next round once every member's `leave` has returned (a member
//! entering earlier could still see the previous round's ready node; give
//! each round its own path when rounds overlap).
//!
//! # Error handling
//! - *Connection loss (Suspended)*: the client holds new requests until it has
//!   reconnected; a request in flight fails with `ConnectionLoss` and may or may
//!   not have been applied. Waits re-read and re-watch after the reconnect;
//!   creating our member node is recovered (a node under our id owned by our
//!   session is ours); deletes are retried (a missing node counts as deleted).
//! - *Session expiry*: our member node is gone with the session; every wait
//!   fails with `SessionExpired`.
//! - *Timeout* (`*_timeout`): `OperationTimeout`. A double-barrier member that
//!   times out entering or leaving deletes its node (it left), so it does not
//!   hold the others back.
//! - *Cancellation*: dropping an `enter` or `leave` future deletes our member
//!   node in the background. Dropping a [`Barrier::wait`] future has no
//!   effect on the barrier.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::line::NodeCleanup;
use super::support::{
    check_segment, child_path, create_own_ephemeral, deadline_in, delete_own, delete_quietly,
    ensure_dir, fired, is_retryable, pause, timeout_error, until,
};
use crate::client::Client;
use crate::error::{Error, Result};

/// Name of the node a [`DoubleBarrier`]'s last member to enter creates.
pub const READY_NODE: &str = "ready";

/// A single barrier node. See the module docs.
#[derive(Debug, Clone)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::Barrier;
///
/// let gate = Barrier::new(&client, "/barriers/deploy");
/// gate.set().await?;    // waiters block while it is set
/// gate.remove().await?; // and go on when it is removed
/// gate.wait().await?;   // returns at once: not set
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct Barrier {
    client: Client,
    path: String,
}

impl Barrier {
    /// The barrier at `path`.
    pub fn new(client: &Client, path: &str) -> Self {
        Barrier {
            client: client.clone(),
            path: path.to_string(),
        }
    }

    /// The barrier's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Raises the barrier (creates its node and missing ancestors). Raising a
    /// raised barrier is fine.
    pub async fn set(&self) -> Result<()> {
        ensure_dir(&self.client, &self.path).await
    }

    /// Lowers the barrier (deletes its node): every waiter is released.
    /// Lowering a lowered barrier is fine.
    pub async fn remove(&self) -> Result<()> {
        delete_quietly(&self.client, &self.path).await
    }

    /// True while the barrier is raised.
    pub async fn is_set(&self) -> Result<bool> {
        Ok(self.client.exists(&self.path).await?.is_some())
    }

    /// Waits until the barrier is not raised (returns at once if it is not).
    pub async fn wait(&self) -> Result<()> {
        self.wait_until(None).await
    }

    /// Like [`Barrier::wait`], at most `timeout`; `OperationTimeout` afterwards.
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        self.wait_until(Some(deadline_in(timeout))).await
    }

    async fn wait_until(&self, deadline: Option<Instant>) -> Result<()> {
        let what = || timeout_error(&format!("barrier {} still raised", self.path));
        loop {
            match self.client.exists_watch(&self.path).await {
                Ok((None, _)) => return Ok(()),
                Ok((Some(_), watch)) => fired(watch, deadline, what).await?,
                Err(e) if is_retryable(&e) => pause(deadline, what).await?,
                Err(e) => return Err(e),
            }
        }
    }
}

/// One member of a double barrier. See the module docs.
#[derive(Debug, Clone)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::DoubleBarrier;
///
/// // Two members: each `enter` waits for both, each `leave` too. With one
/// // member the barrier opens at once.
/// let round = DoubleBarrier::new(&client, "/barriers/round-1", "member-a", 1);
/// round.enter().await?;
/// round.leave().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct DoubleBarrier {
    client: Client,
    path: String,
    member: String,
    node: String,
    count: usize,
}

impl DoubleBarrier {
    /// Member `member_id` of the double barrier of `count` members at `path`.
    /// Member ids must be distinct, one path segment each, and not
    /// [`READY_NODE`] (checked by [`DoubleBarrier::enter`]).
    pub fn new(client: &Client, path: &str, member_id: &str, count: usize) -> Self {
        DoubleBarrier {
            client: client.clone(),
            path: path.to_string(),
            member: member_id.to_string(),
            node: child_path(path, member_id),
            count,
        }
    }

    /// The barrier's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Our member id.
    pub fn member_id(&self) -> &str {
        &self.member
    }

    /// Enters and waits until `count` members have entered.
    pub async fn enter(&self) -> Result<()> {
        self.enter_until(None).await
    }

    /// Like [`DoubleBarrier::enter`], at most `timeout`; `OperationTimeout`
    /// afterwards (our node is deleted: we are not counted).
    pub async fn enter_timeout(&self, timeout: Duration) -> Result<()> {
        self.enter_until(Some(deadline_in(timeout))).await
    }

    /// Leaves and waits until every member has left.
    pub async fn leave(&self) -> Result<()> {
        self.leave_until(None).await
    }

    /// Like [`DoubleBarrier::leave`], at most `timeout`; `OperationTimeout`
    /// afterwards (our node is deleted all the same).
    pub async fn leave_timeout(&self, timeout: Duration) -> Result<()> {
        self.leave_until(Some(deadline_in(timeout))).await
    }

    fn timeout(&self, what: &str) -> Error {
        timeout_error(&format!("double barrier {} ({what})", self.path))
    }

    async fn enter_until(&self, deadline: Option<Instant>) -> Result<()> {
        check_segment("member id", &self.member)?;
        if self.member == READY_NODE {
            return Err(Error::BadArguments(format!(
                "member id may not be {READY_NODE:?}"
            )));
        }
        if self.count == 0 {
            return Err(Error::BadArguments(
                "a double barrier needs at least one member".into(),
            ));
        }
        // Armed before the create: a timeout or cancellation during it
        // removes the node it may have made (and never another member's).
        let cleanup = NodeCleanup::owned(&self.client, &self.node);
        let entered = async {
            until(
                deadline,
                create_own_ephemeral(&self.client, &self.node, Bytes::new()),
                || self.timeout("entering"),
            )
            .await?;
            self.await_ready(deadline).await
        }
        .await;
        match entered {
            Ok(()) => {
                cleanup.disarm();
                Ok(())
            }
            Err(e) => {
                cleanup.run().await.ok();
                Err(e)
            }
        }
    }

    /// Waits for the ready node, creating it when our count completes the set.
    async fn await_ready(&self, deadline: Option<Instant>) -> Result<()> {
        let ready = child_path(&self.path, READY_NODE);
        let timeout = || self.timeout("entering");
        loop {
            // Watch first, then count: a ready node created in between fires.
            let watch = match self.client.exists_watch(&ready).await {
                Ok((Some(_), _)) => return Ok(()),
                Ok((None, w)) => w,
                Err(e) if is_retryable(&e) => {
                    pause(deadline, timeout).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let members = match self.members().await {
                Ok(m) => m,
                Err(e) if is_retryable(&e) => {
                    pause(deadline, timeout).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !members.contains(&self.member) {
                return Err(Error::NoNode(format!(
                    "our member node {} is gone",
                    self.node
                )));
            }
            if members.len() >= self.count {
                return ensure_dir(&self.client, &ready).await;
            }
            fired(watch, deadline, timeout).await?;
        }
    }

    /// Member nodes (every child but the ready node), sorted (the server
    /// lists children in name order).
    async fn members(&self) -> Result<Vec<String>> {
        let mut kids = match self.client.children(&self.path).await {
            Ok(k) => k,
            Err(Error::NoNode(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        kids.retain(|k| k != READY_NODE);
        Ok(kids)
    }

    async fn leave_until(&self, deadline: Option<Instant>) -> Result<()> {
        let cleanup = NodeCleanup::owned(&self.client, &self.node);
        let left = self.await_all_left(deadline).await;
        // Deleting our node again is harmless and covers timeouts and errors.
        let ours = cleanup.run().await;
        left?;
        ours?;
        // Everybody has left: lower the ready node for the next round.
        delete_quietly(&self.client, &child_path(&self.path, READY_NODE)).await
    }

    async fn await_all_left(&self, deadline: Option<Instant>) -> Result<()> {
        let timeout = || self.timeout("leaving");
        loop {
            let members = match self.members().await {
                Ok(m) => m,
                Err(e) if is_retryable(&e) => {
                    pause(deadline, timeout).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(action) = leave_step(&members, &self.member) else {
                return Ok(());
            };
            if let LeaveStep::DeleteOurs { .. } | LeaveStep::DeleteAndDone = action {
                delete_own(&self.client, &self.node).await?;
            }
            let target = match action {
                LeaveStep::DeleteAndDone => return Ok(()),
                LeaveStep::DeleteOurs { wait_for } | LeaveStep::Wait { wait_for } => wait_for,
            };
            match self
                .client
                .exists_watch(&child_path(&self.path, &target))
                .await
            {
                Ok((None, _)) => {}
                Ok((Some(_), watch)) => fired(watch, deadline, timeout).await?,
                Err(e) if is_retryable(&e) => pause(deadline, timeout).await?,
                Err(e) => return Err(e),
            }
        }
    }
}

/// One step of leaving a double barrier, decided from the sorted members.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LeaveStep {
    /// We are the only one left: delete our node, done.
    DeleteAndDone,
    /// Delete our node (if still there) and wait for this member to go.
    DeleteOurs { wait_for: String },
    /// Keep our node (we are the lowest) and wait for this member to go.
    Wait { wait_for: String },
}

/// ZooKeeper's leave decision: `None` when everybody has left.
fn leave_step(members: &[String], ours: &str) -> Option<LeaveStep> {
    let (first, last) = (members.first()?, members.last()?);
    let present = members.iter().any(|m| m == ours);
    Some(if !present {
        LeaveStep::Wait {
            wait_for: first.clone(),
        }
    } else if members.len() == 1 {
        LeaveStep::DeleteAndDone
    } else if first == ours {
        LeaveStep::Wait {
            wait_for: last.clone(),
        }
    } else {
        LeaveStep::DeleteOurs {
            wait_for: first.clone(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lowest_member_leaves_last_and_others_wait_for_it() {
        let m = names(&["a", "b", "c"]);
        assert_eq!(
            leave_step(&m, "a"),
            Some(LeaveStep::Wait {
                wait_for: "c".into()
            })
        );
        assert_eq!(
            leave_step(&m, "b"),
            Some(LeaveStep::DeleteOurs {
                wait_for: "a".into()
            })
        );
        assert_eq!(
            leave_step(&names(&["a"]), "a"),
            Some(LeaveStep::DeleteAndDone)
        );
        // Already gone: wait for whoever is still there.
        assert_eq!(
            leave_step(&names(&["a"]), "b"),
            Some(LeaveStep::Wait {
                wait_for: "a".into()
            })
        );
        assert_eq!(leave_step(&[], "a"), None);
    }
}
