//! Snapshot records of the tree: a node to and from `storage::SnapshotNode`,
//! and the length-delimited record framing used by snapshot streams.
//!
//! This module owns how one node is written and how a read node is checked
//! before it enters a tree. It must not decide the order of a stream or know
//! about sessions (that is `state_machine::snapshot`).

use std::io::{self, BufRead, Read, Write};

use bytes::Bytes;
use prost::Message;

use super::node::{MAX_TTL_MS, Node, NodeKind};

use crate::storage;

/// Largest single record accepted when reading (a node with its data is far
/// smaller); guards against allocating on a corrupt length prefix.
const MAX_RECORD_BYTES: u64 = 1 << 31;

/// A node's ACL entries and aversion as read from a snapshot.
pub(crate) type StoredAcl = (Vec<coord_proto::Acl>, i32);

/// The snapshot form of one node.
pub(crate) fn node_record(path: &str, node: &Node) -> storage::SnapshotRecord {
    let (kind, ttl_ms) = match node.kind() {
        NodeKind::Persistent => (storage::NodeKind::Persistent, 0),
        NodeKind::Ephemeral { .. } => (storage::NodeKind::Ephemeral, 0),
        NodeKind::Container => (storage::NodeKind::Container, 0),
        NodeKind::Ttl { ttl_ms } => (storage::NodeKind::Ttl, ttl_ms),
    };
    let s = node.stat();
    storage::SnapshotRecord {
        record: Some(storage::snapshot_record::Record::Node(
            storage::SnapshotNode {
                path: path.to_string(),
                data: node.data().clone(),
                stat: Some(crate::storage::stat_to_storage(&s)),
                mode: Some(storage::CreateMode {
                    kind: kind as i32,
                    sequential: false,
                    ttl_ms,
                }),
                acl: node.acl().iter().map(storage::acl_to_storage).collect(),
            },
        )),
    }
}

/// A node read from a snapshot, checked on its own: the path is well formed,
/// the stat agrees with the data and the kind, no zxid is newer than
/// `last_zxid`. Returns the node and the `num_children` the stat claims (the
/// caller checks it once all nodes are in) and the node's ACL (empty: open)
/// with its aversion, for the caller to intern.
pub(crate) fn node_from_record(
    rec: storage::SnapshotNode,
    last_zxid: u64,
) -> io::Result<(String, Node, u32, StoredAcl)> {
    let p = rec.path;
    // Syntax only: a lowered max_path_bytes must not make a snapshot unreadable.
    coord_proto::validate_path(&p, usize::MAX).map_err(|e| invalid(format!("node path: {e}")))?;
    let stat = rec
        .stat
        .ok_or_else(|| invalid(format!("node {p:?} has no stat")))?;
    let mode = rec.mode.unwrap_or_default();
    let kind = match storage::NodeKind::try_from(mode.kind) {
        Ok(storage::NodeKind::Persistent) => NodeKind::Persistent,
        Ok(storage::NodeKind::Ephemeral) => NodeKind::Ephemeral {
            owner: stat.ephemeral_owner,
        },
        Ok(storage::NodeKind::Container) => NodeKind::Container,
        Ok(storage::NodeKind::Ttl) => NodeKind::Ttl {
            ttl_ms: mode.ttl_ms,
        },
        Err(_) => {
            return Err(invalid(format!(
                "node {p:?} has unknown kind {}",
                mode.kind
            )));
        }
    };
    match kind {
        NodeKind::Ephemeral { owner: 0 } => {
            return Err(invalid(format!("ephemeral node {p:?} has no owner")));
        }
        NodeKind::Ephemeral { .. } => {}
        _ if stat.ephemeral_owner != 0 => {
            return Err(invalid(format!(
                "non-ephemeral node {p:?} has ephemeral_owner {}",
                stat.ephemeral_owner
            )));
        }
        NodeKind::Ttl { ttl_ms } if ttl_ms == 0 || ttl_ms > MAX_TTL_MS => {
            return Err(invalid(format!("TTL node {p:?} has ttl_ms {ttl_ms}")));
        }
        _ => {}
    }
    if p == "/" && (kind != NodeKind::Persistent || stat.czxid != 0) {
        return Err(invalid(format!(
            "root {p:?} must be persistent with czxid 0"
        )));
    }
    if usize::try_from(stat.data_length).ok() != Some(rec.data.len()) {
        return Err(invalid(format!(
            "node {p:?}: stat data_length {} but {} data bytes",
            stat.data_length,
            rec.data.len()
        )));
    }
    let newest = stat.czxid.max(stat.mzxid).max(stat.pzxid);
    if newest > last_zxid {
        return Err(invalid(format!(
            "node {p:?} has zxid {newest}, newer than the snapshot's last zxid {last_zxid}"
        )));
    }
    let domain = crate::storage::stat_from_storage(&stat);
    // Own the bytes exactly (the decoder may share a larger buffer).
    let data = if rec.data.is_empty() {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(&rec.data)
    };
    let acl = rec.acl.into_iter().map(storage::acl_from_storage).collect();
    let node = Node::from_stat(data, kind, &domain);
    Ok((p, node, stat.num_children, (acl, stat.aversion)))
}

/// Writes one length-delimited record, reusing `buf` between calls.
pub(crate) fn write_record(
    out: &mut dyn Write,
    rec: &storage::SnapshotRecord,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.clear();
    rec.encode_length_delimited(buf)
        .map_err(|e| io::Error::other(format!("encoding a snapshot record: {e}")))?;
    out.write_all(buf)
}

/// Reads the next length-delimited record; `Ok(None)` at a clean end of
/// input. `buf` is reused between calls. A truncated record is `InvalidData`.
pub(crate) fn read_record(
    input: &mut dyn BufRead,
    buf: &mut Vec<u8>,
) -> io::Result<Option<storage::SnapshotRecord>> {
    let Some(len) = read_varint(input)? else {
        return Ok(None);
    };
    if len > MAX_RECORD_BYTES {
        return Err(invalid(format!(
            "record length {len} is over {MAX_RECORD_BYTES}"
        )));
    }
    buf.clear();
    // `take` grows the buffer only as far as bytes really arrive.
    let got = input.take(len).read_to_end(buf)?;
    if got as u64 != len {
        return Err(invalid(format!("record truncated: {got} of {len} bytes")));
    }
    storage::SnapshotRecord::decode(buf.as_slice())
        .map(Some)
        .map_err(|e| invalid(format!("record does not decode: {e}")))
}

/// A protobuf varint, or `None` on end of input before its first byte.
fn read_varint(input: &mut dyn BufRead) -> io::Result<Option<u64>> {
    let mut value = 0u64;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        if let Err(e) = input.read_exact(&mut byte) {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof if i == 0 => Ok(None),
                io::ErrorKind::UnexpectedEof => Err(invalid("truncated record length".into())),
                _ => Err(e),
            };
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(invalid("record length varint is over 10 bytes".into()))
}

/// An `InvalidData` error with a detail saying what is wrong.
pub(crate) fn invalid(detail: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt snapshot: {detail}"),
    )
}
