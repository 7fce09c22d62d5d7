//! Cancelling a waiting call from JavaScript (`AbortSignal`).
//!
//! A handle that can wait (a lock, a semaphore acquire, a campaign) carries a
//! [`CancelToken`]; `lib/` calls the handle's `cancel()` when the signal
//! aborts. The waiting core future is then dropped, which for the recipes
//! deletes the waiter's node.

use std::future::Future;
use std::time::Duration;

use coord_client::embed::CancelToken;
use coord_client::{Error, Result};
use futures::{Stream, StreamExt};
use tokio::sync::Mutex as AsyncMutex;

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

/// The next item of a stream that `close()` (firing `stop`) can end, for the
/// `next()` of watches, leader and member streams: `Ok(None)` once stopped
/// or ended, the error that ended it once. Either way the stream is dropped
/// (its watch removed). The stop is checked first, so nothing is yielded
/// after `close()`.
pub(crate) async fn next_or_stop<S, T>(
    slot: &AsyncMutex<Option<S>>,
    stop: &CancelToken,
) -> Result<Option<T>>
where
    S: Stream<Item = Result<T>> + Unpin,
{
    let mut guard = slot.lock().await;
    let Some(stream) = guard.as_mut() else {
        return Ok(None);
    };
    let item = tokio::select! {
        biased;
        _ = stop.cancelled() => None,
        item = stream.next() => item,
    };
    match item {
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(e)) => {
            guard.take();
            Err(e)
        }
        None => {
            guard.take();
            Ok(None)
        }
    }
}
