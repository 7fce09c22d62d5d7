//! The leader's session liveness tracker.
//!
//! Sessions themselves (id, timeout, secret, ephemerals) are replicated state
//! in [`crate::state_machine`]. Liveness is not: the leader alone keeps a
//! deadline per session in memory, pushed forward by every request and ping,
//! and proposes an `ExpireSessions` command for those that pass it. A new
//! leader (or a restarted single node) starts every known session with a full
//! timeout, so a client always gets its whole timeout to reconnect.
//!
//! The server's session manager (`server::sessions`) owns the one tracker and
//! changes it only from applied session commands, touches and restarts.
//!
//! This module keeps no tree state and does no I/O.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Entry {
    timeout: Duration,
    deadline: Instant,
}

/// Deadlines of live sessions.
#[derive(Debug, Default)]
pub struct LivenessTracker {
    sessions: Mutex<HashMap<u64, Entry>>,
}

impl LivenessTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts tracking a session with a full timeout from `now`.
    pub fn add(&self, session_id: u64, timeout: Duration, now: Instant) {
        self.lock().insert(
            session_id,
            Entry {
                timeout,
                deadline: now + timeout,
            },
        );
    }

    /// Pushes a session's deadline to `now + timeout`. Returns false if the
    /// session is not tracked (expired or unknown).
    pub fn touch(&self, session_id: u64, now: Instant) -> bool {
        match self.lock().get_mut(&session_id) {
            Some(e) => {
                e.deadline = now + e.timeout;
                true
            }
            None => false,
        }
    }

    /// Stops tracking a session.
    pub fn remove(&self, session_id: u64) {
        self.lock().remove(&session_id);
    }

    /// Stops tracking every session.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// True if the session is tracked.
    pub fn contains(&self, session_id: u64) -> bool {
        self.lock().contains_key(&session_id)
    }

    /// Sessions whose deadline has passed at `now`, sorted.
    pub fn expired(&self, now: Instant) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Number of tracked sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_only_after_its_timeout_without_touch() {
        let t = LivenessTracker::new();
        let start = Instant::now();
        t.add(7, Duration::from_millis(100), start);
        assert!(t.expired(start + Duration::from_millis(99)).is_empty());
        assert!(t.touch(7, start + Duration::from_millis(90)));
        assert!(t.expired(start + Duration::from_millis(150)).is_empty());
        assert_eq!(t.expired(start + Duration::from_millis(190)), vec![7]);
        t.remove(7);
        assert!(!t.touch(7, start));
        assert!(t.is_empty());
    }
}
