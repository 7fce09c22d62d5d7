//! ZooKeeper replies from coord's native responses: the reply header's
//! error code, the jute records of each opcode's answer (rebuilt from the
//! native response and what the connection kept for it, see
//! [`Context`]), and the notification frames of watch events. The request
//! side is `convert`.

use bytes::{Bytes, BytesMut};

use super::ZkConn;
use super::convert::{Context, unpack_xid, zk_acl};
use super::jute::Jute;
use super::records::{
    self as rec, Create2Response, CreateResponse, GetChildren2Response, GetChildrenResponse,
    GetDataResponse, MultiResult, PathOnly, ReplyHeader, StatResponse, WatcherEvent, err, event,
    op, reply_frame,
};
use crate::error::Error;
use crate::state_machine::WatchEvent;
use coord_proto::EventType;
use coord_proto::proto::{self, response::Result as Res};

/// ZooKeeper's code for a coord error.
pub(crate) fn zk_code(e: &Error) -> i32 {
    match e {
        Error::RolledBack(_) => err::OK,
        Error::RuntimeInconsistency(_) => err::RUNTIME_INCONSISTENCY,
        Error::ConnectionLoss(_) | Error::NotLeader(_) | Error::ShuttingDown(_) => {
            err::CONNECTION_LOSS
        }
        Error::Protocol(_) => err::MARSHALLING_ERROR,
        Error::Unimplemented(_) => err::UNIMPLEMENTED,
        Error::OperationTimeout(_) => err::OPERATION_TIMEOUT,
        Error::BadArguments(_) | Error::InvalidPath(_) | Error::TooLarge(_) => err::BAD_ARGUMENTS,
        Error::NoNode(_) => err::NO_NODE,
        Error::NoAuth(_) => err::NO_AUTH,
        Error::InvalidAcl(_) => err::INVALID_ACL,
        Error::AuthFailed(_) => err::AUTH_FAILED,
        Error::BadVersion(_) => err::BAD_VERSION,
        Error::NoChildrenForEphemerals(_) => err::NO_CHILDREN_FOR_EPHEMERALS,
        Error::NodeExists(_) => err::NODE_EXISTS,
        Error::NotEmpty(_) => err::NOT_EMPTY,
        Error::SessionExpired(_) => err::SESSION_EXPIRED,
        Error::SessionMoved(_) => err::SESSION_MOVED,
        Error::NoWatcher(_) => err::NO_WATCHER,
        Error::QuotaExceeded(_) => err::QUOTA_EXCEEDED,
        _ => err::SYSTEM_ERROR,
    }
}

/// A native stat in ZooKeeper's shape.
pub(crate) fn zk_stat(s: &proto::Stat) -> rec::Stat {
    rec::Stat {
        czxid: s.czxid as i64,
        mzxid: s.mzxid as i64,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner as i64,
        data_length: s.data_length as i32,
        num_children: s.num_children as i32,
        pzxid: s.pzxid as i64,
    }
}

fn stat_of(s: Option<proto::Stat>) -> rec::Stat {
    s.as_ref().map(zk_stat).unwrap_or_default()
}

/// A reply with only a header.
pub(crate) fn header_frame(xid: i32, zxid: i64, code: i32) -> Bytes {
    reply_frame(
        &ReplyHeader {
            xid,
            zxid,
            err: code,
        },
        |_| {},
    )
}

/// The ZooKeeper reply to a native response (whose xid packs the request's
/// opcode and xid); `None` for a response no ZooKeeper request asked for.
pub(crate) fn reply(zk: &ZkConn, resp: proto::Response) -> Option<Bytes> {
    let (opcode, xid) = unpack_xid(resp.xid);
    let zxid = resp.zxid as i64;
    let context = zk.take_context(opcode, xid);
    if let Some(e) = resp.error {
        let e = Error::from_code(e.code, e.detail);
        // exists on a missing node answers NONODE (and has set its watch).
        return Some(header_frame(xid, zxid, zk_code(&e)));
    }
    let header = ReplyHeader { xid, zxid, err: 0 };
    let Some(result) = resp.result else {
        return Some(header_frame(xid, zxid, err::SYSTEM_ERROR));
    };
    Some(match result {
        Res::Create(c) => reply_frame(&header, |w| {
            if opcode == op::CREATE {
                CreateResponse { path: c.path }.write(w);
            } else {
                Create2Response {
                    path: c.path,
                    stat: stat_of(c.stat),
                }
                .write(w);
            }
        }),
        Res::Exists(e) => match e.stat {
            Some(s) => reply_frame(&header, |w| StatResponse { stat: zk_stat(&s) }.write(w)),
            None => header_frame(xid, zxid, err::NO_NODE),
        },
        Res::GetData(g) => reply_frame(&header, |w| {
            GetDataResponse {
                data: Some(g.data),
                stat: stat_of(g.stat),
            }
            .write(w)
        }),
        Res::SetData(s) => reply_frame(&header, |w| {
            StatResponse {
                stat: stat_of(s.stat),
            }
            .write(w)
        }),
        Res::GetChildren(g) => reply_frame(&header, |w| {
            if opcode == op::GET_CHILDREN2 {
                GetChildren2Response {
                    children: g.names,
                    stat: stat_of(g.stat),
                }
                .write(w)
            } else {
                GetChildrenResponse { children: g.names }.write(w)
            }
        }),
        Res::Sync(_) => {
            let path = match context {
                Some(Context::Sync(p)) => p,
                _ => String::new(),
            };
            reply_frame(&header, |w| PathOnly { path }.write(w))
        }
        Res::Multi(m) => {
            let creates = match context {
                Some(Context::Multi(c)) => c,
                _ => Vec::new(),
            };
            let results = multi_results(m.results, &creates);
            reply_frame(&header, |w| rec::encode_multi_results(&results, w))
        }
        // ZooKeeper answers addWatch with an error record of 0 after the
        // header (its Java client fails to read the reply without it).
        Res::AddWatch(_) => reply_frame(&header, |w| rec::ErrorResult { err: 0 }.write(w)),
        Res::Delete(_)
        | Res::Ping(_)
        | Res::SetWatches(_)
        | Res::RemoveWatches(_)
        | Res::CloseSession(_) => header_frame(xid, zxid, err::OK),
        Res::GetAcl(g) => reply_frame(&header, |w| {
            rec::GetAclResponse {
                acl: zk_acl(g.acl),
                stat: stat_of(g.stat),
            }
            .write(w)
        }),
        Res::SetAcl(s) => reply_frame(&header, |w| {
            StatResponse {
                stat: stat_of(s.stat),
            }
            .write(w)
        }),
        Res::AddAuth(_) => header_frame(xid, zxid, err::OK),
        Res::WhoAmI(mut who) => reply_frame(&header, |w| {
            // ZooKeeper lists the address first.
            who.identities.sort_by_key(|i| i.scheme != "ip");
            rec::WhoAmIResponse {
                client_info: who
                    .identities
                    .into_iter()
                    .map(|i| rec::ClientInfo {
                        // ZooKeeper names a digest identity by its user.
                        user: match (i.scheme.as_str(), i.id.split_once(':')) {
                            ("digest", Some((user, _))) => user.to_string(),
                            _ => i.id,
                        },
                        auth_scheme: i.scheme,
                    })
                    .collect(),
            }
            .write(w)
        }),
        Res::ClusterStatus(_)
        | Res::ClusterChange(_)
        | Res::SetQuota(_)
        | Res::GetQuota(_)
        | Res::Export(_)
        | Res::SessionInfo(_) => header_frame(xid, zxid, err::UNIMPLEMENTED),
    })
}

fn multi_results(results: Vec<proto::OpResult>, creates: &[Option<i32>]) -> Vec<MultiResult> {
    use proto::op_result::Result as R;
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r.result {
            Some(R::Create(c)) => match creates.get(i).copied().flatten() {
                Some(op::CREATE) => MultiResult::Create(c.path),
                _ => MultiResult::Create2(c.path, stat_of(c.stat)),
            },
            Some(R::Delete(_)) => MultiResult::Delete,
            Some(R::SetData(s)) => MultiResult::SetData(stat_of(s.stat)),
            Some(R::Check(_)) => MultiResult::Check,
            Some(R::Error(e)) => MultiResult::Error(zk_code(&Error::from_code(e.code, e.detail))),
            None => MultiResult::Error(err::SYSTEM_ERROR),
        })
        .collect()
}

/// The notification frames of one event. A coord-only "events lost" (the
/// server no longer had every event since the client's last zxid) has no
/// ZooKeeper form: it becomes a data change and a children change, which
/// make every kind of watcher on the path re-read.
pub(crate) fn event_frames(e: &WatchEvent) -> Vec<Bytes> {
    let kinds: &[i32] = match e.kind {
        EventType::NodeCreated => &[event::NODE_CREATED],
        EventType::NodeDeleted => &[event::NODE_DELETED],
        EventType::NodeDataChanged => &[event::NODE_DATA_CHANGED],
        EventType::NodeChildrenChanged => &[event::NODE_CHILDREN_CHANGED],
        EventType::EventsLost => &[event::NODE_DATA_CHANGED, event::NODE_CHILDREN_CHANGED],
    };
    kinds
        .iter()
        .map(|&kind| {
            reply_frame(
                &ReplyHeader {
                    xid: rec::xid::NOTIFICATION,
                    zxid: -1,
                    err: 0,
                },
                |w| {
                    WatcherEvent {
                        kind,
                        state: event::STATE_SYNC_CONNECTED,
                        path: e.path.clone(),
                    }
                    .write(w)
                },
            )
        })
        .collect()
}

/// Encodes any record after a header (for local answers).
pub(crate) fn record_frame<T: Jute>(xid: i32, zxid: i64, body: &T) -> Bytes {
    reply_frame(&ReplyHeader { xid, zxid, err: 0 }, |w: &mut BytesMut| {
        body.write(w)
    })
}
