//! The on-disk layout of `<data_dir>/raft/` and its recovery on open.
//!
//! `log.wal` is the magic [`WAL_MAGIC`] followed by frames (see `codec`) each holding
//! one `storage::LogRecord`: an entry, `truncate_from`, `purge_upto`, `committed`
//! or a `synced` marker. Replaying the records in file order rebuilds the log.
//! Replay streams the file and keeps only each entry's log id and frame position
//! (`log_index::Slot`), never its payload. `vote` is one frame holding openraft's
//! `Vote` as JSON, always replaced atomically.
//!
//! Recovery rules, at the first frame that is not a valid record:
//! - only zeros from there on: the writer's preallocated space, the clean end;
//! - a `synced` marker before it that was written after it (i.e. one found
//!   later in the file) means the damaged bytes were fsynced and may have been
//!   acknowledged: open fails, naming the file, offset and ways out;
//! - so does a later `committed` record naming an entry the log does not reach;
//! - a log without any marker (written before markers existed) keeps the older,
//!   stricter rule: any valid record later in the file fails the open;
//! - otherwise the frame and what follows were written after the last fsync,
//!   never acknowledged: a write a crash cut short. It is cut away with a WARN.
//!
//! After replay, a committed log id beyond the end of the log also fails the open.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use openraft::{LogId, Vote};

use super::codec::{self, FRAME_HEADER, Frame, invalid};
use super::log_index::Slot;
use super::wal_scan::{self, Damage, FrameAt, Window};
use super::{NodeId, files};
use crate::storage::log_record_head::Record;

/// First bytes of every log file (format version 1).
pub(crate) const WAL_MAGIC: &[u8; 8] = b"CRDWAL01";
/// Name of the log file inside the raft directory.
pub(crate) const WAL_FILE: &str = "log.wal";
/// Name of the file a compaction writes before renaming it over [`WAL_FILE`].
pub(crate) const WAL_TMP: &str = "log.wal.tmp";
/// Name of the vote file inside the raft directory.
pub(crate) const VOTE_FILE: &str = "vote";

/// Tails longer than this get a log line before they are examined.
const LONG_SCAN_BYTES: u64 = 1 << 20;

/// The state rebuilt from `log.wal`.
pub(crate) struct Replayed {
    /// Live (not purged, not truncated) entries: log id and frame position.
    pub(crate) slots: BTreeMap<u64, Slot>,
    /// Greatest purged log id.
    pub(crate) last_purged: Option<LogId<NodeId>>,
    /// Greatest committed log id saved.
    pub(crate) committed: Option<LogId<NodeId>>,
    /// Length of the valid part of the file; new records go here.
    pub(crate) end: u64,
    /// The log file, open for reading and writing.
    pub(crate) file: File,
}

/// The contents of a new, empty log: the magic and a `synced` marker (the
/// file is fsynced before use), so that every log written by this version
/// has markers.
pub(crate) fn fresh_log() -> Vec<u8> {
    let mut bytes = WAL_MAGIC.to_vec();
    bytes.extend_from_slice(&codec::synced_marker());
    bytes
}

/// Everything replay learns, as it goes.
struct Scan {
    slots: BTreeMap<u64, Slot>,
    last_purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    /// Whether a `synced` marker was seen.
    synced: bool,
}

impl Scan {
    /// Applies one record, in file order.
    fn apply(&mut self, record: Record, offset: u64, frame_len: usize) -> io::Result<()> {
        match record {
            Record::Entry(head) => {
                let log_id = head
                    .log_id
                    .as_ref()
                    .map(codec::log_id_from_proto)
                    .ok_or_else(|| invalid("log entry without log id"))?;
                let index = log_id.index;
                if self.last_purged.is_some_and(|p| p.index >= index) {
                    return Ok(());
                }
                drop(self.slots.split_off(&index));
                let len =
                    u32::try_from(frame_len).map_err(|_| invalid("entry frame over 4 GiB"))?;
                self.slots.insert(index, Slot::on_disk(log_id, offset, len));
            }
            Record::TruncateFrom(index) => drop(self.slots.split_off(&index)),
            Record::PurgeUpto(id) => {
                let id = codec::log_id_from_proto(&id);
                self.last_purged = self.last_purged.max(Some(id));
                self.slots = self.slots.split_off(&(id.index + 1));
            }
            Record::Committed(id) => {
                self.committed = self.committed.max(Some(codec::log_id_from_proto(&id)));
            }
            Record::Synced(_) => self.synced = true,
        }
        Ok(())
    }

    /// Index of the last entry the log reaches (live or purged).
    fn last_index(&self) -> Option<u64> {
        self.slots
            .last_key_value()
            .map(|(i, _)| *i)
            .or(self.last_purged.map(|p| p.index))
    }
}

/// Opens (creating if needed) `dir/log.wal`, replays it, and cuts a torn tail away.
/// Fails, saying what is wrong and what to do, if acknowledged records are
/// damaged or the log is gone while the vote is not.
pub(crate) fn replay(dir: &Path) -> io::Result<Replayed> {
    let path = dir.join(WAL_FILE);
    // A compaction that did not reach its rename left only garbage behind.
    match fs::remove_file(dir.join(WAL_TMP)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    if len < WAL_MAGIC.len() as u64 {
        if dir.join(VOTE_FILE).exists() {
            return Err(invalid(format!(
                "{} is {} but {} exists: this node's raft log was lost (deleted or \
                 truncated) after it had voted, and it cannot rejoin its cluster without it. \
                 Restore the data directory from a backup or a peer; or, to start this node \
                 empty (its data is then gone), remove both {} and the snapshots directory \
                 beside it",
                path.display(),
                if len == 0 {
                    "missing or empty".to_string()
                } else {
                    format!("{len} bytes long")
                },
                dir.join(VOTE_FILE).display(),
                dir.display()
            )));
        }
        // A fresh directory (write_atomic never leaves a partial file).
        files::write_atomic(dir, WAL_FILE, &fresh_log())?;
    }
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    let len = file.metadata()?.len();
    let mut win = Window::new(&file, len);
    if win.get(0, WAL_MAGIC.len())? != &WAL_MAGIC[..] {
        return Err(invalid(format!("{} is not a coord log", path.display())));
    }
    let mut scan = Scan {
        slots: BTreeMap::new(),
        last_purged: None,
        committed: None,
        synced: false,
    };
    let mut off = WAL_MAGIC.len() as u64;
    let damage = loop {
        match wal_scan::frame_at(&mut win, off)? {
            FrameAt::Valid { len, next } => {
                let payload = win.get(off + FRAME_HEADER as u64, len)?;
                // The checksum matched: this is not damage but a record this
                // version cannot read.
                let record = codec::decode_record_head(payload)
                    .and_then(|r| r.record.ok_or_else(|| invalid("empty log record")))
                    .map_err(|e| invalid(format!("{} offset {off}: {e}", path.display())))?;
                scan.apply(record, off, FRAME_HEADER + len)
                    .map_err(|e| invalid(format!("{} offset {off}: {e}", path.display())))?;
                off = next;
            }
            FrameAt::End => break None,
            FrameAt::Zeros => match wal_scan::first_nonzero(&mut win, off)? {
                None => break None,
                Some(_) => break Some(Damage::BadHeader),
            },
            FrameAt::Bad(d) => break Some(d),
        }
    };
    if let Some(damage) = damage {
        recover_from(&mut win, &scan, off, damage, &path)?;
        // A torn tail: cut it; the writer preallocates again later.
        file.set_len(off)?;
        file.sync_all()?;
    }
    if let Some(c) = scan.committed
        && scan.last_index().is_none_or(|last| last < c.index)
    {
        return Err(invalid(format!(
            "{}: entries up to {c} were committed but the log ends at index {}: \
             acknowledged entries are missing. Restore the data directory from a peer or a backup",
            path.display(),
            index_text(scan.last_index())
        )));
    }
    Ok(Replayed {
        slots: scan.slots,
        last_purged: scan.last_purged,
        committed: scan.committed,
        end: off,
        file,
    })
}

/// A log index for a message ("none" before the first entry).
fn index_text(index: Option<u64>) -> String {
    index.map_or_else(|| "none".into(), |i| i.to_string())
}

/// Applies the recovery rules (module docs) to a damaged frame at `off`:
/// `Ok` if it starts a torn tail that may be cut away.
fn recover_from(
    win: &mut Window<'_>,
    scan: &Scan,
    off: u64,
    damage: Damage,
    path: &Path,
) -> io::Result<()> {
    let after = win.file_len() - off;
    if after > LONG_SCAN_BYTES {
        tracing::warn!(
            path = %path.display(),
            offset = off,
            bytes = after,
            problem = damage.describe(),
            "raft log: bad record; checking the bytes after it for acknowledged records before deciding"
        );
    }
    let tail = wal_scan::examine_tail(win, off, !scan.synced)?;
    let way_out = format!(
        "Restore this node's data directory from a peer or a backup. To start anyway and \
         lose every record from offset {off} on (acknowledged writes among them), cut the file \
         there: truncate -s {off} {}",
        path.display()
    );
    let bad = format!(
        "{}: the record at offset {off} is damaged ({})",
        path.display(),
        damage.describe()
    );
    if let Some(at) = tail.synced_at {
        return Err(invalid(format!(
            "{bad}, but the sync marker at offset {at} shows it was fsynced, so it may hold \
             acknowledged writes. {way_out}"
        )));
    }
    if let Some((c, at)) = tail.committed
        && scan.last_index().is_none_or(|last| last < c.index)
    {
        return Err(invalid(format!(
            "{bad}, but the record at offset {at} says entries up to {c} were committed, and \
             the log before the damage ends at index {}. {way_out}",
            index_text(scan.last_index())
        )));
    }
    if !scan.synced
        && let Some(at) = tail.first_valid
    {
        return Err(invalid(format!(
            "{bad} and a valid record follows at offset {at}: damage, not a write cut short \
             by a crash. {way_out}"
        )));
    }
    tracing::warn!(
        path = %path.display(),
        offset = off,
        dropped_bytes = after,
        problem = damage.describe(),
        "discarding the torn tail of the raft log (written after the last fsync, never acknowledged)"
    );
    Ok(())
}

/// Reads the vote file, `None` if there is none yet.
pub(crate) fn read_vote(dir: &Path) -> io::Result<Option<Vote<NodeId>>> {
    let data = match fs::read(dir.join(VOTE_FILE)) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match codec::read_frame(&data, 0) {
        Frame::Valid { payload, next } if next == data.len() => serde_json::from_slice(payload)
            .map(Some)
            .map_err(|e| invalid(format!("vote file: {e}"))),
        _ => Err(invalid("vote file is damaged")),
    }
}

/// The framed content of a vote file.
pub(crate) fn encode_vote(vote: &Vote<NodeId>) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec(vote).map_err(|e| invalid(format!("vote: {e}")))?;
    let mut buf = Vec::with_capacity(json.len() + codec::FRAME_HEADER);
    codec::put_frame_bytes(&mut buf, &json);
    Ok(buf)
}
