//! The waiting line shared by the lock, semaphore, read-write lock and
//! election: enqueue an ephemeral-sequential node carrying our owner id, wait
//! for our turn by watching only the node the pure decision names, and take our
//! node away again on timeout, cancellation or error.
//!
//! Error handling: connection loss while creating is recovered by looking for
//! a child carrying our owner id (the create may have succeeded before the
//! reply was lost), so no orphan is left to block everybody; connection loss
//! while waiting is retried once the client has reconnected (the client holds
//! requests while suspended), and so is a request that timed out while the
//! session lives (`OperationTimeout`): the one rule of what is retryable is
//! `support::is_retryable`; session expiry ends the wait with
//! `SessionExpired` (our node is gone with the session).

use tokio::time::Instant;

use super::sequence::{self, Decision, LockNode};
use super::support::{RETRY_PAUSE, WRITE_ATTEMPTS, fired, is_retryable, retry_after};
use crate::client::Client;
use crate::error::{Error, Result};
use coord_proto::{CreateMode, Stat};

/// A fresh random owner id in UUID v4 text form: hex digits and dashes, so it
/// never contains a lock marker (`__lock__`, `__rlock__`) and the marker we
/// append after it is the one that names our node's kind.
pub fn new_owner_id() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    // Version 4, variant 10xx.
    let mut s = hex.into_bytes();
    s[12] = b'4';
    s[16] = b"89ab"[(s[16] as usize) % 4];
    let s = String::from_utf8(s).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// Joins a directory and a child name ([`coord_proto::child`]).
pub fn child_path(dir: &str, name: &str) -> String {
    coord_proto::child(dir, name)
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Our node in a line.
#[derive(Debug, Clone)]
pub struct Enqueued {
    /// Full path of our node.
    pub path: String,
    /// Its name (last segment).
    pub name: String,
    /// Its stat at creation (czxid is the fencing token).
    pub stat: Stat,
    /// Who was just ahead of us when we were created, as the server saw it.
    pub ahead: Ahead,
}

/// The sibling just ahead of a new node, as reported with its create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ahead {
    /// Nobody: we are first in line.
    Nobody,
    /// This sibling (its name).
    Node(String),
    /// Not known (our node was found again after a connection loss).
    Unknown,
}

impl Ahead {
    /// The first decision of a lock-shaped line (kazoo's rule: wait for the
    /// nearest node ahead whose kind is in `blocked_by`), if known without
    /// listing; see [`sequence::first_decision`].
    pub fn first_decision(&self, blocked_by: &[LockNode]) -> Option<Decision> {
        match self {
            Ahead::Nobody => sequence::first_decision(None, blocked_by),
            Ahead::Node(n) => sequence::first_decision(Some(n), blocked_by),
            Ahead::Unknown => None,
        }
    }
}

/// Creates `dir/<prefix>NNNNNNNNNN` as an ephemeral-sequential node (the
/// directory as a container if missing). `prefix` must contain the owner id.
///
/// Returns the node with its [`NodeCleanup`] armed: the caller disarms it
/// once the node is handed on, or lets it delete the node.
///
/// Safe to cancel: the create runs in a task of its own, which arms the
/// cleanup as soon as the node exists. Dropped before the caller took the
/// node (an aborted `lock()` or `campaign()` whose create was already
/// sent), that cleanup deletes it, so no node is left to block the line
/// until the session ends.
pub async fn enqueue(
    client: &Client,
    dir: &str,
    prefix: &str,
    data: &[u8],
) -> Result<(Enqueued, NodeCleanup)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (c, d, p, bytes) = (
        client.clone(),
        dir.to_string(),
        prefix.to_string(),
        data.to_vec(),
    );
    crate::embed::spawn_anywhere(async move {
        let made = enqueue_now(&c, &d, &p, &bytes).await.map(|ours| {
            let cleanup = NodeCleanup::new(&c, &ours.path);
            (ours, cleanup)
        });
        // With the receiver gone, the value is dropped here and its cleanup
        // deletes the node.
        let _ = tx.send(made);
    });
    match rx.await {
        Ok(made) => made,
        Err(_) => Err(Error::ConnectionLoss(format!(
            "the create of a node under {dir} was abandoned (the client's runtime is stopping)"
        ))),
    }
}

async fn enqueue_now(client: &Client, dir: &str, prefix: &str, data: &[u8]) -> Result<Enqueued> {
    let base = child_path(dir, prefix);
    let mut last_err = None;
    for _ in 0..WRITE_ATTEMPTS {
        match client
            .create_with_predecessor(&base, data.to_vec(), CreateMode::EphemeralSequential)
            .await
        {
            Ok((path, stat, predecessor)) => {
                return Ok(Enqueued {
                    name: name_of(&path).to_string(),
                    path,
                    stat,
                    ahead: predecessor.map_or(Ahead::Nobody, Ahead::Node),
                });
            }
            Err(Error::NoNode(_)) => match client
                .create_parents(dir, Vec::new(), CreateMode::Container)
                .await
            {
                Ok(_) | Err(Error::NodeExists(_)) => continue,
                Err(e) => return Err(e),
            },
            Err(e) if is_retryable(&e) => {
                // The create may have been applied before the reply was lost.
                tokio::time::sleep(RETRY_PAUSE).await;
                if let Some(found) = find_own(client, dir, prefix).await? {
                    return Ok(found);
                }
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err
        .unwrap_or_else(|| Error::ConnectionLoss(format!("could not create a node under {dir}"))))
}

/// Looks for a child of `dir` whose name starts with `prefix` (our owner id).
async fn find_own(client: &Client, dir: &str, prefix: &str) -> Result<Option<Enqueued>> {
    let children = match client.children(dir).await {
        Ok(c) => c,
        Err(Error::NoNode(_)) => return Ok(None),
        Err(e) if is_retryable(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(name) = children.iter().find(|c| c.starts_with(prefix)) else {
        return Ok(None);
    };
    let path = child_path(dir, name);
    let Some(stat) = client.exists(&path).await? else {
        return Ok(None);
    };
    Ok(Some(Enqueued {
        name: name.clone(),
        path,
        stat,
        ahead: Ahead::Unknown,
    }))
}

/// Waits until `decide(children)` says we hold it, watching only the node it
/// names. `hint` is the first node to watch (from the create), if known.
pub async fn wait_turn(
    client: &Client,
    dir: &str,
    mut hint: Option<Decision>,
    deadline: Option<Instant>,
    decide: impl Fn(&[String]) -> Decision,
) -> Result<()> {
    loop {
        let decision = match hint.take() {
            Some(d) => d,
            None => match client.children(dir).await {
                Ok(children) => decide(&children),
                Err(Error::NoNode(_)) => Decision::Missing,
                Err(e) => {
                    retry_after(e, deadline, || timeout_error(dir)).await?;
                    continue;
                }
            },
        };
        let watched = match decision {
            Decision::Acquired => return Ok(()),
            Decision::Missing => {
                return Err(Error::LockLost(format!("our node under {dir} is gone")));
            }
            Decision::Watch(name) => child_path(dir, &name),
        };
        let watch = match client.exists_watch(&watched).await {
            Ok((None, _)) => continue,
            Ok((Some(_), w)) => w,
            Err(e) => {
                retry_after(e, deadline, || timeout_error(dir)).await?;
                continue;
            }
        };
        fired(watch, deadline, || timeout_error(dir)).await?;
    }
}

fn timeout_error(dir: &str) -> Error {
    Error::LockTimeout(format!("not acquired within the timeout: {dir}"))
}

/// Deletes a node in the background unless disarmed: keeps cancelled or failed
/// waits from leaving a node that blocks the line.
#[derive(Debug)]
pub struct NodeCleanup {
    client: Client,
    path: Option<String>,
    /// Delete only while our session owns the node (for fixed names that
    /// another session may take over).
    check_owner: bool,
}

impl NodeCleanup {
    /// Arms cleanup of `path`.
    pub fn new(client: &Client, path: &str) -> Self {
        NodeCleanup {
            client: client.clone(),
            path: Some(path.to_string()),
            check_owner: false,
        }
    }

    /// Arms cleanup of a fixed-name ephemeral `path` that is deleted only
    /// while our session owns it. It may be armed before the create is sent:
    /// a session's requests apply in order.
    pub fn owned(client: &Client, path: &str) -> Self {
        NodeCleanup {
            client: client.clone(),
            path: Some(path.to_string()),
            check_owner: true,
        }
    }

    async fn delete(client: &Client, path: &str, check_owner: bool) -> Result<()> {
        if check_owner {
            super::support::delete_own(client, path).await
        } else {
            delete_quietly(client, path).await
        }
    }

    /// The guarded node's path.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or_default()
    }

    /// Keeps the node (we hold it now).
    pub fn disarm(mut self) {
        self.path = None;
    }

    /// Deletes the node now and waits for it.
    pub async fn run(mut self) -> Result<()> {
        match self.path.take() {
            Some(p) => Self::delete(&self.client, &p, self.check_owner).await,
            None => Ok(()),
        }
    }
}

impl Drop for NodeCleanup {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else { return };
        let client = self.client.clone();
        let check_owner = self.check_owner;
        crate::embed::spawn_anywhere(async move {
            let _ = Self::delete(&client, &path, check_owner).await;
        });
    }
}

/// Deletes `path`, retrying across connection losses a few times; a missing
/// node counts as deleted.
pub async fn delete_quietly(client: &Client, path: &str) -> Result<()> {
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        match client.delete(path, None).await {
            Ok(()) | Err(Error::NoNode(_)) => return Ok(()),
            Err(e) if is_retryable(&e) => {
                last = Some(e);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::ConnectionLoss(format!("could not delete {path}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_ids_look_like_uuids_and_differ() {
        let a = new_owner_id();
        let b = new_owner_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn owner_ids_never_contain_a_lock_marker() {
        // Hex digits and dashes only: no `_`, so neither `__lock__` nor
        // `__rlock__` can appear before the marker we append.
        for _ in 0..100 {
            let id = new_owner_id();
            assert!(
                id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
                "{id}"
            );
            assert!(sequence::lock_node(&format!("{id}x0000000001")).is_none());
        }
    }

    #[test]
    fn child_path_handles_root() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/x", "a"), "/x/a");
    }
}
