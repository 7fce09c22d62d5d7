//! The public watch handles: [`OneshotWatch`] (a future) and [`WatchStream`]
//! (a stream). They only receive what the watch table sends them; dropping a
//! [`WatchStream`] removes its watcher (and the server's watch when it was the
//! last local one). They must not talk to the server themselves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use coord_proto::WatchEvent;

use super::inner::Inner;
use super::watch::{EventResult, WatchMode};

/// A one-shot watch set by [`Client::get_watch`](super::Client::get_watch),
/// [`Client::exists_watch`](super::Client::exists_watch) or
/// [`Client::children_watch`](super::Client::children_watch).
///
/// Resolves to `Ok(event)` when the watch fires; to
/// `Err(Error::SessionExpired)` if the session ends first, `Err(Error::Closed)`
/// if the client is closed, `Err(Error::Cancelled)` if
/// [`Client::remove_watches`](super::Client::remove_watches) removed it. It
/// survives reconnects (the client re-registers it). Dropping it abandons it.
#[derive(Debug)]
#[must_use = "a watch does nothing unless awaited"]
pub struct OneshotWatch {
    rx: oneshot::Receiver<EventResult>,
}

impl OneshotWatch {
    /// Wraps the receiving end of a watcher registered in the watch table.
    pub(crate) fn new(rx: oneshot::Receiver<EventResult>) -> Self {
        OneshotWatch { rx }
    }
}

impl Future for OneshotWatch {
    type Output = Result<WatchEvent>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(Pin::new(&mut self.rx).poll(cx)) {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Closed("the client stopped".into())),
        })
    }
}

/// The registration a [`WatchStream`] removes when dropped.
#[derive(Debug)]
struct Registration {
    inner: Arc<Inner>,
    mode: WatchMode,
    path: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.inner.drop_persistent(self.mode, &self.path, self.id);
    }
}

/// The events of a persistent watch from [`Client::watch`](super::Client::watch).
///
/// Yields `Ok(event)` for every matching change, in zxid order. After the
/// session expires, the client is closed or the watch is removed, it yields
/// that error once (`SessionExpired`, `Closed`, `Cancelled`) and ends.
/// Dropping the stream removes the watch (on the server too when no other
/// local watcher of the same path and mode is left).
#[derive(Debug)]
#[must_use = "a watch stream does nothing unless polled"]
pub struct WatchStream {
    rx: mpsc::UnboundedReceiver<EventResult>,
    done: bool,
    registration: Registration,
}

impl WatchStream {
    /// Registers a local persistent watcher (before `AddWatch` is sent).
    pub(crate) fn register(inner: &Arc<Inner>, mode: WatchMode, path: &str) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = inner.add_persistent(mode, path, tx);
        WatchStream {
            rx,
            done: false,
            registration: Registration {
                inner: Arc::clone(inner),
                mode,
                path: path.to_string(),
                id,
            },
        }
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.registration.path
    }

    /// The watch's mode.
    pub fn mode(&self) -> WatchMode {
        self.registration.mode
    }
}

impl Stream for WatchStream {
    type Item = Result<WatchEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = ready!(self.rx.poll_recv(cx));
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        Poll::Ready(item)
    }
}
