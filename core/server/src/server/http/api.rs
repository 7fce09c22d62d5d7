//! The dashboard's read-only JSON answers: `/api/node`, `/api/sessions`,
//! `/api/cluster`, `/api/stats` and `/api/info`.
//!
//! Each reads a frozen copy of the server's state (the tree's node map is
//! one pointer copy taken under the state's read lock; the walk happens
//! after the lock is released) and checks the caller's READ permission
//! on every node it shows, as a native read would. Nothing here changes
//! state; the lock lines are in `locks`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use coord_proto::acl::{perms, perms_to_string};
use coord_proto::{Acl, Stat};
use serde::Deserialize;
use serde_json::{Value, json};

use super::HttpState;
use super::caller::Caller;
use crate::server::cluster;
use coord_proto::Identity;

/// `?path=P` (the root when absent).
#[derive(Debug, Deserialize)]
pub(super) struct PathQuery {
    path: Option<String>,
}

impl PathQuery {
    /// The path, validated; a 400 answer naming it otherwise.
    pub(super) fn path(&self, max_path_bytes: usize) -> Result<String, BadPath> {
        let path = self.path.clone().unwrap_or_else(|| "/".to_string());
        coord_proto::validate_path(&path, max_path_bytes)
            .map_err(|e| BadPath(format!("path: {}", e.detail())))?;
        Ok(path)
    }
}

/// An invalid `path` parameter: answered 400 with the reason.
pub(super) struct BadPath(String);

impl IntoResponse for BadPath {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

/// A JSON error answer `{"error": why}`.
pub(super) fn error(status: StatusCode, why: String) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

pub(super) fn stat_json(s: &Stat) -> Value {
    json!({
        "czxid": s.czxid, "mzxid": s.mzxid, "pzxid": s.pzxid,
        "ctime": s.ctime, "mtime": s.mtime,
        "version": s.version, "cversion": s.cversion, "aversion": s.aversion,
        "ephemeral_owner": format!("{:#x}", s.ephemeral_owner),
        "data_length": s.data_length, "num_children": s.num_children,
    })
}

fn acl_json(acl: &[Acl]) -> Value {
    if acl.is_empty() {
        return json!([{ "scheme": "world", "id": "anyone", "perms": "cdrwa" }]);
    }
    acl.iter()
        .map(|a| {
            json!({
                "scheme": a.identity.scheme,
                "id": a.identity.id,
                "perms": perms_to_string(a.perms),
            })
        })
        .collect()
}

/// `GET /api/node?path=P`: the node's data (base64, with hints whether it
/// is UTF-8 text and JSON), stat, ACL and the first
/// `--http-max-children` children's names. A node the caller may not READ
/// shows its ACL only (`"access": false`).
pub(super) async fn node(
    State(s): State<Arc<HttpState>>,
    caller: Caller,
    Query(q): Query<PathQuery>,
) -> Response {
    let path = match q.path(s.shared.cfg.limits.max_path_bytes) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let (nodes, viewer) = {
        let sm = s.shared.read_sm();
        (sm.tree().frozen_nodes(), caller.viewer(sm.limits()))
    };
    let Some(node) = nodes.get(path.as_str()) else {
        return error(StatusCode::NOT_FOUND, format!("no node {path}"));
    };
    let mut out = json!({
        "path": path,
        "acl": acl_json(node.acl()),
        "access": false,
    });
    if !viewer.may(node.acl(), perms::READ) {
        return Json(out).into_response();
    }
    let limit = s.shared.cfg.http_max_children;
    let prefix_len = if path == "/" { 1 } else { path.len() + 1 };
    let children: Vec<&str> = node
        .child_paths()
        .take(limit)
        .map(|p| &p[prefix_len..])
        .collect();
    let data = node.data();
    let text = std::str::from_utf8(data).ok();
    let is_json = text.is_some_and(|t| serde_json::from_str::<Value>(t).is_ok());
    out["access"] = json!(true);
    out["data_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
    out["data_utf8"] = json!(text.is_some());
    out["data_json"] = json!(is_json);
    out["stat"] = stat_json(&node.stat());
    out["children"] = json!(children);
    out["children_total"] = json!(node.num_children());
    out["children_cut"] = json!(node.num_children() > limit);
    out["children_limit"] = json!(limit);
    Json(out).into_response()
}

/// `GET /api/sessions`: every session the replicated state knows, with
/// its client address when a connection on this server carries it, its
/// timeout, its ephemeral node count and its identities (never a secret).
pub(super) async fn sessions(State(s): State<Arc<HttpState>>, _caller: Caller) -> Response {
    // The ephemeral counts come from the tree's owner index: one lookup
    // per session under the read lock, no walk.
    let sessions: Vec<_> = {
        let sm = s.shared.read_sm();
        sm.sessions()
            .into_iter()
            .map(|si| {
                let n = sm.tree().ephemeral_count(si.session_id);
                (si, n)
            })
            .collect()
    };
    let local = s.shared.sessions.client_addrs();
    let list: Vec<Value> = sessions
        .iter()
        .map(|(si, ephemerals)| {
            json!({
                "id": format!("{:#x}", si.session_id),
                "client_addr": client_addr(&local, si.session_id, &si.identities),
                "timeout_ms": si.timeout_ms,
                "ephemerals": ephemerals,
                "identities": si.identities.iter()
                    .map(|i| format!("{}:{}", i.scheme, i.id)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "sessions": list })).into_response()
}

/// `GET /api/cluster`: members with roles and lag, the leader, the term
/// this member's log and applied index, and on the leader the commit index
/// (`coord cluster status`'s view).
pub(super) async fn cluster(State(s): State<Arc<HttpState>>, _caller: Caller) -> Response {
    let status = cluster::status(&s.shared);
    let m = s.shared.replica.metrics().borrow().clone();
    let members: Vec<Value> = status
        .members
        .iter()
        .map(|mm| {
            json!({
                "id": mm.id,
                "client_addr": mm.client_addr,
                "peer_addr": mm.peer_addr,
                "role": mm.role,
                "leader": mm.id == status.leader,
                "matched_index": mm.matched_known.then_some(mm.matched_index),
                "lag": mm.matched_known.then_some(mm.lag),
            })
        })
        .collect();
    Json(json!({
        "commit_index": quorum_matched(&status),
        "leader": (status.leader != 0).then_some(status.leader),
        "this_member": status.this_member,
        "term": status.term,
        "applied_index": status.applied_index,
        "last_log_index": m.last_log_index.unwrap_or(0),
        "applied_zxid": *s.shared.applied.borrow(),
        "members": members,
    }))
    .into_response()
}

/// On the leader: the highest log index a majority of the voters hold (the
/// commit index, once an entry of the current term reached it); `None` on
/// a member that does not know its voters' progress.
fn quorum_matched(status: &coord_proto::proto::ClusterStatus) -> Option<u64> {
    let mut matched: Vec<u64> = status
        .members
        .iter()
        .filter(|m| m.role == "voter")
        .map(|m| m.matched_known.then_some(m.matched_index))
        .collect::<Option<_>>()?;
    matched.sort_unstable_by(|a, b| b.cmp(a));
    matched.get(matched.len() / 2).copied()
}

/// `GET /api/stats`: per operation, requests recorded and the sum of their
/// latencies (the histograms `/metrics` encodes), with this server's
/// clock, so the page charts ops/s and mean latency from two answers.
pub(super) async fn stats(State(s): State<Arc<HttpState>>, _caller: Caller) -> Response {
    let ops: Vec<Value> = s
        .shared
        .metrics
        .per_op()
        .into_iter()
        .map(|(op, count, sum)| json!({ "op": op, "count": count, "sum_seconds": sum }))
        .collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Json(json!({ "now_ms": now_ms, "ops": ops })).into_response()
}

/// `GET /api/info`: who the caller is and what the page may offer.
pub(super) async fn info(State(s): State<Arc<HttpState>>, caller: Caller) -> Response {
    let viewer = caller.viewer(s.shared.read_sm().limits());
    Json(json!({
        "identities": caller.names(),
        "superuser": viewer.is_super,
        "admin": s.shared.cfg.http_admin,
        "auth_required": s.shared.cfg.auth_required,
        "member": s.shared.replica.node_id(),
    }))
    .into_response()
}

/// Where a session's client connects from: `ip:port` when its connection
/// is on this member, else the address its session recorded (the `ip`
/// identity in the replicated session table, which every member has);
/// `None` for a session with neither (a ZooKeeper-port session created
/// before the `ip` identity existed, or one gone meanwhile).
pub(super) fn client_addr(
    local: &HashMap<u64, SocketAddr>,
    session: u64,
    identities: &[Identity],
) -> Option<String> {
    local.get(&session).map(|a| a.to_string()).or_else(|| {
        identities
            .iter()
            .find(|i| i.scheme == coord_proto::acl::IP)
            .map(|i| i.id.clone())
    })
}
