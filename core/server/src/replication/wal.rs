//! The on-disk layout of `<data_dir>/raft/` and its recovery on open.
//!
//! `log.wal` is the magic [`WAL_MAGIC`] followed by frames (see `codec`) each holding
//! one `storage::LogRecord`: an entry, `truncate_from`, `purge_upto` or `committed`.
//! Replaying the records in file order rebuilds the log. `vote` is one frame holding
//! openraft's `Vote` as JSON, always replaced atomically.
//!
//! Recovery rule: the first frame that is cut short or fails its checksum ends the
//! log. If nothing valid follows it anywhere in the file, it is a write the crash
//! interrupted, never acknowledged (acknowledgement waits for fsync), and it is cut
//! away. If a valid record starts at any later offset, data that was on disk
//! before other records was damaged: open fails rather than silently dropping
//! acknowledged entries.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use openraft::{Entry, LogId, Vote};

use super::codec::{self, Frame, invalid};
use super::{NodeId, TypeConfig};
use crate::storage::log_record::Record;

/// First bytes of every log file (format version 1).
pub(crate) const WAL_MAGIC: &[u8; 8] = b"CRDWAL01";
/// Name of the log file inside the raft directory.
pub(crate) const WAL_FILE: &str = "log.wal";
/// Name of the file a compaction writes before renaming it over [`WAL_FILE`].
pub(crate) const WAL_TMP: &str = "log.wal.tmp";
/// Name of the vote file inside the raft directory.
pub(crate) const VOTE_FILE: &str = "vote";

/// The state rebuilt from `log.wal`.
#[derive(Default)]
pub(crate) struct Replayed {
    /// Live (not purged, not truncated) entries.
    pub(crate) entries: BTreeMap<u64, Entry<TypeConfig>>,
    /// File offset of each live entry's frame.
    pub(crate) offsets: BTreeMap<u64, u64>,
    /// Greatest purged log id.
    pub(crate) last_purged: Option<LogId<NodeId>>,
    /// Greatest committed log id saved.
    pub(crate) committed: Option<LogId<NodeId>>,
    /// Length of the valid part of the file; new records go here.
    pub(crate) end: u64,
}

impl Replayed {
    /// Applies one record, in file order.
    fn apply(&mut self, record: Record, offset: u64) -> io::Result<()> {
        match record {
            Record::Entry(p) => {
                let entry = codec::entry_from_proto(p)?;
                let index = entry.log_id.index;
                if self.last_purged.is_some_and(|p| p.index >= index) {
                    return Ok(());
                }
                drop(self.entries.split_off(&index));
                drop(self.offsets.split_off(&index));
                self.entries.insert(index, entry);
                self.offsets.insert(index, offset);
            }
            Record::TruncateFrom(index) => {
                drop(self.entries.split_off(&index));
                drop(self.offsets.split_off(&index));
            }
            Record::PurgeUpto(id) => {
                let id = codec::log_id_from_proto(&id);
                self.last_purged = self.last_purged.max(Some(id));
                self.entries = self.entries.split_off(&(id.index + 1));
                self.offsets = self.offsets.split_off(&(id.index + 1));
            }
            Record::Committed(id) => {
                self.committed = self.committed.max(Some(codec::log_id_from_proto(&id)));
            }
        }
        Ok(())
    }
}

/// Opens (creating if needed) `dir/log.wal`, replays it, and cuts a torn tail away.
pub(crate) fn replay(dir: &Path) -> io::Result<Replayed> {
    let path = dir.join(WAL_FILE);
    // A compaction that did not reach its rename left only garbage behind.
    match fs::remove_file(dir.join(WAL_TMP)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    if data.len() < WAL_MAGIC.len() {
        if !WAL_MAGIC.starts_with(&data) {
            return Err(invalid(format!("{} is not a coord log", path.display())));
        }
        // Fresh file, or a crash while writing the magic.
        super::files::write_atomic(dir, WAL_FILE, WAL_MAGIC)?;
        return Ok(Replayed {
            end: WAL_MAGIC.len() as u64,
            ..Replayed::default()
        });
    }
    if &data[..WAL_MAGIC.len()] != WAL_MAGIC {
        return Err(invalid(format!("{} is not a coord log", path.display())));
    }
    // Zero-filled space preallocated by the writer follows the last record: a
    // frame starting there is the end of the log (a record ending in zero
    // bytes still parses whole, since frames are read from the full data).
    let zeros_from = codec::logical_end(&data);
    let mut state = Replayed::default();
    let mut off = WAL_MAGIC.len();
    loop {
        if off >= zeros_from {
            break;
        }
        match codec::read_frame(&data, off) {
            Frame::Valid { payload, next } => {
                let record = codec::decode_record(payload)?
                    .record
                    .ok_or_else(|| invalid(format!("empty log record at offset {off}")))?;
                state
                    .apply(record, off as u64)
                    .map_err(|e| invalid(format!("log record at offset {off}: {e}")))?;
                off = next;
            }
            Frame::End => break,
            Frame::BadChecksum | Frame::Incomplete => {
                if let Some(at) = find_valid_after(&data, off, zeros_from) {
                    return Err(invalid(format!(
                        "{}: damaged record at offset {off} followed by a valid record at offset {at}",
                        path.display()
                    )));
                }
                tracing::warn!(
                    path = %path.display(),
                    offset = off,
                    dropped_bytes = zeros_from - off,
                    "discarding torn tail of the raft log (write interrupted by a crash)"
                );
                // Cut the torn bytes; the writer preallocates again later.
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(off as u64)?;
                file.sync_all()?;
                break;
            }
        }
    }
    state.end = off as u64;
    Ok(state)
}

/// The first offset in `off + 1..zeros_from` where a valid, decodable record
/// starts (records are read from the full data: one may end in zeros). Scanning
/// byte by byte is slow only in theory: it runs once, on the bytes after a damaged
/// frame, and most offsets are rejected by the length check before any CRC work.
fn find_valid_after(data: &[u8], off: usize, zeros_from: usize) -> Option<usize> {
    (off + 1..zeros_from).find(|&at| match codec::read_frame(data, at) {
        Frame::Valid { payload, .. } => {
            codec::decode_record(payload).is_ok_and(|r| r.record.is_some())
        }
        _ => false,
    })
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
