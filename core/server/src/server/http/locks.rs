//! The dashboard's lock and election lines (`/api/locks`, `/api/elections`)
//! and breaking a lock (`POST /api/locks/break`).
//!
//! Lines are computed from a frozen copy of the tree with
//! `coord_proto::lock_line` (the recipes' own hold rule), so the page shows
//! what the contenders themselves decide. The walk under a path visits at
//! most `--http-max-walk-nodes` nodes and says when it was cut; a directory
//! the caller may not READ is neither listed nor walked.
//!
//! Breaking is the only state change the HTTP port makes: only with
//! `--http-admin`, only for a caller with DELETE on the lock's directory (or
//! a super user), and only through the replicated path (the same `Delete`
//! command a client's delete proposes), so the holder's session sees its
//! node go and the next waiter takes over with a higher token.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use coord_proto::Op;
use coord_proto::acl::perms;
use coord_proto::lock_line::{Contender, LockInfo, line_of_dir};
use serde_json::{Value, json};

use super::HttpState;
use super::api::{PathQuery, client_addr, error};
use super::caller::{Caller, Viewer};
use crate::state_machine::{Command, CommandKind};
use crate::tree::NodeMap;
use coord_proto::child as child_path;

/// The lines found under a path.
struct Found {
    lines: Vec<LockInfo>,
    /// The walk stopped at the limit: there may be more.
    cut: bool,
    visited: usize,
}

/// The lock lines under `root` (itself included), depth first in name
/// order, visiting at most `max` nodes.
fn lines_under(nodes: &NodeMap, root: &str, viewer: &Viewer, max: usize) -> Found {
    let mut found = Found {
        lines: Vec::new(),
        cut: false,
        visited: 0,
    };
    let mut stack = vec![root.to_string()];
    while let Some(dir) = stack.pop() {
        let Some(node) = nodes.get(dir.as_str()) else {
            continue;
        };
        if !viewer.may(node.acl(), perms::READ) {
            continue;
        }
        if found.visited + 1 + node.num_children() > max {
            found.cut = true;
            break;
        }
        found.visited += 1 + node.num_children();
        let prefix_len = if dir == "/" { 1 } else { dir.len() + 1 };
        let mut children = Vec::with_capacity(node.num_children());
        let mut subdirs = Vec::new();
        for p in node.child_paths() {
            let Some(child) = nodes.get(p) else { continue };
            children.push((p[prefix_len..].to_string(), child.stat()));
            if child.num_children() > 0 {
                subdirs.push(p.to_string());
            }
        }
        let info = line_of_dir(&dir, node.data(), &children);
        if !info.holders.is_empty() || !info.waiters.is_empty() {
            found.lines.push(info);
        }
        stack.extend(subdirs.into_iter().rev());
    }
    found
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn contender_json(
    c: &Contender,
    now: i64,
    addrs: &HashMap<u64, String>,
    identity: Option<String>,
) -> Value {
    let mut v = json!({
        "node": c.node,
        "owner": c.owner,
        "kind": c.kind.as_str(),
        "session": format!("{:#x}", c.session),
        "client_addr": addrs.get(&c.session),
        "token": c.token,
        "since_ms": c.since_ms,
        "for_ms": (now - c.since_ms).max(0),
    });
    if let Some(id) = identity {
        v["identity"] = json!(id);
    }
    v
}

/// The answer of `/api/locks` (`elections`: with each candidate's identity,
/// its node's data, when the caller may read it).
fn lines(s: &HttpState, caller: &Caller, q: &PathQuery, elections: bool) -> Response {
    let root = match q.path(s.shared.cfg.limits.max_path_bytes) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let (nodes, viewer) = {
        let sm = s.shared.read_sm();
        (sm.tree().frozen_nodes(), caller.viewer(sm.limits()))
    };
    if nodes.get(root.as_str()).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no node {root}"));
    }
    let limit = s.shared.cfg.http_max_walk_nodes;
    let found = lines_under(&nodes, &root, &viewer, limit);
    let addrs = {
        let local = s.shared.sessions.client_addrs();
        let sm = s.shared.read_sm();
        let contenders = found
            .lines
            .iter()
            .flat_map(|l| l.holders.iter().chain(&l.waiters));
        contenders
            .filter_map(|c| {
                let ids = sm.session(c.session).map_or(&[][..], |si| &si.identities);
                Some((c.session, client_addr(&local, c.session, ids)?))
            })
            .collect::<HashMap<u64, String>>()
    };
    let now = now_ms();
    let identity = |dir: &str, c: &Contender| -> Option<String> {
        if !elections {
            return None;
        }
        let node = nodes.get(child_path(dir, &c.node).as_str())?;
        viewer
            .may(node.acl(), perms::READ)
            .then(|| String::from_utf8_lossy(node.data()).into_owned())
    };
    let list: Vec<Value> = found
        .lines
        .iter()
        .map(|l| {
            let one = |c: &Contender| contender_json(c, now, &addrs, identity(&l.path, c));
            json!({
                "path": l.path,
                "holders": l.holders.iter().map(one).collect::<Vec<_>>(),
                "waiters": l.waiters.iter().map(one).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({
        "path": root,
        (if elections { "elections" } else { "locks" }): list,
        "cut": found.cut,
        "visited": found.visited,
        "walk_limit": limit,
        "now_ms": now,
        "admin": s.shared.cfg.http_admin,
    }))
    .into_response()
}

/// `GET /api/locks?path=P`.
pub(super) async fn locks(
    State(s): State<Arc<HttpState>>,
    caller: Caller,
    Query(q): Query<PathQuery>,
) -> Response {
    lines(&s, &caller, &q, false)
}

/// `GET /api/elections?path=P`.
pub(super) async fn elections(
    State(s): State<Arc<HttpState>>,
    caller: Caller,
    Query(q): Query<PathQuery>,
) -> Response {
    lines(&s, &caller, &q, true)
}

/// `POST /api/locks/break?path=P`: deletes the holders' nodes of the lock
/// at P (see the module doc for who may).
pub(super) async fn break_lock(
    State(s): State<Arc<HttpState>>,
    caller: Caller,
    Query(q): Query<PathQuery>,
) -> Response {
    let path = match q.path(s.shared.cfg.limits.max_path_bytes) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let shared = &s.shared;
    if !shared.cfg.http_admin {
        return error(
            StatusCode::FORBIDDEN,
            "breaking a lock over HTTP needs the server started with --http-admin \
             (COORD_HTTP_ADMIN)"
                .into(),
        );
    }
    let (nodes, viewer) = {
        let sm = shared.read_sm();
        (sm.tree().frozen_nodes(), caller.viewer(sm.limits()))
    };
    let Some(dir) = nodes.get(path.as_str()) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no lock at {path}: no such node"),
        );
    };
    // DELETE, which removing the holder's node needs, and ADMIN, the
    // permission to act on other sessions' nodes there.
    let missing: Vec<&str> = [("DELETE", perms::DELETE), ("ADMIN", perms::ADMIN)]
        .into_iter()
        .filter(|(_, perm)| !viewer.may(dir.acl(), *perm))
        .map(|(name, _)| name)
        .collect();
    if !missing.is_empty() {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "breaking the lock at {path} needs DELETE and ADMIN on {path}; {} lacks {}",
                caller.names().join(", "),
                missing.join(" and ")
            ),
        );
    }
    let prefix_len = if path == "/" { 1 } else { path.len() + 1 };
    let children: Vec<_> = dir
        .child_paths()
        .filter_map(|p| Some((p[prefix_len..].to_string(), nodes.get(p)?.stat())))
        .collect();
    let info = line_of_dir(&path, dir.data(), &children);
    if info.holders.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no lock at {path}: nobody holds it"),
        );
    }
    let mut broke = Vec::new();
    for h in &info.holders {
        let node = child_path(&path, &h.node);
        let cmd = Command {
            origin: Default::default(),
            session_id: 0,
            time_ms: shared.now_ms(),
            kind: CommandKind::Op(Op::Delete {
                path: node.clone(),
                version: -1,
            }),
        };
        let conn = shared
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = match shared.propose(cmd, conn).await {
            Ok(fut) => fut.await,
            Err(e) => Err(e),
        };
        match outcome.map(|o| o.result) {
            // Released meanwhile: broken all the same.
            Ok(Ok(_)) | Ok(Err(coord_proto::Error::NoNode(_))) => {}
            Ok(Err(e)) | Err(e) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("breaking {node}: {e}"),
                );
            }
        }
        tracing::info!(node = %node, token = h.token, by = ?caller.names(), "lock broken over HTTP");
        broke.push(
            json!({ "node": node, "token": h.token, "session": format!("{:#x}", h.session) }),
        );
    }
    Json(json!({ "path": path, "broke": broke })).into_response()
}
