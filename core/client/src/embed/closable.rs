//! The one closable stream of the bindings: every sequence a binding hands
//! out (persistent watch events, one-shot watches in C, leader changes,
//! group members, cache and provider changes) is a [`ClosableStream`] (or,
//! when one task owns it, a [`Closable`]), so `close()` means the same in C,
//! Python and Node. Owns no client state; it only wraps core streams.
//!
//! # The one meaning of close and of the end
//! - After [`Closer::close`] returns, the stream yields no item, not even one
//!   that was already ready: the next poll returns `None`, and a poll that is
//!   waiting right now is woken and returns `None`. The wrapped stream is
//!   dropped then (its watch removed).
//! - The end is never an error when the user caused it: closing the stream,
//!   closing the client (`Error::Closed`) or removing the watch
//!   (`Error::Cancelled`) all end the stream with a plain `None`.
//! - Any other error (`SessionExpired`: the session and its ephemerals are
//!   gone; a failed read) is yielded once, then the stream ends.
//! - After `None` the stream stays ended (fused).
//!
//! In the bindings: Python's iteration stops (`StopIteration`,
//! `StopAsyncIteration`), Node's async iterator returns `{ done: true }`,
//! C's callback is not called any more; an error raises, rejects, or reaches
//! the C callback as its result, once.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::task::AtomicWaker;
use futures::{Stream, StreamExt};
use tokio::sync::Mutex as AsyncMutex;

use crate::error::{Error, Result};

/// Closes a [`Closable`] from any thread, without waiting. Cheap to clone;
/// closing is sticky.
#[derive(Debug, Clone, Default)]
pub struct Closer {
    inner: Arc<CloserInner>,
}

#[derive(Debug, Default)]
struct CloserInner {
    closed: AtomicBool,
    waker: AtomicWaker,
}

impl Closer {
    /// Ends the stream: no item is yielded after this returns.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.waker.wake();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }
}

/// A stream of results that a [`Closer`] can end; see the module docs for
/// what it yields. Polled by one task at a time.
#[must_use = "a closable stream does nothing unless polled"]
pub struct Closable<S> {
    inner: Option<S>,
    closer: Closer,
}

impl<S> std::fmt::Debug for Closable<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closable")
            .field("ended", &self.inner.is_none())
            .field("closed", &self.closer.is_closed())
            .finish()
    }
}

impl<S> Closable<S> {
    /// Wraps `inner`, not closed.
    pub fn new(inner: S) -> Self {
        Closable {
            inner: Some(inner),
            closer: Closer::default(),
        }
    }

    /// A handle that closes this stream from anywhere.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }

    /// True once the stream has ended (closed, or `None` returned).
    pub fn is_ended(&self) -> bool {
        self.inner.is_none()
    }
}

/// True for the errors that end a stream normally: the user closed the
/// client or removed the watch.
fn is_normal_end(e: &Error) -> bool {
    matches!(e, Error::Closed(_) | Error::Cancelled(_))
}

impl<S, T> Stream for Closable<S>
where
    S: Stream<Item = Result<T>> + Unpin,
{
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = &mut *self;
        if this.closer.is_closed() {
            this.inner = None;
            return Poll::Ready(None);
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        // Registered before the flag is read again, so a close() from now on
        // wakes this poll.
        this.closer.inner.waker.register(cx.waker());
        if this.closer.is_closed() {
            this.inner = None;
            return Poll::Ready(None);
        }
        let item = match inner.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        // A close() that came while the item was being produced wins: the
        // item is dropped with the stream.
        if this.closer.is_closed() {
            this.inner = None;
            return Poll::Ready(None);
        }
        match item {
            Some(Ok(v)) => Poll::Ready(Some(Ok(v))),
            Some(Err(e)) if !is_normal_end(&e) => {
                this.inner = None;
                Poll::Ready(Some(Err(e)))
            }
            Some(Err(_)) | None => {
                this.inner = None;
                Poll::Ready(None)
            }
        }
    }
}

/// A [`Closable`] that many callers share (a binding's handle): `next()`
/// takes turns, `close()` never waits. What the Python `Stream`, the Node
/// `NativeWatch`/`NativeLeaderStream`/`NativeMembersStream` and the caches'
/// change streams are made of.
pub struct ClosableStream<T> {
    stream: AsyncMutex<Closable<BoxStream<'static, Result<T>>>>,
    closer: Closer,
}

impl<T> std::fmt::Debug for ClosableStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosableStream")
            .field("closed", &self.closer.is_closed())
            .finish()
    }
}

impl<T: Send + 'static> ClosableStream<T> {
    /// Wraps `inner`, not closed.
    pub fn new(inner: impl Stream<Item = Result<T>> + Send + 'static) -> Self {
        let stream = Closable::new(inner.boxed());
        let closer = stream.closer();
        ClosableStream {
            stream: AsyncMutex::new(stream),
            closer,
        }
    }

    /// The next item: `Ok(Some)`, `Ok(None)` once closed or ended, or the
    /// error that ended the stream (once). Never an item after `close()`.
    pub async fn next(&self) -> Result<Option<T>> {
        let mut stream = self.stream.lock().await;
        stream.next().await.transpose()
    }

    /// Ends the stream now (a waiting `next()` resolves to `Ok(None)`).
    /// Drops the wrapped stream at once when no `next()` is running (else
    /// that `next()` drops it as it returns). Does not block.
    pub fn close(&self) {
        self.closer.close();
        if let Ok(mut stream) = self.stream.try_lock() {
            let inner = stream.inner.take();
            super::drop_in_runtime(inner);
        }
    }

    /// A handle that closes this stream from anywhere.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }
}

/// The changes of a `watch` channel (a cache's or provider's `subscribe()`)
/// as a stream: the new value after each change; ends when the sender is
/// gone (the cache was closed).
pub fn changes<T>(rx: tokio::sync::watch::Receiver<T>) -> BoxStream<'static, Result<T>>
where
    T: Clone + Send + Sync + 'static,
{
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let v = rx.borrow_and_update().clone();
        Some((Ok(v), rx))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    /// Counts its drops: tells whether the wrapped stream (its watch) is gone.
    struct Tracked<S> {
        inner: S,
        dropped: Arc<AtomicUsize>,
    }

    impl<S: Stream + Unpin> Stream for Tracked<S> {
        type Item = S::Item;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
            self.inner.poll_next_unpin(cx)
        }
    }

    impl<S> Drop for Tracked<S> {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn ready_items() -> (
        Closable<Tracked<impl Stream<Item = Result<u32>>>>,
        Arc<AtomicUsize>,
    ) {
        let dropped = Arc::new(AtomicUsize::new(0));
        let inner = Tracked {
            inner: futures::stream::iter([Ok(1), Ok(2), Ok(3)]),
            dropped: Arc::clone(&dropped),
        };
        (Closable::new(inner), dropped)
    }

    #[tokio::test]
    async fn item_ready_at_close_is_not_yielded_and_next_is_none() {
        let (mut s, dropped) = ready_items();
        assert_eq!(s.next().await.transpose().unwrap(), Some(1));
        // Item 2 is ready right now; close wins over it.
        s.closer().close();
        assert!(s.next().await.is_none());
        assert!(s.next().await.is_none(), "stays ended");
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "the wrapped stream is dropped"
        );
    }

    #[tokio::test]
    async fn close_wakes_a_waiting_next_with_none() {
        let shared = Arc::new(ClosableStream::new(
            futures::stream::pending::<Result<u32>>(),
        ));
        let waiting = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move { shared.next().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        shared.close();
        let r = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(r, Ok(Ok(Ok(None)))), "{r:?}");
        assert!(matches!(shared.next().await, Ok(None)));
    }

    #[tokio::test]
    async fn client_close_ends_normally_and_expiry_is_an_error_once() {
        let closed = ClosableStream::new(futures::stream::iter([
            Ok(1),
            Err(Error::Closed("client closed".into())),
        ]));
        assert!(matches!(closed.next().await, Ok(Some(1))));
        assert!(matches!(closed.next().await, Ok(None)));

        let removed = ClosableStream::<u32>::new(futures::stream::iter([Err(Error::Cancelled(
            "watch removed".into(),
        ))]));
        assert!(matches!(removed.next().await, Ok(None)));

        let expired = ClosableStream::new(futures::stream::iter([
            Err(Error::SessionExpired("expired".into())),
            Ok(7),
        ]));
        assert!(matches!(
            expired.next().await,
            Err(Error::SessionExpired(_))
        ));
        assert!(
            matches!(expired.next().await, Ok(None)),
            "ends after the error"
        );
    }

    #[tokio::test]
    async fn changes_follow_a_watch_channel_until_the_sender_goes() {
        let (tx, rx) = tokio::sync::watch::channel(0u32);
        let s = ClosableStream::new(changes(rx));
        tx.send_replace(5);
        assert!(matches!(s.next().await, Ok(Some(5))));
        drop(tx);
        assert!(matches!(s.next().await, Ok(None)));
    }
}
