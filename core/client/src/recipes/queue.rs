//! A distributed FIFO queue: producers append persistent-sequential
//! `item-NNNNNNNNNN` children under the queue path; takers remove the lowest.
//!
//! Every item goes to exactly one taker. A take reads the lowest item's data,
//! then claims it with one atomic multi: delete the item and record its name
//! in the taker's ephemeral claim node `claims/<owner-id>`. If the delete
//! fails with `NoNode` another taker won and the next item is tried. The claim
//! record is what makes a take exact across a connection loss: if the reply to
//! the multi is lost, the taker reads its claim node to learn whether the item
//! is its own. Takers with nothing to take wait on a child watch of the queue
//! path (all of them are woken by a new item; only one gets it, the others
//! wait again: acceptable for a queue).
//!
//! Order: items are taken in sequence order; the items of one producer keep
//! the order of its `put`s, and every single taker receives them in that order.
//!
//! # Error handling
//! - *Connection loss (Suspended)*: the client holds new requests until it has
//!   reconnected; a request in flight fails with `ConnectionLoss` and may or may
//!   not have been applied. A `put` that fails so is *not* retried (a retry
//!   could enqueue the item twice): the caller decides. A take whose claim
//!   reply was lost reads its claim record after the reconnect and so returns
//!   the item exactly when it removed it; waiting takers re-read after the
//!   reconnect.
//! - *Session expiry*: `SessionExpired` (items are persistent: nothing is lost).
//! - *Timeout* ([`Queue::take_timeout`]): `OperationTimeout` after the
//!   deadline; a claim already sent is completed first, so the call may
//!   overrun its deadline by one round trip.
//! - *Cancellation*: dropping a waiting take is harmless. Dropping it while
//!   its claim is in flight can lose that one item (removed, never returned):
//!   prefer `take_timeout` to cancelling.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Mutex as AsyncMutex;
use tokio::time::Instant;

use super::line::new_owner_id;
use super::sequence::{self, sequence_of};
use super::support::{
    child_path, create_own_ephemeral, deadline_in, ensure_dir, fired, is_retryable, pause,
    read_retrying, timeout_error,
};
use crate::client::{Client, CreateMode, Op, OpResult};
use crate::error::{Error, Result};
use coord_proto::failing_op;

/// Name prefix of queue items (the server appends the sequence number).
pub const ITEM_PREFIX: &str = "item-";
/// Child of the queue path that holds the takers' claim records.
pub const CLAIMS_NODE: &str = "claims";

/// Most attempts to claim one item when the claim record must be (re)created.
const CLAIM_ATTEMPTS: usize = 5;

/// A handle on the queue at a path. Cheap to clone. Takes through one handle
/// and its clones run one at a time (they share one claim record); for
/// parallel takers, give each its own handle ([`Queue::new`]).
#[derive(Debug, Clone)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::Queue;
///
/// let jobs = Queue::new(&client, "/queues/jobs");
/// jobs.put("resize 42.png").await?;
/// assert_eq!(&jobs.take().await?[..], b"resize 42.png");
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct Queue {
    client: Client,
    path: String,
    claim: String,
    /// Serialises the takes that share `claim`.
    taking: Arc<AsyncMutex<()>>,
}

/// What one claim attempt found.
enum Claim {
    /// The item is ours.
    Won,
    /// Another taker removed it first.
    Lost,
}

impl Queue {
    /// The queue at `path` (created on first use).
    pub fn new(client: &Client, path: &str) -> Self {
        let claims = child_path(path, CLAIMS_NODE);
        Queue {
            client: client.clone(),
            path: path.to_string(),
            claim: child_path(&claims, &new_owner_id()),
            taking: Arc::new(AsyncMutex::new(())),
        }
    }

    /// The queue's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Appends an item; returns its node's path. On `ConnectionLoss` the item
    /// may or may not have been enqueued (see the module docs).
    pub async fn put(&self, data: impl Into<Bytes>) -> Result<String> {
        let data = data.into();
        let prefix = child_path(&self.path, ITEM_PREFIX);
        match self
            .client
            .create(&prefix, data.clone(), CreateMode::PersistentSequential)
            .await
        {
            Err(Error::NoNode(_)) => {
                ensure_dir(&self.client, &self.path).await?;
                self.client
                    .create(&prefix, data, CreateMode::PersistentSequential)
                    .await
            }
            other => other,
        }
    }

    /// Removes and returns the oldest item, waiting for one if the queue is
    /// empty.
    pub async fn take(&self) -> Result<Bytes> {
        self.take_until(None).await
    }

    /// Like [`Queue::take`], waiting at most `timeout`; `OperationTimeout`
    /// afterwards.
    pub async fn take_timeout(&self, timeout: Duration) -> Result<Bytes> {
        self.take_until(Some(deadline_in(timeout))).await
    }

    /// Removes and returns the oldest item, or `None` if the queue is empty.
    pub async fn try_take(&self) -> Result<Option<Bytes>> {
        let items = read_retrying(|| self.items()).await?;
        self.take_first(&items).await
    }

    /// The oldest item's data without removing it, or `None` if empty.
    pub async fn peek(&self) -> Result<Option<Bytes>> {
        for name in self.items().await? {
            match self.client.get(&child_path(&self.path, &name)).await {
                Ok((data, _)) => return Ok(Some(data)),
                Err(Error::NoNode(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The number of items in the queue.
    pub async fn len(&self) -> Result<usize> {
        Ok(self.items().await?.len())
    }

    /// True when the queue holds no item.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Item names in sequence order (empty when the queue does not exist).
    async fn items(&self) -> Result<Vec<String>> {
        match self.client.children(&self.path).await {
            Ok(children) => Ok(item_order(&children)),
            Err(Error::NoNode(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn take_until(&self, deadline: Option<Instant>) -> Result<Bytes> {
        let timeout = || timeout_error(&format!("queue {} stayed empty", self.path));
        loop {
            match self.items().await {
                Ok(items) => {
                    if let Some(data) = self.take_first(&items).await? {
                        return Ok(data);
                    }
                }
                Err(e) if is_retryable(&e) => {
                    pause(deadline, timeout).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            // Nothing to take: watch the children, then look once more.
            match self.client.children_watch(&self.path).await {
                Ok((children, watch)) => {
                    if item_order(&children).is_empty() {
                        fired(watch, deadline, timeout).await?;
                    }
                }
                Err(Error::NoNode(_)) => ensure_dir(&self.client, &self.path).await?,
                Err(e) if is_retryable(&e) => pause(deadline, timeout).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Tries `items` in order; the first one claimed is returned.
    async fn take_first(&self, items: &[String]) -> Result<Option<Bytes>> {
        let _one = self.taking.lock().await;
        for name in items {
            let node = child_path(&self.path, name);
            let data = match self.client.get(&node).await {
                Ok((data, _)) => data,
                Err(Error::NoNode(_)) => continue,
                Err(e) => return Err(e),
            };
            if let Claim::Won = self.claim(&node, name).await? {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Deletes `node` and records `name` in our claim node, atomically.
    async fn claim(&self, node: &str, name: &str) -> Result<Claim> {
        let mut last = None;
        for _ in 0..CLAIM_ATTEMPTS {
            let ops = vec![
                Op::Delete {
                    path: node.to_string(),
                    version: -1,
                },
                Op::SetData {
                    path: self.claim.clone(),
                    data: Bytes::copy_from_slice(name.as_bytes()),
                    version: -1,
                },
            ];
            match self.client.multi_results(ops).await {
                Ok(results) => match results.as_slice() {
                    [OpResult::Error(Error::NoNode(_)), ..] => return Ok(Claim::Lost),
                    [_, OpResult::Error(Error::NoNode(_))] => {
                        // Our claim record does not exist yet (first take of
                        // this handle, or a previous session expired).
                        create_own_ephemeral(&self.client, &self.claim, Bytes::new()).await?;
                    }
                    results => {
                        return match failing_op(results) {
                            Some((_, e)) => Err(e.clone()),
                            None => Ok(Claim::Won),
                        };
                    }
                },
                Err(e) if is_retryable(&e) => {
                    if let Some(outcome) = self.resolve_lost_claim(node, name).await? {
                        return Ok(outcome);
                    }
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Error::Internal(format!("could not claim {node} through {}", self.claim))
        }))
    }

    /// The reply to our claim was lost: the item is ours exactly when our
    /// claim record names it. `None`: the claim was not applied and the item
    /// is still there (try again).
    async fn resolve_lost_claim(&self, node: &str, name: &str) -> Result<Option<Claim>> {
        // Make the reads below see every write committed before them.
        read_retrying(|| self.client.sync(&self.path)).await?;
        match read_retrying(|| self.client.get(&self.claim)).await {
            Ok((data, _)) if data.as_ref() == name.as_bytes() => return Ok(Some(Claim::Won)),
            Ok(_) | Err(Error::NoNode(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(match read_retrying(|| self.client.exists(node)).await? {
            Some(_) => None,
            None => Some(Claim::Lost),
        })
    }
}

/// Item children in sequence order (claims and other children ignored).
fn item_order(children: &[String]) -> Vec<String> {
    let items: Vec<String> = children
        .iter()
        .filter(|c| c.starts_with(ITEM_PREFIX) && sequence_of(c).is_some())
        .cloned()
        .collect();
    sequence::sorted_by_sequence(&items, ITEM_PREFIX)
        .into_iter()
        .map(|(_, n)| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_ordered_by_sequence_and_claims_ignored() {
        let kids: Vec<String> = ["item-0000000010", "claims", "item-0000000002", "item-x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            item_order(&kids),
            vec!["item-0000000002", "item-0000000010"]
        );
    }
}
