//! Request dispatch: turning a decoded request into either a submitted write
//! (a Command enqueued in the log, in the session's order) or a read run at
//! its turn, and shaping every answer as a `proto::Response` frame.
//!
//! Cheap pre-checks (path syntax, data size) run here so garbage never reaches
//! the log; they depend only on the request and the replicated limits, so they
//! agree with what `apply` would decide. Counts that decode would allocate
//! for (ops of a multi, paths of a `SetWatches`) are checked on the frame's
//! shape before it is decoded ([`refuse_by_shape`]).
//!
//! A read runs only while its session is in the replicated table: once the
//! session is closed or expired, reads still queued get `SessionExpired`
//! (writes are refused by `apply` itself). Watch registrations are counted
//! per session against `max_watches_per_session` (`watch_requests`).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::metrics::OpKind;
use super::outbound::ConnSink;
use super::{Shared, acl_requests, shutting_down_error, watch_requests};
use crate::config::Limits;
use crate::error::Error;
use crate::state_machine::{
    Command, CommandKind, CommandResult, Listing, Op, OpResult, Outcome, StateMachine,
};
use crate::tree::validate_path;
use crate::watch::{ConnId, WatchKind};
use coord_proto::QuotaLimits;
use coord_proto::proto::{self, request::Op as Req, response::Result as Res};
use coord_proto::wire::{
    FrameShape, create_from_proto, ops_from_proto, watch_mode_from_proto, watcher_type_from_proto,
};

mod reads;

use reads::read_response;
pub(crate) use reads::wait_applied;

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
    SetAcl,
    AddAuth,
    SetQuota,
}

impl WriteKind {
    fn op_kind(self) -> OpKind {
        match self {
            WriteKind::Create(_) => OpKind::Create,
            WriteKind::Delete => OpKind::Delete,
            WriteKind::SetData => OpKind::SetData,
            WriteKind::Multi => OpKind::Multi,
            WriteKind::CloseSession => OpKind::CloseSession,
            WriteKind::SetQuota => OpKind::Quota,
            WriteKind::SetAcl | WriteKind::AddAuth => OpKind::Acl,
        }
    }
}

/// A request admitted by the reader, answered by the responder in order.
pub(crate) enum Pending {
    /// Already answered (a pre-check failed).
    Ready(proto::Response),
    /// Enqueued in the log; the future resolves once applied.
    Write {
        xid: u64,
        kind: WriteKind,
        outcome: WriteFuture,
        /// When it arrived, for `/metrics` (`None`: not measured).
        started: Option<Instant>,
    },
    /// Runs when its turn comes, after every earlier request was answered.
    Read {
        xid: u64,
        min_zxid: u64,
        op: Req,
        started: Option<Instant>,
    },
    /// Answered at its turn by the connection's own protocol (a ZooKeeper
    /// request with no native twin): the frame to send, already encoded,
    /// and whether the connection closes after it.
    Custom(CustomAnswer),
}

/// See [`Pending::Custom`].
pub(crate) type CustomAnswer = Box<dyn FnOnce(&Shared, ConnId, u64) -> (Bytes, bool) + Send>;

fn error_response(xid: u64, zxid: u64, e: &Error) -> proto::Response {
    proto::Response {
        xid,
        zxid,
        error: Some(e.into()),
        result: None,
    }
}

fn ok_response(xid: u64, zxid: u64, result: Res) -> proto::Response {
    proto::Response {
        xid,
        zxid,
        error: None,
        result: Some(result),
    }
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

/// The answer to a request whose frame asks for more than a limit allows,
/// decided on its shape alone (before prost allocates its lists).
pub(crate) fn refuse_by_shape(
    shared: &Shared,
    session: u64,
    shape: &FrameShape,
) -> Option<Pending> {
    let max_ops = replicated_limits(shared).max_multi_ops;
    let max_watches = shared.cfg.max_watches_per_session;
    let e = if shape.multi_ops > max_ops {
        Error::TooLarge(format!(
            "multi has {} ops, limit max_multi_ops = {max_ops}",
            shape.multi_ops
        ))
    } else if shape.set_watches_paths > max_watches {
        Error::TooLarge(format!(
            "SetWatches of session {session:#x} lists {} watches, limit \
             max_watches_per_session = {max_watches}",
            shape.set_watches_paths
        ))
    } else {
        return None;
    };
    Some(Pending::Ready(error_response(
        shape.xid,
        *shared.applied.borrow(),
        &e,
    )))
}

/// Admits one request. Writes are submitted to the log here, so a session's
/// writes enter the log in the order it sent them. `Err` closes the
/// connection (protocol violation).
pub(crate) async fn admit(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    request: proto::Request,
) -> Result<Pending, Error> {
    let started = shared.metrics.start();
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
        Req::SetQuota(q) => (WriteKind::SetQuota, set_quota_command(shared, q)),
        Req::SetAcl(s) => (WriteKind::SetAcl, Ok(acl_requests::set_acl_command(s))),
        Req::AddAuth(a) => (
            WriteKind::AddAuth,
            acl_requests::add_auth_command(shared, a),
        ),
        other => {
            return Ok(Pending::Read {
                xid,
                min_zxid: request.min_zxid,
                op: other,
                started,
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
            return Ok(Pending::Ready(error_response(
                xid,
                *shared.applied.borrow(),
                &e,
            )));
        }
    };
    let cmd = Command {
        origin: Default::default(),
        session_id: session,
        time_ms: shared.now_ms(),
        kind: kind_cmd,
    };
    match shared.propose(cmd, conn).await {
        Ok(fut) => Ok(Pending::Write {
            xid,
            kind,
            outcome: fut,
            started,
        }),
        Err(e) => Ok(Pending::Ready(error_response(
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

fn set_quota_command(shared: &Shared, q: proto::SetQuotaRequest) -> Result<CommandKind, Error> {
    check_path(shared, &q.path)?;
    let limits = if q.clear {
        None
    } else {
        Some(q.limits.as_ref().map(QuotaLimits::from).unwrap_or_default())
    };
    Ok(CommandKind::SetQuota {
        path: q.path,
        limits,
    })
}

/// Produces the answer frame for one admitted request; `true` when the
/// connection must close after it (the session was closed).
pub(crate) async fn complete(
    shared: &Shared,
    conn: ConnId,
    session: u64,
    item: Pending,
    sink: &ConnSink,
) -> bool {
    match item {
        Pending::Ready(resp) => {
            sink.send_response(resp);
            false
        }
        Pending::Custom(answer) => {
            let (frame, close) = answer(shared, conn, session);
            sink.send_frame(frame);
            close
        }
        Pending::Write {
            xid,
            kind,
            outcome,
            started,
        } => {
            let outcome = outcome.await;
            shared.metrics.observe(kind.op_kind(), started);
            if let Err(Error::ConnectionLoss(why)) = &outcome {
                // A forwarded write whose fate is unknown (the leader went
                // away, or refused it after later writes of the session were
                // sent): no answer can be right, so the connection closes and
                // the client resumes the session elsewhere, as if this server
                // had gone.
                tracing::debug!(xid, why, "closing the connection: forwarded write lost");
                sink.request_stop(Some(Error::ConnectionLoss(why.clone())));
                return true;
            }
            let close = (matches!(kind, WriteKind::CloseSession) && outcome.is_ok())
                || matches!(outcome, Err(Error::SessionMoved(_)));
            sink.send_response(write_response(shared, xid, kind, outcome));
            close
        }
        Pending::Read {
            xid,
            min_zxid,
            op,
            started,
        } => {
            let kind = OpKind::of(&op);
            read_response(shared, conn, session, xid, min_zxid, op, sink).await;
            shared.metrics.observe(kind, started);
            false
        }
    }
}

fn write_response(
    shared: &Shared,
    xid: u64,
    kind: WriteKind,
    outcome: Result<Outcome, Error>,
) -> proto::Response {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return error_response(xid, *shared.applied.borrow(), &e),
    };
    let zxid = outcome.zxid;
    let result = match outcome.result {
        Ok(r) => r,
        Err(e) => return error_response(xid, zxid, &e),
    };
    let body = match (kind, result) {
        (_, CommandResult::Op(OpResult::Error(e))) => return error_response(xid, zxid, &e),
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
        (WriteKind::SetQuota, CommandResult::QuotaSet) => Res::SetQuota(proto::Empty {}),
        (WriteKind::SetAcl, CommandResult::AclSet(stat)) => Res::SetAcl(proto::StatResponse {
            stat: Some((&stat).into()),
        }),
        (WriteKind::AddAuth, CommandResult::IdentityAdded) => Res::AddAuth(proto::Empty {}),
        (kind, other) => {
            let e = Error::Internal(format!("{kind:?} produced unexpected result {other:?}"));
            return error_response(xid, zxid, &e);
        }
    };
    ok_response(xid, zxid, body)
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
