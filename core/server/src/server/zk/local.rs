//! ZooKeeper requests with no native twin, answered by the listener at
//! their turn in the connection's order (so they see every earlier write of
//! the session): getEphemerals, getAllChildrenNumber, checkWatches, multiRead,
//! auth with a scheme coord does not take, and the refusals `convert`
//! decided (opcodes coord does not serve, bad arguments), which are logged
//! here. getACL, setACL, auth (digest, token) and whoAmI are native requests.

use std::sync::Arc;

use bytes::Bytes;
use tracing::info;

use super::ZkConn;
use super::convert::{self, Local, header_frame, record_frame, watcher_type, zk_stat};
use super::records::{
    GetAllChildrenNumberResponse, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse,
    MultiOp, MultiResult, PathWatch, ReplyHeader, encode_multi_results, err, op, reply_frame,
};
use crate::server::Shared;
use crate::server::dispatch::Pending;
use crate::tree::validate_path;
use crate::watch::ConnId;

/// The pending answer of a local request.
pub(crate) fn pending(zk: Arc<ZkConn>, xid: i32, op: Local) -> Pending {
    Pending::Custom(Box::new(move |shared: &Shared, conn, session| {
        let out = answer(shared, conn, session, xid, op);
        zk.replied();
        out
    }))
}

fn answer(shared: &Shared, conn: ConnId, session: u64, xid: i32, op: Local) -> (Bytes, bool) {
    let zxid = *shared.applied.borrow() as i64;
    let fail = |code: i32| (header_frame(xid, zxid, code), false);
    let sm = shared.read_sm();
    let limits_path = sm.limits().max_path_bytes;
    let check = |path: &str| validate_path(path, limits_path).map_err(|e| convert::zk_code(&e));
    if sm.session(session).is_none() {
        return fail(err::SESSION_EXPIRED);
    }
    match op {
        Local::Auth { scheme } => {
            drop(sm);
            info!(
                session = format_args!("{session:#x}"),
                scheme,
                "ZooKeeper auth with a scheme coord does not take (digest, token); \
                 closing the connection"
            );
            // As ZooKeeper: AUTHFAILED, then the connection closes.
            (header_frame(xid, zxid, err::AUTH_FAILED), true)
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
