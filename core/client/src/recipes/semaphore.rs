//! A distributed counting semaphore: at most N lease holders at once.
//!
//! Each acquire creates `<owner>-lease-N` under the semaphore path; the N
//! lowest sequences hold leases. A waiter watches only the node N places ahead
//! of it, so a release wakes one waiter, not all. Every participant must use
//! the same N (it is a property of the path; the first creator writes it into
//! the path's data and later participants with another N get `BadArguments`).
//!
//! # Error handling
//! - Connection loss: the create is recovered through the owner id, waits
//!   resume after reconnect.
//! - Session expiry: waits fail with `SessionExpired`; a held [`Lease`] is lost
//!   (its node went with the session): [`Lease::lost`] resolves,
//!   [`Lease::is_lost`] turns true and [`Lease::lost_signal`] turns `true`, as
//!   for a lock. The same happens when someone else deletes the lease node.
//! - Timeout / cancellation: our node is deleted (`LockTimeout` on timeout).
//! - Dropping a [`Lease`] releases it in the background.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::line::{self, NodeCleanup};
use super::sequence;
use super::support::OwnedNode;
use crate::client::{Client, CreateMode};
use crate::error::{Error, Result};

/// Marker in lease node names (`<owner>-lease-NNNNNNNNNN`).
pub use coord_proto::lock_line::LEASE_MARKER;

/// A semaphore handle.
#[derive(Debug, Clone)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::Semaphore;
///
/// let slots = Semaphore::new(&client, "/semaphores/encoders", 2);
/// let lease = slots.acquire().await?; // one of two leases
/// assert!(!lease.is_lost());
/// lease.release().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct Semaphore {
    client: Client,
    path: String,
    leases: usize,
}

/// One held lease; released by [`Lease::release`] or on drop.
#[derive(Debug)]
pub struct Lease {
    node: OwnedNode,
    token: u64,
}

impl Lease {
    fn hold(client: &Client, cleanup: NodeCleanup, token: u64) -> Self {
        Lease {
            node: OwnedNode::hold(client, cleanup),
            token,
        }
    }

    /// Path of the lease node.
    pub fn node(&self) -> &str {
        self.node.path()
    }

    /// The czxid of the lease node (increases with every new lease).
    pub fn token(&self) -> u64 {
        self.token
    }

    /// True once the lease was lost (session expired or its node deleted by
    /// someone else). Answers at once.
    pub fn is_lost(&self) -> bool {
        self.node.is_lost()
    }

    /// Resolves when the lease is lost.
    pub async fn lost(&self) {
        self.node.lost().await;
    }

    /// A receiver that turns `true` when the lease is lost (for bindings that
    /// surface loss as a callback, flag or signal).
    pub fn lost_signal(&self) -> watch::Receiver<bool> {
        self.node.lost_signal()
    }

    /// Gives the lease back (deletes its node; a lost lease has nothing left
    /// to free).
    pub async fn release(self) -> Result<()> {
        self.node.release().await
    }
}

impl Semaphore {
    /// A semaphore with `leases` slots at `path`.
    pub fn new(client: &Client, path: &str, leases: usize) -> Self {
        Semaphore {
            client: client.clone(),
            path: path.to_string(),
            leases: leases.max(1),
        }
    }

    /// Number of slots.
    pub fn leases(&self) -> usize {
        self.leases
    }

    /// Records N in the path's data on first use and checks it afterwards.
    async fn check_leases(&self) -> Result<()> {
        let text = self.leases.to_string();
        match self
            .client
            .create_parents(
                &self.path,
                text.clone().into_bytes(),
                CreateMode::Persistent,
            )
            .await
        {
            Ok(_) | Err(Error::NodeExists(_)) => {}
            Err(e) => return Err(e),
        }
        let (data, _) = self.client.get(&self.path).await?;
        if data.is_empty() {
            return Ok(());
        }
        if data.as_ref() != text.as_bytes() {
            return Err(Error::BadArguments(format!(
                "semaphore {} has {} leases, this handle asked for {}",
                self.path,
                String::from_utf8_lossy(&data),
                self.leases
            )));
        }
        Ok(())
    }

    /// Waits for a lease.
    pub async fn acquire(&self) -> Result<Lease> {
        self.acquire_until(None).await
    }

    /// Waits at most `timeout` for a lease (`LockTimeout` afterwards).
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Lease> {
        self.acquire_until(Some(Instant::now() + timeout)).await
    }

    /// Takes a lease only if one is free now.
    pub async fn try_acquire(&self) -> Result<Option<Lease>> {
        let (ours, cleanup) = self.join_line().await?;
        let decision = if ours.ahead == line::Ahead::Nobody {
            sequence::Decision::Acquired
        } else {
            let children = self.client.children(&self.path).await?;
            sequence::decide(&children, LEASE_MARKER, &ours.name, self.leases)
        };
        if decision != sequence::Decision::Acquired {
            cleanup.run().await?;
            return Ok(None);
        }
        Ok(Some(Lease::hold(&self.client, cleanup, ours.stat.czxid)))
    }

    /// Joins the line: checks the lease count, creates our node and arms its
    /// cleanup (the node goes unless a lease takes it over).
    async fn join_line(&self) -> Result<(line::Enqueued, NodeCleanup)> {
        self.check_leases().await?;
        let owner = line::new_owner_id();
        line::enqueue(
            &self.client,
            &self.path,
            &format!("{owner}{LEASE_MARKER}"),
            &[],
        )
        .await
    }

    async fn acquire_until(&self, deadline: Option<Instant>) -> Result<Lease> {
        let (ours, cleanup) = self.join_line().await?;
        let hint = (ours.ahead == line::Ahead::Nobody).then_some(sequence::Decision::Acquired);
        let name = ours.name.clone();
        let leases = self.leases;
        let waited = line::wait_turn(&self.client, &self.path, hint, deadline, |children| {
            sequence::decide(children, LEASE_MARKER, &name, leases)
        })
        .await;
        if let Err(e) = waited {
            cleanup.run().await.ok();
            return Err(e);
        }
        Ok(Lease::hold(&self.client, cleanup, ours.stat.czxid))
    }
}
