//! The state machine's snapshot stream: nodes parents-first, then sessions,
//! each a length-delimited `storage::SnapshotRecord`.
//!
//! Quota records (path and limits) follow the sessions; their usage is
//! counted from the nodes when read back, so it cannot disagree with them.
//! This module owns the order of the stream and the whole-state checks made
//! when reading it back (root first, parents before children, child counts,
//! ephemeral owners, session records). How one node is encoded and checked is
//! `tree::snapshot`; the header, the file and its checksum are the caller's.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, Write};

use crate::config::Limits;
use crate::storage::{self, snapshot_record::Record};
use crate::tree::snapshot::{invalid, node_from_record, node_record, read_record, write_record};
use crate::tree::{DataTree, NodeMap, walk};

use super::acl::AclSet;
use super::machine::{SessionInfo, StateMachine};
use super::quota::Quotas;
use crate::storage::{identity_from_storage, identity_to_storage};
use coord_proto::QuotaLimits;

/// Size of the buffer records are gathered in before reaching the caller's writer.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The state as of one zxid, taken under the state's lock and written as a
/// snapshot after it is released: the node map is persistent, so taking it
/// is one pointer copy; the sessions and quota limits are copied (a few
/// dozen bytes each).
#[derive(Debug, Clone)]
pub struct Frozen {
    nodes: NodeMap,
    sessions: Vec<SessionInfo>,
    quotas: Vec<(String, QuotaLimits)>,
    last_zxid: u64,
    last_time_ms: i64,
    limits: Limits,
}

impl Frozen {
    /// The state `sm` is in now.
    pub(super) fn of(sm: &StateMachine) -> Frozen {
        Frozen {
            nodes: sm.tree.frozen_nodes(),
            sessions: sm.sessions.values().cloned().collect(),
            quotas: sm
                .quotas
                .iter()
                .map(|(p, q)| (p.to_string(), q.limits))
                .collect(),
            last_zxid: sm.last_zxid,
            last_time_ms: sm.last_time_ms,
            limits: sm.limits.clone(),
        }
    }

    /// True when the frozen node map is `sm`'s own (not a copy).
    #[cfg(test)]
    pub(crate) fn shares_nodes_with(&self, sm: &StateMachine) -> bool {
        self.nodes.ptr_eq(&sm.tree.frozen_nodes())
    }

    /// zxid of the last command the frozen state had applied.
    pub fn last_zxid(&self) -> u64 {
        self.last_zxid
    }

    /// Leader time of that command.
    pub fn last_time_ms(&self) -> i64 {
        self.last_time_ms
    }

    /// The replicated limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Writes the snapshot records (see [`StateMachine::write_snapshot_records`]).
    pub fn write_records(&self, out: &mut dyn Write) -> io::Result<()> {
        write_records(self, out)
    }
}

fn write_records(state: &Frozen, out: &mut dyn Write) -> io::Result<()> {
    // One record per node: batch them into large writes whatever `out` is.
    let mut out = io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, out);
    let out: &mut dyn Write = &mut out;
    let mut buf = Vec::new();
    for (path, node) in walk(&state.nodes) {
        write_record(out, &node_record(path, node), &mut buf)?;
    }
    for s in &state.sessions {
        let rec = storage::SnapshotRecord {
            record: Some(Record::Session(storage::SnapshotSession {
                session_id: s.session_id,
                timeout_ms: s.timeout_ms,
                secret: bytes::Bytes::copy_from_slice(&s.secret),
                identities: s.identities.iter().map(identity_to_storage).collect(),
            })),
        };
        write_record(out, &rec, &mut buf)?;
    }
    for (path, limits) in &state.quotas {
        let rec = storage::SnapshotRecord {
            record: Some(Record::Quota(storage::SnapshotQuota {
                path: path.clone(),
                max_nodes: limits.max_nodes,
                max_bytes: limits.max_bytes,
            })),
        };
        write_record(out, &rec, &mut buf)?;
    }
    out.flush()
}

/// See [`StateMachine::read_snapshot_records`].
pub(super) fn read_records(
    input: &mut dyn BufRead,
    last_zxid: u64,
    last_time_ms: i64,
    limits: Limits,
) -> io::Result<StateMachine> {
    let mut tree = DataTree::new();
    let mut acls = AclSet::default();
    let mut sessions = BTreeMap::new();
    let mut quotas = BTreeMap::new();
    let mut seen_root = false;
    // Child counts the records claim, kept only for nodes that claim any
    // (parents are few next to leaves) and checked once all nodes are in.
    let mut claimed_children: HashMap<String, u32> = HashMap::new();
    let mut buf = Vec::new();
    while let Some(rec) = read_record(input, &mut buf)? {
        match rec.record {
            Some(Record::Node(node_rec)) => {
                if !sessions.is_empty() || !quotas.is_empty() {
                    return Err(invalid(format!(
                        "node {:?} after session or quota records",
                        node_rec.path
                    )));
                }
                let (path, mut node, num_children, (acl, aversion)) =
                    node_from_record(node_rec, last_zxid)?;
                node.acl = super::acl::intern_in(&mut acls, aversion, acl);
                if seen_root == (path == "/") {
                    return Err(invalid(if seen_root {
                        "second root record".to_string()
                    } else {
                        format!("first node is {path:?}, not the root")
                    }));
                }
                seen_root = true;
                tree.insert_restored(&path, node)
                    .map_err(|e| invalid(format!("node {path:?}: {e}")))?;
                if num_children > 0 {
                    claimed_children.insert(path, num_children);
                }
            }
            Some(Record::Quota(q)) => {
                let limits = QuotaLimits {
                    max_nodes: q.max_nodes,
                    max_bytes: q.max_bytes,
                };
                if quotas.insert(q.path.clone(), limits).is_some() {
                    return Err(invalid(format!("quota on {:?} is listed twice", q.path)));
                }
            }
            Some(Record::Session(s)) => {
                if !quotas.is_empty() {
                    return Err(invalid("session record after quota records".to_string()));
                }
                let info = session_from_record(s)?;
                if sessions.insert(info.session_id, info).is_some() {
                    return Err(invalid("a session is listed twice".to_string()));
                }
            }
            Some(Record::Header(_)) => {
                return Err(invalid("header record inside the body".to_string()));
            }
            None => return Err(invalid("record with no content".to_string())),
        }
    }
    if !seen_root {
        return Err(invalid("no root node".to_string()));
    }
    check_children(&tree, &claimed_children)?;
    if let Some(owner) = tree.ephemeral_owners().find(|o| !sessions.contains_key(o)) {
        return Err(invalid(format!(
            "ephemerals owned by session 0x{owner:x}, which is not in the snapshot"
        )));
    }
    Ok(StateMachine {
        quotas: Quotas::restored(&tree, quotas),
        tree,
        sessions,
        last_zxid,
        last_time_ms,
        limits,
        acls,
    })
}

/// Every node's real child count must be what its record claimed.
fn check_children(tree: &DataTree, claimed: &HashMap<String, u32>) -> io::Result<()> {
    for (path, node) in tree.walk() {
        let claim = claimed.get(path).copied().unwrap_or(0);
        if u32::try_from(node.num_children()).ok() != Some(claim) {
            return Err(invalid(format!(
                "node {path:?} claims {claim} children but has {}",
                node.num_children()
            )));
        }
    }
    // A claim for a path the walk never reached cannot happen: every claim
    // is for a node that was inserted, and the walk visits every node.
    Ok(())
}

fn session_from_record(s: storage::SnapshotSession) -> io::Result<SessionInfo> {
    if s.session_id == 0 {
        return Err(invalid("session with id 0".to_string()));
    }
    let secret: [u8; 16] = s.secret.as_ref().try_into().map_err(|_| {
        invalid(format!(
            "session 0x{:x} has a {}-byte secret, not 16",
            s.session_id,
            s.secret.len()
        ))
    })?;
    Ok(SessionInfo {
        session_id: s.session_id,
        timeout_ms: s.timeout_ms,
        secret,
        identities: {
            let mut ids: Vec<_> = s
                .identities
                .into_iter()
                .map(identity_from_storage)
                .collect();
            ids.sort();
            ids.dedup();
            ids
        },
    })
}
