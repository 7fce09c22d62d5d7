//! Cancelling a waiting call from JavaScript (`AbortSignal`).
//!
//! A handle that can wait (a lock, a semaphore acquire, a campaign) carries a
//! [`CancelToken`]; `lib/` calls the handle's `cancel()` when the signal
//! aborts. The waiting core future is then dropped, which for the recipes
//! deletes the waiter's node. (Streams are closed the core's way, with
//! `coord_client::embed::ClosableStream`, not here.)

use std::future::Future;
use std::time::Duration;

use coord_client::embed::CancelToken;
use coord_client::{Error, Result};

/// Runs `fut` until it finishes or `cancel` fires (`CANCELLED`).
pub(crate) async fn cancellable<T>(
    cancel: &CancelToken,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = fut => r,
        _ = cancel.cancelled() => Err(Error::Cancelled("the wait was aborted".into())),
    }
}

/// Milliseconds from JS as a duration (`None` stays `None`).
pub(crate) fn millis(ms: Option<u32>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(u64::from(ms)))
}
