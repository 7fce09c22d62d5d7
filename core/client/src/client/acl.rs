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
}

fn unexpected(want: &str, got: &Option<Res>) -> Error {
    Error::Protocol(format!(
        "expected a {want} response, got {}",
        result_name(got)
    ))
}
