//! Domain <-> storage record conversions. Decoding is strict: a record missing
//! a required part is an error naming the field, never a default.

use bytes::Bytes;
use coord_proto::wire::secret_from_bytes;
use coord_proto::{Acl, CreateMode, Error, Identity, Op, QuotaLimits, Stat};

use super::generated as storage;
use crate::config::Limits;
use crate::state_machine::{Command, CommandKind, ReapTarget};

fn missing(field: &str) -> Error {
    Error::Protocol(format!("missing field {field} in a stored record"))
}

/// The stored form of a node's stat.
pub fn stat_to_storage(s: &Stat) -> storage::Stat {
    storage::Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        pzxid: s.pzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        aversion: s.aversion,
    }
}

/// A node's stat from its stored form.
pub fn stat_from_storage(s: &storage::Stat) -> Stat {
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        pzxid: s.pzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        aversion: s.aversion,
    }
}

/// The stored form of the replicated limits.
pub fn limits_to_storage(l: &Limits) -> storage::Limits {
    storage::Limits {
        max_data_bytes: l.max_data_bytes as u64,
        max_path_bytes: l.max_path_bytes as u64,
        max_multi_ops: l.max_multi_ops as u64,
        delete_bumps_parent_cversion: l.delete_bumps_parent_cversion,
        max_ephemerals_per_session: l.max_ephemerals_per_session as u64,
        superusers: l.superusers.iter().map(identity_to_storage).collect(),
        auth_required: l.auth_required,
    }
}

/// The replicated limits from their stored form (a value too large for this
/// platform's `usize` reads as `usize::MAX`: no smaller limit was ever meant).
pub fn limits_from_storage(l: &storage::Limits) -> Limits {
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    Limits {
        max_data_bytes: size(l.max_data_bytes),
        max_path_bytes: size(l.max_path_bytes),
        max_multi_ops: size(l.max_multi_ops),
        delete_bumps_parent_cversion: l.delete_bumps_parent_cversion,
        // 0: written before the limit existed, when there was none.
        max_ephemerals_per_session: match l.max_ephemerals_per_session {
            0 => usize::MAX,
            v => size(v),
        },
        superusers: l
            .superusers
            .iter()
            .cloned()
            .map(identity_from_storage)
            .collect(),
        auth_required: l.auth_required,
    }
}

/// The stored form of an ACL entry.
pub fn acl_to_storage(a: &Acl) -> storage::Acl {
    storage::Acl {
        perms: a.perms,
        scheme: a.identity.scheme.clone(),
        id: a.identity.id.clone(),
    }
}

/// An ACL entry from its stored form.
pub fn acl_from_storage(a: storage::Acl) -> Acl {
    Acl::new(a.scheme, a.id, a.perms)
}

/// The stored form of an identity.
pub fn identity_to_storage(i: &Identity) -> storage::Identity {
    storage::Identity {
        scheme: i.scheme.clone(),
        id: i.id.clone(),
    }
}

/// An identity from its stored form.
pub fn identity_from_storage(i: storage::Identity) -> Identity {
    Identity::new(i.scheme, i.id)
}

fn mode_to_storage(m: CreateMode) -> storage::CreateMode {
    use storage::NodeKind as K;
    let (kind, ttl_ms) = match m {
        CreateMode::Persistent | CreateMode::PersistentSequential => (K::Persistent, 0),
        CreateMode::Ephemeral | CreateMode::EphemeralSequential => (K::Ephemeral, 0),
        CreateMode::Container => (K::Container, 0),
        CreateMode::PersistentWithTtl(t) | CreateMode::PersistentSequentialWithTtl(t) => {
            (K::Ttl, t)
        }
    };
    storage::CreateMode {
        kind: kind as i32,
        sequential: m.is_sequential(),
        ttl_ms,
    }
}

fn mode_from_storage(m: &storage::CreateMode) -> Result<CreateMode, Error> {
    use storage::NodeKind as K;
    let kind = K::try_from(m.kind)
        .map_err(|_| Error::Protocol(format!("unknown stored node kind {}", m.kind)))?;
    let seq = m.sequential;
    match kind {
        K::Persistent => CreateMode::from_flags(false, seq, false, None),
        K::Ephemeral => CreateMode::from_flags(true, seq, false, None),
        K::Container => CreateMode::from_flags(false, seq, true, None),
        K::Ttl => CreateMode::from_flags(false, seq, false, Some(m.ttl_ms)),
    }
}

fn op_to_storage(op: &Op) -> storage::Op {
    use storage::op::Op as P;
    let inner = match op {
        Op::Create {
            path,
            data,
            mode,
            acl,
        } => P::Create(storage::CreateOp {
            path: path.clone(),
            data: data.clone(),
            mode: Some(mode_to_storage(*mode)),
            acl: acl.iter().map(acl_to_storage).collect(),
        }),
        Op::Delete { path, version } => P::Delete(storage::DeleteOp {
            path: path.clone(),
            version: *version,
        }),
        Op::SetData {
            path,
            data,
            version,
        } => P::SetData(storage::SetDataOp {
            path: path.clone(),
            data: data.clone(),
            version: *version,
        }),
        Op::Check { path, version } => P::Check(storage::CheckOp {
            path: path.clone(),
            version: *version,
        }),
    };
    storage::Op { op: Some(inner) }
}

fn op_from_storage(op: storage::Op) -> Result<Op, Error> {
    use storage::op::Op as P;
    Ok(match op.op.ok_or_else(|| missing("Op.op"))? {
        P::Create(c) => Op::Create {
            path: c.path,
            data: c.data,
            mode: match &c.mode {
                Some(m) => mode_from_storage(m)?,
                None => CreateMode::Persistent,
            },
            acl: c.acl.into_iter().map(acl_from_storage).collect(),
        },
        P::Delete(d) => Op::Delete {
            path: d.path,
            version: d.version,
        },
        P::SetData(s) => Op::SetData {
            path: s.path,
            data: s.data,
            version: s.version,
        },
        P::Check(c) => Op::Check {
            path: c.path,
            version: c.version,
        },
    })
}

/// Encodes a replicated command for the log.
pub fn command_to_storage(cmd: &Command) -> storage::Command {
    use storage::command::Kind as P;
    let kind = match &cmd.kind {
        CommandKind::CreateSession {
            session_id,
            timeout_ms,
            secret,
            identities,
        } => P::CreateSession(storage::CreateSessionCommand {
            session_id: *session_id,
            timeout_ms: *timeout_ms,
            secret: Bytes::copy_from_slice(secret),
            identities: identities.iter().map(identity_to_storage).collect(),
        }),
        CommandKind::CloseSession => P::CloseSession(storage::Empty {}),
        CommandKind::ExpireSessions(ids) => P::ExpireSessions(storage::ExpireSessionsCommand {
            session_ids: ids.clone(),
        }),
        CommandKind::Op(op) => P::Op(op_to_storage(op)),
        CommandKind::Multi(ops) => P::Multi(storage::MultiOps {
            ops: ops.iter().map(op_to_storage).collect(),
        }),
        CommandKind::Reap(targets) => P::Reap(storage::ReapCommand {
            targets: targets
                .iter()
                .map(|t| storage::ReapTarget {
                    path: t.path.clone(),
                    czxid: t.czxid,
                })
                .collect(),
        }),
        CommandKind::Noop => P::Noop(storage::Empty {}),
        CommandKind::SetLimits(limits) => P::SetLimits(limits_to_storage(limits)),
        CommandKind::AddIdentity(identity) => P::AddIdentity(storage::AddIdentityCommand {
            identity: Some(identity_to_storage(identity)),
        }),
        CommandKind::SetAcl { path, acl, version } => P::SetAcl(storage::SetAclCommand {
            path: path.clone(),
            acl: acl.iter().map(acl_to_storage).collect(),
            version: *version,
        }),
        CommandKind::SetQuota { path, limits } => P::SetQuota(storage::SetQuotaCommand {
            path: path.clone(),
            clear: limits.is_none(),
            max_nodes: limits.and_then(|l| l.max_nodes),
            max_bytes: limits.and_then(|l| l.max_bytes),
        }),
    };
    storage::Command {
        session_id: cmd.session_id,
        time_ms: cmd.time_ms,
        kind: Some(kind),
        origin_node: cmd.origin.node,
        origin_tag: cmd.origin.tag,
    }
}

/// Decodes a replicated command from the log.
pub fn command_from_storage(p: storage::Command) -> Result<Command, Error> {
    use storage::command::Kind as P;
    let kind = match p.kind.ok_or_else(|| missing("Command.kind"))? {
        P::CreateSession(c) => CommandKind::CreateSession {
            session_id: c.session_id,
            timeout_ms: c.timeout_ms,
            secret: secret_from_bytes(&c.secret)?,
            identities: c
                .identities
                .into_iter()
                .map(identity_from_storage)
                .collect(),
        },
        P::CloseSession(_) => CommandKind::CloseSession,
        P::ExpireSessions(e) => CommandKind::ExpireSessions(e.session_ids),
        P::Op(op) => CommandKind::Op(op_from_storage(op)?),
        P::Multi(m) => CommandKind::Multi(
            m.ops
                .into_iter()
                .map(op_from_storage)
                .collect::<Result<_, _>>()?,
        ),
        P::Reap(r) => CommandKind::Reap(
            r.targets
                .into_iter()
                .map(|t| ReapTarget {
                    path: t.path,
                    czxid: t.czxid,
                })
                .collect(),
        ),
        P::Noop(_) => CommandKind::Noop,
        P::SetLimits(l) => CommandKind::SetLimits(limits_from_storage(&l)),
        P::AddIdentity(a) => CommandKind::AddIdentity(identity_from_storage(
            a.identity
                .ok_or_else(|| missing("AddIdentityCommand.identity"))?,
        )),
        P::SetAcl(s) => CommandKind::SetAcl {
            path: s.path,
            acl: s.acl.into_iter().map(acl_from_storage).collect(),
            version: s.version,
        },
        P::SetQuota(q) => CommandKind::SetQuota {
            path: q.path,
            limits: (!q.clear).then_some(QuotaLimits {
                max_nodes: q.max_nodes,
                max_bytes: q.max_bytes,
            }),
        },
    };
    Ok(Command {
        session_id: p.session_id,
        time_ms: p.time_ms,
        kind,
        origin: crate::state_machine::Origin {
            node: p.origin_node,
            tag: p.origin_tag,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_kind_round_trips() {
        let ops = vec![
            Op::Create {
                acl: Vec::new(),
                path: "/a".into(),
                data: Bytes::from_static(b"x"),
                mode: CreateMode::PersistentSequentialWithTtl(5000),
            },
            Op::Delete {
                path: "/a".into(),
                version: 3,
            },
            Op::SetData {
                path: "/b".into(),
                data: Bytes::from_static(b"y"),
                version: -1,
            },
            Op::Check {
                path: "/c".into(),
                version: 7,
            },
        ];
        let kinds = vec![
            CommandKind::CreateSession {
                identities: Vec::new(),
                session_id: 9,
                timeout_ms: 4000,
                secret: [7; 16],
            },
            CommandKind::CloseSession,
            CommandKind::ExpireSessions(vec![1, 2]),
            CommandKind::Op(ops[0].clone()),
            CommandKind::Multi(ops),
            CommandKind::Reap(vec![ReapTarget {
                path: "/t".into(),
                czxid: 4,
            }]),
            CommandKind::Noop,
            CommandKind::SetLimits(Limits {
                superusers: Vec::new(),
                max_data_bytes: 524_288,
                max_path_bytes: 300,
                max_multi_ops: 7,
                delete_bumps_parent_cversion: true,
                max_ephemerals_per_session: 3,
                auth_required: true,
            }),
            CommandKind::SetQuota {
                path: "/q".into(),
                limits: Some(QuotaLimits {
                    max_nodes: Some(0),
                    max_bytes: None,
                }),
            },
            CommandKind::SetQuota {
                path: "/q".into(),
                limits: None,
            },
        ];
        for kind in kinds {
            let cmd = Command {
                origin: Default::default(),
                session_id: 42,
                time_ms: 1_700_000_000_000,
                kind,
            };
            assert_eq!(command_from_storage(command_to_storage(&cmd)).unwrap(), cmd);
        }
    }

    #[test]
    fn every_create_mode_round_trips_through_storage() {
        for m in [
            CreateMode::Persistent,
            CreateMode::PersistentSequential,
            CreateMode::Ephemeral,
            CreateMode::EphemeralSequential,
            CreateMode::Container,
            CreateMode::PersistentWithTtl(10),
            CreateMode::PersistentSequentialWithTtl(20),
        ] {
            assert_eq!(mode_from_storage(&mode_to_storage(m)).unwrap(), m);
        }
    }
}
