//! What the operating system grants the server, checked once at start: the
//! file-descriptor budget (the connection cap comes out of it) and the free
//! space under the data directory.
//!
//! A server that accepts more sockets than it has descriptors fails later in
//! the worst place (a snapshot or a log file cannot be opened, and raft stops);
//! one that starts on a full disk serves for a moment and dies. Both are
//! refused or adjusted here, before anything is served, with a log line giving
//! the numbers.

use std::path::Path;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tracing::{info, warn};

use crate::error::{Error, Result};

/// The descriptor budget the server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdBudget {
    /// The soft `RLIMIT_NOFILE` after raising it.
    pub(crate) limit: u64,
    /// Descriptors kept back for the log, snapshots, peers and the runtime.
    pub(crate) reserve: u64,
    /// Connections allowed: the configured maximum, capped to what is left.
    pub(crate) max_connections: usize,
}

/// Raises the soft descriptor limit to the hard limit, keeps `reserve` back
/// and caps `max_connections` to what is left. Refuses when not even one
/// connection fits.
pub(crate) fn fd_budget(max_connections: usize, reserve: u64) -> Result<FdBudget> {
    let before = getrlimit(Resource::Nofile);
    let mut limit = before.current.unwrap_or(u64::MAX);
    if before.current != before.maximum {
        let raised = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit = before.maximum.unwrap_or(u64::MAX),
            Err(e) => warn!(
                soft = ?before.current,
                hard = ?before.maximum,
                error = %e,
                "could not raise the file-descriptor limit to the hard limit"
            ),
        }
    }
    let budget = plan(limit, reserve, max_connections)?;
    if budget.max_connections < max_connections {
        warn!(
            fd_limit = budget.limit,
            fd_reserve = budget.reserve,
            configured = max_connections,
            capped_to = budget.max_connections,
            "max connections capped to the file-descriptor limit minus the reserve \
             (raise `ulimit -n` or lower --max-connections)"
        );
    } else {
        info!(
            fd_limit = budget.limit,
            fd_reserve = budget.reserve,
            max_connections = budget.max_connections,
            "file-descriptor budget"
        );
    }
    Ok(budget)
}

/// The arithmetic of [`fd_budget`], separate so it can be tested.
fn plan(limit: u64, reserve: u64, max_connections: usize) -> Result<FdBudget> {
    let room = limit.saturating_sub(reserve);
    if room == 0 {
        return Err(Error::BadArguments(format!(
            "the file-descriptor limit ({limit}) leaves no room for connections after the \
             reserve of {reserve} (--fd-reserve) for the log, snapshots and peers: raise \
             `ulimit -n` (the hard limit) or lower --fd-reserve"
        )));
    }
    let cap = usize::try_from(room).unwrap_or(usize::MAX);
    Ok(FdBudget {
        limit,
        reserve,
        max_connections: max_connections.min(cap),
    })
}

/// Refuses to start when the file system holding `dir` has less than
/// `min_free` bytes available to this process (0 turns the check off).
pub(crate) fn check_free_space(dir: &Path, min_free: u64) -> Result<()> {
    if min_free == 0 {
        return Ok(());
    }
    let st = rustix::fs::statvfs(dir).map_err(|e| {
        Error::Io(format!(
            "cannot read the free space of {}: {e}",
            dir.display()
        ))
    })?;
    let available = st.f_bavail.saturating_mul(st.f_frsize);
    if available < min_free {
        return Err(Error::Io(format!(
            "the file system of the data dir {} has {available} bytes free, below the \
             {min_free} bytes coord needs to start (--min-free-disk-bytes): free space \
             there or move the data dir",
            dir.display()
        )));
    }
    info!(data_dir = %dir.display(), available, "free space under the data dir");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_to_the_limit_minus_the_reserve() {
        let b = plan(1024, 128, 10_000).unwrap();
        assert_eq!(b.max_connections, 896);
        let b = plan(1 << 20, 128, 10_000).unwrap();
        assert_eq!(b.max_connections, 10_000);
    }

    #[test]
    fn a_limit_below_the_reserve_is_refused() {
        let e = plan(100, 128, 10).unwrap_err().to_string();
        assert!(e.contains("--fd-reserve") && e.contains("(100)"), "{e}");
    }

    #[test]
    fn free_space_below_the_minimum_is_refused_naming_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        check_free_space(dir.path(), 1).unwrap();
        let e = check_free_space(dir.path(), 1 << 50)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--min-free-disk-bytes"), "{e}");
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
    }
}
