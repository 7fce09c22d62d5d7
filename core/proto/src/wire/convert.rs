//! proto <-> domain conversions. Decoding is strict: a message missing a
//! required part becomes `Error::Protocol` naming the field.

use crate::acl::{Acl, Identity};
use crate::error::Error;
use crate::op::{EventType, Op, OpResult, WatchEvent};
use crate::proto;
use crate::stat::{CreateMode, Stat};
use crate::watch::{WatchMode, WatcherType};

fn missing(field: &str) -> Error {
    Error::Protocol(format!("missing field {field}"))
}

impl From<&Stat> for proto::Stat {
    fn from(s: &Stat) -> Self {
        proto::Stat {
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
}

impl From<&proto::Stat> for Stat {
    fn from(s: &proto::Stat) -> Self {
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
}

/// A stat that must be present in a message.
pub fn stat_from_proto(s: Option<proto::Stat>, field: &str) -> Result<Stat, Error> {
    s.as_ref().map(Stat::from).ok_or_else(|| missing(field))
}

impl From<CreateMode> for proto::CreateMode {
    fn from(m: CreateMode) -> Self {
        use proto::NodeKind as K;
        let (kind, ttl_ms) = match m {
            CreateMode::Persistent | CreateMode::PersistentSequential => (K::Persistent, 0),
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => (K::Ephemeral, 0),
            CreateMode::Container => (K::Container, 0),
            CreateMode::PersistentWithTtl(t) | CreateMode::PersistentSequentialWithTtl(t) => {
                (K::Ttl, t)
            }
        };
        proto::CreateMode {
            kind: kind as i32,
            sequential: m.is_sequential(),
            ttl_ms,
        }
    }
}

impl TryFrom<&proto::CreateMode> for CreateMode {
    type Error = Error;
    fn try_from(m: &proto::CreateMode) -> Result<Self, Error> {
        use proto::NodeKind as K;
        let kind = K::try_from(m.kind)
            .map_err(|_| Error::BadArguments(format!("unknown node kind {}", m.kind)))?;
        let seq = m.sequential;
        match kind {
            K::Persistent => CreateMode::from_flags(false, seq, false, None),
            K::Ephemeral => CreateMode::from_flags(true, seq, false, None),
            K::Container => CreateMode::from_flags(false, seq, true, None),
            K::Ttl => CreateMode::from_flags(false, seq, false, Some(m.ttl_ms)),
        }
    }
}

impl From<&Error> for proto::Error {
    fn from(e: &Error) -> Self {
        proto::Error {
            code: e.code(),
            detail: e.detail().to_string(),
        }
    }
}

impl From<&proto::Error> for Error {
    fn from(e: &proto::Error) -> Self {
        Error::from_code(e.code, e.detail.clone())
    }
}

impl From<&Op> for proto::Op {
    fn from(op: &Op) -> Self {
        use proto::op::Op as P;
        let inner = match op {
            Op::Create {
                path,
                data,
                mode,
                acl,
            } => P::Create(proto::CreateRequest {
                path: path.clone(),
                data: data.clone(),
                mode: Some((*mode).into()),
                return_predecessor: false,
                acl: acl.iter().map(proto::Acl::from).collect(),
            }),
            Op::Delete { path, version } => P::Delete(proto::DeleteRequest {
                path: path.clone(),
                version: *version,
            }),
            Op::SetData {
                path,
                data,
                version,
            } => P::SetData(proto::SetDataRequest {
                path: path.clone(),
                data: data.clone(),
                version: *version,
            }),
            Op::Check { path, version } => P::Check(proto::CheckRequest {
                path: path.clone(),
                version: *version,
            }),
        };
        proto::Op { op: Some(inner) }
    }
}

/// Decodes a create request into an [`Op::Create`].
pub fn create_from_proto(c: proto::CreateRequest) -> Result<Op, Error> {
    let mode = match &c.mode {
        Some(m) => CreateMode::try_from(m)?,
        None => CreateMode::Persistent,
    };
    Ok(Op::Create {
        path: c.path,
        data: c.data,
        mode,
        acl: acl_from_proto(c.acl),
    })
}

impl From<&Acl> for proto::Acl {
    fn from(a: &Acl) -> Self {
        proto::Acl {
            perms: a.perms,
            scheme: a.identity.scheme.clone(),
            id: a.identity.id.clone(),
        }
    }
}

impl From<proto::Acl> for Acl {
    fn from(a: proto::Acl) -> Self {
        Acl {
            perms: a.perms,
            identity: Identity {
                scheme: a.scheme,
                id: a.id,
            },
        }
    }
}

/// An ACL list as the domain keeps it (checked by the server, in apply).
pub fn acl_from_proto(acl: Vec<proto::Acl>) -> Vec<Acl> {
    acl.into_iter().map(Acl::from).collect()
}

impl From<&Identity> for proto::Identity {
    fn from(i: &Identity) -> Self {
        proto::Identity {
            scheme: i.scheme.clone(),
            id: i.id.clone(),
        }
    }
}

impl From<proto::Identity> for Identity {
    fn from(i: proto::Identity) -> Self {
        Identity {
            scheme: i.scheme,
            id: i.id,
        }
    }
}

impl TryFrom<proto::Op> for Op {
    type Error = Error;
    fn try_from(op: proto::Op) -> Result<Self, Error> {
        use proto::op::Op as P;
        match op.op.ok_or_else(|| missing("Op.op"))? {
            P::Create(c) => create_from_proto(c),
            P::Delete(d) => Ok(Op::Delete {
                path: d.path,
                version: d.version,
            }),
            P::SetData(s) => Ok(Op::SetData {
                path: s.path,
                data: s.data,
                version: s.version,
            }),
            P::Check(c) => Ok(Op::Check {
                path: c.path,
                version: c.version,
            }),
        }
    }
}

/// Decodes every op of a multi.
pub fn ops_from_proto(ops: Vec<proto::Op>) -> Result<Vec<Op>, Error> {
    ops.into_iter().map(Op::try_from).collect()
}

impl From<&OpResult> for proto::OpResult {
    fn from(r: &OpResult) -> Self {
        use proto::op_result::Result as P;
        let inner = match r {
            OpResult::Create { path, stat } => P::Create(proto::CreateResponse {
                path: path.clone(),
                stat: Some(stat.into()),
                predecessor: String::new(),
            }),
            OpResult::Delete => P::Delete(proto::Empty {}),
            OpResult::SetData { stat } => P::SetData(proto::StatResponse {
                stat: Some(stat.into()),
            }),
            OpResult::Check => P::Check(proto::Empty {}),
            OpResult::Error(e) => P::Error(e.into()),
        };
        proto::OpResult {
            result: Some(inner),
        }
    }
}

impl TryFrom<proto::OpResult> for OpResult {
    type Error = Error;
    fn try_from(r: proto::OpResult) -> Result<Self, Error> {
        use proto::op_result::Result as P;
        Ok(match r.result.ok_or_else(|| missing("OpResult.result"))? {
            P::Create(c) => OpResult::Create {
                stat: stat_from_proto(c.stat, "CreateResponse.stat")?,
                path: c.path,
            },
            P::Delete(_) => OpResult::Delete,
            P::SetData(s) => OpResult::SetData {
                stat: stat_from_proto(s.stat, "StatResponse.stat")?,
            },
            P::Check(_) => OpResult::Check,
            P::Error(e) => OpResult::Error(Error::from(&e)),
        })
    }
}

impl From<EventType> for proto::EventType {
    fn from(t: EventType) -> Self {
        match t {
            EventType::NodeCreated => proto::EventType::NodeCreated,
            EventType::NodeDeleted => proto::EventType::NodeDeleted,
            EventType::NodeDataChanged => proto::EventType::NodeDataChanged,
            EventType::NodeChildrenChanged => proto::EventType::NodeChildrenChanged,
            EventType::EventsLost => proto::EventType::EventsLost,
        }
    }
}

impl From<&WatchEvent> for proto::WatchEvent {
    fn from(e: &WatchEvent) -> Self {
        proto::WatchEvent {
            r#type: proto::EventType::from(e.kind) as i32,
            path: e.path.clone(),
            zxid: e.zxid,
        }
    }
}

impl TryFrom<proto::WatchEvent> for WatchEvent {
    type Error = Error;
    fn try_from(e: proto::WatchEvent) -> Result<Self, Error> {
        let kind = match proto::EventType::try_from(e.r#type) {
            Ok(proto::EventType::NodeCreated) => EventType::NodeCreated,
            Ok(proto::EventType::NodeDeleted) => EventType::NodeDeleted,
            Ok(proto::EventType::NodeDataChanged) => EventType::NodeDataChanged,
            Ok(proto::EventType::NodeChildrenChanged) => EventType::NodeChildrenChanged,
            Ok(proto::EventType::EventsLost) => EventType::EventsLost,
            Err(_) => return Err(Error::Protocol(format!("unknown event type {}", e.r#type))),
        };
        Ok(WatchEvent {
            kind,
            path: e.path,
            zxid: e.zxid,
        })
    }
}

impl From<WatchMode> for proto::WatchMode {
    fn from(m: WatchMode) -> Self {
        match m {
            WatchMode::Persistent => proto::WatchMode::Persistent,
            WatchMode::PersistentRecursive => proto::WatchMode::PersistentRecursive,
        }
    }
}

/// Decodes a watch mode sent by a client.
pub fn watch_mode_from_proto(mode: i32) -> Result<WatchMode, Error> {
    match proto::WatchMode::try_from(mode) {
        Ok(proto::WatchMode::Persistent) => Ok(WatchMode::Persistent),
        Ok(proto::WatchMode::PersistentRecursive) => Ok(WatchMode::PersistentRecursive),
        Err(_) => Err(Error::BadArguments(format!("unknown watch mode {mode}"))),
    }
}

impl From<WatcherType> for proto::WatcherType {
    fn from(t: WatcherType) -> Self {
        match t {
            WatcherType::Any => proto::WatcherType::Any,
            WatcherType::Data => proto::WatcherType::Data,
            WatcherType::Children => proto::WatcherType::Children,
            WatcherType::Persistent => proto::WatcherType::Persistent,
            WatcherType::PersistentRecursive => proto::WatcherType::PersistentRecursive,
        }
    }
}

/// Decodes a watcher type sent by a client.
pub fn watcher_type_from_proto(t: i32) -> Result<WatcherType, Error> {
    match proto::WatcherType::try_from(t) {
        Ok(proto::WatcherType::Any) => Ok(WatcherType::Any),
        Ok(proto::WatcherType::Data) => Ok(WatcherType::Data),
        Ok(proto::WatcherType::Children) => Ok(WatcherType::Children),
        Ok(proto::WatcherType::Persistent) => Ok(WatcherType::Persistent),
        Ok(proto::WatcherType::PersistentRecursive) => Ok(WatcherType::PersistentRecursive),
        Err(_) => Err(Error::BadArguments(format!("unknown watcher type {t}"))),
    }
}

/// A 16-byte session secret from its wire form.
pub fn secret_from_bytes(b: &[u8]) -> Result<[u8; 16], Error> {
    b.try_into()
        .map_err(|_| Error::Protocol(format!("session secret must be 16 bytes, got {}", b.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_create_mode_round_trips() {
        for m in [
            CreateMode::Persistent,
            CreateMode::PersistentSequential,
            CreateMode::Ephemeral,
            CreateMode::EphemeralSequential,
            CreateMode::Container,
            CreateMode::PersistentWithTtl(10),
            CreateMode::PersistentSequentialWithTtl(20),
        ] {
            let p: proto::CreateMode = m.into();
            assert_eq!(CreateMode::try_from(&p).unwrap(), m);
        }
    }

    #[test]
    fn op_without_body_is_a_protocol_error_naming_the_field() {
        let err = Op::try_from(proto::Op { op: None }).unwrap_err();
        assert_eq!(err, Error::Protocol("missing field Op.op".into()));
    }
}
