//! Reading `log.wal` frame by frame without holding it in memory: a window
//! over the file, the frame found at an offset, and the search for records
//! after a damaged frame that recovery uses to tell a torn tail from damage.
//!
//! Every scan is linear in the bytes it covers: a candidate frame must pass
//! [`codec::plausible_len`] (a few byte comparisons) before any checksum work,
//! and a valid frame is skipped whole. This module decides nothing; `wal`
//! applies the recovery rules.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use openraft::LogId;

use super::NodeId;
use super::codec::{self, FRAME_HEADER, PREFIX};
use crate::storage::log_record_head::Record;

/// Bytes read from the file at a time.
const CHUNK: usize = 1 << 20;

/// A read-ahead window over a file of known length.
pub(crate) struct Window<'f> {
    file: &'f File,
    file_len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'f> Window<'f> {
    pub(crate) fn new(file: &'f File, file_len: u64) -> Window<'f> {
        Window {
            file,
            file_len,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// Length of the file.
    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    /// `n` bytes at `off`, fewer only where the file ends.
    pub(crate) fn get(&mut self, off: u64, n: usize) -> io::Result<&[u8]> {
        let end = off.saturating_add(n as u64).min(self.file_len);
        if off >= end {
            return Ok(&[]);
        }
        if off < self.start || end > self.start + self.buf.len() as u64 {
            let want = ((end - off) as usize)
                .max(CHUNK)
                .min((self.file_len - off) as usize);
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, off)?;
            self.start = off;
        }
        let at = (off - self.start) as usize;
        Ok(&self.buf[at..at + (end - off) as usize])
    }
}

/// Why the bytes at an offset are not a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The declared frame runs past the end of the file.
    CutShort,
    /// The header does not describe a log record.
    BadHeader,
    /// The frame's checksum does not match its bytes.
    BadChecksum,
}

impl Damage {
    /// How a message describes it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Damage::CutShort => "frame cut short by the end of the file",
            Damage::BadHeader => "frame header is not a log record's",
            Damage::BadChecksum => "checksum mismatch",
        }
    }
}

/// What lies at an offset of `log.wal`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameAt {
    /// A frame whose checksum matches, `len` payload bytes, followed by `next`.
    Valid { len: usize, next: u64 },
    /// The end of the file.
    End,
    /// A zeroed frame header: the writer's preallocated space, if only zeros follow.
    Zeros,
    /// Anything else.
    Bad(Damage),
}

/// Parses the frame at `off`.
pub(crate) fn frame_at(win: &mut Window<'_>, off: u64) -> io::Result<FrameAt> {
    let file_len = win.file_len();
    if off >= file_len {
        return Ok(FrameAt::End);
    }
    let head = win.get(off, FRAME_HEADER + PREFIX)?;
    if head.len() >= FRAME_HEADER && head[..FRAME_HEADER].iter().all(|&b| b == 0) {
        return Ok(FrameAt::Zeros);
    }
    if head.len() < FRAME_HEADER {
        return Ok(FrameAt::Bad(Damage::CutShort));
    }
    let declared = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
    if off + FRAME_HEADER as u64 + declared > file_len {
        return Ok(FrameAt::Bad(Damage::CutShort));
    }
    let Some(len) = codec::plausible_len(head) else {
        return Ok(FrameAt::Bad(Damage::BadHeader));
    };
    let frame = win.get(off, FRAME_HEADER + len)?;
    Ok(if codec::crc_matches(frame) {
        FrameAt::Valid {
            len,
            next: off + (FRAME_HEADER + len) as u64,
        }
    } else {
        FrameAt::Bad(Damage::BadChecksum)
    })
}

/// The first non-zero byte at or after `off`, `None` if only zeros follow.
pub(crate) fn first_nonzero(win: &mut Window<'_>, mut off: u64) -> io::Result<Option<u64>> {
    while off < win.file_len() {
        let chunk = win.get(off, CHUNK)?;
        if let Some(i) = chunk.iter().position(|&b| b != 0) {
            return Ok(Some(off + i as u64));
        }
        off += chunk.len() as u64;
    }
    Ok(None)
}

/// The valid records found after a damaged frame.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// Offset of the first valid record.
    pub(crate) first_valid: Option<u64>,
    /// Offset of the first `synced` marker.
    pub(crate) synced_at: Option<u64>,
    /// The greatest committed log id recorded, and the offset of its record.
    pub(crate) committed: Option<(LogId<NodeId>, u64)>,
}

/// Looks for valid records in `from + 1..` (the frame at `from` is damaged).
/// Stops at the first `synced` marker, or with `stop_at_any` at the first
/// valid record: either already decides the outcome.
pub(crate) fn examine_tail(win: &mut Window<'_>, from: u64, stop_at_any: bool) -> io::Result<Tail> {
    let mut tail = Tail::default();
    let mut at = from + 1;
    while let Some(candidate) = next_plausible(win, at)? {
        let FrameAt::Valid { len, next } = frame_at(win, candidate)? else {
            at = candidate + 1;
            continue;
        };
        let payload = win.get(candidate + FRAME_HEADER as u64, len)?;
        let Ok(Some(record)) = codec::decode_record_head(payload).map(|r| r.record) else {
            at = candidate + 1;
            continue;
        };
        tail.first_valid.get_or_insert(candidate);
        match record {
            Record::Synced(_) => {
                tail.synced_at = Some(candidate);
                return Ok(tail);
            }
            Record::Committed(id) => {
                let id = codec::log_id_from_proto(&id);
                if tail.committed.is_none_or(|(c, _)| c < id) {
                    tail.committed = Some((id, candidate));
                }
            }
            _ => {}
        }
        if stop_at_any {
            return Ok(tail);
        }
        at = next;
    }
    Ok(tail)
}

/// The first offset at or after `at` where a plausible frame starts.
fn next_plausible(win: &mut Window<'_>, mut at: u64) -> io::Result<Option<u64>> {
    let file_len = win.file_len();
    let span = FRAME_HEADER + PREFIX;
    while at < file_len {
        let chunk = win.get(at, CHUNK + span)?;
        // Check each start with its whole header and prefix in view (the next
        // chunk re-reads the last `span` bytes), except at the end of the file.
        let starts = if at + chunk.len() as u64 == file_len {
            chunk.len()
        } else {
            chunk.len() - span
        };
        let mut i = 0;
        while i < starts {
            // The record tag decides for almost every offset: test it before
            // the full check, eight zero tags (preallocated space) at a time.
            let tags = chunk.get(i + FRAME_HEADER..i + FRAME_HEADER + 8);
            if tags == Some(&[0u8; 8][..]) {
                i += 8;
                continue;
            }
            let tag = chunk.get(i + FRAME_HEADER).copied().unwrap_or(0);
            if codec::is_record_tag(tag) && codec::plausible_len(&chunk[i..]).is_some() {
                return Ok(Some(at + i as u64));
            }
            i += 1;
        }
        let i = i.min(starts);
        at += (i as u64).max(1);
    }
    Ok(None)
}
