//! Access control in the replicated state: who a session is, what a node's
//! ACL lets it do, and the commands that change either (`AddIdentity`,
//! `SetAcl`).
//!
//! This module owns the permission check every write makes in `apply` and
//! every read makes under the state's lock ([`require`]), the super-user
//! bypass (the replicated `Limits::superusers`), the `auth` scheme's expansion
//! at create, and the interning of ACL lists (nodes with the same list share
//! one allocation). The matching rule itself is `coord_proto::acl`. Nothing
//! here authenticates: the server checks credentials before it proposes an
//! identity, so the log carries identities, never passwords or tokens.

use std::sync::Arc;

use coord_proto::acl::{self as model, AUTH, IP, WORLD, perm_name};
use coord_proto::{Acl, Identity};

use crate::error::{Error, Result};
use crate::tree::{self, NodeAcl, SharedAcl};

use super::apply::Ctx;
use super::machine::StateMachine;
use super::{CommandResult, sessions};

/// Interned lists above this count are swept of lists no node uses any more
/// (each time the count reaches a power of two), so the set never keeps more
/// than about twice the lists in use.
const INTERN_SWEEP_FROM: usize = 64;

/// The shared form of `acl` at `aversion`: `None` for an open list at 0,
/// else the one allocation every node with an equal pair shares.
pub(super) fn intern(sm: &mut StateMachine, aversion: i32, acl: Vec<Acl>) -> SharedAcl {
    intern_in(&mut sm.acls, aversion, acl)
}

/// [`intern`] into a given set (a snapshot being read builds its own).
pub(super) fn intern_in(set: &mut AclSet, aversion: i32, mut acl: Vec<Acl>) -> SharedAcl {
    if acl == [Acl::open()] {
        acl.clear();
    }
    if acl.is_empty() && aversion == 0 {
        return None;
    }
    let list = Arc::new(NodeAcl {
        aversion,
        list: acl.into_boxed_slice(),
    });
    if let Some(existing) = set.get(&list) {
        return Some(existing.clone());
    }
    let n = set.len();
    if n >= INTERN_SWEEP_FROM && n.is_power_of_two() {
        set.retain(|a| Arc::strong_count(a) > 1);
    }
    set.insert(list.clone());
    Some(list)
}

/// The interned ACL lists of a state.
pub(crate) type AclSet = std::collections::HashSet<Arc<NodeAcl>>;

/// The identities of `session_id` (empty for the server, session 0, and for
/// a session the table does not know).
fn identities(sm: &StateMachine, session_id: u64) -> &[Identity] {
    sm.sessions
        .get(&session_id)
        .map(|s| s.identities.as_slice())
        .unwrap_or_default()
}

/// Whether `session_id` bypasses ACLs: the server itself (session 0) and
/// sessions holding a `--superuser` identity.
fn is_super(sm: &StateMachine, session_id: u64) -> bool {
    session_id == 0
        || identities(sm, session_id)
            .iter()
            .any(|i| sm.limits.superusers.contains(i))
}

/// `AuthFailed` when the replicated limits require authentication
/// (`--auth-required`) and `session_id` holds no identity but its address.
pub(super) fn require_authenticated(sm: &StateMachine, session_id: u64) -> Result<()> {
    if !sm.limits.auth_required
        || session_id == 0
        || identities(sm, session_id).iter().any(|i| i.scheme != IP)
    {
        return Ok(());
    }
    Err(Error::AuthFailed(format!(
        "session 0x{session_id:x} has not authenticated and this server requires it \
         (--auth-required): add a digest (addAuth) or connect with a token or a client \
         certificate"
    )))
}

/// `Ok` when `session_id` has `perm` on the node at `node_path` (or the node
/// does not exist: the caller's own NoNode follows); otherwise `NoAuth`
/// naming `target` (the path the request addressed), the permission, the
/// node whose ACL refused it and the session.
pub(super) fn require(
    sm: &StateMachine,
    session_id: u64,
    target: &str,
    node_path: &str,
    perm: u32,
) -> Result<()> {
    require_authenticated(sm, session_id)?;
    let Some(node) = sm.tree.node(node_path) else {
        return Ok(());
    };
    if node.acl().is_empty() || is_super(sm, session_id) {
        return Ok(());
    }
    if model::allows(node.acl(), identities(sm, session_id), perm) {
        return Ok(());
    }
    Err(Error::NoAuth(format!(
        "{target} needs {} on {node_path} for session 0x{session_id:x}",
        perm_name(perm)
    )))
}

/// Whether `session_id` gets `perm` from the list `acl` (super users and
/// the server always do).
pub(super) fn allows(sm: &StateMachine, session_id: u64, acl: &[Acl], perm: u32) -> bool {
    acl.is_empty()
        || is_super(sm, session_id)
        || model::allows(acl, identities(sm, session_id), perm)
}

/// `require` on the parent of `path` (the root's "parent" is itself).
pub(super) fn require_on_parent(
    sm: &StateMachine,
    session_id: u64,
    path: &str,
    perm: u32,
) -> Result<()> {
    let parent = tree::parent(path).unwrap_or("/");
    require(sm, session_id, path, parent, perm)
}

/// The ACL a create by `session_id` stores for `path`: checked, with each
/// `auth` entry replaced by every identity the session holds (other than
/// `ip` and `world`, as ZooKeeper does), then interned. `InvalidAcl` when
/// the list is malformed or names `auth` for a session without identities.
pub(super) fn for_create(
    sm: &mut StateMachine,
    session_id: u64,
    path: &str,
    acl: &[Acl],
) -> Result<SharedAcl> {
    let resolved = resolve(sm, session_id, path, acl)?;
    Ok(intern(sm, 0, resolved))
}

fn resolve(sm: &StateMachine, session_id: u64, path: &str, acl: &[Acl]) -> Result<Vec<Acl>> {
    model::validate_acl(acl).map_err(|e| Error::InvalidAcl(format!("{path}: {}", e.detail())))?;
    let mut out = Vec::with_capacity(acl.len());
    for entry in acl {
        if entry.identity.scheme != AUTH {
            out.push(entry.clone());
            continue;
        }
        let mut any = false;
        for id in identities(sm, session_id) {
            if id.scheme != IP && id.scheme != WORLD {
                out.push(Acl {
                    perms: entry.perms,
                    identity: id.clone(),
                });
                any = true;
            }
        }
        if !any {
            return Err(Error::InvalidAcl(format!(
                "{path}: ACL entry {entry} needs an authenticated session, and session \
                 0x{session_id:x} holds no identity (add one with addAuth)"
            )));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `SetAcl`: ADMIN on the node, then the aversion check, then the new list.
pub(super) fn set_acl(
    sm: &mut StateMachine,
    path: &str,
    acl: &[Acl],
    version: i32,
    ctx: Ctx,
) -> Result<CommandResult> {
    tree::validate_path(path, sm.limits.max_path_bytes)?;
    let aversion = match sm.tree.node(path) {
        Some(node) => node.aversion(),
        None => return Err(Error::NoNode(path.to_string())),
    };
    require(sm, ctx.session_id, path, path, model::perms::ADMIN)?;
    if version != -1 && version != aversion {
        return Err(Error::BadVersion(format!(
            "{path}: setACL expected aversion {version}, the node's is {aversion}"
        )));
    }
    let resolved = resolve(sm, ctx.session_id, path, acl)?;
    let shared = intern(sm, aversion.wrapping_add(1), resolved);
    let stat = sm.tree.set_acl(path, shared)?;
    Ok(CommandResult::AclSet(stat))
}

/// `AddIdentity`: the session holds `identity` from now on.
pub(super) fn add_identity(
    sm: &mut StateMachine,
    identity: &Identity,
    ctx: Ctx,
) -> Result<CommandResult> {
    if identity.scheme.is_empty() || identity.id.is_empty() || identity.scheme == AUTH {
        return Err(Error::BadArguments(format!(
            "identity {identity}: needs a scheme other than auth and an id"
        )));
    }
    let session = sm
        .sessions
        .get_mut(&ctx.session_id)
        .ok_or_else(|| sessions::expired(ctx.session_id))?;
    if let Err(at) = session.identities.binary_search(identity) {
        session.identities.insert(at, identity.clone());
    }
    Ok(CommandResult::IdentityAdded)
}
