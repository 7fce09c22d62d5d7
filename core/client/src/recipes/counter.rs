//! A shared 64-bit counter stored in one node as decimal text (`"42"`), so
//! that any client, and any human with the CLI, can read it.
//!
//! Changes are optimistic: read the value and its version, write the new
//! value only if the version is unchanged; on `BadVersion` somebody else
//! changed it first, so read again and retry (a bounded number of times, with
//! a short random pause that breaks lockstep between contenders). A missing
//! node counts as 0 and is created by the first change.
//!
//! # Error handling
//! - *Connection loss (Suspended)*: the client holds new requests until it has
//!   reconnected; a request in flight fails with `ConnectionLoss` and may or may
//!   not have been applied. Reads are retried. A write that fails so is *not*
//!   retried: [`Counter::add`] and [`Counter::compare_and_set`] fail with
//!   `ConnectionLoss` and the change may or may not have been made (re-read
//!   with [`Counter::get`] before deciding).
//! - *Session expiry*: `SessionExpired` (the node is persistent: the value
//!   stays).
//! - *Timeout*: each request is bounded by the client's request timeout
//!   (`OperationTimeout`); a change that keeps losing the race for
//!   [`MAX_ATTEMPTS`] rounds fails with `OperationTimeout`.
//! - *Cancellation*: dropping a future while its write is in flight leaves
//!   the change applied or not, like a connection loss.
//! - A node that does not hold a decimal `i64` fails with `BadArguments`; an
//!   addition that would overflow fails with `BadArguments` and writes nothing.

use std::time::Duration;

use bytes::Bytes;

use super::support::{ensure_dir, parent_of, read_retrying};
use crate::client::{Client, CreateMode};
use crate::error::{Error, Result};

/// Most optimistic rounds of one change before giving up.
pub const MAX_ATTEMPTS: usize = 100;

/// Upper bound of the random pause between two rounds, in milliseconds.
const MAX_BACKOFF_MS: u64 = 10;

/// A handle on the counter at a path. Cheap to clone.
#[derive(Debug, Clone)]
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = coord_server::testing::TestServer::start().await?;
/// # let client = coord_client::Client::connect(&server.addr()).await?;
/// use coord_client::recipes::Counter;
///
/// let hits = Counter::new(&client, "/counters/hits");
/// assert_eq!(hits.add(5).await?, 5);
/// assert!(hits.compare_and_set(5, 7).await?);
/// assert_eq!(hits.get().await?, 7);
/// # client.close().await?;
/// # server.stop().await?;
/// # Ok(()) }
/// ```
pub struct Counter {
    client: Client,
    path: String,
}

/// The value read and the version to write against (`None`: no node yet).
type Read = (i64, Option<i32>);

impl Counter {
    /// The counter at `path`.
    pub fn new(client: &Client, path: &str) -> Self {
        Counter {
            client: client.clone(),
            path: path.to_string(),
        }
    }

    /// The counter's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current value (0 when the node does not exist).
    pub async fn get(&self) -> Result<i64> {
        Ok(self.read().await?.0)
    }

    /// Adds `delta` (possibly negative) and returns the new value.
    pub async fn add(&self, delta: i64) -> Result<i64> {
        for attempt in 0..MAX_ATTEMPTS {
            let (current, version) = self.read().await?;
            let new = current.checked_add(delta).ok_or_else(|| {
                Error::BadArguments(format!(
                    "{current} + {delta} overflows i64 at {}",
                    self.path
                ))
            })?;
            if self.write(new, version).await? {
                return Ok(new);
            }
            backoff(attempt).await;
        }
        Err(self.contended())
    }

    /// Sets the value to `new` only if it is `expected`; returns whether it
    /// did. A missing node counts as holding 0.
    pub async fn compare_and_set(&self, expected: i64, new: i64) -> Result<bool> {
        for attempt in 0..MAX_ATTEMPTS {
            let (current, version) = self.read().await?;
            if current != expected {
                return Ok(false);
            }
            if self.write(new, version).await? {
                return Ok(true);
            }
            // Changed under us: it may hold `expected` again, so look again.
            backoff(attempt).await;
        }
        Err(self.contended())
    }

    /// Sets the value unconditionally.
    pub async fn set(&self, value: i64) -> Result<()> {
        let data = Bytes::from(value.to_string());
        for _ in 0..MAX_ATTEMPTS {
            match self.client.set(&self.path, data.clone(), None).await {
                Ok(_) => return Ok(()),
                // Missing: create it (unless somebody else just did; then overwrite).
                Err(Error::NoNode(_)) => {
                    if self.create(data.clone()).await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(self.contended())
    }

    async fn read(&self) -> Result<Read> {
        match read_retrying(|| self.client.get(&self.path)).await {
            Ok((data, stat)) => Ok((parse(&self.path, &data)?, Some(stat.version))),
            Err(Error::NoNode(_)) => Ok((0, None)),
            Err(e) => Err(e),
        }
    }

    /// Writes `value` against `version`; false when somebody else was first.
    async fn write(&self, value: i64, version: Option<i32>) -> Result<bool> {
        let data = Bytes::from(value.to_string());
        match version {
            Some(v) => match self.client.set(&self.path, data, Some(v)).await {
                Ok(_) => Ok(true),
                Err(Error::BadVersion(_) | Error::NoNode(_)) => Ok(false),
                Err(e) => Err(e),
            },
            None => self.create(data).await,
        }
    }

    /// Creates the node holding `data`; false when it already exists.
    async fn create(&self, data: Bytes) -> Result<bool> {
        match self
            .client
            .create(&self.path, data.clone(), CreateMode::Persistent)
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::NodeExists(_)) => Ok(false),
            Err(Error::NoNode(_)) => {
                ensure_dir(&self.client, parent_of(&self.path)).await?;
                match self
                    .client
                    .create(&self.path, data, CreateMode::Persistent)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(Error::NodeExists(_)) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn contended(&self) -> Error {
        Error::OperationTimeout(format!(
            "counter {}: still contended after {MAX_ATTEMPTS} attempts",
            self.path
        ))
    }
}

/// A short random pause, growing with the attempt, to break lockstep.
async fn backoff(attempt: usize) {
    let cap = MAX_BACKOFF_MS.min(1 + attempt as u64);
    let ms = rand::random::<u64>() % (cap + 1);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// The value of a counter node: decimal text; empty data counts as 0.
fn parse(path: &str, data: &[u8]) -> Result<i64> {
    let text = std::str::from_utf8(data)
        .map_err(|_| not_a_counter(path))?
        .trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse().map_err(|_| not_a_counter(path))
}

fn not_a_counter(path: &str) -> Error {
    Error::BadArguments(format!("{path} does not hold a decimal i64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decimal_text_and_empty_is_zero() {
        assert_eq!(parse("/c", b"42").unwrap(), 42);
        assert_eq!(parse("/c", b" -7\n").unwrap(), -7);
        assert_eq!(parse("/c", b"").unwrap(), 0);
        assert!(matches!(parse("/c", b"4x"), Err(Error::BadArguments(_))));
        assert!(matches!(parse("/c", &[0xff]), Err(Error::BadArguments(_))));
    }
}
