//! ZooKeeper requests with no native twin, answered by the listener at
//! their turn in the connection's order (so they see every earlier write of
//! the session): ACLs, auth, whoAmI, getEphemerals, getAllChildrenNumber,
//! checkWatches, and the refusals `convert` decided (opcodes coord does not
//! serve, ACLs it does not keep), which are logged here.
//!
//! coord keeps no per-node ACLs yet: every node reads as ZooKeeper's
//! `OPEN_ACL_UNSAFE` (world:anyone, all permissions), `setACL` accepts only
//! that list, and `auth` records the identity (digest only) for `whoAmI`.

use std::sync::Arc;

use bytes::Bytes;
use tracing::info;

use super::ZkConn;
use super::convert::{self, Local, header_frame, record_frame, watcher_type, zk_stat};
use super::records::{
    Acl, ClientInfo, GetAclResponse, GetAllChildrenNumberResponse, GetChildrenResponse,
    GetDataResponse, GetEphemeralsResponse, Id, MultiOp, MultiResult, PathWatch, ReplyHeader,
    StatResponse, WhoAmIResponse, encode_multi_results, err, op, perms, reply_frame,
};
use crate::server::Shared;
use crate::server::dispatch::Pending;
use crate::tree::validate_path;
use crate::watch::ConnId;

/// The pending answer of a local request.
pub(crate) fn pending(zk: Arc<ZkConn>, xid: i32, op: Local) -> Pending {
    Pending::Custom(Box::new(move |shared: &Shared, conn, session| {
        let out = answer(shared, &zk, conn, session, xid, op);
        zk.replied();
        out
    }))
}

fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn answer(
    shared: &Shared,
    zk: &ZkConn,
    conn: ConnId,
    session: u64,
    xid: i32,
    op: Local,
) -> (Bytes, bool) {
    let zxid = *shared.applied.borrow() as i64;
    let fail = |code: i32| (header_frame(xid, zxid, code), false);
    let sm = shared.read_sm();
    let limits_path = sm.limits().max_path_bytes;
    let check = |path: &str| validate_path(path, limits_path).map_err(|e| convert::zk_code(&e));
    if sm.session(session).is_none() {
        return fail(err::SESSION_EXPIRED);
    }
    match op {
        Local::GetAcl(path) => {
            if let Err(code) = check(&path) {
                return fail(code);
            }
            match sm.exists(&path) {
                Ok(Some(stat)) => (
                    record_frame(
                        xid,
                        zxid,
                        &GetAclResponse {
                            acl: open_acl(),
                            stat: zk_stat(&(&stat).into()),
                        },
                    ),
                    false,
                ),
                Ok(None) => fail(err::NO_NODE),
                Err(e) => fail(convert::zk_code(&e)),
            }
        }
        Local::SetAcl(req) => {
            if let Err(code) = check(&req.path) {
                return fail(code);
            }
            if let Err((code, why)) = convert::check_open_acl(&req.acl, &req.path) {
                info!(
                    session = format_args!("{session:#x}"),
                    why, "ZooKeeper setACL refused"
                );
                return fail(code);
            }
            match sm.exists(&req.path) {
                // The ACL version of an open node is 0 and stays 0.
                Ok(Some(_)) if req.version != -1 && req.version != 0 => fail(err::BAD_VERSION),
                Ok(Some(stat)) => (
                    record_frame(
                        xid,
                        zxid,
                        &StatResponse {
                            stat: zk_stat(&(&stat).into()),
                        },
                    ),
                    false,
                ),
                Ok(None) => fail(err::NO_NODE),
                Err(e) => fail(convert::zk_code(&e)),
            }
        }
        Local::Auth { scheme, auth } => {
            drop(sm);
            let user = String::from_utf8_lossy(&auth);
            match (scheme.as_str(), user.split_once(':')) {
                ("digest", Some((name, _password))) if !name.is_empty() => {
                    super::lock(&zk.identities).push(("digest".into(), name.to_string()));
                    (header_frame(xid, zxid, err::OK), false)
                }
                _ => {
                    info!(
                        session = format_args!("{session:#x}"),
                        scheme,
                        "ZooKeeper auth failed (coord takes the digest scheme as user:password); \
                         closing the connection"
                    );
                    // As ZooKeeper: AUTHFAILED, then the connection closes.
                    (header_frame(xid, zxid, err::AUTH_FAILED), true)
                }
            }
        }
        Local::WhoAmI => {
            let mut client_info = vec![ClientInfo {
                auth_scheme: "ip".into(),
                user: zk.peer.ip().to_string(),
            }];
            client_info.extend(super::lock(&zk.identities).iter().map(|(scheme, user)| {
                ClientInfo {
                    auth_scheme: scheme.clone(),
                    user: user.clone(),
                }
            }));
            (
                record_frame(xid, zxid, &WhoAmIResponse { client_info }),
                false,
            )
        }
        Local::GetEphemerals(prefix) => {
            let mut ephemerals: Vec<String> = sm
                .ephemerals(session)
                .into_iter()
                .filter(|p| p.starts_with(&prefix))
                .collect();
            ephemerals.sort_unstable();
            (
                record_frame(xid, zxid, &GetEphemeralsResponse { ephemerals }),
                false,
            )
        }
        Local::GetAllChildrenNumber(path) => {
            if let Err(code) = check(&path) {
                return fail(code);
            }
            let tree = sm.tree();
            let Some(root) = tree.node(&path) else {
                return fail(err::NO_NODE);
            };
            // Every descendant, as ZooKeeper counts them.
            let mut total: i64 = 0;
            let mut stack: Vec<&str> = root.child_paths().collect();
            while let Some(p) = stack.pop() {
                total += 1;
                if let Some(n) = tree.node(p) {
                    stack.extend(n.child_paths());
                }
            }
            let total = i32::try_from(total).unwrap_or(i32::MAX);
            (
                record_frame(xid, zxid, &GetAllChildrenNumberResponse { total }),
                false,
            )
        }
        Local::CheckWatches(req) => {
            drop(sm);
            if let Err(code) = check(&req.path) {
                return fail(code);
            }
            match watcher_type(req.kind) {
                None => fail(err::BAD_ARGUMENTS),
                Some(t) if shared.watches.has(conn, &req.path, t) => fail(err::OK),
                Some(_) => fail(err::NO_WATCHER),
            }
        }
        Local::MultiRead(ops) => {
            // Every read at one state, as ZooKeeper runs them in one request.
            let results = ops
                .into_iter()
                .map(|o| {
                    let MultiOp::Read(opcode, PathWatch { path, .. }) = o else {
                        return MultiResult::Error(err::BAD_ARGUMENTS);
                    };
                    if let Err(code) = check(&path) {
                        return MultiResult::Error(code);
                    }
                    let read = if opcode == op::GET_DATA {
                        sm.get(&path).map(|(data, stat)| {
                            MultiResult::GetData(GetDataResponse {
                                data: Some(data),
                                stat: zk_stat(&(&stat).into()),
                            })
                        })
                    } else {
                        sm.children(&path).map(|(mut children, _)| {
                            children.sort_unstable();
                            MultiResult::GetChildren(GetChildrenResponse { children })
                        })
                    };
                    read.unwrap_or_else(|e| MultiResult::Error(convert::zk_code(&e)))
                })
                .collect::<Vec<_>>();
            let frame = reply_frame(
                &ReplyHeader {
                    xid,
                    zxid,
                    err: err::OK,
                },
                |w| encode_multi_results(&results, w),
            );
            (frame, false)
        }
        Local::Refuse { opcode, code, why } => {
            info!(
                session = format_args!("{session:#x}"),
                op = convert::op_name(opcode),
                code,
                why,
                "ZooKeeper request refused"
            );
            fail(code)
        }
    }
}
