//! The leader's clock: the time stamped into commands (ctime, mtime, TTL and
//! container reaping, session creation).
//!
//! It reads the wall clock once, when the server starts, and from then on
//! advances with the monotonic clock: a wall-clock step (NTP, an operator's
//! `date -s`) while the server runs moves neither TTL expiry nor timestamps.
//! The anchor is never behind the newest time already in the log, so time in
//! the replicated state does not go backwards across a restart either (the
//! state machine also clamps each command's time to the last one applied).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, advancing monotonically.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeaderClock {
    anchor_ms: i64,
    anchor: Instant,
}

impl LeaderClock {
    /// A clock that reads the wall clock now, but never earlier than
    /// `floor_ms` (the newest time in the replicated state).
    pub(crate) fn start(floor_ms: i64) -> Self {
        Self::anchored(wall_ms().max(floor_ms), Instant::now())
    }

    fn anchored(anchor_ms: i64, anchor: Instant) -> Self {
        LeaderClock { anchor_ms, anchor }
    }

    /// Now, in milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.at(Instant::now())
    }

    fn at(&self, t: Instant) -> i64 {
        let elapsed = t.saturating_duration_since(self.anchor).as_millis();
        self.anchor_ms
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn advances_with_monotonic_time_only() {
        let t0 = Instant::now();
        let clock = LeaderClock::anchored(1_000_000, t0);
        assert_eq!(clock.at(t0), 1_000_000);
        assert_eq!(clock.at(t0 + Duration::from_millis(2500)), 1_002_500);
        // An instant before the anchor (cannot come from `now`) does not go back.
        assert_eq!(
            clock.at(t0.checked_sub(Duration::from_secs(1)).unwrap_or(t0)),
            1_000_000
        );
    }

    #[test]
    fn never_starts_behind_the_replicated_time() {
        let ahead = wall_ms() + 3_600_000;
        let clock = LeaderClock::start(ahead);
        assert!(clock.now_ms() >= ahead);
        let behind = LeaderClock::start(0);
        assert!((behind.now_ms() - wall_ms()).abs() < 60_000);
    }
}
