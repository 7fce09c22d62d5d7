//! Starting a call on the JavaScript thread: [`eager`] polls a core future
//! once where it is created, inside napi's runtime context, before napi
//! spawns it. The core client writes a lone request to the socket itself
//! during that first poll, so the request leaves without first waking a
//! runtime worker; the rest of the call (waiting for the answer) runs on the
//! runtime as before.
//!
//! Safe for any future: the first poll uses a waker that does nothing, and
//! the spawned task polls again at once with its real waker, so no wake-up
//! can be lost in between (a future re-checks what it waits for when polled).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A future already polled once: its result, or the rest of its work.
pub(crate) enum Eager<F: Future> {
    /// Finished during the first poll.
    Done(Option<F::Output>),
    /// Still running.
    Running(Pin<Box<F>>),
}

/// Polls `fut` once here, then hands back the rest to spawn.
pub(crate) fn eager<F: Future>(fut: F) -> Eager<F> {
    let mut fut = Box::pin(fut);
    let first = napi::bindgen_prelude::within_runtime_if_available(|| {
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    });
    match first {
        Poll::Ready(v) => Eager::Done(Some(v)),
        Poll::Pending => Eager::Running(fut),
    }
}

// The output is never pinned and the future is boxed.
impl<F: Future> Unpin for Eager<F> {}

impl<F: Future> Future for Eager<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.get_mut() {
            Eager::Done(v) => Poll::Ready(v.take().expect("polled after completion")),
            Eager::Running(f) => f.as_mut().poll(cx),
        }
    }
}
