//! Several locks taken together, all or nothing.
//!
//! The locks are acquired in one canonical order (sorted by path), so two
//! multi-locks over overlapping sets cannot deadlock; if any acquire fails or
//! times out, the ones already taken are released before the error returns.
//!
//! # Error handling
//! As [`super::Lock`] for each member; on any failure every lock taken so far
//! is released (best effort: a release that fails is left to session expiry)
//! and the first error is returned. The timeout covers the whole set.

use std::time::Duration;

use tokio::time::Instant;

use super::lock::Lock;
use crate::client::Client;
use crate::error::{Error, Result};

/// A set of locks acquired together.
#[derive(Debug)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::MultiLock;
///
/// // Taken in one global order, so two programs asking for the same paths in
/// // different orders cannot deadlock; all or none.
/// let both = MultiLock::new(&client, &["/locks/account-2", "/locks/account-1"]);
/// let tokens = both.acquire().await?;
/// assert_eq!(tokens.len(), 2);
/// both.release().await?;
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct MultiLock {
    locks: Vec<Lock>,
}

impl MultiLock {
    /// Handles on every path (duplicates are ignored).
    pub fn new(client: &Client, paths: &[&str]) -> Self {
        let mut sorted: Vec<&str> = paths.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        MultiLock {
            locks: sorted.into_iter().map(|p| Lock::new(client, p)).collect(),
        }
    }

    /// The member locks, in acquisition order.
    pub fn locks(&self) -> &[Lock] {
        &self.locks
    }

    /// Acquires all; returns each lock's fencing token in acquisition order.
    pub async fn acquire(&self) -> Result<Vec<u64>> {
        self.acquire_until(None).await
    }

    /// Acquires all within `timeout` or none.
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Vec<u64>> {
        self.acquire_until(Some(Instant::now() + timeout)).await
    }

    async fn acquire_until(&self, deadline: Option<Instant>) -> Result<Vec<u64>> {
        let mut tokens = Vec::with_capacity(self.locks.len());
        for lock in &self.locks {
            let got = match deadline {
                None => lock.acquire().await,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        Err(Error::LockTimeout(format!(
                            "multi-lock: no time left for {}",
                            lock.path()
                        )))
                    } else {
                        lock.acquire_timeout(left).await
                    }
                }
            };
            match got {
                Ok(t) => tokens.push(t),
                Err(e) => {
                    for taken in &self.locks[..tokens.len()] {
                        let _ = taken.release().await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(tokens)
    }

    /// Releases every lock; returns the first error after trying all.
    pub async fn release(&self) -> Result<()> {
        let mut first = None;
        for lock in self.locks.iter().rev() {
            if let Err(e) = lock.release().await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
