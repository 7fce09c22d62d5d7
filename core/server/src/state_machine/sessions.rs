//! Session commands of the replicated state: create, close, expire.
//!
//! This module owns the replicated session table's changes and the rule that
//! a session's ephemeral nodes go away, in one step, exactly when the session
//! ends. Liveness (timeouts, pings) is the leader's `session` module, never
//! decided here: expiry arrives as an `ExpireSessions` command.

use crate::error::{Error, Result};
use coord_proto::Identity;

use super::apply::{Ctx, push_removed};
use super::machine::{SessionInfo, StateMachine};
use super::{CommandResult, WatchEvent};

/// The error for a command from a session the table does not know.
pub(super) fn expired(session_id: u64) -> Error {
    Error::SessionExpired(format!(
        "session 0x{session_id:x} does not exist (closed or expired)"
    ))
}

/// Opens a session whose id and secret the leader drew.
pub(super) fn create(
    sm: &mut StateMachine,
    session_id: u64,
    timeout_ms: u32,
    secret: [u8; 16],
    identities: &[Identity],
) -> Result<CommandResult> {
    if session_id == 0 {
        return Err(Error::BadArguments(
            "session id 0 is reserved for the server".to_string(),
        ));
    }
    if sm.sessions.contains_key(&session_id) {
        return Err(Error::BadArguments(format!(
            "session 0x{session_id:x} already exists"
        )));
    }
    sm.sessions.insert(
        session_id,
        SessionInfo {
            session_id,
            timeout_ms,
            secret,
            identities: {
                let mut ids = identities.to_vec();
                ids.sort();
                ids.dedup();
                ids
            },
        },
    );
    Ok(CommandResult::SessionCreated {
        session_id,
        timeout_ms,
    })
}

/// The command's own session closes: its ephemerals are deleted.
pub(super) fn close(
    sm: &mut StateMachine,
    ctx: Ctx,
    events: &mut Vec<WatchEvent>,
) -> Result<CommandResult> {
    if !sm.sessions.contains_key(&ctx.session_id) {
        return Err(expired(ctx.session_id));
    }
    end(sm, ctx.session_id, ctx.zxid, events);
    Ok(CommandResult::SessionClosed)
}

/// The leader found these sessions expired. Unknown ids (already closed, or
/// listed twice) are skipped; the result lists the ids that were ended, in
/// the command's order.
pub(super) fn expire(
    sm: &mut StateMachine,
    ids: &[u64],
    ctx: Ctx,
    events: &mut Vec<WatchEvent>,
) -> Result<CommandResult> {
    let mut ended = Vec::new();
    for &id in ids {
        if sm.sessions.contains_key(&id) {
            end(sm, id, ctx.zxid, events);
            ended.push(id);
        }
    }
    Ok(CommandResult::SessionsExpired(ended))
}

/// Deletes the session's ephemerals in path order (they have no children),
/// each firing `NodeDeleted` and `NodeChildrenChanged(parent)`, then drops
/// the session.
fn end(sm: &mut StateMachine, session_id: u64, zxid: u64, events: &mut Vec<WatchEvent>) {
    let bump = sm.limits.delete_bumps_parent_cversion;
    for path in sm.tree.ephemerals_of(session_id) {
        match sm.tree.delete(&path, -1, zxid, bump) {
            Ok(undo) => {
                // Shrinking never exceeds a quota.
                let _ = sm.quotas.charge(&sm.tree, &undo, &"session end");
                push_removed(events, &path, zxid);
            }
            // Ephemerals never have children and the index names only live
            // nodes, so this is a bug; keep going so the session still ends.
            Err(e) => debug_assert!(false, "deleting ephemeral {path}: {e}"),
        }
    }
    sm.sessions.remove(&session_id);
}
