//! A fair, herd-free distributed read-write lock.
//!
//! Readers create `<owner>__rlock__NNNNNNNNNN` and writers
//! `<owner>__lock__NNNNNNNNNN` under the lock path, in one line: kazoo's
//! `ReadLock` and `WriteLock` names, so kazoo's read-write lock and coord's on
//! one path share it. A reader holds unless a writer is ahead of it and then
//! watches only the last writer ahead; a writer holds only when first and
//! watches its immediate predecessor. Order is FIFO across kinds, so a stream
//! of readers cannot starve a waiting writer. A writer and a [`super::Lock`]
//! on the same path exclude each other (they are the same node kind).
//!
//! # Error handling
//! Exactly as [`super::Lock`] (each side is a `Lock` with its own discipline):
//! connection loss is retried and the create recovered through the owner id;
//! session expiry fails a wait with `SessionExpired` and marks a hold lost;
//! timeout and cancellation delete our node.

use super::lock::{Lock, LockKind};
use crate::client::Client;

/// The two sides of a read-write lock on one path.
#[derive(Debug)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::RwLock;
///
/// let config = RwLock::new(&client, "/locks/config");
/// let a = config.read.acquire().await?; // many readers at once
/// config.read.release().await?;
/// let b = config.write.acquire().await?; // alone
/// assert!(b > a);
/// config.write.release().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct RwLock {
    /// Shared side: many holders at once, none while a writer holds.
    pub read: Lock,
    /// Exclusive side.
    pub write: Lock,
}

impl RwLock {
    /// Handles on the read-write lock at `path`.
    pub fn new(client: &Client, path: &str) -> Self {
        RwLock {
            read: Lock::with_kind(client, path, LockKind::Read),
            write: Lock::with_kind(client, path, LockKind::Write),
        }
    }
}
