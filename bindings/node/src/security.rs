//! Credentials at connect (TLS files, bearer token, digest) and the
//! identity, ACL, quota and lock-line calls of [`NativeClient`].
//!
//! ACL entries cross as ZooKeeper's text `scheme:id:perms` (parsed and
//! printed by the core's `Acl`; `lib/index.js` also takes `{ scheme, id,
//! perms }` objects and turns them into that text); identities as
//! `scheme:id`. TLS, ACL checks and the lock decision are the core's.

use coord_client::ClientBuilder;
use coord_client::client::{Acl, QuotaLimits, TlsOptions};
use coord_client::recipes::{Contender, LockInfo};
use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::client::NativeClient;
use crate::convert::{self, CreateOptions, Stat, create_mode};
use crate::error::{IntoJs, bad_arguments};

/// TLS settings of `connect`: PEM files.
#[napi(object)]
pub struct TlsConnectOptions {
    /// CA certificates that sign the servers' certificates (turns TLS on).
    pub ca: String,
    /// Client certificate chain (leaf first), for servers that require one;
    /// needs `key`.
    pub cert: Option<String>,
    /// Private key of `cert`.
    pub key: Option<String>,
    /// Name the servers' certificates must carry (default: each server's
    /// host; an IP must be an IP SAN).
    pub server_name: Option<String>,
}

/// Adds TLS and the token to `b`; checks the digest's shape.
pub(crate) fn credentials(
    mut b: ClientBuilder,
    tls: Option<TlsConnectOptions>,
    token: Option<String>,
    digest: Option<&str>,
) -> Result<ClientBuilder> {
    if let Some(t) = tls {
        let mut o = TlsOptions::ca_file(t.ca);
        match (t.cert, t.key) {
            (Some(c), Some(k)) => o = o.client_cert_files(c, k),
            (None, None) => {}
            _ => {
                return Err(bad_arguments(
                    "tls.cert and tls.key go together: give both or neither",
                ));
            }
        }
        if let Some(n) = t.server_name {
            o = o.server_name(n);
        }
        b = b.tls(o);
    }
    if let Some(t) = token {
        b = b.token(t);
    }
    if digest.is_some_and(|d| !d.contains(':')) {
        return Err(bad_arguments(
            "digest must be 'user:password' (no colon found)",
        ));
    }
    Ok(b)
}

/// A node's ACL and stat.
#[napi(object, object_from_js = false)]
pub struct AclResult {
    /// Entries, `scheme:id:perms` each (perms as `cdrwa` letters).
    pub acl: Vec<String>,
    /// The node's stat.
    pub stat: Stat,
}

/// Limits of `setQuota`; an absent limit is "no limit of this kind".
#[napi(object)]
pub struct QuotaLimitsJs {
    /// Most nodes the subtree may hold, its root included.
    pub max_nodes: Option<i64>,
    /// Most data bytes the subtree's nodes may hold together.
    pub max_bytes: Option<i64>,
}

/// A quota and its subtree's usage.
#[napi(object, object_from_js = false)]
pub struct QuotaJs {
    /// The node limit, absent when none.
    pub max_nodes: Option<i64>,
    /// The byte limit, absent when none.
    pub max_bytes: Option<i64>,
    /// Nodes in the subtree now, its root included.
    pub nodes: i64,
    /// Data bytes in the subtree now.
    pub bytes: i64,
}

/// One node in a lock's line.
#[napi(object, object_from_js = false)]
pub struct LockContender {
    /// The node's name (`<owner>__lock__NNNNNNNNNN` or `…__rlock__…`).
    pub node: String,
    /// The owner id the name starts with.
    pub owner: String,
    /// `'exclusive'` (mutex, writer, election candidate) or `'shared'` (reader).
    pub kind: String,
    /// The session holding the node.
    pub session: u64,
    /// The fencing token a holder got (the node's czxid).
    pub token: u64,
    /// When the node joined the line, ms since the epoch.
    pub since_ms: i64,
}

/// A lock's line at one moment.
#[napi(object, object_from_js = false)]
pub struct LockInfoJs {
    /// The lock's path.
    pub path: String,
    /// Who holds it: one exclusive holder, or any number of readers.
    pub holders: Vec<LockContender>,
    /// Who waits, in line order.
    pub waiters: Vec<LockContender>,
}

fn contender(c: &Contender) -> LockContender {
    LockContender {
        node: c.node.clone(),
        owner: c.owner.clone(),
        kind: c.kind.as_str().to_string(),
        session: c.session,
        token: c.token,
        since_ms: c.since_ms,
    }
}

fn line(info: &LockInfo) -> LockInfoJs {
    LockInfoJs {
        path: info.path.clone(),
        holders: info.holders.iter().map(contender).collect(),
        waiters: info.waiters.iter().map(contender).collect(),
    }
}

fn acl_in(entries: &[String]) -> Result<Vec<Acl>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Acl::parse(e).map_err(|err| bad_arguments(format!("acl[{i}]: {}", err.detail())))
        })
        .collect()
}

fn limit(v: Option<i64>, name: &str) -> Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(v) => u64::try_from(v)
            .map(Some)
            .map_err(|_| bad_arguments(format!("{name} must be >= 0, got {v}"))),
    }
}

fn limit_out(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

#[napi]
impl NativeClient {
    /// The identities this session holds, `scheme:id` each.
    #[napi]
    pub async fn whoami(&self) -> Result<Vec<String>> {
        let ids = self.client.whoami().await.js()?;
        Ok(ids.iter().map(ToString::to_string).collect())
    }

    /// The node's ACL and stat (needs no permission).
    #[napi]
    pub async fn get_acl(&self, path: String) -> Result<AclResult> {
        let (acl, stat) = self.client.get_acl(&path).await.js()?;
        Ok(AclResult {
            acl: acl.iter().map(ToString::to_string).collect(),
            stat: stat.into(),
        })
    }

    /// Replaces the node's ACL (needs ADMIN); `version` is the expected ACL
    /// version when given.
    #[napi]
    pub async fn set_acl(
        &self,
        path: String,
        acl: Vec<String>,
        version: Option<i32>,
    ) -> Result<Stat> {
        let acl = acl_in(&acl)?;
        Ok(self.client.set_acl(&path, &acl, version).await.js()?.into())
    }

    /// Creates a node with an ACL; resolves to its path.
    #[napi]
    pub async fn create_with_acl(
        &self,
        path: String,
        data: Option<Buffer>,
        acl: Vec<String>,
        options: Option<CreateOptions>,
    ) -> Result<String> {
        let options = options.unwrap_or_default();
        if options.make_parents.unwrap_or(false) {
            return Err(bad_arguments("makeParents cannot be combined with an ACL"));
        }
        let mode = create_mode(&options)?;
        let acl = acl_in(&acl)?;
        let data = convert::bytes(data);
        let (p, _) = self
            .client
            .create_with_acl(&path, data, mode, &acl)
            .await
            .js()?;
        Ok(p)
    }

    /// Sets (or replaces) the quota on `path`.
    #[napi]
    pub async fn set_quota(&self, path: String, limits: QuotaLimitsJs) -> Result<()> {
        let limits = QuotaLimits {
            max_nodes: limit(limits.max_nodes, "maxNodes")?,
            max_bytes: limit(limits.max_bytes, "maxBytes")?,
        };
        self.client.set_quota(&path, limits).await.js()
    }

    /// The quota on exactly `path` and its subtree's usage.
    #[napi]
    pub async fn get_quota(&self, path: String) -> Result<QuotaJs> {
        let q = self.client.get_quota(&path).await.js()?;
        Ok(QuotaJs {
            max_nodes: limit_out(q.limits.max_nodes),
            max_bytes: limit_out(q.limits.max_bytes),
            nodes: i64::try_from(q.usage.nodes).unwrap_or(i64::MAX),
            bytes: i64::try_from(q.usage.bytes).unwrap_or(i64::MAX),
        })
    }

    /// Removes the quota on `path`.
    #[napi]
    pub async fn clear_quota(&self, path: String) -> Result<()> {
        self.client.clear_quota(&path).await.js()
    }

    /// Who holds the lock (read-write lock, election) at `path` and who
    /// waits, in line order.
    #[napi]
    pub async fn lock_info(&self, path: String) -> Result<LockInfoJs> {
        let info = self.client.lock_info(&path).await.js()?;
        Ok(line(&info))
    }
}
