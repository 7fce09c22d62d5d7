//! Limits and settings shared by the server, the state machine and the client.
//!
//! Every limit coord enforces is a named field here with its default, and every
//! server setting is also a `coord serve` flag and a `COORD_*` environment
//! variable (see `core/cli/src/main.rs`).

use std::time::Duration;

use coord_proto::Identity;
use serde::{Deserialize, Serialize};

/// Limits that decide outcomes inside the replicated state machine.
///
/// They are part of the replicated state (the snapshot header carries them and
/// a `CommandKind::SetLimits` command changes them), so every replica enforces
/// the same values and a replayed log decides what it decided the first time.
/// A server's flags are only what it asks for: at start the leader proposes
/// them when they differ from the replicated ones. A state that never saw a
/// `SetLimits` (a new or pre-existing data dir) has the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest node data in bytes (`--max-data-bytes`, default 1 MiB).
    pub max_data_bytes: usize,
    /// Longest path in bytes (`--max-path-bytes`, default 4096).
    pub max_path_bytes: usize,
    /// Most ops in one multi (`--max-multi-ops`, default 1000).
    pub max_multi_ops: usize,
    /// Whether deleting a child bumps its parent's `cversion`, as ZooKeeper
    /// 3.8 does (and with it the next sequence suffix). Not a setting: `true`
    /// for every state this version creates, `false` in states replicated
    /// before it was, so that replaying an older log names sequential nodes
    /// as they were named then; the leader's first `SetLimits` turns it on.
    pub delete_bumps_parent_cversion: bool,
    /// Most ephemeral nodes one session may own at once
    /// (`--max-ephemerals-per-session`, default 65536). A create past it
    /// fails with `TooLarge` naming the session and the limit.
    pub max_ephemerals_per_session: usize,
    /// Identities that bypass every ACL check (`--superuser`, none by
    /// default), as ZooKeeper's `superDigest`.
    #[serde(default)]
    pub superusers: Vec<Identity>,
    /// Sessions must prove an identity besides their address (`digest`,
    /// `token` or `x509`) before anything but `addAuth`, `whoAmI`, ping and
    /// close is served (`--auth-required`; replicated so that every member
    /// and every replay decides alike). Off by default.
    #[serde(default)]
    pub auth_required: bool,
}

impl Limits {
    /// The limits of a state no `SetLimits` has reached yet (an empty
    /// replica, or one replaying a log from its start): the defaults with
    /// the semantics of the first logs, so that an old log replays as it was
    /// first applied. A leader replicates its configured limits at once.
    pub fn initial() -> Limits {
        Limits {
            delete_bumps_parent_cversion: false,
            // The first logs had no such limit: replay them as applied.
            max_ephemerals_per_session: usize::MAX,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_data_bytes: 1024 * 1024,
            max_path_bytes: 4096,
            max_multi_ops: 1000,
            delete_bumps_parent_cversion: true,
            max_ephemerals_per_session: 65_536,
            superusers: Vec::new(),
            auth_required: false,
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
