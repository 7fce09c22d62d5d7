//! Consistent, paged export of a subtree (the server's side of `coord dump`).
//!
//! The first `Export` call of a connection freezes the tree (one pointer copy
//! of the persistent node map, taken under the state's read lock together
//! with the zxid, the session's identities and the quotas), checks that the
//! session may READ every node of the subtree, and answers the first page.
//! Later calls name the cursor the page before returned and read on in the
//! same copy, so every page reflects one state whatever is written meanwhile.
//!
//! Bounds: one open export per connection (a new first call replaces it);
//! pages of at most `max_export_page_bytes` (a node larger than that goes
//! alone); the copy is dropped after the last page, when the connection
//! ends ([`Exports::forget`]), or after `export_idle_timeout` without a call.
//! This module reads the frozen copy only: it never touches the live tree,
//! the log or watches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use coord_proto::acl::perms;
use coord_proto::proto::{self, response::Result as Res};
use coord_proto::{Acl, Identity, QuotaLimits};

use super::Shared;
use crate::error::Error;
use crate::tree::{NodeKind, NodeMap, children_after, name, parent};
use crate::watch::ConnId;

/// Bytes counted for a node's envelope (stat, kind, framing) in a page's budget.
const NODE_OVERHEAD_BYTES: usize = 96;

/// One connection's open export: the frozen tree and where the next page starts.
struct OpenExport {
    session: u64,
    root: String,
    zxid: u64,
    nodes: NodeMap,
    quotas: HashMap<String, QuotaLimits>,
    total: u64,
    ephemerals: u64,
    /// The cursor the next call must pass (the last path sent).
    cursor: String,
    last_used: Instant,
}

/// The open exports of this server, by connection.
#[derive(Default)]
pub(crate) struct Exports {
    open: Mutex<HashMap<ConnId, OpenExport>>,
}

impl Exports {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, OpenExport>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the export of a connection that ended.
    pub(crate) fn forget(&self, conn: ConnId) {
        self.lock().remove(&conn);
    }

    /// Drops every export idle for longer than `idle`.
    pub(crate) fn sweep(&self, idle: Duration) {
        self.lock().retain(|_, e| e.last_used.elapsed() <= idle);
    }
}

/// Answers one `Export` call.
pub(crate) async fn answer(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    xid: u64,
    req: proto::ExportRequest,
) -> proto::Response {
    shared.exports.sweep(shared.cfg.export_idle_timeout);
    let budget = match req.max_bytes as usize {
        0 => shared.cfg.max_export_page_bytes,
        n => n.min(shared.cfg.max_export_page_bytes),
    };
    let result = if req.cursor.is_empty() {
        start(shared, conn, session, &req.path).await
    } else {
        Ok(())
    };
    let page = result.and_then(|()| next_page(shared, conn, session, &req, budget));
    let zxid = *shared.applied.borrow();
    match page {
        Ok(page) => proto::Response {
            xid,
            zxid: page.zxid,
            error: None,
            result: Some(Res::Export(page)),
        },
        Err(e) => proto::Response {
            xid,
            zxid,
            error: Some((&e).into()),
            result: None,
        },
    }
}

/// Freezes the tree for `conn` and checks READ on the whole subtree.
async fn start(shared: &Shared, conn: ConnId, session: u64, root: &str) -> Result<(), Error> {
    shared.exports.forget(conn);
    let (nodes, zxid, ids, superuser, quotas) = {
        let sm = shared.read_sm();
        crate::tree::validate_path(root, sm.limits().max_path_bytes)?;
        if sm.session(session).is_none() {
            return Err(Error::SessionExpired(format!(
                "session {session:#x} has expired or was closed"
            )));
        }
        if sm.tree().node(root).is_none() {
            return Err(Error::NoNode(format!("cannot export {root}: no such node")));
        }
        let ids = sm.identities(session).to_vec();
        let superuser = ids.iter().any(|i| sm.limits().superusers.contains(i));
        let quotas: HashMap<String, QuotaLimits> = sm
            .quotas()
            .into_iter()
            .filter(|(p, _)| in_subtree(root, p))
            .map(|(p, q)| (p, q.limits))
            .collect();
        (
            sm.tree().frozen_nodes(),
            sm.last_zxid(),
            ids,
            superuser,
            quotas,
        )
    };
    // The whole subtree is checked (and counted) once, on the bulk thread:
    // the copy is frozen, so the answer holds for every page.
    let root_owned = root.to_string();
    let scan_nodes = nodes.clone();
    let scanned = shared
        .bulk
        .run(move || scan(&scan_nodes, &root_owned, &ids, superuser, session))
        .await
        .ok_or_else(super::shutting_down_error)?;
    let (total, ephemerals) = scanned?;
    shared.exports.lock().insert(
        conn,
        OpenExport {
            session,
            root: root.to_string(),
            zxid,
            nodes,
            quotas,
            total,
            ephemerals,
            cursor: String::new(),
            last_used: Instant::now(),
        },
    );
    Ok(())
}

/// Counts the subtree's nodes and ephemerals; `NoAuth` naming the first
/// node (depth first) the session may not READ.
fn scan(
    nodes: &NodeMap,
    root: &str,
    ids: &[Identity],
    superuser: bool,
    session: u64,
) -> Result<(u64, u64), Error> {
    let (mut total, mut ephemerals) = (0u64, 0u64);
    let mut at = Some(root.to_string());
    while let Some(path) = at {
        let Some(node) = nodes.get(path.as_str()) else {
            break;
        };
        let acl = node.acl();
        if !(superuser || acl.is_empty() || coord_proto::acl::allows(acl, ids, perms::READ)) {
            return Err(Error::NoAuth(format!(
                "export of {root} needs READ on {path} for session 0x{session:x} \
                 (a backup never leaves a node out)"
            )));
        }
        total += 1;
        if matches!(node.kind(), NodeKind::Ephemeral { .. }) {
            ephemerals += 1;
        }
        at = successor(nodes, root, &path);
    }
    Ok((total, ephemerals))
}

/// The next page of the connection's open export.
fn next_page(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    req: &proto::ExportRequest,
    budget: usize,
) -> Result<proto::ExportResponse, Error> {
    let mut open = shared.exports.lock();
    let Some(export) = open.get_mut(&conn) else {
        return Err(Error::BadArguments(format!(
            "export of {}: no open export on this connection (it finished, the \
             connection changed, or it was idle longer than export_idle_timeout = {:?}); \
             start again with an empty cursor",
            req.path, shared.cfg.export_idle_timeout
        )));
    };
    if export.session != session || export.root != req.path || export.cursor != req.cursor {
        return Err(Error::BadArguments(format!(
            "export of {}: cursor {:?} does not continue the open export of {}",
            req.path, req.cursor, export.root
        )));
    }
    export.last_used = Instant::now();
    let mut at = if export.cursor.is_empty() {
        Some(export.root.clone())
    } else {
        successor(&export.nodes, &export.root, &export.cursor)
    };
    let mut page = Vec::new();
    let mut used = 0usize;
    while let Some(path) = at.take() {
        let Some(node) = export.nodes.get(path.as_str()) else {
            break;
        };
        let acl: Vec<proto::Acl> = match node.acl() {
            [] => vec![proto::Acl::from(&Acl::open())],
            list => list.iter().map(proto::Acl::from).collect(),
        };
        let size = NODE_OVERHEAD_BYTES
            + path.len()
            + node.data().len()
            + acl
                .iter()
                .map(|a| a.scheme.len() + a.id.len() + 8)
                .sum::<usize>();
        if !page.is_empty() && used + size > budget {
            at = Some(path);
            break;
        }
        used += size;
        let (kind, ttl_ms) = match node.kind() {
            NodeKind::Persistent => (proto::NodeKind::Persistent, 0),
            NodeKind::Ephemeral { .. } => (proto::NodeKind::Ephemeral, 0),
            NodeKind::Container => (proto::NodeKind::Container, 0),
            NodeKind::Ttl { ttl_ms } => (proto::NodeKind::Ttl, ttl_ms),
        };
        page.push(proto::ExportedNode {
            data: node.data().clone(),
            stat: Some((&node.stat()).into()),
            acl,
            kind: kind as i32,
            ttl_ms,
            quota: export.quotas.get(&path).map(|q| (*q).into()),
            path: path.clone(),
        });
        at = successor(&export.nodes, &export.root, &path);
    }
    let done = at.is_none();
    let response = proto::ExportResponse {
        zxid: export.zxid,
        cursor: if done {
            String::new()
        } else {
            page.last().map(|n| n.path.clone()).unwrap_or_default()
        },
        nodes: page,
        done,
        total_nodes: export.total,
        ephemeral_nodes: export.ephemerals,
    };
    if done {
        open.remove(&conn);
    } else {
        export.cursor = response.cursor.clone();
    }
    Ok(response)
}

/// Whether `path` is `root` or below it.
fn in_subtree(root: &str, path: &str) -> bool {
    root == "/"
        || path == root
        || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

/// The node after `path` in a depth-first walk of the subtree at `root`
/// (parents first, children in name order); `None` after the last.
fn successor(nodes: &NodeMap, root: &str, path: &str) -> Option<String> {
    let node = nodes.get(path)?;
    if let Some(first) = node.child_paths().next() {
        return Some(first.to_string());
    }
    let mut at = path;
    while at != root {
        let up = parent(at)?;
        let up_node = nodes.get(up)?;
        if let Some(next) = children_after(&up_node.children, up, Some(name(at))).next() {
            return Some(next.to_string());
        }
        at = up;
    }
    None
}
