//! [`Client`]'s identity and ACL calls: create with an ACL, getACL, setACL,
//! addAuth and whoAmI. ACLs are ZooKeeper's ([`coord_proto::acl`]); the
//! server checks them in its replicated state, so this module only builds
//! requests and decodes answers.

use bytes::Bytes;

use crate::error::{Error, Result};
use coord_proto::proto;
use coord_proto::proto::request::Op as Req;
use coord_proto::proto::response::Result as Res;
use coord_proto::wire::{acl_from_proto, stat_from_proto};
use coord_proto::{Acl, CreateMode, Identity, Stat};

use super::api::{Client, result_name};
use super::request::Action;

impl Client {
    /// Creates a node whose ACL is `acl` (empty: `world:anyone:cdrwa`);
    /// returns its path and stat. Needs CREATE on the parent; an `auth`
    /// entry stands for every identity this session holds.
    pub async fn create_with_acl(
        &self,
        path: &str,
        data: impl Into<Bytes>,
        mode: CreateMode,
        acl: &[Acl],
    ) -> Result<(String, Stat)> {
        let resp = self
            .inner()
            .call(
                Req::Create(proto::CreateRequest {
                    path: path.to_string(),
                    data: data.into(),
                    mode: Some(mode.into()),
                    return_predecessor: false,
                    acl: acl.iter().map(proto::Acl::from).collect(),
                }),
                false,
                Action::None,
            )
            .await?;
        match resp.result {
            Some(Res::Create(c)) => Ok((c.path, stat_from_proto(c.stat, "CreateResponse.stat")?)),
            other => Err(unexpected("Create", &other)),
        }
    }

    /// A node's ACL and stat (the stat's `aversion` is what
    /// [`Client::set_acl`]'s version compares with). Needs no permission.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let resp = self
            .read(
                Req::GetAcl(proto::GetAclRequest {
                    path: path.to_string(),
                }),
                Action::None,
            )
            .await?;
        match resp.result {
            Some(Res::GetAcl(g)) => Ok((
                acl_from_proto(g.acl),
                stat_from_proto(g.stat, "GetAclResponse.stat")?,
            )),
            other => Err(unexpected("GetAcl", &other)),
        }
    }

    /// Replaces a node's ACL; needs ADMIN on it. `version` `Some(v)` fails
    /// with `BadVersion` unless the node's aversion is `v`. Returns the stat.
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: Option<i32>) -> Result<Stat> {
        let resp = self
            .inner()
            .call(
                Req::SetAcl(proto::SetAclRequest {
                    path: path.to_string(),
                    acl: acl.iter().map(proto::Acl::from).collect(),
                    version: version.unwrap_or(-1),
                }),
                false,
                Action::None,
            )
            .await?;
        match resp.result {
            Some(Res::SetAcl(s)) => stat_from_proto(s.stat, "SetAclResponse.stat"),
            other => Err(unexpected("SetAcl", &other)),
        }
    }

    /// Adds an identity to the session: scheme `digest` with credentials
    /// `user:password`, or `token` with a token from the server's tokens
    /// file. The identity stays with the session across reconnects.
    /// `AuthFailed` when the server refuses the credentials.
    pub async fn add_auth(&self, scheme: &str, credentials: &[u8]) -> Result<()> {
        let resp = self
            .inner()
            .call(
                Req::AddAuth(proto::AddAuthRequest {
                    scheme: scheme.to_string(),
                    credentials: Bytes::copy_from_slice(credentials),
                }),
                false,
                Action::None,
            )
            .await?;
        match resp.result {
            Some(Res::AddAuth(_)) => Ok(()),
            other => Err(unexpected("AddAuth", &other)),
        }
    }

    /// The identities this session holds (`world:anyone` when none).
    pub async fn whoami(&self) -> Result<Vec<Identity>> {
        let resp = self
            .read(Req::WhoAmI(proto::WhoAmIRequest {}), Action::None)
            .await?;
        match resp.result {
            Some(Res::WhoAmI(w)) => Ok(w.identities.into_iter().map(Identity::from).collect()),
            other => Err(unexpected("WhoAmI", &other)),
        }
    }

    /// What the server's replicated session table holds about each of
    /// `session_ids` (in that order): timeout, identities (`ip` is the
    /// client's address), ephemeral count; `None` for a session that has
    /// ended. At most 1000 ids per call (the server's
    /// `max_session_info_ids`).
    pub async fn session_info(&self, session_ids: &[u64]) -> Result<Vec<Option<SessionSummary>>> {
        let resp = self
            .read(
                Req::SessionInfo(proto::SessionInfoRequest {
                    session_ids: session_ids.to_vec(),
                }),
                Action::None,
            )
            .await?;
        match resp.result {
            Some(Res::SessionInfo(r)) => Ok(r
                .sessions
                .into_iter()
                .map(|s| {
                    s.found.then(|| SessionSummary {
                        session_id: s.session_id,
                        timeout_ms: s.timeout_ms,
                        identities: s.identities.into_iter().map(Identity::from).collect(),
                        ephemerals: s.ephemerals,
                    })
                })
                .collect()),
            other => Err(unexpected("SessionInfo", &other)),
        }
    }
}

/// A session as the server's replicated table holds it
/// ([`Client::session_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session's id.
    pub session_id: u64,
    /// Its negotiated timeout.
    pub timeout_ms: u32,
    /// Who it is: `ip` (the address it connected from), and any `token`,
    /// `digest` or `x509` identity it proved.
    pub identities: Vec<Identity>,
    /// Ephemeral nodes it owns.
    pub ephemerals: u64,
}

impl SessionSummary {
    /// The client's address (its `ip` identity), if known.
    pub fn client_ip(&self) -> Option<&str> {
        self.identities
            .iter()
            .find(|i| i.scheme == coord_proto::acl::IP)
            .map(|i| i.id.as_str())
    }
}

fn unexpected(want: &str, got: &Option<Res>) -> Error {
    Error::Protocol(format!(
        "expected a {want} response, got {}",
        result_name(got)
    ))
}
