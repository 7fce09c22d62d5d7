//! The server's side of identities and ACLs: authenticating `addAuth`
//! credentials into an identity to replicate, the permission a read needs,
//! and the answers of getACL and whoAmI.
//!
//! Credentials end here: a digest password becomes its digest id and a
//! token its user name before anything is proposed, so neither reaches the
//! log, a snapshot or a log line. Whether a session may do something is
//! decided by the replicated state (`state_machine::acl`), never here.

use coord_proto::acl::{self, DIGEST, TOKEN, perms};
use coord_proto::proto::{self, request::Op as Req, response::Result as Res};
use coord_proto::{Identity, wire::acl_from_proto};

use super::Shared;
use crate::error::Error;
use crate::state_machine::{CommandKind, StateMachine};

/// The identity that `addAuth(scheme, credentials)` proves, as a command
/// adding it to the session; `AuthFailed` (naming the scheme, never the
/// credentials) when the scheme is unknown or the credentials are refused.
pub(crate) fn add_auth_command(
    shared: &Shared,
    r: proto::AddAuthRequest,
) -> Result<CommandKind, Error> {
    authenticate(shared, &r.scheme, &r.credentials).map(CommandKind::AddIdentity)
}

/// See [`add_auth_command`]; shared with the ZooKeeper port.
pub(crate) fn authenticate(
    shared: &Shared,
    scheme: &str,
    credentials: &[u8],
) -> Result<Identity, Error> {
    match scheme {
        DIGEST => {
            let text = std::str::from_utf8(credentials).map_err(|_| {
                Error::AuthFailed("digest credentials are not UTF-8 user:password".into())
            })?;
            match text.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    Ok(Identity::new(DIGEST, acl::digest_id(user, password)))
                }
                _ => Err(Error::AuthFailed(
                    "digest credentials must be user:password".into(),
                )),
            }
        }
        TOKEN => {
            let user = shared
                .cfg
                .tokens
                .as_ref()
                .and_then(|t| t.user_of(credentials));
            match user {
                Some(user) => Ok(Identity::new(TOKEN, user)),
                None => Err(Error::AuthFailed(
                    "token refused (not in the server's tokens file)".into(),
                )),
            }
        }
        other => Err(Error::AuthFailed(format!(
            "unknown authentication scheme {other:?} (use digest or token)"
        ))),
    }
}

/// What the transport knows about a client before its first frame: its
/// address and, on a TLS connection with a client certificate, the
/// certificate's subject (handed over by the TLS layer).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerIdentity {
    /// The client's address (`ip` scheme).
    pub(crate) ip: Option<std::net::IpAddr>,
    /// The verified client certificate's subject (`x509` scheme).
    pub(crate) x509_subject: Option<String>,
}

impl PeerIdentity {
    /// A plain-TCP client at `addr`.
    pub(crate) fn tcp(addr: std::net::SocketAddr) -> PeerIdentity {
        PeerIdentity {
            ip: Some(addr.ip()),
            x509_subject: None,
        }
    }
}

/// The identities a new session starts with: `ip`, `x509` (certificate
/// subject) and `token` (the `Connect`'s token, checked against the tokens
/// file). `AuthFailed` for a refused token. With `--auth-required` a session
/// that holds no identity but its address is still made, so that it can
/// `addAuth` a digest (ZooKeeper clients can only authenticate that way,
/// after connecting); until it does, every request but `addAuth`, `whoAmI`,
/// ping and close fails with `AuthFailed` (`StateMachine::check_authenticated`).
pub(crate) fn connect_identities(
    shared: &Shared,
    token: &str,
    peer: &PeerIdentity,
) -> Result<Vec<Identity>, Error> {
    let mut ids = Vec::new();
    if let Some(ip) = peer.ip {
        ids.push(Identity::new(acl::IP, ip.to_string()));
    }
    if let Some(subject) = &peer.x509_subject {
        ids.push(Identity::new(acl::X509, subject.clone()));
    }
    if !token.is_empty() {
        ids.push(authenticate(shared, TOKEN, token.as_bytes())?);
    }
    Ok(ids)
}

/// A `SetAcl` command from its request.
pub(crate) fn set_acl_command(r: proto::SetAclRequest) -> CommandKind {
    CommandKind::SetAcl {
        path: r.path,
        acl: acl_from_proto(r.acl),
        version: r.version,
    }
}

/// The node a read needs READ on, if any (getACL, whoAmI, sync and watch
/// removal need nothing).
pub(crate) fn read_needs(op: &Req) -> Option<&str> {
    match op {
        Req::Exists(r) => Some(&r.path),
        Req::GetData(r) => Some(&r.path),
        Req::GetChildren(r) => Some(&r.path),
        Req::AddWatch(r) => Some(&r.path),
        _ => None,
    }
}

/// `NoAuth` when `session` may not read what `op` reads (checked under the
/// same lock as the read).
pub(crate) fn check_read(sm: &StateMachine, session: u64, op: &Req) -> Result<(), Error> {
    if !matches!(op, Req::Ping(_) | Req::WhoAmI(_)) {
        sm.check_authenticated(session)?;
    }
    match read_needs(op) {
        Some(path) => sm.check_perm(session, path, perms::READ),
        None => Ok(()),
    }
}

/// getACL's answer: the list and the stat (whose aversion setACL checks).
pub(crate) fn get_acl(sm: &StateMachine, path: &str) -> Result<Res, Error> {
    let (acl, stat) = sm.acl(path)?;
    Ok(Res::GetAcl(proto::GetAclResponse {
        acl: acl.iter().map(proto::Acl::from).collect(),
        stat: Some((&stat).into()),
    }))
}

/// Most session ids one `SessionInfo` request may name.
pub(crate) const MAX_SESSION_INFO_IDS: usize = 1000;

/// `SessionInfo`'s answer: what the replicated table holds about each
/// session asked for (any member answers alike). `TooLarge` past
/// [`MAX_SESSION_INFO_IDS`].
pub(crate) fn session_info(sm: &StateMachine, r: &proto::SessionInfoRequest) -> Result<Res, Error> {
    if r.session_ids.len() > MAX_SESSION_INFO_IDS {
        return Err(Error::TooLarge(format!(
            "SessionInfo names {} sessions, limit max_session_info_ids = {MAX_SESSION_INFO_IDS}",
            r.session_ids.len()
        )));
    }
    let sessions = r
        .session_ids
        .iter()
        .map(|&id| match sm.session(id) {
            Some(s) => proto::SessionSummary {
                session_id: id,
                found: true,
                timeout_ms: s.timeout_ms,
                identities: s.identities.iter().map(proto::Identity::from).collect(),
                ephemerals: sm.tree().ephemeral_count(id) as u64,
            },
            None => proto::SessionSummary {
                session_id: id,
                ..Default::default()
            },
        })
        .collect();
    Ok(Res::SessionInfo(proto::SessionInfoResponse { sessions }))
}

/// whoAmI's answer: the session's identities (`world:anyone` when none).
pub(crate) fn who_am_i(sm: &StateMachine, session: u64) -> Res {
    let ids = sm.identities(session);
    let identities = if ids.is_empty() {
        vec![proto::Identity::from(&Identity::anyone())]
    } else {
        ids.iter().map(proto::Identity::from).collect()
    };
    Res::WhoAmI(proto::WhoAmIResponse { identities })
}
