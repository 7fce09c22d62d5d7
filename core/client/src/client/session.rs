//! The session's life cycle: [`SessionState`], the fan-out of state changes to
//! [`StateStream`]s, and the credentials that let a connection resume the
//! session.
//!
//! Owns no lock and no task: the hub is kept inside the client's shared state
//! so that a state change is atomic with the change of connection it reports.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;

/// Where the session stands, as seen by this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Opening the session for the first time.
    Connecting,
    /// Connected to a server; requests flow.
    Connected,
    /// The connection was lost; the client is reconnecting and resuming the
    /// session. Requests wait (up to their timeout). Ephemerals still exist
    /// unless the session expires.
    Suspended,
    /// The session ended without the client closing it (the server said so,
    /// or no server could be reached within the session timeout): its
    /// ephemerals are or will soon be gone. Terminal.
    Expired,
    /// The client was closed. Terminal.
    Closed,
}

impl SessionState {
    /// True for [`SessionState::Expired`] and [`SessionState::Closed`]: the
    /// client will never leave these states.
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionState::Expired | SessionState::Closed)
    }
}

/// Stream of [`SessionState`]s from [`Client::state_changes`](super::Client::state_changes):
/// the state at subscription first, then every change. It ends after a
/// terminal state.
#[derive(Debug)]
pub struct StateStream {
    rx: mpsc::UnboundedReceiver<SessionState>,
}

impl Stream for StateStream {
    type Item = SessionState;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionState>> {
        self.rx.poll_recv(cx)
    }
}

/// The current state and its subscribers. Every change reaches every
/// subscriber (unbounded: changes are rare and a subscriber that stops
/// reading only costs a few bytes per change).
#[derive(Debug)]
pub(crate) struct StateHub {
    current: SessionState,
    subscribers: Vec<mpsc::UnboundedSender<SessionState>>,
}

impl StateHub {
    /// A hub in [`SessionState::Connecting`].
    pub(crate) fn new() -> Self {
        StateHub {
            current: SessionState::Connecting,
            subscribers: Vec::new(),
        }
    }

    /// The current state.
    pub(crate) fn current(&self) -> SessionState {
        self.current
    }

    /// Moves to `next` unless the current state is terminal or already `next`.
    /// Returns whether the state changed.
    pub(crate) fn set(&mut self, next: SessionState) -> bool {
        if self.current.is_terminal() || self.current == next {
            return false;
        }
        tracing::debug!(from = ?self.current, to = ?next, "session state");
        self.current = next;
        self.subscribers.retain(|tx| tx.send(next).is_ok());
        if next.is_terminal() {
            // Dropping the senders ends every stream after this last state.
            self.subscribers.clear();
        }
        true
    }

    /// A stream that yields the current state first.
    pub(crate) fn subscribe(&mut self) -> StateStream {
        let (tx, rx) = mpsc::unbounded_channel();
        // The receiver is alive, so this send cannot fail.
        let _ = tx.send(self.current);
        if !self.current.is_terminal() {
            self.subscribers.push(tx);
        }
        StateStream { rx }
    }
}

/// What a connection needs to resume the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Credentials {
    /// Session id, 0 before the first handshake.
    pub(crate) session_id: u64,
    /// Secret proving ownership of the session.
    pub(crate) secret: [u8; 16],
    /// Timeout negotiated with the server.
    pub(crate) timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn subscribers_see_current_state_then_each_change_then_the_end() {
        let mut hub = StateHub::new();
        let mut early = hub.subscribe();
        assert!(hub.set(SessionState::Connected));
        let mut late = hub.subscribe();
        assert!(!hub.set(SessionState::Connected), "same state is no change");
        assert!(hub.set(SessionState::Suspended));
        assert!(hub.set(SessionState::Expired));
        assert!(
            !hub.set(SessionState::Connected),
            "terminal states are final"
        );

        let early: Vec<_> = (&mut early).collect().await;
        assert_eq!(
            early,
            [
                SessionState::Connecting,
                SessionState::Connected,
                SessionState::Suspended,
                SessionState::Expired
            ]
        );
        let late: Vec<_> = (&mut late).collect().await;
        assert_eq!(
            late,
            [
                SessionState::Connected,
                SessionState::Suspended,
                SessionState::Expired
            ]
        );
        let after: Vec<_> = hub.subscribe().collect().await;
        assert_eq!(after, [SessionState::Expired]);
    }
}
