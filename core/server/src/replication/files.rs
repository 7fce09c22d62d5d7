//! Small durable-file helpers shared by the log and snapshot stores: directory
//! fsync, atomic replace (temp file, fsync, rename, fsync directory) and the
//! exclusive lock that keeps two servers off one data directory.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Makes a rename or file creation inside `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing ancestors one level at a time, fsyncing each
/// new directory's parent so the new entry survives a crash; then fsyncs
/// `dir`'s parent even if `dir` existed (a crash may have come between an
/// earlier creation and its fsync).
pub(crate) fn create_dir_durable(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at);
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => break,
        }
    }
    for new in missing.iter().rev() {
        match fs::create_dir(new) {
            Err(e) if !(e.kind() == io::ErrorKind::AlreadyExists && new.is_dir()) => return Err(e),
            _ => {}
        }
        sync_parent(new)?;
        #[cfg(test)]
        created::record(new);
    }
    if missing.is_empty() {
        sync_parent(dir)?;
    }
    Ok(())
}

/// Creates a server's data directory durably: each missing directory is
/// created one level at a time and its parent fsynced, so a first start
/// cannot lose the directory, and with it acknowledged writes, to a crash.
pub fn create_data_dir(dir: &Path) -> Result<(), crate::error::Error> {
    create_dir_durable(dir).map_err(|e| {
        crate::error::Error::Io(format!("cannot create data dir {}: {e}", dir.display()))
    })
}

/// fsyncs the directory holding `path` (`.` for a bare relative name).
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// Replaces `dir/name` with `bytes` atomically: a crash leaves either the old or
/// the new content, never a mix.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// How long [`lock_dir`] waits for a previous owner in this process (a store being
/// dropped) to let go.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Takes the exclusive lock on `dir/LOCK`; the lock lasts as long as the returned
/// file is open. Fails if another store (or process) keeps it past a short wait.
pub(crate) fn lock_dir(dir: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{} is in use by another coord store", dir.display()),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Tests: every directory [`create_dir_durable`] created, after its parent's fsync.
#[cfg(test)]
pub(crate) mod created {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    pub(super) fn record(dir: &Path) {
        CREATED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(dir.to_path_buf());
    }

    /// The recorded directories under `root` (tests run in parallel).
    pub(crate) fn under(root: &Path) -> Vec<PathBuf> {
        let all = CREATED.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter(|d| d.starts_with(root))
            .cloned()
            .collect()
    }
}
