//! Limits and settings shared by the server, the state machine and the client.
//!
//! Every limit coord enforces is a named field here with its default, and every
//! server setting is also a `coord serve` flag and a `COORD_*` environment
//! variable (see `src/bin/coord.rs`).

use std::time::Duration;

/// Limits that decide outcomes inside the replicated state machine. Every replica
/// must run with the same values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest node data in bytes (`--max-data-bytes`, default 1 MiB).
    pub max_data_bytes: usize,
    /// Longest path in bytes (`--max-path-bytes`, default 4096).
    pub max_path_bytes: usize,
    /// Most ops in one multi (`--max-multi-ops`, default 1000).
    pub max_multi_ops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_data_bytes: 1024 * 1024,
            max_path_bytes: 4096,
            max_multi_ops: 1000,
        }
    }
}

/// Session timeout bounds; a client's request is clamped into `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Shortest session timeout granted (`--min-session-timeout-ms`, default 1000).
    pub min_timeout: Duration,
    /// Longest session timeout granted (`--max-session-timeout-ms`, default 60000).
    pub max_timeout: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            min_timeout: Duration::from_millis(1000),
            max_timeout: Duration::from_millis(60_000),
        }
    }
}

impl SessionLimits {
    /// ZooKeeper's negotiation: clamp the requested timeout into the bounds.
    pub fn negotiate(&self, requested_ms: u32) -> u32 {
        let min = self.min_timeout.as_millis() as u32;
        let max = self.max_timeout.as_millis() as u32;
        requested_ms.clamp(min, max.max(min))
    }
}
