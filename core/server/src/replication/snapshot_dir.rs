//! The snapshots directory as a whole: which files are finished snapshots,
//! which one a node starts from (and what to do when the newest is damaged),
//! and pruning old ones. One file's format is `snapshot`'s.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::codec::invalid;
use super::snapshot::{KEEP, SUFFIX, SnapFile, load, read_meta};
use super::{NodeId, files};
use crate::state_machine::StateMachine;

/// The finished snapshots in `dir` whose headers read, oldest first
/// (unreadable ones are skipped with a warning).
pub(crate) fn list(dir: &Path) -> io::Result<Vec<SnapFile>> {
    let mut found = Vec::new();
    for path in snap_paths(dir)? {
        match read_meta(&path) {
            Ok(snap) => found.push(snap),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable snapshot")
            }
        }
    }
    found.sort_by_key(|s| s.meta.last_log_id);
    Ok(found)
}

/// The newest finished snapshot file under a data dir (by modification
/// time), for monitoring; `None` when there is none or the dir cannot be read.
pub(crate) fn newest_snapshot_file(data_dir: &Path) -> Option<PathBuf> {
    snap_paths(&data_dir.join("snapshots"))
        .ok()?
        .into_iter()
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
}

/// Paths of the finished snapshot files in `dir`.
fn snap_paths(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|e| e == SUFFIX.trim_start_matches('.'))
        {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// Loads the snapshot a node starts from: the newest one that loads intact
/// and reaches `log_start` (the log's last purged id, whose entries exist
/// only in snapshots), or none if the log was never purged and no snapshot
/// loads. Only headers are read before choosing, and only the chosen file is
/// read whole. A newer snapshot that is damaged is passed over with a WARN
/// (the older one plus the log rebuild the same state) and renamed
/// `*.snap.damaged`; if nothing usable reaches `log_start`, it fails saying so.
/// Removes temp files left by a crash first.
pub(crate) fn open_newest(
    dir: &Path,
    log_start: Option<openraft::LogId<NodeId>>,
) -> io::Result<Option<(StateMachine, SnapFile)>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp" || e == "part") {
            let _ = fs::remove_file(&path);
        }
    }
    let mut damaged: Vec<(PathBuf, String)> = Vec::new();
    let mut readable = Vec::new();
    for path in snap_paths(dir)? {
        match read_meta(&path) {
            Ok(snap) => readable.push(snap),
            Err(e) => damaged.push((path, format!("header: {e}"))),
        }
    }
    readable.sort_by_key(|s| std::cmp::Reverse(s.meta.last_log_id));
    let reaches = |s: &SnapFile| {
        log_start.is_none_or(|l| s.meta.last_log_id.is_some_and(|id| id.index >= l.index))
    };
    let mut chosen = None;
    for snap in readable.iter().filter(|s| reaches(s)) {
        match load(&snap.path) {
            Ok(loaded) => {
                chosen = Some(loaded);
                break;
            }
            Err(e) => damaged.push((snap.path.clone(), e.to_string())),
        }
    }
    let listed = damaged
        .iter()
        .map(|(p, e)| format!("{} ({e})", p.display()))
        .collect::<Vec<_>>()
        .join("; ");
    if chosen.is_none() && log_start.is_some() {
        let newest = readable.first().map(|s| s.meta.last_log_id);
        return Err(invalid(format!(
            "no intact snapshot in {} reaches the start of the raft log (purged up to {}): \
             damaged: [{listed}]; newest readable header: {newest:?}. The state before the log \
             starts exists nowhere else on this node: restore its data directory from a peer \
             or a backup",
            dir.display(),
            log_start.map_or_else(String::new, |l| l.to_string()),
        )));
    }
    for (path, problem) in &damaged {
        let aside = path.with_extension("snap.damaged");
        tracing::warn!(
            path = %path.display(),
            problem = %problem,
            renamed_to = %aside.display(),
            using = ?chosen.as_ref().map(|(_, s): &(StateMachine, SnapFile)| s.path.display().to_string()),
            "snapshot is damaged; starting from an older snapshot (or none) and the log, which hold the same state"
        );
        fs::rename(path, &aside)?;
    }
    if !damaged.is_empty() {
        files::sync_dir(dir)?;
    }
    Ok(chosen)
}

/// Deletes all snapshots but the [`KEEP`] newest, never `current`.
pub(crate) fn prune(dir: &Path, current: &Path) -> io::Result<()> {
    let all = list(dir)?;
    let excess = all.len().saturating_sub(KEEP);
    for snap in all.into_iter().take(excess) {
        if snap.path != current {
            fs::remove_file(&snap.path)?;
        }
    }
    Ok(())
}
