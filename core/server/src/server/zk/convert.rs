//! Translation between ZooKeeper's requests and replies and coord's native
//! ones, so that a ZooKeeper client goes through the same admission,
//! ordering, log and watch paths as a native client.
//!
//! A request becomes a native `proto::Request` whose xid packs the ZooKeeper
//! opcode and xid ([`pack_xid`]): the reply is rebuilt from the native
//! response alone, plus what the connection kept for it (a sync's path, the
//! create opcodes of a multi). Requests with no native twin (ACLs, auth,
//! whoAmI, ephemerals, counts, checkWatches, and opcodes coord does not
//! serve) become [`Local`] ops, answered at their turn by `local`.
//!
//! Nothing here reads the tree or touches a socket.

use bytes::Bytes;

use super::ZkConn;
use super::jute::{Jute, JuteError, Reader};
use super::records::{
    self as rec, Acl, AddWatchRequest, CheckVersionRequest, CreateRequest, CreateTtlRequest,
    DeleteRequest, MultiOp, PathOnly, PathWatch, RequestHeader, SetAclRequest, SetDataRequest,
    SetWatches, SetWatches2, WatchesRequest, err, flags, op,
};
pub(crate) use super::reply::{event_frames, header_frame, record_frame, reply, zk_code, zk_stat};
use coord_proto::proto::{self, request::Op as Req};

/// The native xid of a ZooKeeper request: its opcode in the high half, its
/// xid in the low half, so the reply can be rebuilt from the response.
pub(crate) fn pack_xid(opcode: i32, xid: i32) -> u64 {
    (u64::from(opcode as u32) << 32) | u64::from(xid as u32)
}

/// The (opcode, xid) a native xid packs.
pub(crate) fn unpack_xid(native: u64) -> (i32, i32) {
    ((native >> 32) as u32 as i32, native as u32 as i32)
}

/// What coord does with one ZooKeeper request.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Served by the native paths.
    Native(proto::Request),
    /// Answered by the ZooKeeper listener itself, at its turn.
    Local { xid: i32, op: Local },
}

/// Requests answered by `local`.
#[derive(Debug)]
pub(crate) enum Local {
    /// An auth packet of a scheme coord does not take: AUTHFAILED, then
    /// the connection closes, as in ZooKeeper.
    Auth {
        scheme: String,
    },
    GetEphemerals(String),
    GetAllChildrenNumber(String),
    CheckWatches(WatchesRequest),
    /// getData / getChildren ops read at one state, each with its own
    /// result or error.
    MultiRead(Vec<MultiOp>),
    /// Answered with this error code at once (an opcode coord does not
    /// serve, an ACL it cannot keep, a bad argument); `why` goes to the log.
    Refuse {
        opcode: i32,
        code: i32,
        why: String,
    },
}

/// Decodes one request frame (header and body); `max_multi_ops` is asked
/// only for a multi (it reads the replicated limits).
pub(crate) fn decode_request(
    frame: Bytes,
    zk: &ZkConn,
    max_multi_ops: impl Fn() -> usize,
) -> Result<Decoded, JuteError> {
    let mut r = Reader::new(frame);
    let h = RequestHeader::read(&mut r, "RequestHeader")?;
    let native = |o: Req| {
        Decoded::Native(proto::Request {
            xid: pack_xid(h.op, h.xid),
            min_zxid: 0,
            op: Some(o),
        })
    };
    let local = |o: Local| Decoded::Local { xid: h.xid, op: o };
    let refuse = |code: i32, why: String| {
        local(Local::Refuse {
            opcode: h.op,
            code,
            why,
        })
    };
    let decoded = match h.op {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            let (c, ttl) = if h.op == op::CREATE_TTL {
                let t = CreateTtlRequest::read(&mut r, "CreateTTLRequest")?;
                let c = CreateRequest {
                    path: t.path,
                    data: t.data,
                    acl: t.acl,
                    flags: t.flags,
                };
                (c, t.ttl)
            } else {
                (CreateRequest::read(&mut r, "CreateRequest")?, 0)
            };
            match native_create(h.op, c.path, c.data, &c.acl, c.flags, ttl) {
                Ok(c) => native(Req::Create(c)),
                Err((code, why)) => refuse(code, why),
            }
        }
        op::DELETE => {
            let d = DeleteRequest::read(&mut r, "DeleteRequest")?;
            native(Req::Delete(proto::DeleteRequest {
                path: d.path,
                version: d.version,
            }))
        }
        op::EXISTS => {
            let e = PathWatch::read(&mut r, "ExistsRequest")?;
            native(Req::Exists(proto::ExistsRequest {
                path: e.path,
                watch: e.watch,
            }))
        }
        op::GET_DATA => {
            let g = PathWatch::read(&mut r, "GetDataRequest")?;
            native(Req::GetData(proto::GetDataRequest {
                path: g.path,
                watch: g.watch,
            }))
        }
        op::SET_DATA => {
            let s = SetDataRequest::read(&mut r, "SetDataRequest")?;
            native(Req::SetData(proto::SetDataRequest {
                path: s.path,
                data: s.data.unwrap_or_default(),
                version: s.version,
            }))
        }
        op::GET_CHILDREN | op::GET_CHILDREN2 => {
            let g = PathWatch::read(&mut r, "GetChildrenRequest")?;
            native(Req::GetChildren(proto::GetChildrenRequest {
                path: g.path,
                watch: g.watch,
                ..Default::default()
            }))
        }
        op::SYNC => {
            let s = PathOnly::read(&mut r, "SyncRequest")?;
            zk.remember_sync(h.xid, s.path.clone());
            native(Req::Sync(proto::SyncRequest { path: s.path }))
        }
        op::PING => native(Req::Ping(proto::PingRequest {})),
        op::CLOSE_SESSION => native(Req::CloseSession(proto::CloseSessionRequest {})),
        op::MULTI => {
            let ops = rec::decode_multi(&mut r, max_multi_ops())?;
            match native_multi(ops) {
                Ok((m, creates)) => {
                    zk.remember_multi(h.xid, creates);
                    native(Req::Multi(m))
                }
                Err((code, why)) => refuse(code, why),
            }
        }
        op::MULTI_READ => {
            let ops = rec::decode_multi(&mut r, max_multi_ops())?;
            if ops.iter().all(|o| matches!(o, MultiOp::Read(..))) {
                local(Local::MultiRead(ops))
            } else {
                refuse(err::BAD_ARGUMENTS, "multiRead with a write op".into())
            }
        }
        op::SET_WATCHES => {
            let s = SetWatches::read(&mut r, "SetWatches")?;
            native(Req::SetWatches(proto::SetWatchesRequest {
                last_zxid: s.relative_zxid.max(0) as u64,
                data: s.data,
                exist: s.exist,
                children: s.child,
                ..Default::default()
            }))
        }
        op::SET_WATCHES2 => {
            let s = SetWatches2::read(&mut r, "SetWatches2")?;
            native(Req::SetWatches(proto::SetWatchesRequest {
                last_zxid: s.relative_zxid.max(0) as u64,
                data: s.data,
                exist: s.exist,
                children: s.child,
                persistent: s.persistent,
                persistent_recursive: s.persistent_recursive,
            }))
        }
        op::ADD_WATCH => {
            let a = AddWatchRequest::read(&mut r, "AddWatchRequest")?;
            let mode = match a.mode {
                0 => proto::WatchMode::Persistent,
                1 => proto::WatchMode::PersistentRecursive,
                m => return Ok(refuse(err::BAD_ARGUMENTS, format!("addWatch mode {m}"))),
            };
            native(Req::AddWatch(proto::AddWatchRequest {
                path: a.path,
                mode: mode as i32,
            }))
        }
        op::REMOVE_WATCHES => {
            let w = WatchesRequest::read(&mut r, "RemoveWatchesRequest")?;
            match native_watcher_type(w.kind) {
                Some(t) => native(Req::RemoveWatches(proto::RemoveWatchesRequest {
                    path: w.path,
                    watcher_type: t as i32,
                })),
                None => refuse(err::BAD_ARGUMENTS, format!("watcher type {}", w.kind)),
            }
        }
        op::CHECK_WATCHES => local(Local::CheckWatches(WatchesRequest::read(
            &mut r,
            "CheckWatchesRequest",
        )?)),
        op::GET_ACL => native(Req::GetAcl(proto::GetAclRequest {
            path: PathOnly::read(&mut r, "GetACLRequest")?.path,
        })),
        op::SET_ACL => {
            let s = SetAclRequest::read(&mut r, "SetACLRequest")?;
            match native_acl(&s.acl, &s.path) {
                Ok(acl) => native(Req::SetAcl(proto::SetAclRequest {
                    path: s.path,
                    acl,
                    version: s.version,
                })),
                Err((code, why)) => refuse(code, why),
            }
        }
        op::AUTH => {
            let a = rec::AuthPacket::read(&mut r, "AuthPacket")?;
            if a.scheme == "digest" || a.scheme == "token" {
                native(Req::AddAuth(proto::AddAuthRequest {
                    scheme: a.scheme,
                    credentials: a.auth.unwrap_or_default(),
                }))
            } else {
                local(Local::Auth { scheme: a.scheme })
            }
        }
        op::WHO_AM_I => native(Req::WhoAmI(proto::WhoAmIRequest {})),
        op::GET_EPHEMERALS => local(Local::GetEphemerals(
            PathOnly::read(&mut r, "GetEphemeralsRequest")?.path,
        )),
        op::GET_ALL_CHILDREN_NUMBER => local(Local::GetAllChildrenNumber(
            PathOnly::read(&mut r, "GetAllChildrenNumberRequest")?.path,
        )),
        other => {
            // The body is not read: its shape is unknown or unused here.
            return Ok(refuse(
                err::UNIMPLEMENTED,
                format!("opcode {other} ({}) is not served by coord", op_name(other)),
            ));
        }
    };
    r.finish(op_name(h.op))?;
    Ok(decoded)
}

/// A name for logs.
pub(crate) fn op_name(opcode: i32) -> &'static str {
    match opcode {
        op::CREATE => "create",
        op::DELETE => "delete",
        op::EXISTS => "exists",
        op::GET_DATA => "getData",
        op::SET_DATA => "setData",
        op::GET_ACL => "getACL",
        op::SET_ACL => "setACL",
        op::GET_CHILDREN => "getChildren",
        op::SYNC => "sync",
        op::PING => "ping",
        op::GET_CHILDREN2 => "getChildren2",
        op::CHECK => "check",
        op::MULTI => "multi",
        op::CREATE2 => "create2",
        op::RECONFIG => "reconfig",
        op::CHECK_WATCHES => "checkWatches",
        op::REMOVE_WATCHES => "removeWatches",
        op::CREATE_CONTAINER => "createContainer",
        op::DELETE_CONTAINER => "deleteContainer",
        op::CREATE_TTL => "createTTL",
        op::MULTI_READ => "multiRead",
        op::AUTH => "auth",
        op::SET_WATCHES => "setWatches",
        op::SASL => "sasl",
        op::GET_EPHEMERALS => "getEphemerals",
        op::GET_ALL_CHILDREN_NUMBER => "getAllChildrenNumber",
        op::SET_WATCHES2 => "setWatches2",
        op::ADD_WATCH => "addWatch",
        op::WHO_AM_I => "whoAmI",
        op::CREATE_SESSION => "createSession",
        op::CLOSE_SESSION => "closeSession",
        _ => "unknown",
    }
}

/// A ZooKeeper ACL list as the native protocol carries it. ZooKeeper
/// refuses an empty list (INVALID_ACL); every other check (schemes, ids,
/// `auth` expansion) is made where the list is applied, as for a native
/// client.
pub(crate) fn native_acl(acl: &[Acl], path: &str) -> Result<Vec<proto::Acl>, Refusal> {
    if acl.is_empty() {
        return Err((err::INVALID_ACL, format!("empty ACL for {path}")));
    }
    Ok(acl
        .iter()
        .map(|a| proto::Acl {
            perms: u32::try_from(a.perms).unwrap_or(0),
            scheme: a.id.scheme.clone(),
            id: a.id.id.clone(),
        })
        .collect())
}

/// A native ACL list in ZooKeeper's records.
pub(crate) fn zk_acl(acl: Vec<proto::Acl>) -> Vec<Acl> {
    acl.into_iter()
        .map(|a| Acl {
            perms: i32::try_from(a.perms).unwrap_or(0),
            id: rec::Id {
                scheme: a.scheme,
                id: a.id,
            },
        })
        .collect()
}

/// The largest TTL ZooKeeper accepts (`EphemeralType.MAX_TTL`).
const MAX_TTL_MS: i64 = 0x00FF_FFFF_FFFF;

fn native_create(
    opcode: i32,
    path: String,
    data: Option<Bytes>,
    acl: &[Acl],
    zk_flags: i32,
    ttl: i64,
) -> Result<proto::CreateRequest, Refusal> {
    let native_acl = native_acl(acl, &path)?;
    use proto::NodeKind as K;
    let (kind, sequential) = match zk_flags {
        flags::PERSISTENT => (K::Persistent, false),
        flags::EPHEMERAL => (K::Ephemeral, false),
        flags::PERSISTENT_SEQUENTIAL => (K::Persistent, true),
        flags::EPHEMERAL_SEQUENTIAL => (K::Ephemeral, true),
        flags::CONTAINER => (K::Container, false),
        flags::PERSISTENT_WITH_TTL => (K::Ttl, false),
        flags::PERSISTENT_SEQUENTIAL_WITH_TTL => (K::Ttl, true),
        f => return Err((err::BAD_ARGUMENTS, format!("create flags {f} for {path}"))),
    };
    let is_ttl = kind == K::Ttl;
    // As ZooKeeper: containers only through createContainer, TTLs only
    // through createTTL with a TTL in range.
    if (opcode == op::CREATE_TTL) != is_ttl
        || (opcode == op::CREATE_CONTAINER) != (kind == K::Container)
    {
        return Err((
            err::BAD_ARGUMENTS,
            format!(
                "create flags {zk_flags} with {} for {path}",
                op_name(opcode)
            ),
        ));
    }
    if is_ttl && !(1..=MAX_TTL_MS).contains(&ttl) {
        return Err((err::BAD_ARGUMENTS, format!("TTL {ttl} ms for {path}")));
    }
    Ok(proto::CreateRequest {
        path,
        data: data.unwrap_or_default(),
        mode: Some(proto::CreateMode {
            kind: kind as i32,
            sequential,
            ttl_ms: if is_ttl { ttl as u64 } else { 0 },
        }),
        return_predecessor: false,
        acl: native_acl,
    })
}

/// Why a request is answered with an error code without reaching the
/// native paths: the code, and what goes to the log.
type Refusal = (i32, String);

/// A multi as a native one, and the create opcodes of its ops (`None` for
/// the others), which decide the shape of each create's result.
fn native_multi(ops: Vec<MultiOp>) -> Result<(proto::MultiRequest, CreateOpcodes), Refusal> {
    use proto::op::Op as P;
    let mut out = Vec::with_capacity(ops.len());
    let mut creates = Vec::with_capacity(ops.len());
    for o in ops {
        let (native, create) = match o {
            MultiOp::Create(opcode, c) => (
                P::Create(native_create(opcode, c.path, c.data, &c.acl, c.flags, 0)?),
                Some(opcode),
            ),
            MultiOp::CreateTtl(c) => (
                P::Create(native_create(
                    op::CREATE_TTL,
                    c.path,
                    c.data,
                    &c.acl,
                    c.flags,
                    c.ttl,
                )?),
                Some(op::CREATE_TTL),
            ),
            MultiOp::Delete(d) => (
                P::Delete(proto::DeleteRequest {
                    path: d.path,
                    version: d.version,
                }),
                None,
            ),
            MultiOp::SetData(s) => (
                P::SetData(proto::SetDataRequest {
                    path: s.path,
                    data: s.data.unwrap_or_default(),
                    version: s.version,
                }),
                None,
            ),
            MultiOp::Check(CheckVersionRequest { path, version }) => {
                (P::Check(proto::CheckRequest { path, version }), None)
            }
            MultiOp::Read(..) => {
                return Err((err::BAD_ARGUMENTS, "a read op inside a multi".into()));
            }
        };
        out.push(proto::Op { op: Some(native) });
        creates.push(create);
    }
    Ok((proto::MultiRequest { ops: out }, creates))
}

/// The protocol form of [`watcher_type`], for removeWatches.
fn native_watcher_type(kind: i32) -> Option<proto::WatcherType> {
    watcher_type(kind).map(proto::WatcherType::from)
}

/// The native watcher type of a ZooKeeper one (checkWatches, removeWatches).
pub(crate) fn watcher_type(kind: i32) -> Option<coord_proto::WatcherType> {
    use coord_proto::WatcherType as W;
    use rec::watcher_type as T;
    Some(match kind {
        T::CHILDREN => W::Children,
        T::DATA => W::Data,
        T::ANY => W::Any,
        T::PERSISTENT => W::Persistent,
        T::PERSISTENT_RECURSIVE => W::PersistentRecursive,
        _ => return None,
    })
}

/// The opcode of each create in a multi (`None` for its other ops).
pub(crate) type CreateOpcodes = Vec<Option<i32>>;

/// What a reply needs besides the native response.
#[derive(Debug)]
pub(crate) enum Context {
    Sync(String),
    Multi(CreateOpcodes),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_xids_keep_negative_opcodes_and_xids() {
        for (o, x) in [
            (1, 7),
            (-11, 3),
            (op::PING, -2),
            (op::SET_WATCHES, -8),
            (0, i32::MIN),
        ] {
            assert_eq!(unpack_xid(pack_xid(o, x)), (o, x));
        }
    }

    #[test]
    fn acl_lists_pass_to_the_native_protocol_and_an_empty_one_is_invalid() {
        let read_only = Acl {
            perms: 1,
            id: rec::Id {
                scheme: "digest".into(),
                id: "alice:abc=".into(),
            },
        };
        let native = native_acl(std::slice::from_ref(&read_only), "/a").unwrap();
        assert_eq!(
            native,
            vec![proto::Acl {
                perms: 1,
                scheme: "digest".into(),
                id: "alice:abc=".into()
            }]
        );
        assert_eq!(zk_acl(native), vec![read_only]);
        assert_eq!(native_acl(&[], "/a").unwrap_err().0, err::INVALID_ACL);
    }

    #[test]
    fn create_flags_must_match_the_opcode() {
        let acl = [Acl {
            perms: rec::perms::ALL,
            id: rec::Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }];
        let c = |opcode, f, ttl| native_create(opcode, "/a".into(), None, &acl, f, ttl);
        let seq = c(op::CREATE, flags::EPHEMERAL_SEQUENTIAL, 0).unwrap();
        let mode = seq.mode.unwrap();
        assert_eq!(mode.kind, proto::NodeKind::Ephemeral as i32);
        assert!(mode.sequential);
        assert!(c(op::CREATE, flags::CONTAINER, 0).is_err());
        assert!(c(op::CREATE_CONTAINER, flags::CONTAINER, 0).is_ok());
        assert!(c(op::CREATE, flags::PERSISTENT_WITH_TTL, 0).is_err());
        assert!(c(op::CREATE_TTL, flags::PERSISTENT_WITH_TTL, 0).is_err());
        assert_eq!(
            c(op::CREATE_TTL, flags::PERSISTENT_WITH_TTL, 500)
                .unwrap()
                .mode
                .unwrap()
                .ttl_ms,
            500
        );
        assert_eq!(c(op::CREATE, 99, 0).unwrap_err().0, err::BAD_ARGUMENTS);
    }
}
