//! Identity, ACL, quota and lock-line calls of the native module, and the
//! credentials `connect` takes (TLS files, bearer token, digest).
//!
//! Values cross as plain Python values the package's `_security` module
//! wraps into dataclasses: ACL entries as ZooKeeper's text `scheme:id:perms`
//! (parsed and printed by the core's `Acl`), identities as `scheme:id`,
//! quotas and lock lines as tuples. Checks, TLS and the lock decision are
//! the core's; this module only converts.

use coord_client::client::{Acl, Client, QuotaLimits, TlsOptions};
use coord_client::recipes::{Contender, LockInfo};
use coord_client::{ClientBuilder, Error, Result};
use pyo3::prelude::*;

use crate::call::{Call, conv, conv_with, failed, none};
use crate::client::{ClientCore, Stat, create_mode, stat_conv};

/// TLS files as the Python layer passes them: `(ca, cert, key, server_name)`.
pub(crate) type TlsSpec = (String, Option<String>, Option<String>, Option<String>);

/// Adds TLS and the bearer token to `builder`; checks the digest's shape.
pub(crate) fn credentials(
    mut builder: ClientBuilder,
    tls: Option<TlsSpec>,
    token: Option<String>,
    digest: Option<&(String, String)>,
) -> Result<ClientBuilder> {
    if let Some((ca, cert, key, name)) = tls {
        let mut t = TlsOptions::ca_file(ca);
        match (cert, key) {
            (Some(c), Some(k)) => t = t.client_cert_files(c, k),
            (None, None) => {}
            _ => {
                return Err(Error::BadArguments(
                    "tls: cert and key go together: give both or neither".into(),
                ));
            }
        }
        if let Some(n) = name {
            t = t.server_name(n);
        }
        builder = builder.tls(t);
    }
    if let Some(t) = token {
        builder = builder.token(t);
    }
    if let Some((user, _)) = digest
        && (user.is_empty() || user.contains(':'))
    {
        return Err(Error::BadArguments(format!(
            "digest: user {user:?} must be non-empty and hold no ':'"
        )));
    }
    Ok(builder)
}

/// Connects, then adds the digest identity (closing the session if refused).
pub(crate) async fn connect(
    builder: ClientBuilder,
    digest: Option<(String, String)>,
) -> Result<Client> {
    let client = builder.connect().await?;
    if let Some((user, password)) = digest {
        let creds = format!("{user}:{password}");
        if let Err(e) = client.add_auth("digest", creds.as_bytes()).await {
            let _ = client.close().await;
            return Err(e);
        }
    }
    Ok(client)
}

fn acl_in(entries: Vec<String>) -> Result<Vec<Acl>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Acl::parse(e).map_err(|err| Error::BadArguments(format!("acl[{i}]: {}", err.detail())))
        })
        .collect()
}

fn contender(c: &Contender) -> (String, String, &'static str, u64, u64, i64) {
    let kind = c.kind.as_str();
    (
        c.node.clone(),
        c.owner.clone(),
        kind,
        c.session,
        c.token,
        c.since_ms,
    )
}

/// `(path, holders, waiters)`, each contender
/// `(node, owner, kind, session, token, since_ms)`.
type LineTuple = (
    String,
    Vec<(String, String, &'static str, u64, u64, i64)>,
    Vec<(String, String, &'static str, u64, u64, i64)>,
);

fn line(info: &LockInfo) -> LineTuple {
    (
        info.path.clone(),
        info.holders.iter().map(contender).collect(),
        info.waiters.iter().map(contender).collect(),
    )
}

/// Resolves to the session's identities, `"scheme:id"` each.
#[pyfunction]
fn whoami(client: &Bound<'_, ClientCore>) -> Call {
    client.get().with(|c| async move {
        let ids = c.whoami().await?;
        Ok(conv(
            ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ))
    })
}

/// Resolves to `([entry, ...], Stat)`, entries `"scheme:id:perms"`.
#[pyfunction]
fn get_acl(client: &Bound<'_, ClientCore>, path: String) -> Call {
    client.get().with(move |c| async move {
        let (acl, stat) = c.get_acl(&path).await?;
        let texts: Vec<String> = acl.iter().map(ToString::to_string).collect();
        Ok(conv_with(move |py| {
            let t = (texts, Py::new(py, Stat::from(stat))?);
            Ok(t.into_pyobject(py)?.into_any().unbind())
        }))
    })
}

/// Replaces the ACL (`version` -1: any aversion); resolves to the Stat.
#[pyfunction]
#[pyo3(signature = (client, path, acl, version=-1))]
fn set_acl(client: &Bound<'_, ClientCore>, path: String, acl: Vec<String>, version: i32) -> Call {
    let acl = match acl_in(acl) {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    client.get().with(move |c| async move {
        let v = (version >= 0).then_some(version);
        Ok(stat_conv(c.set_acl(&path, &acl, v).await?))
    })
}

/// Creates a node with an ACL; resolves to its path.
#[pyfunction]
#[pyo3(signature = (client, path, data, acl, ephemeral=false, sequential=false, container=false, ttl=None))]
#[allow(clippy::too_many_arguments)]
fn create_acl(
    client: &Bound<'_, ClientCore>,
    path: String,
    data: Vec<u8>,
    acl: Vec<String>,
    ephemeral: bool,
    sequential: bool,
    container: bool,
    ttl: Option<f64>,
) -> Call {
    let prepared = create_mode(ephemeral, sequential, container, ttl)
        .and_then(|m| acl_in(acl).map(|a| (m, a)));
    let (mode, acl) = match prepared {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    client.get().with(move |c| async move {
        let (created, _) = c.create_with_acl(&path, data, mode, &acl).await?;
        Ok(conv(created))
    })
}

/// Sets the quota on `path` (`None`: no limit of that kind).
#[pyfunction]
#[pyo3(signature = (client, path, max_nodes=None, max_bytes=None))]
fn set_quota(
    client: &Bound<'_, ClientCore>,
    path: String,
    max_nodes: Option<u64>,
    max_bytes: Option<u64>,
) -> Call {
    let limits = QuotaLimits {
        max_nodes,
        max_bytes,
    };
    client.get().with(move |c| async move {
        c.set_quota(&path, limits).await?;
        Ok(none())
    })
}

/// Resolves to `(max_nodes, max_bytes, nodes, bytes)` (limits may be None).
#[pyfunction]
fn get_quota(client: &Bound<'_, ClientCore>, path: String) -> Call {
    client.get().with(move |c| async move {
        let q = c.get_quota(&path).await?;
        Ok(conv((
            q.limits.max_nodes,
            q.limits.max_bytes,
            q.usage.nodes,
            q.usage.bytes,
        )))
    })
}

/// Removes the quota on `path`.
#[pyfunction]
fn clear_quota(client: &Bound<'_, ClientCore>, path: String) -> Call {
    client.get().with(move |c| async move {
        c.clear_quota(&path).await?;
        Ok(none())
    })
}

/// Resolves to `(path, holders, waiters)` of the lock line at `path`.
#[pyfunction]
fn lock_info(client: &Bound<'_, ClientCore>, path: String) -> Call {
    client.get().with(move |c| async move {
        let info = c.lock_info(&path).await?;
        Ok(conv(line(&info)))
    })
}

/// Adds the functions of this module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(whoami, m)?)?;
    m.add_function(wrap_pyfunction!(get_acl, m)?)?;
    m.add_function(wrap_pyfunction!(set_acl, m)?)?;
    m.add_function(wrap_pyfunction!(create_acl, m)?)?;
    m.add_function(wrap_pyfunction!(set_quota, m)?)?;
    m.add_function(wrap_pyfunction!(get_quota, m)?)?;
    m.add_function(wrap_pyfunction!(clear_quota, m)?)?;
    m.add_function(wrap_pyfunction!(lock_info, m)?)?;
    Ok(())
}
