//! Request dispatch: turning a decoded request into either a submitted write
//! (a Command enqueued in the log, in the session's order) or a read run at
//! its turn, and shaping every answer as a `proto::Response` frame.
//!
//! Cheap pre-checks (path syntax, data size) run here so garbage never reaches
//! the log; they depend only on the request and the replicated limits, so they
//! agree with what `apply` would decide.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use super::Shared;
use super::connection::server_frame;
use crate::config::Limits;
use crate::error::Error;
use crate::state_machine::{Command, CommandKind, CommandResult, Op, OpResult, Outcome};
use crate::tree::validate_path;
use crate::watch::{ConnId, WatchKind};
use coord_proto::proto::{self, request::Op as Req, response::Result as Res};
use coord_proto::wire::{
    create_from_proto, ops_from_proto, watch_mode_from_proto, watcher_type_from_proto,
};

/// How long a read may wait for this server to catch up with the client.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

type WriteFuture = Pin<Box<dyn Future<Output = Result<Outcome, Error>> + Send>>;

/// Which kind of write a pending outcome answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteKind {
    /// A create; `true` when the client asked for the new node's predecessor.
    Create(bool),
    Delete,
    SetData,
    Multi,
    CloseSession,
}

/// A request admitted by the reader, answered by the responder in order.
pub(crate) enum Pending {
    /// Already answered (a pre-check failed).
    Ready(Bytes),
    /// Enqueued in the log; the future resolves once applied.
    Write {
        xid: u64,
        kind: WriteKind,
        outcome: WriteFuture,
    },
    /// Runs when its turn comes, after every earlier request was answered.
    Read { xid: u64, min_zxid: u64, op: Req },
}

fn error_frame(xid: u64, zxid: u64, e: &Error) -> Bytes {
    server_frame(proto::server_message::Body::Response(proto::Response {
        xid,
        zxid,
        error: Some(e.into()),
        result: None,
    }))
}

fn ok_frame(xid: u64, zxid: u64, result: Res) -> Bytes {
    server_frame(proto::server_message::Body::Response(proto::Response {
        xid,
        zxid,
        error: None,
        result: Some(result),
    }))
}

/// The limits `apply` enforces now (replicated; never this server's flags, so
/// a pre-check cannot refuse what `apply` would accept).
fn replicated_limits(shared: &Shared) -> Limits {
    shared.read_sm().limits().clone()
}

fn check_path(shared: &Shared, path: &str) -> Result<(), Error> {
    validate_path(path, replicated_limits(shared).max_path_bytes)
}

fn check_op(shared: &Shared, op: &Op) -> Result<(), Error> {
    let limits = &replicated_limits(shared);
    match op {
        // A sequential prefix may end in '/', so the path is checked in apply.
        Op::Create { mode, .. } if mode.is_sequential() => {}
        other => check_path(shared, other.path())?,
    }
    if let Op::Create { data, path, .. } | Op::SetData { data, path, .. } = op
        && data.len() > limits.max_data_bytes
    {
        return Err(Error::TooLarge(format!(
            "data for {path} is {} bytes, limit max_data_bytes = {}",
            data.len(),
            limits.max_data_bytes
        )));
    }
    Ok(())
}

/// Admits one request. Writes are submitted to the log here, so a session's
/// writes enter the log in the order it sent them. `Err` closes the
/// connection (protocol violation).
pub(crate) async fn admit(
    shared: &Shared,
    session: u64,
    request: proto::Request,
) -> Result<Pending, Error> {
    let xid = request.xid;
    let Some(op) = request.op else {
        return Err(Error::Protocol(format!(
            "request {xid} has no operation (unknown type?)"
        )));
    };
    let (kind, command) = match op {
        Req::Create(c) => (
            WriteKind::Create(c.return_predecessor),
            create_from_proto(c).map(CommandKind::Op),
        ),
        Req::Delete(d) => (
            WriteKind::Delete,
            Ok(CommandKind::Op(Op::Delete {
                path: d.path,
                version: d.version,
            })),
        ),
        Req::SetData(s) => (
            WriteKind::SetData,
            Ok(CommandKind::Op(Op::SetData {
                path: s.path,
                data: s.data,
                version: s.version,
            })),
        ),
        Req::Multi(m) => (WriteKind::Multi, multi_command(shared, m)),
        Req::CloseSession(_) => (WriteKind::CloseSession, Ok(CommandKind::CloseSession)),
        other => {
            return Ok(Pending::Read {
                xid,
                min_zxid: request.min_zxid,
                op: other,
            });
        }
    };
    let checked = command.and_then(|c| {
        if let CommandKind::Op(op) = &c {
            check_op(shared, op)?;
        }
        Ok(c)
    });
    let kind_cmd = match checked {
        Ok(c) => c,
        Err(e) => {
            return Ok(Pending::Ready(error_frame(
                xid,
                *shared.applied.borrow(),
                &e,
            )));
        }
    };
    let cmd = Command {
        session_id: session,
        time_ms: shared.now_ms(),
        kind: kind_cmd,
    };
    match shared.replica.submit(cmd).await {
        Ok(fut) => Ok(Pending::Write {
            xid,
            kind,
            outcome: Box::pin(fut),
        }),
        Err(e) => Ok(Pending::Ready(error_frame(
            xid,
            *shared.applied.borrow(),
            &e,
        ))),
    }
}

fn multi_command(shared: &Shared, m: proto::MultiRequest) -> Result<CommandKind, Error> {
    let limit = replicated_limits(shared).max_multi_ops;
    if m.ops.len() > limit {
        return Err(Error::TooLarge(format!(
            "multi has {} ops, limit max_multi_ops = {limit}",
            m.ops.len()
        )));
    }
    let ops = ops_from_proto(m.ops)?;
    for (i, op) in ops.iter().enumerate() {
        check_op(shared, op)
            .map_err(|e| Error::from_code(e.code(), format!("op #{i}: {}", e.detail())))?;
    }
    Ok(CommandKind::Multi(ops))
}

/// Produces the answer frame for one admitted request; `true` when the
/// connection must close after it (the session was closed).
pub(crate) async fn complete(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    item: Pending,
) -> (Bytes, bool) {
    match item {
        Pending::Ready(frame) => (frame, false),
        Pending::Write { xid, kind, outcome } => {
            let outcome = outcome.await;
            let close = matches!(kind, WriteKind::CloseSession) && outcome.is_ok();
            (write_response(shared, xid, kind, outcome), close)
        }
        Pending::Read { xid, min_zxid, op } => (
            read_response(shared, conn, session, xid, min_zxid, op).await,
            false,
        ),
    }
}

fn write_response(
    shared: &Shared,
    xid: u64,
    kind: WriteKind,
    outcome: Result<Outcome, Error>,
) -> Bytes {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return error_frame(xid, *shared.applied.borrow(), &e),
    };
    let zxid = outcome.zxid;
    let result = match outcome.result {
        Ok(r) => r,
        Err(e) => return error_frame(xid, zxid, &e),
    };
    let body = match (kind, result) {
        (_, CommandResult::Op(OpResult::Error(e))) => return error_frame(xid, zxid, &e),
        (
            WriteKind::Create(with_predecessor),
            CommandResult::Op(OpResult::Create { path, stat }),
        ) => {
            let predecessor = if with_predecessor {
                predecessor_of(shared, &path)
            } else {
                String::new()
            };
            Res::Create(proto::CreateResponse {
                path,
                stat: Some((&stat).into()),
                predecessor,
            })
        }
        (WriteKind::Delete, CommandResult::Op(OpResult::Delete)) => Res::Delete(proto::Empty {}),
        (WriteKind::SetData, CommandResult::Op(OpResult::SetData { stat })) => {
            Res::SetData(proto::StatResponse {
                stat: Some((&stat).into()),
            })
        }
        (WriteKind::Multi, CommandResult::Multi(results)) => Res::Multi(proto::MultiResponse {
            results: results.iter().map(proto::OpResult::from).collect(),
        }),
        (WriteKind::CloseSession, CommandResult::SessionClosed) => {
            Res::CloseSession(proto::Empty {})
        }
        (kind, other) => {
            let e = Error::Internal(format!("{kind:?} produced unexpected result {other:?}"));
            return error_frame(xid, zxid, &e);
        }
    };
    ok_frame(xid, zxid, body)
}

/// The sibling just ahead of `path` in sequence order, read after the create
/// was applied. Reading later than the create is safe for the line recipes:
/// sequence numbers only grow, so every node ahead of ours existed before it,
/// and one that has gone since is simply no longer ahead.
fn predecessor_of(shared: &Shared, path: &str) -> String {
    let (parent, name) = match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => return String::new(),
    };
    let Ok((children, _)) = shared.read_sm().children(parent) else {
        return String::new();
    };
    coord_proto::sequence::predecessor(&children, "", name)
        .map(str::to_string)
        .unwrap_or_default()
}

/// Waits until this server has applied `zxid` (bounded).
pub(crate) async fn wait_applied(shared: &Shared, zxid: u64) -> Result<(), Error> {
    if *shared.applied.borrow() >= zxid {
        return Ok(());
    }
    let mut rx = shared.applied.clone();
    match tokio::time::timeout(CATCH_UP_TIMEOUT, rx.wait_for(|z| *z >= zxid)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(Error::ShuttingDown("server is stopping".into())),
        Err(_) => Err(Error::OperationTimeout(format!(
            "this server has not reached zxid {zxid} within {CATCH_UP_TIMEOUT:?}"
        ))),
    }
}

async fn read_response(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    xid: u64,
    min_zxid: u64,
    op: Req,
) -> Bytes {
    if let Err(e) = wait_applied(shared, min_zxid).await {
        return error_frame(xid, *shared.applied.borrow(), &e);
    }
    match op {
        Req::Sync(s) => {
            if let Err(e) = check_path(shared, &s.path) {
                return error_frame(xid, *shared.applied.borrow(), &e);
            }
            match shared.replica.ensure_linearizable().await {
                Ok(()) => ok_frame(xid, *shared.applied.borrow(), Res::Sync(proto::Empty {})),
                Err(e) => error_frame(xid, *shared.applied.borrow(), &e),
            }
        }
        Req::Ping(_) => ok_frame(xid, *shared.applied.borrow(), Res::Ping(proto::Empty {})),
        other => read_now(shared, conn, session, xid, other),
    }
}

/// Runs a read under the state's read lock, registering its watch under the
/// same lock so the next change cannot slip between read and registration.
fn read_now(shared: &Shared, conn: ConnId, _session: u64, xid: u64, op: Req) -> Bytes {
    let sm = shared.read_sm();
    let zxid = sm.last_zxid();
    let watches = &shared.watches;
    let result: Result<Res, Error> = match op {
        Req::Exists(r) => sm.exists(&r.path).map(|stat| {
            if r.watch {
                let kind = if stat.is_some() {
                    WatchKind::Data
                } else {
                    WatchKind::Exist
                };
                watches.add(conn, &r.path, kind);
            }
            Res::Exists(proto::ExistsResponse {
                stat: stat.as_ref().map(Into::into),
            })
        }),
        Req::GetData(r) => sm.get(&r.path).map(|(data, stat)| {
            if r.watch {
                watches.add(conn, &r.path, WatchKind::Data);
            }
            Res::GetData(proto::GetDataResponse {
                data,
                stat: Some((&stat).into()),
            })
        }),
        Req::GetChildren(r) => coord_proto::wire::list_children_from_proto(r).and_then(|req| {
            let page = sm.list_children(&req, shared.cfg.max_listing_bytes)?;
            // One child watch covers the whole directory, whichever page set it.
            if req.watch {
                watches.add(conn, &req.path, WatchKind::Child);
            }
            Ok(Res::GetChildren(page.into()))
        }),
        Req::AddWatch(r) => check_path(shared, &r.path)
            .and_then(|()| watch_mode_from_proto(r.mode))
            .map(|mode| {
                watches.add(conn, &r.path, mode.into());
                Res::AddWatch(proto::Empty {})
            }),
        Req::RemoveWatches(r) => {
            let which = watcher_type_from_proto(r.watcher_type);
            which.and_then(|which| {
                if watches.remove(conn, &r.path, which) {
                    Ok(Res::RemoveWatches(proto::Empty {}))
                } else {
                    Err(Error::NoWatcher(format!(
                        "no {which:?} watch on {}",
                        r.path
                    )))
                }
            })
        }
        Req::SetWatches(r) => {
            crate::watch::set_watches(watches, &sm, conn, &r);
            Ok(Res::SetWatches(proto::Empty {}))
        }
        other => Err(Error::Internal(format!("not a read: {other:?}"))),
    };
    match result {
        Ok(body) => ok_frame(xid, zxid, body),
        Err(e) => error_frame(xid, zxid, &e),
    }
}
