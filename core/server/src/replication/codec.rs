//! Byte formats of the replication files: the checksummed frame shared by the
//! write-ahead log and the vote file, and the conversions between openraft's
//! log types and `storage::LogRecord`.
//!
//! A frame is `[len: u32 LE][crc: u32 LE][payload: len bytes]`, where `crc` is the
//! CRC-32 (IEEE, `crc32fast`) of the four length bytes followed by the payload. Covering the length means a zero-filled region (a common crash
//! artefact) never parses as a valid empty frame. This module does no I/O.

use std::io;
use std::sync::Arc;

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership};
use prost::Message;

use super::{Member, NodeId, TypeConfig};
use crate::state_machine::CommandBatch;
use crate::storage;
use crate::storage::log_entry::Payload;

/// Bytes of a frame header (length + CRC).
pub(crate) const FRAME_HEADER: usize = 8;

/// Appends one frame holding `msg` to `buf` (encoded in place, no extra copy).
pub(crate) fn put_frame(buf: &mut Vec<u8>, msg: &impl Message) {
    let start = buf.len();
    let len = msg.encoded_len();
    buf.reserve(FRAME_HEADER + len);
    let len_bytes = (len as u32).to_le_bytes();
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&[0; 4]);
    // Encoding into a Vec cannot run out of space.
    let _ = msg.encode(buf);
    let crc = frame_crc(len_bytes, &buf[start + FRAME_HEADER..]);
    buf[start + 4..start + FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// Appends one frame holding raw `payload` to `buf`.
pub(crate) fn put_frame_bytes(buf: &mut Vec<u8>, payload: &[u8]) {
    let len_bytes = (payload.len() as u32).to_le_bytes();
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&frame_crc(len_bytes, payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

fn frame_crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// What lies at an offset of a framed file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A frame whose checksum matches; `next` is the offset just after it.
    Valid { payload: &'a [u8], next: usize },
    /// A frame whose declared extent fits in the data but whose checksum fails.
    BadChecksum,
    /// Too few bytes for the declared frame, or a zero length: a write cut short.
    Incomplete,
    /// `off` is exactly the end of the data (the caller trims the zero-filled
    /// space preallocated after the last record).
    End,
}

/// Parses the frame starting at `off` in `data`.
pub(crate) fn read_frame(data: &[u8], off: usize) -> Frame<'_> {
    let rest = data.len().saturating_sub(off);
    if rest == 0 {
        return Frame::End;
    }
    if rest < FRAME_HEADER {
        return Frame::Incomplete;
    }
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&data[off..off + 4]);
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || len > rest - FRAME_HEADER {
        return Frame::Incomplete;
    }
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&data[off + 4..off + FRAME_HEADER]);
    let payload = &data[off + FRAME_HEADER..off + FRAME_HEADER + len];
    let next = off + FRAME_HEADER + len;
    if frame_crc(len_bytes, payload) == u32::from_le_bytes(crc_bytes) {
        Frame::Valid { payload, next }
    } else {
        Frame::BadChecksum
    }
}

/// Most payload bytes [`plausible_len`] looks at: a tag and a 10-byte varint.
pub(crate) const PREFIX: usize = 11;

/// Whether `bytes` (from a frame start: header, then at least the first
/// [`PREFIX`] payload bytes or the whole payload) can start a `LogRecord`
/// frame, judged without any checksum work; returns the payload length.
///
/// A record is exactly one field of the `LogRecord` oneof, so its payload is a
/// known tag followed by a length (or a varint) that must account for the
/// payload's length exactly. Random or shifted bytes almost never pass, which
/// keeps a scan for records after damage linear instead of checksumming a
/// candidate extent at every offset.
pub(crate) fn plausible_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < FRAME_HEADER + 2 {
        return None;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let payload = &bytes[FRAME_HEADER..];
    let need = len.min(PREFIX);
    if len < 2 || payload.len() < need {
        return None;
    }
    let (tag, rest) = (payload[0], &payload[1..need]);
    if !is_record_tag(tag) {
        return None;
    }
    match tag {
        // entry, purge_upto, committed, synced: a length-delimited message.
        0x0a | 0x1a | 0x22 | 0x2a => {
            let (inner, used) = varint(rest)?;
            let small = tag != 0x0a;
            (1 + used as u64 + inner == len as u64 && (!small || len <= 40)).then_some(len)
        }
        // truncate_from: a varint filling the rest of the payload.
        0x10 => {
            let (_, used) = varint(rest)?;
            (1 + used == len).then_some(len)
        }
        _ => None,
    }
}

/// Whether `tag` is the first byte of a `LogRecord` payload (the key of one
/// of its fields).
pub(crate) fn is_record_tag(tag: u8) -> bool {
    matches!(tag, 0x0a | 0x10 | 0x1a | 0x22 | 0x2a)
}

/// A protobuf varint at the start of `bytes`: (value, bytes used).
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Whether `frame` (header and payload of a frame [`plausible_len`] accepted)
/// carries a matching checksum.
pub(crate) fn crc_matches(frame: &[u8]) -> bool {
    if frame.len() < FRAME_HEADER {
        return false;
    }
    let len_bytes = [frame[0], frame[1], frame[2], frame[3]];
    let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    frame_crc(len_bytes, &frame[FRAME_HEADER..]) == crc
}

/// The frame of a `synced` marker (see `storage.proto`).
pub(crate) fn synced_marker() -> Vec<u8> {
    let mut buf = Vec::with_capacity(FRAME_HEADER + 2);
    put_frame(
        &mut buf,
        &storage::LogRecord {
            record: Some(storage::log_record::Record::Synced(storage::Empty {})),
        },
    );
    buf
}

/// Decodes a `LogRecord` payload skipping the entry payload.
pub(crate) fn decode_record_head(payload: &[u8]) -> io::Result<storage::LogRecordHead> {
    storage::LogRecordHead::decode(payload).map_err(|e| invalid(format!("log record: {e}")))
}

/// An `InvalidData` I/O error with a message.
pub(crate) fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// openraft log id -> proto.
pub(crate) fn log_id_to_proto(id: &LogId<NodeId>) -> storage::LogId {
    storage::LogId {
        term: id.leader_id.term,
        node_id: id.leader_id.node_id,
        index: id.index,
    }
}

/// proto log id -> openraft.
pub(crate) fn log_id_from_proto(id: &storage::LogId) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(id.term, id.node_id), id.index)
}

/// Encodes an entry as a `LogEntry` (membership as JSON, commands through `crate::wire`).
pub(crate) fn entry_to_proto(entry: &Entry<TypeConfig>) -> io::Result<storage::LogEntry> {
    let payload = match &entry.payload {
        EntryPayload::Blank => Payload::Blank(storage::Empty {}),
        EntryPayload::Normal(batch) => Payload::Batch(storage::CommandBatch {
            commands: batch.0.iter().map(command_to_storage).collect(),
        }),
        EntryPayload::Membership(m) => {
            let json = serde_json::to_vec(m).map_err(|e| invalid(format!("membership: {e}")))?;
            Payload::MembershipJson(json.into())
        }
    };
    Ok(storage::LogEntry {
        log_id: Some(log_id_to_proto(&entry.log_id)),
        payload: Some(payload),
    })
}

/// Decodes a `LogEntry` written by [`entry_to_proto`].
pub(crate) fn entry_from_proto(p: storage::LogEntry) -> io::Result<Entry<TypeConfig>> {
    let log_id = p
        .log_id
        .as_ref()
        .map(log_id_from_proto)
        .ok_or_else(|| invalid("log entry without log id"))?;
    let payload = match p.payload {
        Some(Payload::Blank(_)) => EntryPayload::Blank,
        Some(Payload::Command(c)) => EntryPayload::Normal(CommandBatch::from(vec![
            command_from_storage(c).map_err(|e| invalid(format!("entry {log_id}: {e}")))?,
        ])),
        Some(Payload::Batch(b)) => EntryPayload::Normal(CommandBatch(
            b.commands
                .into_iter()
                .map(command_from_storage)
                .collect::<Result<Arc<[_]>, _>>()
                .map_err(|e| invalid(format!("entry {log_id}: {e}")))?,
        )),
        Some(Payload::MembershipJson(json)) => {
            let m: Membership<NodeId, Member> = serde_json::from_slice(&json)
                .map_err(|e| invalid(format!("entry {log_id} membership: {e}")))?;
            EntryPayload::Membership(m)
        }
        None => return Err(invalid(format!("entry {log_id} without payload"))),
    };
    Ok(Entry { log_id, payload })
}

/// Decodes a `LogRecord` payload.
#[cfg(test)]
pub(crate) fn decode_record(payload: &[u8]) -> io::Result<storage::LogRecord> {
    storage::LogRecord::decode(payload).map_err(|e| invalid(format!("log record: {e}")))
}

/// Decodes a `LogRecord` payload held in `Bytes`: its byte fields share the
/// buffer instead of being copied.
pub(crate) fn decode_record_bytes(payload: bytes::Bytes) -> io::Result<storage::LogRecord> {
    storage::LogRecord::decode(payload).map_err(|e| invalid(format!("log record: {e}")))
}

use crate::storage::{command_from_storage, command_to_storage};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_and_detects_damage() {
        let rec = storage::LogRecord {
            record: Some(storage::log_record::Record::TruncateFrom(42)),
        };
        let mut buf = Vec::new();
        put_frame(&mut buf, &rec);
        put_frame(&mut buf, &rec);
        let Frame::Valid { payload, next } = read_frame(&buf, 0) else {
            panic!("first frame should be valid");
        };
        assert_eq!(decode_record(payload).ok(), Some(rec.clone()));
        assert!(matches!(read_frame(&buf, next), Frame::Valid { .. }));
        assert_eq!(read_frame(&buf, buf.len()), Frame::End);
        assert_eq!(read_frame(&buf[..next + 3], next), Frame::Incomplete);
        let mut bad = buf.clone();
        bad[FRAME_HEADER] ^= 0xff;
        assert_eq!(read_frame(&bad, 0), Frame::BadChecksum);
        assert_eq!(read_frame(&[0u8; 32], 0), Frame::Incomplete);
    }
}
