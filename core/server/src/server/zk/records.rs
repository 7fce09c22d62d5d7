//! The records of ZooKeeper's client protocol (`zookeeper.jute`, 3.5-3.9)
//! that coord reads or writes, the opcodes, error codes, event types and
//! create flags, and the two records with a shape of their own: the multi
//! request and response. Pure data: what they mean for coord is `convert`'s.

use bytes::{BufMut, Bytes, BytesMut};

use super::jute::{Jute, JuteError, Reader, record};

/// Opcodes (`ZooDefs.OpCode`).
pub(crate) mod op {
    pub(crate) const CREATE: i32 = 1;
    pub(crate) const DELETE: i32 = 2;
    pub(crate) const EXISTS: i32 = 3;
    pub(crate) const GET_DATA: i32 = 4;
    pub(crate) const SET_DATA: i32 = 5;
    pub(crate) const GET_ACL: i32 = 6;
    pub(crate) const SET_ACL: i32 = 7;
    pub(crate) const GET_CHILDREN: i32 = 8;
    pub(crate) const SYNC: i32 = 9;
    pub(crate) const PING: i32 = 11;
    pub(crate) const GET_CHILDREN2: i32 = 12;
    pub(crate) const CHECK: i32 = 13;
    pub(crate) const MULTI: i32 = 14;
    pub(crate) const CREATE2: i32 = 15;
    pub(crate) const RECONFIG: i32 = 16;
    pub(crate) const CHECK_WATCHES: i32 = 17;
    pub(crate) const REMOVE_WATCHES: i32 = 18;
    pub(crate) const CREATE_CONTAINER: i32 = 19;
    pub(crate) const DELETE_CONTAINER: i32 = 20;
    pub(crate) const CREATE_TTL: i32 = 21;
    pub(crate) const MULTI_READ: i32 = 22;
    pub(crate) const AUTH: i32 = 100;
    pub(crate) const SET_WATCHES: i32 = 101;
    pub(crate) const SASL: i32 = 102;
    pub(crate) const GET_EPHEMERALS: i32 = 103;
    pub(crate) const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub(crate) const SET_WATCHES2: i32 = 105;
    pub(crate) const ADD_WATCH: i32 = 106;
    pub(crate) const WHO_AM_I: i32 = 107;
    pub(crate) const CREATE_SESSION: i32 = -10;
    pub(crate) const CLOSE_SESSION: i32 = -11;
    pub(crate) const ERROR: i32 = -1;
}

/// Special xids (`ClientCnxn`): requests and replies that are not numbered.
pub(crate) mod xid {
    pub(crate) const NOTIFICATION: i32 = -1;
}

/// Error codes (`KeeperException.Code`) coord sends.
pub(crate) mod err {
    pub(crate) const OK: i32 = 0;
    pub(crate) const SYSTEM_ERROR: i32 = -1;
    pub(crate) const RUNTIME_INCONSISTENCY: i32 = -2;
    pub(crate) const CONNECTION_LOSS: i32 = -4;
    pub(crate) const MARSHALLING_ERROR: i32 = -5;
    pub(crate) const UNIMPLEMENTED: i32 = -6;
    pub(crate) const OPERATION_TIMEOUT: i32 = -7;
    pub(crate) const BAD_ARGUMENTS: i32 = -8;
    pub(crate) const NO_NODE: i32 = -101;
    pub(crate) const NO_AUTH: i32 = -102;
    pub(crate) const BAD_VERSION: i32 = -103;
    pub(crate) const NO_CHILDREN_FOR_EPHEMERALS: i32 = -108;
    pub(crate) const NODE_EXISTS: i32 = -110;
    pub(crate) const NOT_EMPTY: i32 = -111;
    pub(crate) const SESSION_EXPIRED: i32 = -112;
    pub(crate) const INVALID_ACL: i32 = -114;
    pub(crate) const AUTH_FAILED: i32 = -115;
    pub(crate) const SESSION_MOVED: i32 = -118;
    pub(crate) const NO_WATCHER: i32 = -121;
    /// ZooKeeper 3.8's `QUOTAEXCEEDED` (hard quotas).
    pub(crate) const QUOTA_EXCEEDED: i32 = -125;
}

/// Watch event types (`Watcher.Event.EventType`).
pub(crate) mod event {
    pub(crate) const NODE_CREATED: i32 = 1;
    pub(crate) const NODE_DELETED: i32 = 2;
    pub(crate) const NODE_DATA_CHANGED: i32 = 3;
    pub(crate) const NODE_CHILDREN_CHANGED: i32 = 4;
    /// `KeeperState.SyncConnected`.
    pub(crate) const STATE_SYNC_CONNECTED: i32 = 3;
}

/// Create flags (`CreateMode`).
pub(crate) mod flags {
    pub(crate) const PERSISTENT: i32 = 0;
    pub(crate) const EPHEMERAL: i32 = 1;
    pub(crate) const PERSISTENT_SEQUENTIAL: i32 = 2;
    pub(crate) const EPHEMERAL_SEQUENTIAL: i32 = 3;
    pub(crate) const CONTAINER: i32 = 4;
    pub(crate) const PERSISTENT_WITH_TTL: i32 = 5;
    pub(crate) const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;
}

/// Watcher types of checkWatches / removeWatches (`Watcher.WatcherType`).
pub(crate) mod watcher_type {
    pub(crate) const CHILDREN: i32 = 1;
    pub(crate) const DATA: i32 = 2;
    pub(crate) const ANY: i32 = 3;
    pub(crate) const PERSISTENT: i32 = 4;
    pub(crate) const PERSISTENT_RECURSIVE: i32 = 5;
}

/// ACL permission bits (`ZooDefs.Perms`).
#[cfg(test)]
pub(crate) mod perms {
    pub(crate) const ALL: i32 = 31;
}

record!(
    /// The first frame of a connection. `read_only` is absent from clients
    /// older than 3.4 (see [`ConnectRequest::decode`]).
    ConnectRequestFields {
        protocol_version: i32,
        last_zxid_seen: i64,
        timeout: i32,
        session_id: i64,
        passwd: Option<Bytes>,
    }
);

/// The connect request, with the optional trailing read-only byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectRequest {
    pub(crate) fields: ConnectRequestFields,
    pub(crate) read_only: Option<bool>,
}

impl ConnectRequest {
    pub(crate) fn decode(frame: Bytes) -> Result<ConnectRequest, JuteError> {
        let mut r = Reader::new(frame);
        let fields = ConnectRequestFields::read(&mut r, "ConnectRequest")?;
        let read_only = match r.remaining() {
            0 => None,
            _ => Some(r.boolean("ConnectRequest.readOnly")?),
        };
        r.finish("ConnectRequest")?;
        Ok(ConnectRequest { fields, read_only })
    }

    #[cfg(test)]
    pub(crate) fn encode(&self, w: &mut BytesMut) {
        self.fields.write(w);
        if let Some(ro) = self.read_only {
            ro.write(w);
        }
    }
}

record!(
    /// The answer to a connect; always carries the read-only byte.
    ConnectResponse {
        protocol_version: i32,
        timeout: i32,
        session_id: i64,
        passwd: Option<Bytes>,
        read_only: bool,
    }
);

record!(RequestHeader { xid: i32, op: i32 });
record!(ReplyHeader {
    xid: i32,
    zxid: i64,
    err: i32
});

record!(
    /// A node's metadata, in ZooKeeper's field order.
    Stat {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        data_length: i32,
        num_children: i32,
        pzxid: i64,
    }
);

record!(Id {
    scheme: String,
    id: String
});
record!(Acl { perms: i32, id: Id });

record!(CreateRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32 });
record!(CreateTtlRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32, ttl: i64 });
record!(CreateResponse { path: String });
record!(Create2Response {
    path: String,
    stat: Stat
});
record!(DeleteRequest {
    path: String,
    version: i32
});
record!(PathWatch {
    path: String,
    watch: bool
});
record!(StatResponse { stat: Stat });
record!(GetDataResponse { data: Option<Bytes>, stat: Stat });
record!(SetDataRequest { path: String, data: Option<Bytes>, version: i32 });
record!(PathOnly { path: String });
record!(GetAclResponse { acl: Vec<Acl>, stat: Stat });
record!(SetAclRequest { path: String, acl: Vec<Acl>, version: i32 });
record!(GetChildrenResponse { children: Vec<String> });
record!(GetChildren2Response { children: Vec<String>, stat: Stat });
record!(CheckVersionRequest {
    path: String,
    version: i32
});
record!(WatchesRequest {
    path: String,
    kind: i32
});
record!(GetEphemeralsResponse { ephemerals: Vec<String> });
record!(GetAllChildrenNumberResponse { total: i32 });
record!(SetWatches {
    relative_zxid: i64,
    data: Vec<String>,
    exist: Vec<String>,
    child: Vec<String>,
});
record!(SetWatches2 {
    relative_zxid: i64,
    data: Vec<String>,
    exist: Vec<String>,
    child: Vec<String>,
    persistent: Vec<String>,
    persistent_recursive: Vec<String>,
});
record!(AddWatchRequest {
    path: String,
    mode: i32
});
record!(AuthPacket { kind: i32, scheme: String, auth: Option<Bytes> });
record!(ClientInfo {
    auth_scheme: String,
    user: String
});
record!(WhoAmIResponse { client_info: Vec<ClientInfo> });
record!(WatcherEvent {
    kind: i32,
    state: i32,
    path: String
});
// Read only to check captures: coord does not serve reconfig.
#[cfg(test)]
record!(ReconfigRequest {
    joining: Option<String>,
    leaving: Option<String>,
    new_members: Option<String>,
    cur_config_id: i64,
});
record!(MultiHeader {
    op: i32,
    done: bool,
    err: i32
});
record!(ErrorResult { err: i32 });

/// One operation of a multi request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MultiOp {
    /// create, create2 or createContainer (the opcode says which).
    Create(i32, CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    /// getChildren / getData inside a multiRead.
    Read(i32, PathWatch),
}

#[cfg(test)]
impl MultiOp {
    fn opcode(&self) -> i32 {
        match self {
            MultiOp::Create(op, _) | MultiOp::Read(op, _) => *op,
            MultiOp::CreateTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
        }
    }
}

/// The body of a multi (or multiRead) request: ops, each behind a header,
/// then a header with `done` set.
pub(crate) fn decode_multi(r: &mut Reader, max_ops: usize) -> Result<Vec<MultiOp>, JuteError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r, "MultiHeader")?;
        if h.done {
            return Ok(ops);
        }
        if ops.len() == max_ops {
            return Err(JuteError(format!(
                "multi has more than {max_ops} ops (max_multi_ops)"
            )));
        }
        let f = "multi op";
        ops.push(match h.op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                MultiOp::Create(h.op, CreateRequest::read(r, f)?)
            }
            op::CREATE_TTL => MultiOp::CreateTtl(CreateTtlRequest::read(r, f)?),
            op::DELETE => MultiOp::Delete(DeleteRequest::read(r, f)?),
            op::SET_DATA => MultiOp::SetData(SetDataRequest::read(r, f)?),
            op::CHECK => MultiOp::Check(CheckVersionRequest::read(r, f)?),
            op::GET_CHILDREN | op::GET_DATA => MultiOp::Read(h.op, PathWatch::read(r, f)?),
            other => {
                return Err(JuteError(format!(
                    "multi op #{} has opcode {other}",
                    ops.len()
                )));
            }
        });
    }
}

/// Writes a multi request body (the inverse of [`decode_multi`]).
#[cfg(test)]
pub(crate) fn encode_multi(ops: &[MultiOp], w: &mut BytesMut) {
    for o in ops {
        MultiHeader {
            op: o.opcode(),
            done: false,
            err: -1,
        }
        .write(w);
        match o {
            MultiOp::Create(_, c) => c.write(w),
            MultiOp::CreateTtl(c) => c.write(w),
            MultiOp::Delete(d) => d.write(w),
            MultiOp::SetData(s) => s.write(w),
            MultiOp::Check(c) => c.write(w),
            MultiOp::Read(_, p) => p.write(w),
        }
    }
    end_of_multi(w);
}

fn end_of_multi(w: &mut BytesMut) {
    MultiHeader {
        op: -1,
        done: true,
        err: -1,
    }
    .write(w);
}

/// One result of a multi response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MultiResult {
    Create(String),
    Create2(String, Stat),
    Delete,
    SetData(Stat),
    Check,
    Error(i32),
    /// multiRead results.
    GetData(GetDataResponse),
    GetChildren(GetChildrenResponse),
}

/// Writes a multi response body.
pub(crate) fn encode_multi_results(results: &[MultiResult], w: &mut BytesMut) {
    for r in results {
        let (opcode, err) = match r {
            MultiResult::Create(_) => (op::CREATE, 0),
            MultiResult::Create2(..) => (op::CREATE2, 0),
            MultiResult::Delete => (op::DELETE, 0),
            MultiResult::SetData(_) => (op::SET_DATA, 0),
            MultiResult::Check => (op::CHECK, 0),
            MultiResult::Error(e) => (op::ERROR, *e),
            MultiResult::GetData(_) => (op::GET_DATA, 0),
            MultiResult::GetChildren(_) => (op::GET_CHILDREN, 0),
        };
        MultiHeader {
            op: opcode,
            done: false,
            err,
        }
        .write(w);
        match r {
            MultiResult::Create(path) => path.write(w),
            MultiResult::Create2(path, stat) => {
                path.write(w);
                stat.write(w);
            }
            MultiResult::SetData(stat) => stat.write(w),
            MultiResult::Error(e) => ErrorResult { err: *e }.write(w),
            MultiResult::GetData(g) => g.write(w),
            MultiResult::GetChildren(g) => g.write(w),
            MultiResult::Delete | MultiResult::Check => {}
        }
    }
    end_of_multi(w);
}

/// Reads a multi response body (for tests and captured replies).
#[cfg(test)]
pub(crate) fn decode_multi_results(r: &mut Reader) -> Result<Vec<MultiResult>, JuteError> {
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::read(r, "MultiHeader")?;
        if h.done {
            return Ok(out);
        }
        out.push(match h.op {
            op::CREATE => MultiResult::Create(String::read(r, "CreateResponse.path")?),
            op::CREATE2 => MultiResult::Create2(
                String::read(r, "Create2Response.path")?,
                Stat::read(r, "Create2Response.stat")?,
            ),
            op::DELETE => MultiResult::Delete,
            op::SET_DATA => MultiResult::SetData(Stat::read(r, "SetDataResponse.stat")?),
            op::CHECK => MultiResult::Check,
            op::ERROR => MultiResult::Error(ErrorResult::read(r, "ErrorResult")?.err),
            op::GET_DATA => MultiResult::GetData(GetDataResponse::read(r, "GetDataResponse")?),
            op::GET_CHILDREN => {
                MultiResult::GetChildren(GetChildrenResponse::read(r, "GetChildrenResponse")?)
            }
            other => return Err(JuteError(format!("multi result with opcode {other}"))),
        });
    }
}

/// Replies up to this many bytes are encoded in the thread's scratch buffer
/// and copied out; larger ones keep the buffer they were encoded in.
const SCRATCH_REPLY_BYTES: usize = 4096;

thread_local! {
    /// Where a reply is encoded before it is copied out at its exact size.
    static REPLY_SCRATCH: std::cell::RefCell<BytesMut> =
        std::cell::RefCell::new(BytesMut::with_capacity(SCRATCH_REPLY_BYTES));
}

/// Encodes a whole reply frame (length prefix, header, body).
///
/// A small reply (a stat, a short value) is written into a buffer kept per
/// thread and copied out once at its exact size: one allocation per reply,
/// where growing a fresh buffer and freezing it took two or three.
pub(crate) fn reply_frame(header: &ReplyHeader, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    // Taken out for the encoding (leaving an empty buffer that allocates
    // nothing), so a body that encoded a reply of its own would not clash.
    let mut w = REPLY_SCRATCH.with(|s| s.take());
    w.clear();
    w.put_i32(0);
    header.write(&mut w);
    body(&mut w);
    let len = super::jute::len_i32(w.len() - 4);
    w[..4].copy_from_slice(&len.to_be_bytes());
    let frame = if w.len() <= SCRATCH_REPLY_BYTES {
        Bytes::copy_from_slice(&w)
    } else {
        // A large reply keeps the buffer it was encoded in.
        std::mem::replace(&mut w, BytesMut::with_capacity(SCRATCH_REPLY_BYTES)).freeze()
    };
    REPLY_SCRATCH.with(|s| s.replace(w));
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_request_round_trips_and_stops_at_the_done_header() {
        let ops = vec![
            MultiOp::Create(
                op::CREATE,
                CreateRequest {
                    path: "/a".into(),
                    data: Some(Bytes::from_static(b"x")),
                    acl: vec![Acl {
                        perms: perms::ALL,
                        id: Id {
                            scheme: "world".into(),
                            id: "anyone".into(),
                        },
                    }],
                    flags: flags::EPHEMERAL,
                },
            ),
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: 3,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/b".into(),
                version: -1,
            }),
        ];
        let mut w = BytesMut::new();
        encode_multi(&ops, &mut w);
        let mut r = Reader::new(w.freeze());
        assert_eq!(decode_multi(&mut r, 10).unwrap(), ops);
        r.finish("multi").unwrap();
    }

    #[test]
    fn a_multi_with_more_ops_than_allowed_is_refused_while_decoding() {
        let ops = vec![
            MultiOp::Delete(DeleteRequest {
                path: "/b".into(),
                version: -1,
            });
            5
        ];
        let mut w = BytesMut::new();
        encode_multi(&ops, &mut w);
        let e = decode_multi(&mut Reader::new(w.freeze()), 4).unwrap_err();
        assert!(e.0.contains("more than 4 ops"), "{e}");
    }

    #[test]
    fn a_connect_request_reads_with_and_without_the_read_only_byte() {
        let fields = ConnectRequestFields {
            protocol_version: 0,
            last_zxid_seen: 5,
            timeout: 10_000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
        };
        for read_only in [None, Some(false), Some(true)] {
            let c = ConnectRequest {
                fields: fields.clone(),
                read_only,
            };
            let mut w = BytesMut::new();
            c.encode(&mut w);
            assert_eq!(ConnectRequest::decode(w.freeze()).unwrap(), c);
        }
    }

    #[test]
    fn multi_results_round_trip() {
        let results = vec![
            MultiResult::Create("/a".into()),
            MultiResult::Create2("/b".into(), Stat::default()),
            MultiResult::Delete,
            MultiResult::SetData(Stat {
                version: 2,
                ..Stat::default()
            }),
            MultiResult::Check,
            MultiResult::Error(err::NO_NODE),
        ];
        let mut w = BytesMut::new();
        encode_multi_results(&results, &mut w);
        let mut r = Reader::new(w.freeze());
        assert_eq!(decode_multi_results(&mut r).unwrap(), results);
        r.finish("multi results").unwrap();
    }

    #[test]
    fn a_reply_frame_carries_its_length() {
        let f = reply_frame(
            &ReplyHeader {
                xid: 7,
                zxid: 9,
                err: 0,
            },
            |w| {
                StatResponse::default().write(w);
            },
        );
        assert_eq!(&f[..4], &(f.len() as i32 - 4).to_be_bytes());
        let mut r = Reader::new(f.slice(4..));
        let h = ReplyHeader::read(&mut r, "h").unwrap();
        assert_eq!((h.xid, h.zxid, h.err), (7, 9, 0));
        assert_eq!(
            StatResponse::read(&mut r, "s").unwrap(),
            StatResponse::default()
        );
    }

    #[test]
    fn replies_of_every_size_in_a_row_are_whole_and_small_ones_own_their_bytes() {
        let header = |xid| ReplyHeader {
            xid,
            zxid: 1,
            err: 0,
        };
        // Small, large (over the scratch buffer), then small again: nothing
        // of one reply may show up in the next.
        let sizes = [10, SCRATCH_REPLY_BYTES, 3 * SCRATCH_REPLY_BYTES, 0, 5];
        for (i, &n) in sizes.iter().enumerate() {
            let data = Bytes::from(vec![i as u8 + 1; n]);
            let f = reply_frame(&header(i as i32), |w| {
                GetDataResponse {
                    data: Some(data.clone()),
                    stat: Stat::default(),
                }
                .write(w)
            });
            assert_eq!(&f[..4], &(f.len() as i32 - 4).to_be_bytes(), "reply #{i}");
            if f.len() <= SCRATCH_REPLY_BYTES {
                assert!(
                    f.is_unique(),
                    "reply #{i} of {} bytes is a copy of its own",
                    f.len()
                );
            }
            let mut r = Reader::new(f.slice(4..));
            assert_eq!(ReplyHeader::read(&mut r, "h").unwrap().xid, i as i32);
            let got = GetDataResponse::read(&mut r, "g").unwrap();
            assert_eq!(got.data.as_deref(), Some(&data[..]), "reply #{i}");
            r.finish("reply").unwrap();
        }
    }
}
