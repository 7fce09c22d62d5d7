//! The pure `apply`: one command in, one outcome and its watch events out.
//!
//! This module owns the dispatch of [`Command`]s, the write ops (create,
//! delete, set, check) with the checks ZooKeeper's request processor makes
//! (paths, limits, sessions, sequential names, TTLs), multi with rollback, and
//! reaping. Tree structure rules are the tree's; session commands are in
//! `sessions`. Nothing here reads a clock, draws a random number, does I/O or
//! lets map iteration order reach a result: time is `Command::time_ms`,
//! clamped so that it never goes backwards, and limits are the replicated ones.

use std::cmp::Ordering;

use bytes::Bytes;

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::tree::{self, CreateMode, MAX_TTL_MS, NodeKind, Undo};

use super::machine::StateMachine;
use super::{Command, CommandKind, CommandResult, EventType, Op, OpResult, Outcome, WatchEvent};
use super::{ReapTarget, acl, sessions};
use coord_proto::acl::perms;

/// Who runs an op, under which zxid, at which leader time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx {
    pub(super) session_id: u64,
    pub(super) zxid: u64,
    pub(super) time_ms: i64,
}

/// See [`StateMachine::apply`].
pub(super) fn apply(sm: &mut StateMachine, cmd: &Command) -> (Outcome, Vec<WatchEvent>) {
    let zxid = sm.last_zxid.wrapping_add(1);
    sm.last_zxid = zxid;
    sm.tree.forget_removed_acls();
    // A new leader's clock may be behind the old one's: ctime/mtime and TTL
    // expiry must still never go backwards.
    let time_ms = cmd.time_ms.max(sm.last_time_ms);
    sm.last_time_ms = time_ms;
    let ctx = Ctx {
        session_id: cmd.session_id,
        zxid,
        time_ms,
    };
    let mut events = Vec::new();
    let result = match &cmd.kind {
        CommandKind::CreateSession {
            session_id,
            timeout_ms,
            secret,
            identities,
        } => sessions::create(sm, *session_id, *timeout_ms, *secret, identities),
        CommandKind::CloseSession => sessions::close(sm, ctx, &mut events),
        CommandKind::ExpireSessions(ids) => sessions::expire(sm, ids, ctx, &mut events),
        CommandKind::Op(op) => require_session(sm, ctx)
            .and_then(|()| apply_op(sm, op, ctx, &mut events))
            .map(|(result, _undo)| CommandResult::Op(result)),
        CommandKind::Multi(ops) => {
            require_session(sm, ctx).and_then(|()| multi(sm, ops, ctx, &mut events))
        }
        CommandKind::Reap(targets) => reap(sm, targets, ctx, &mut events),
        CommandKind::Noop => Ok(CommandResult::Noop),
        CommandKind::SetLimits(limits) => set_limits(sm, limits, ctx),
        // A quota binds everyone writing under the node: ADMIN on it, as
        // for its ACL.
        CommandKind::SetQuota { path, limits } => require_session(sm, ctx)
            .and_then(|()| acl::require(sm, ctx.session_id, path, path, perms::ADMIN))
            .and_then(|()| super::quota::set_quota(sm, path, limits.as_ref())),
        CommandKind::AddIdentity(identity) => acl::add_identity(sm, identity, ctx),
        CommandKind::SetAcl { path, acl, version } => {
            require_session(sm, ctx).and_then(|()| acl::set_acl(sm, path, acl, *version, ctx))
        }
    };
    if result.is_err() {
        events.clear();
    }
    (Outcome { zxid, result }, events)
}

/// Ops run for a live session, or for the server itself (session 0).
fn require_session(sm: &StateMachine, ctx: Ctx) -> Result<()> {
    if ctx.session_id == 0 || sm.sessions.contains_key(&ctx.session_id) {
        Ok(())
    } else {
        Err(sessions::expired(ctx.session_id))
    }
}

/// Replaces the limits from the next command on. Only the server (session 0)
/// may, and only with limits that leave room for `/x` and a one-op multi.
fn set_limits(sm: &mut StateMachine, limits: &Limits, ctx: Ctx) -> Result<CommandResult> {
    if ctx.session_id != 0 {
        return Err(Error::BadArguments(format!(
            "session 0x{:x} may not change limits (only the server may)",
            ctx.session_id
        )));
    }
    if limits.max_path_bytes < 2 || limits.max_multi_ops == 0 {
        return Err(Error::BadArguments(format!(
            "limits {limits:?}: max_path_bytes must be >= 2 and max_multi_ops >= 1"
        )));
    }
    sm.limits = limits.clone();
    Ok(CommandResult::LimitsSet)
}

/// Applies one op to the tree, pushing its events only if it succeeds.
/// Returns the op's result and how to undo it (none for a check).
fn apply_op(
    sm: &mut StateMachine,
    op: &Op,
    ctx: Ctx,
    events: &mut Vec<WatchEvent>,
) -> Result<(OpResult, Option<Undo>)> {
    let max_path = sm.limits.max_path_bytes;
    match op {
        Op::Create {
            path,
            data,
            mode,
            acl,
        } => create(sm, path, data, *mode, acl, ctx, events).map(|(r, u)| (r, Some(u))),
        Op::Delete { path, version } => {
            tree::validate_path(path, max_path)?;
            acl::require_on_parent(sm, ctx.session_id, path, perms::DELETE)?;
            let bump = sm.limits.delete_bumps_parent_cversion;
            let undo = sm.tree.delete(path, *version, ctx.zxid, bump)?;
            let undo = charge(sm, undo, "delete", path)?;
            push_removed(events, path, ctx.zxid);
            Ok((OpResult::Delete, Some(undo)))
        }
        Op::SetData {
            path,
            data,
            version,
        } => {
            check_data_size(sm, path, data)?;
            tree::validate_path(path, max_path)?;
            acl::require(sm, ctx.session_id, path, path, perms::WRITE)?;
            let (stat, undo) =
                sm.tree
                    .set_data(path, owned(data), *version, ctx.zxid, ctx.time_ms)?;
            let undo = charge(sm, undo, "set", path)?;
            events.push(event(EventType::NodeDataChanged, path, ctx.zxid));
            Ok((OpResult::SetData { stat }, Some(undo)))
        }
        Op::Check { path, version } => {
            tree::validate_path(path, max_path)?;
            acl::require(sm, ctx.session_id, path, path, perms::READ)?;
            sm.tree.check(path, *version)?;
            Ok((OpResult::Check, None))
        }
    }
}

/// ZooKeeper's create, in its order of checks: mode and TTL, data size, path,
/// parent, CREATE on the parent, the new ACL, sequential name, then the
/// tree's NodeExists / ephemeral parent.
#[allow(clippy::too_many_arguments)]
fn create(
    sm: &mut StateMachine,
    path: &str,
    data: &Bytes,
    mode: CreateMode,
    acl: &[coord_proto::Acl],
    ctx: Ctx,
    events: &mut Vec<WatchEvent>,
) -> Result<(OpResult, Undo)> {
    let kind = NodeKind::for_create(mode, ctx.session_id);
    match kind {
        NodeKind::Ephemeral { owner: 0 } => {
            return Err(Error::BadArguments(format!(
                "ephemeral node {path} needs a session (session 0 is the server itself)"
            )));
        }
        NodeKind::Ttl { ttl_ms } if ttl_ms == 0 || ttl_ms > MAX_TTL_MS => {
            return Err(Error::BadArguments(format!(
                "ttl_ms {ttl_ms} for {path}: must be in 1..={MAX_TTL_MS}"
            )));
        }
        NodeKind::Ephemeral { owner } => {
            let limit = sm.limits.max_ephemerals_per_session;
            let held = sm.tree.ephemeral_count(owner);
            if held >= limit {
                return Err(Error::TooLarge(format!(
                    "ephemeral {path}: session 0x{owner:x} owns {held} ephemerals, \
                     limit max_ephemerals_per_session = {limit}"
                )));
            }
        }
        _ => {}
    }
    check_data_size(sm, path, data)?;
    let max_path = sm.limits.max_path_bytes;
    let full = if mode.is_sequential() {
        // ZooKeeper validates the prefix with a digit appended (so `/q/` is a
        // fine prefix), names the node after the parent's cversion, then
        // validates the final path again (its length may now be over).
        let probe = format!("{path}0");
        tree::validate_path(&probe, max_path)?;
        let parent_path = tree::parent(&probe).unwrap_or("/");
        let parent = sm
            .tree
            .node(parent_path)
            .ok_or_else(|| Error::NoNode(parent_path.to_string()))?;
        let full = coord_proto::sequence::with_sequence_suffix(path, parent.stat().cversion);
        tree::validate_path(&full, max_path)?;
        full
    } else {
        tree::validate_path(path, max_path)?;
        path.to_string()
    };
    acl::require_on_parent(sm, ctx.session_id, &full, perms::CREATE)?;
    let node_acl = acl::for_create(sm, ctx.session_id, &full, acl)?;
    let (stat, undo) = sm
        .tree
        .create(&full, owned(data), kind, ctx.zxid, ctx.time_ms)?;
    let undo = charge(sm, undo, "create", &full)?;
    sm.tree.init_acl(&full, node_acl);
    events.push(event(EventType::NodeCreated, &full, ctx.zxid));
    events.push(event(
        EventType::NodeChildrenChanged,
        tree::parent(&full).unwrap_or("/"),
        ctx.zxid,
    ));
    Ok((OpResult::Create { path: full, stat }, undo))
}

/// All or nothing: ops run in order on the real tree (later ops see earlier
/// ones), each leaving an undo record; the first failure rolls everything
/// back, newest first, and reports ZooKeeper's per-op result shape.
fn multi(
    sm: &mut StateMachine,
    ops: &[Op],
    ctx: Ctx,
    events: &mut Vec<WatchEvent>,
) -> Result<CommandResult> {
    if ops.len() > sm.limits.max_multi_ops {
        return Err(Error::TooLarge(format!(
            "multi has {} ops, limit max_multi_ops = {}",
            ops.len(),
            sm.limits.max_multi_ops
        )));
    }
    let mut undo_log = Vec::with_capacity(ops.len());
    let mut results = Vec::with_capacity(ops.len());
    let mut multi_events = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match apply_op(sm, op, ctx, &mut multi_events) {
            Ok((result, undo)) => {
                results.push(result);
                undo_log.extend(undo);
            }
            Err(failure) => {
                for undo in undo_log.into_iter().rev() {
                    undo_change(sm, undo);
                }
                return Ok(CommandResult::Multi(failed_results(ops, i, failure)));
            }
        }
    }
    events.append(&mut multi_events);
    Ok(CommandResult::Multi(results))
}

/// ZooKeeper's shape of a failed multi: `RolledBack` before the failing op,
/// its own error, `RuntimeInconsistency` after.
fn failed_results(ops: &[Op], failed: usize, failure: Error) -> Vec<OpResult> {
    let failed_path = ops.get(failed).map(Op::path).unwrap_or_default();
    let mut failure = Some(failure);
    ops.iter()
        .enumerate()
        .map(|(j, op)| {
            let error = match j.cmp(&failed) {
                Ordering::Less => Error::RolledBack(format!(
                    "op {j} on {}: op {failed} on {failed_path} failed",
                    op.path()
                )),
                Ordering::Equal => failure.take().unwrap_or_else(|| {
                    Error::Internal(format!("op {j} on {}: failure already taken", op.path()))
                }),
                Ordering::Greater => Error::RuntimeInconsistency(format!(
                    "op {j} on {}: not applied, op {failed} on {failed_path} failed",
                    op.path()
                )),
            };
            OpResult::Error(error)
        })
        .collect()
}

/// Deletes each target that still qualifies (same czxid, childless, empty
/// container that had a child, or TTL expired at `time_ms`); skips the rest.
fn reap(
    sm: &mut StateMachine,
    targets: &[ReapTarget],
    ctx: Ctx,
    events: &mut Vec<WatchEvent>,
) -> Result<CommandResult> {
    let mut reaped = Vec::new();
    let mut undo_log = Vec::new();
    let bump = sm.limits.delete_bumps_parent_cversion;
    for target in targets {
        match sm
            .tree
            .reap(&target.path, target.czxid, ctx.time_ms, ctx.zxid, bump)
        {
            Ok(None) => {}
            Ok(Some(undo)) => {
                // Shrinking never exceeds a quota.
                let _ = sm.quotas.charge(&sm.tree, &undo, &"reap");
                undo_log.push(undo);
                push_removed(events, &target.path, ctx.zxid);
                reaped.push(target.path.clone());
            }
            Err(e) => {
                // Only a broken tree gets here; leave it as it was.
                for undo in undo_log.into_iter().rev() {
                    undo_change(sm, undo);
                }
                return Err(e);
            }
        }
    }
    Ok(CommandResult::Reaped(reaped))
}

/// Charges a change of the tree to the quotas over `path`; when that takes
/// a subtree over a limit, undoes the change and fails with `QuotaExceeded`.
fn charge(sm: &mut StateMachine, undo: Undo, op: &str, path: &str) -> Result<Undo> {
    match sm
        .quotas
        .charge(&sm.tree, &undo, &format_args!("{op} {path}"))
    {
        Ok(()) => Ok(undo),
        Err(e) => {
            sm.tree.undo(undo);
            Err(e)
        }
    }
}

/// Reverses one change of the tree and its quota charge (rollback).
fn undo_change(sm: &mut StateMachine, undo: Undo) {
    sm.quotas.uncharge(&sm.tree, &undo);
    sm.tree.undo(undo);
}

/// Events of a removed node: `NodeDeleted(path)`, `NodeChildrenChanged(parent)`.
pub(super) fn push_removed(events: &mut Vec<WatchEvent>, path: &str, zxid: u64) {
    events.push(event(EventType::NodeDeleted, path, zxid));
    events.push(event(
        EventType::NodeChildrenChanged,
        tree::parent(path).unwrap_or("/"),
        zxid,
    ));
}

fn event(kind: EventType, path: &str, zxid: u64) -> WatchEvent {
    WatchEvent {
        kind,
        path: path.to_string(),
        zxid,
    }
}

fn check_data_size(sm: &StateMachine, path: &str, data: &Bytes) -> Result<()> {
    let limit = sm.limits.max_data_bytes;
    if data.len() > limit {
        return Err(Error::TooLarge(format!(
            "data of {path} is {} bytes, limit max_data_bytes = {limit}",
            data.len()
        )));
    }
    Ok(())
}

/// The data as the tree keeps it: its own exact allocation, so a node never
/// pins the (possibly much larger) buffer a command was decoded from.
fn owned(data: &Bytes) -> Bytes {
    if data.is_empty() {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(data)
    }
}
