//! Snapshot files in `<data_dir>/snapshots/`: format, durable write and checked
//! read of one file (the directory as a whole is `snapshot_dir`'s). No locking
//! and no openraft traits here (see `sm_store`).
//!
//! A file is an envelope `[magic "CRDSNAP1"][crc32 of body: u32 LE][body length: u64 LE]`
//! followed by the body: one length-delimited `SnapshotRecord` holding the
//! `SnapshotHeader` (log position, membership, last zxid, and the replicated
//! limits and leader time), then the records of
//! `StateMachine::write_snapshot_records`.
//! The same bytes travel to followers as openraft's snapshot data, so a received
//! snapshot is checked exactly like one read from disk.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use openraft::{SnapshotMeta, StoredMembership};
use prost::Message;

use super::codec::{invalid, log_id_from_proto, log_id_to_proto};
use super::{Member, NodeId, files};
use crate::config::Limits;
use crate::state_machine::{Frozen, StateMachine};
use crate::storage::{self, limits_from_storage, limits_to_storage, snapshot_record::Record};

const MAGIC: &[u8; 8] = b"CRDSNAP1";
const ENVELOPE: usize = 20;
const FORMAT_VERSION: u32 = 1;
/// File name suffix of finished snapshots.
pub(crate) const SUFFIX: &str = ".snap";
/// How many snapshots are kept on disk (the newest first).
pub(crate) const KEEP: usize = 2;

/// Snapshot metadata in openraft's terms.
pub(crate) type Meta = SnapshotMeta<NodeId, Member>;

/// A snapshot file on disk and what its header says.
#[derive(Debug, Clone)]
pub(crate) struct SnapFile {
    /// openraft's view of the snapshot.
    pub(crate) meta: Meta,
    /// Where it is.
    pub(crate) path: PathBuf,
}

/// A serialized snapshot, ready to be written: header then records.
pub(crate) struct Encoded {
    header: Vec<u8>,
    records: Vec<u8>,
}

/// Serializes `sm` under the caller's lock (`meta` must describe the same state).
pub(crate) fn encode(sm: &Frozen, meta: &Meta) -> io::Result<Encoded> {
    let mut records = Vec::new();
    sm.write_records(&mut records)?;
    let (node_count, session_count) = count_records(&records)?;
    let membership_json = serde_json::to_vec(&meta.last_membership)
        .map_err(|e| invalid(format!("snapshot membership: {e}")))?;
    let header = storage::SnapshotRecord {
        record: Some(Record::Header(storage::SnapshotHeader {
            format_version: FORMAT_VERSION,
            last_applied: meta.last_log_id.as_ref().map(log_id_to_proto),
            membership_json: membership_json.into(),
            snapshot_id: meta.snapshot_id.clone(),
            last_zxid: sm.last_zxid(),
            node_count,
            session_count,
            limits: Some(limits_to_storage(sm.limits())),
            last_time_ms: sm.last_time_ms(),
        })),
    };
    Ok(Encoded {
        header: header.encode_length_delimited_to_vec(),
        records,
    })
}

/// Counts node and session records by their first byte (the oneof field's tag).
fn count_records(mut data: &[u8]) -> io::Result<(u64, u64)> {
    let (mut nodes, mut sessions) = (0, 0);
    while !data.is_empty() {
        let len = prost::encoding::decode_varint(&mut data)
            .map_err(|e| invalid(format!("snapshot record length: {e}")))?
            as usize;
        if len > data.len() {
            return Err(invalid("snapshot record overruns the buffer"));
        }
        match data.first() {
            Some(0x12) => nodes += 1,
            Some(0x1a) => sessions += 1,
            _ => {}
        }
        data = &data[len..];
    }
    Ok((nodes, sessions))
}

/// A file-system-safe name for a snapshot id (ids from a leader are arbitrary text).
pub(crate) fn file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}{SUFFIX}")
}

/// Writes `enc` as `dir/<id>.snap` durably (temp file, fsync, rename, fsync dir).
/// On failure (a full disk, say) the temp file is removed. `space`, if set,
/// is how many bytes the file may take before the write fails as a full disk
/// would (tests).
pub(crate) fn write(
    dir: &Path,
    id: &str,
    enc: &Encoded,
    space: Option<u64>,
) -> io::Result<PathBuf> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&enc.header);
    crc.update(&enc.records);
    let body_len = (enc.header.len() + enc.records.len()) as u64;
    let name = file_name(id);
    let tmp = dir.join(format!("{name}.tmp"));
    let guard = RemoveOnDrop(Some(&tmp));
    let file = File::create(&tmp)?;
    let mut out = io::BufWriter::new(SpaceLimited {
        file,
        left: space.unwrap_or(u64::MAX),
    });
    out.write_all(MAGIC)?;
    out.write_all(&crc.finalize().to_le_bytes())?;
    out.write_all(&body_len.to_le_bytes())?;
    out.write_all(&enc.header)?;
    out.write_all(&enc.records)?;
    let file = out.into_inner().map_err(|e| e.into_error())?.file;
    file.sync_all()?;
    drop(file);
    let path = dir.join(name);
    fs::rename(&tmp, &path)?;
    guard.disarm();
    files::sync_dir(dir)?;
    Ok(path)
}

/// Removes a temp file when dropped, unless disarmed.
struct RemoveOnDrop<'a>(Option<&'a Path>);

impl RemoveOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(path) = self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// A file that fails writes with "no space left on device" past `left` bytes.
struct SpaceLimited {
    file: File,
    left: u64,
}

impl Write for SpaceLimited {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 && !buf.is_empty() {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let written = self.file.write(&buf[..n])?;
        self.left -= written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Copies a received snapshot (positioned at its start) into `dir` and loads it.
/// Nothing is left behind if it does not load.
pub(crate) fn receive(
    dir: &Path,
    id: &str,
    src: &mut File,
) -> io::Result<(StateMachine, SnapFile)> {
    let name = file_name(id);
    let tmp = dir.join(format!("{name}.tmp"));
    let result = (|| {
        let mut out = File::create(&tmp)?;
        io::copy(src, &mut out)?;
        out.sync_all()?;
        let loaded = load(&tmp)?;
        let path = dir.join(&name);
        fs::rename(&tmp, &path)?;
        files::sync_dir(dir)?;
        Ok((
            loaded.0,
            SnapFile {
                meta: loaded.1.meta,
                path,
            },
        ))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads only the envelope and header of a snapshot file.
pub(crate) fn read_meta(path: &Path) -> io::Result<SnapFile> {
    let mut input = BufReader::new(File::open(path)?);
    let (_, _) = read_envelope(&mut input)?;
    let header = read_header(&mut input)?;
    Ok(SnapFile {
        meta: meta_of(&header)?,
        path: path.to_path_buf(),
    })
}

/// Loads a whole snapshot file, checking its CRC and length. The state's
/// limits and time come from the header; a header written before they were
/// replicated has neither, and reads as the default limits and time 0.
pub(crate) fn load(path: &Path) -> io::Result<(StateMachine, SnapFile)> {
    let mut file = BufReader::with_capacity(1 << 16, File::open(path)?);
    let (crc, body_len) = read_envelope(&mut file)?;
    let mut body = CrcReader {
        inner: file.take(body_len),
        crc: crc32fast::Hasher::new(),
        read: 0,
    };
    let header = read_header(&mut body)?;
    let meta = meta_of(&header)?;
    let limits = header
        .limits
        .as_ref()
        .map_or_else(Limits::initial, limits_from_storage);
    let sm = StateMachine::read_snapshot_records(
        &mut body,
        header.last_zxid,
        header.last_time_ms,
        limits,
    )?;
    io::copy(&mut body, &mut io::sink())?;
    if body.read != body_len || body.crc.finalize() != crc {
        return Err(invalid(format!(
            "{}: snapshot checksum or length mismatch",
            path.display()
        )));
    }
    Ok((
        sm,
        SnapFile {
            meta,
            path: path.to_path_buf(),
        },
    ))
}

fn read_envelope(input: &mut impl Read) -> io::Result<(u32, u64)> {
    let mut env = [0u8; ENVELOPE];
    input.read_exact(&mut env)?;
    if &env[..8] != MAGIC {
        return Err(invalid("not a coord snapshot"));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&env[8..12]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&env[12..20]);
    Ok((u32::from_le_bytes(crc), u64::from_le_bytes(len)))
}

fn read_header(input: &mut impl Read) -> io::Result<storage::SnapshotHeader> {
    let mut len: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8; 1];
        input.read_exact(&mut byte)?;
        len |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    if len > 1 << 26 {
        return Err(invalid("snapshot header too large"));
    }
    let mut buf = vec![0u8; len as usize];
    input.read_exact(&mut buf)?;
    match storage::SnapshotRecord::decode(buf.as_slice()) {
        Ok(storage::SnapshotRecord {
            record: Some(Record::Header(h)),
        }) if h.format_version == FORMAT_VERSION => Ok(h),
        Ok(_) => Err(invalid("snapshot does not start with a version-1 header")),
        Err(e) => Err(invalid(format!("snapshot header: {e}"))),
    }
}

fn meta_of(h: &storage::SnapshotHeader) -> io::Result<Meta> {
    let last_membership: StoredMembership<NodeId, Member> =
        serde_json::from_slice(&h.membership_json)
            .map_err(|e| invalid(format!("snapshot membership: {e}")))?;
    Ok(SnapshotMeta {
        last_log_id: h.last_applied.as_ref().map(log_id_from_proto),
        last_membership,
        snapshot_id: h.snapshot_id.clone(),
    })
}

/// A reader that checksums and counts what passes through it.
struct CrcReader<R> {
    inner: R,
    crc: crc32fast::Hasher,
    read: u64,
}

impl<R: BufRead> Read for CrcReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CrcReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        // The buffer is still filled (consume follows fill_buf), so this does no I/O.
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.crc.update(&buf[..n]);
            self.read += n as u64;
        }
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_machine::{Command, CommandKind};

    /// A state with non-default limits and a leader time, as a snapshot of it reads back.
    fn reread(strip_new_fields: bool) -> StateMachine {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sm = StateMachine::new(Limits::default());
        let lowered = Limits {
            max_data_bytes: 100,
            ..Limits::default()
        };
        for (time_ms, kind) in [
            (7_000, CommandKind::SetLimits(lowered)),
            (5_000, CommandKind::Noop),
        ] {
            let (out, _) = sm.apply(&Command {
                origin: Default::default(),
                session_id: 0,
                time_ms,
                kind,
            });
            assert!(out.result.is_ok(), "{out:?}");
        }
        let meta = Meta::default();
        let mut enc = encode(&sm.freeze(), &meta).expect("encode");
        if strip_new_fields {
            // What a server from before replicated limits wrote.
            let mut rec = storage::SnapshotRecord::decode_length_delimited(enc.header.as_slice())
                .expect("header");
            if let Some(Record::Header(h)) = rec.record.as_mut() {
                h.limits = None;
                h.last_time_ms = 0;
            }
            enc.header = rec.encode_length_delimited_to_vec();
        }
        let path = write(dir.path(), "s", &enc, None).expect("write");
        let (restored, _) = load(&path).expect("load");
        assert_eq!(restored.last_zxid(), 2);
        restored
    }

    #[test]
    fn snapshot_header_keeps_the_replicated_limits_and_time() {
        let sm = reread(false);
        assert_eq!(sm.limits().max_data_bytes, 100);
        assert_eq!(sm.last_time_ms(), 7_000);
    }

    #[test]
    fn snapshot_from_before_replicated_limits_reads_as_the_first_limits() {
        let sm = reread(true);
        assert_eq!(sm.limits(), &Limits::initial());
        assert_eq!(sm.last_time_ms(), 0);
    }
}
