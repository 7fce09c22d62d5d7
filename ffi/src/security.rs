//! Connecting with options (TLS, bearer token, digest credentials) and the
//! identity, ACL and quota calls: `coord_connect_opts`, `coord_whoami`,
//! `coord_get_acl` / `coord_set_acl` / `coord_create_acl`, and
//! `coord_set_quota` / `coord_get_quota` / `coord_clear_quota`.
//!
//! ACL entries cross the ABI in ZooKeeper's text form `scheme:id:perms`
//! (`world:anyone:r`, `digest:alice:<hash>:cdrwa`, `auth::cdrwa`), parsed and
//! printed by the core's `Acl`; identities as `scheme:id`. This module only
//! converts: TLS, authentication and ACL checks are the client's and the
//! server's.

use std::ffi::c_char;
use std::time::Duration;

use ::coord_client::client::{Acl, Client, QuotaLimits, TlsOptions};

use crate::client::{coord_client, coord_create_mode, create_mode};
use crate::error::{Fail, Res, coord_result, guard};
use crate::util::{self, coord_stat, need, out_string, out_string_array, put, run};

/// Options of `coord_connect_opts`. Versioned by its first field: set
/// `struct_size` to `sizeof(struct coord_connect_options)` as your header
/// declares it and zero every field you do not use
/// (`struct coord_connect_options o = {.struct_size = sizeof o};`). Later versions of the
/// library only append fields and read only the first `struct_size` bytes,
/// so a program compiled against this header keeps working; fields a
/// program does not know about are treated as zero / NULL.
///
/// Every string is borrowed for the call (NUL-terminated UTF-8); NULL means
/// "not set".
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct coord_connect_options {
    /// `sizeof(struct coord_connect_options)`; must be at least the size of
    /// the first version (this one).
    pub struct_size: u32,
    /// Session timeout to ask for in ms (0: default 10 s; the server clamps
    /// it into its bounds).
    pub session_timeout_ms: u32,
    /// Limit on the first connection in ms (0: default 5 s).
    pub connect_timeout_ms: u32,
    /// `"host:port,host:port"`; NULL: `$COORD_SERVERS` or `127.0.0.1:2281`.
    pub servers: *const c_char,
    /// PEM file of the CA certificates that sign the servers' certificates;
    /// setting it turns TLS on. NULL: plain TCP.
    pub tls_ca_file: *const c_char,
    /// PEM file of the client certificate chain (leaf first), for servers
    /// that require client certificates; needs `tls_key_file`.
    pub tls_cert_file: *const c_char,
    /// PEM file of the private key of `tls_cert_file`.
    pub tls_key_file: *const c_char,
    /// Name the servers' certificates must carry (default: each server's
    /// host; an IP address must then be an IP SAN).
    pub tls_server_name: *const c_char,
    /// Bearer token from the server's tokens file, presented at connect (the
    /// session holds `token:<user>` from its start). Never logged.
    pub token: *const c_char,
    /// ZooKeeper digest credentials `"user:password"`, added to the session
    /// right after connect (identity `digest:user:<hash>`). Never logged.
    pub digest: *const c_char,
}

/// Size of the first version of `coord_connect_options` (this one).
const OPTIONS_V1_SIZE: usize = std::mem::size_of::<coord_connect_options>();

/// Reads the caller's options, honouring its `struct_size`.
///
/// # Safety
/// `p` is NULL or points to at least `struct_size` readable bytes.
unsafe fn read_options(p: *const coord_connect_options) -> Res<coord_connect_options> {
    if p.is_null() {
        return Err(Fail::null("opts"));
    }
    // SAFETY: the first field is there in every version.
    let size = unsafe { p.cast::<u32>().read_unaligned() } as usize;
    if size < OPTIONS_V1_SIZE {
        return Err(Fail::bad(format!(
            "opts.struct_size is {size}, expected sizeof(struct coord_connect_options) \
             (at least {OPTIONS_V1_SIZE}): set it before calling coord_connect_opts"
        )));
    }
    // SAFETY: at least the first version's bytes are readable (struct_size).
    Ok(unsafe { p.read() })
}

/// The builder the options describe, and the digest credentials to add.
fn builder(o: &coord_connect_options) -> Res<(::coord_client::ClientBuilder, Option<String>)> {
    let servers = unsafe { util::opt_text(o.servers, "opts.servers") }?
        .unwrap_or_else(Client::default_servers);
    let mut b = Client::builder().servers(servers);
    if o.session_timeout_ms > 0 {
        b = b.session_timeout(Duration::from_millis(o.session_timeout_ms.into()));
    }
    if o.connect_timeout_ms > 0 {
        b = b.connect_timeout(Duration::from_millis(o.connect_timeout_ms.into()));
    }
    let ca = unsafe { util::opt_text(o.tls_ca_file, "opts.tls_ca_file") }?;
    let cert = unsafe { util::opt_text(o.tls_cert_file, "opts.tls_cert_file") }?;
    let key = unsafe { util::opt_text(o.tls_key_file, "opts.tls_key_file") }?;
    let name = unsafe { util::opt_text(o.tls_server_name, "opts.tls_server_name") }?;
    match (ca, cert, key) {
        (None, None, None) if name.is_none() => {}
        (None, ..) => {
            return Err(Fail::bad(
                "opts.tls_ca_file is NULL but other TLS options are set: \
                 TLS needs the CA file that signs the servers' certificates",
            ));
        }
        (Some(ca), cert, key) => {
            let mut tls = TlsOptions::ca_file(ca);
            match (cert, key) {
                (Some(c), Some(k)) => tls = tls.client_cert_files(c, k),
                (None, None) => {}
                _ => {
                    return Err(Fail::bad(
                        "opts.tls_cert_file and opts.tls_key_file go together: set both or neither",
                    ));
                }
            }
            if let Some(n) = name {
                tls = tls.server_name(n);
            }
            b = b.tls(tls);
        }
    }
    if let Some(t) = unsafe { util::opt_text(o.token, "opts.token") }? {
        b = b.token(t);
    }
    let digest = unsafe { util::opt_text(o.digest, "opts.digest") }?;
    if digest.as_ref().is_some_and(|d| !d.contains(':')) {
        return Err(Fail::bad(
            "opts.digest must be \"user:password\" (no colon found)",
        ));
    }
    Ok((b, digest))
}

/// What `coord_connect_opts` expands to: checks `abi_version` (the
/// caller's `COORD_ABI_VERSION`, passed by the macro) like
/// `coord_connect_abi`, then connects with the options in `*opts` (see `coord_connect_options`): TLS,
/// bearer token and digest credentials. A TLS failure (e.g. a server
/// certificate not signed by `tls_ca_file`) gives
/// `COORD_RESULT_CONNECTION_LOSS` with the reason in
/// `coord_last_error_message()`; refused credentials give
/// `COORD_RESULT_AUTH_FAILED`; an unreadable file or a bad option gives
/// `COORD_RESULT_BAD_ARGUMENTS` naming it.
///
/// Ownership: `opts` and its strings are borrowed for the call; `*out` is
/// owned by the caller, free it with `coord_client_free`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_connect_opts_abi(
    abi_version: u32,
    opts: *const coord_connect_options,
    out: *mut *mut coord_client,
) -> coord_result {
    guard(|| {
        crate::connect::check_abi(abi_version)?;
        let out = need(out, "out")?;
        let o = unsafe { read_options(opts) }?;
        let (b, digest) = builder(&o)?;
        let client = run(
            async move {
                let client = b.connect().await?;
                if let Some(d) = digest
                    && let Err(e) = client.add_auth("digest", d.as_bytes()).await
                {
                    let _ = client.close().await;
                    return Err(e);
                }
                Ok(client)
            },
            None,
        )?;
        unsafe { crate::connect::hand_out(out, client) };
        Ok(())
    })
}

/// The identities this session holds, `"scheme:id"` each (`world:anyone`
/// when none), into `*out_identities` / `*out_len`.
///
/// Ownership: `*out_identities` and its strings are owned by the caller;
/// free them with `coord_free_string_array(identities, len)`.
///
/// Results: `COORD_RESULT_OK`; argument errors; request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_whoami(
    client: *const coord_client,
    out_identities: *mut *mut *mut c_char,
    out_len: *mut usize,
) -> coord_result {
    guard(|| {
        need(out_identities, "out_identities")?;
        need(out_len, "out_len")?;
        let c = crate::client::client(client)?.clone();
        let ids = run(async move { c.whoami().await }, None)?;
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let (p, n) = out_string_array(&texts);
        unsafe {
            put(out_identities, p);
            put(out_len, n);
        }
        Ok(())
    })
}

/// `n` ACL entries in text form (`n` 0: `acl` may be NULL).
fn acl_in(acl: *const *const c_char, n: usize) -> Res<Vec<Acl>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if acl.is_null() {
        return Err(Fail::null("acl"));
    }
    // SAFETY: non-NULL, n elements by the caller's promise.
    let entries = unsafe { std::slice::from_raw_parts(acl, n) };
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let text = unsafe { util::text(*e, &format!("acl[{i}]")) }?;
            Acl::parse(&text).map_err(|e| Fail::bad(format!("acl[{i}]: {}", e.detail())))
        })
        .collect()
}

/// A node's ACL, one `"scheme:id:perms"` string per entry (perms as
/// `cdrwa` letters), into `*out_acl` / `*out_len`; its stat to `*out_stat`
/// and its ACL version (what `coord_set_acl`'s `aversion` compares with) to
/// `*out_aversion`, each if not NULL. Needs no permission.
///
/// Ownership: `*out_acl` and its strings are owned by the caller; free them
/// with `coord_free_string_array(acl, len)`.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_NO_NODE`; argument errors;
/// request errors.
#[unsafe(no_mangle)]
pub extern "C" fn coord_get_acl(
    client: *const coord_client,
    path: *const c_char,
    out_acl: *mut *mut *mut c_char,
    out_len: *mut usize,
    out_stat: *mut coord_stat,
    out_aversion: *mut i32,
) -> coord_result {
    guard(|| {
        need(out_acl, "out_acl")?;
        need(out_len, "out_len")?;
        let c = crate::client::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let (acl, stat) = run(async move { c.get_acl(&path).await }, None)?;
        let texts: Vec<String> = acl.iter().map(ToString::to_string).collect();
        let (p, n) = out_string_array(&texts);
        unsafe {
            put(out_acl, p);
            put(out_len, n);
            put(out_aversion, stat.aversion);
            put(out_stat, stat.into());
        }
        Ok(())
    })
}

/// Replaces a node's ACL with the `n` entries of `acl` (`"scheme:id:perms"`
/// each, e.g. `"world:anyone:r"`, `"auth::cdrwa"`); needs ADMIN on the node
/// (`COORD_RESULT_NO_AUTH` otherwise). `aversion` -1 sets it whatever the
/// node's ACL version, else `COORD_RESULT_BAD_VERSION` unless it matches.
/// Writes the node's stat to `*out_stat` if not NULL. A malformed entry
/// gives `COORD_RESULT_BAD_ARGUMENTS` naming `acl[i]`.
///
/// Ownership: `acl` and its strings are borrowed for the call.
#[unsafe(no_mangle)]
pub extern "C" fn coord_set_acl(
    client: *const coord_client,
    path: *const c_char,
    acl: *const *const c_char,
    n: usize,
    aversion: i32,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        let c = crate::client::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let acl = acl_in(acl, n)?;
        let v = (aversion != -1).then_some(aversion);
        let stat = run(async move { c.set_acl(&path, &acl, v).await }, None)?;
        unsafe { put(out_stat, stat.into()) };
        Ok(())
    })
}

/// `coord_create` with an ACL: the node gets the `n` entries of `acl`
/// (`"scheme:id:perms"` each; `n` 0: `world:anyone:cdrwa`). Needs CREATE
/// on the parent.
///
/// Ownership: arguments are borrowed for the call; `*out_path` is owned by
/// the caller, free it with `coord_free_string`.
///
/// Results: as `coord_create`; a malformed entry gives
/// `COORD_RESULT_BAD_ARGUMENTS` naming `acl[i]`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn coord_create_acl(
    client: *const coord_client,
    path: *const c_char,
    data: *const u8,
    data_len: usize,
    mode: coord_create_mode,
    ttl_ms: u64,
    acl: *const *const c_char,
    n: usize,
    out_path: *mut *mut c_char,
    out_stat: *mut coord_stat,
) -> coord_result {
    guard(|| {
        let c = crate::client::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let data = unsafe { util::bytes(data, data_len, "data") }?;
        let mode = create_mode(mode, ttl_ms)?;
        let acl = acl_in(acl, n)?;
        let (created, stat) = run(
            async move { c.create_with_acl(&path, data, mode, &acl).await },
            None,
        )?;
        unsafe {
            if !out_path.is_null() {
                put(out_path, out_string(&created));
            }
            put(out_stat, stat.into());
        }
        Ok(())
    })
}

/// A subtree quota and its usage (`coord_get_quota`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct coord_quota {
    /// Most nodes the subtree may hold, its root included; -1: no limit.
    pub max_nodes: i64,
    /// Most data bytes the subtree's nodes may hold together; -1: no limit.
    pub max_bytes: i64,
    /// Nodes in the subtree now, its root included.
    pub nodes: u64,
    /// Data bytes in the subtree now.
    pub bytes: u64,
}

fn limit(v: i64, name: &str) -> Res<Option<u64>> {
    match v {
        -1 => Ok(None),
        v if v >= 0 => Ok(Some(v as u64)),
        other => Err(Fail::bad(format!(
            "{name} must be -1 (no limit) or >= 0, got {other}"
        ))),
    }
}

fn limit_out(v: Option<u64>) -> i64 {
    v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Sets (or replaces) the hard quota on the existing node `path`:
/// `max_nodes` (its root included) and `max_bytes` (sum of data lengths),
/// each -1 for "no limit of this kind" (not both). Writes that would take
/// the subtree over a limit then fail with `COORD_RESULT_QUOTA_EXCEEDED`.
#[unsafe(no_mangle)]
pub extern "C" fn coord_set_quota(
    client: *const coord_client,
    path: *const c_char,
    max_nodes: i64,
    max_bytes: i64,
) -> coord_result {
    guard(|| {
        let c = crate::client::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let limits = QuotaLimits {
            max_nodes: limit(max_nodes, "max_nodes")?,
            max_bytes: limit(max_bytes, "max_bytes")?,
        };
        run(async move { c.set_quota(&path, limits).await }, None)
    })
}

/// The quota set on exactly `path` and its subtree's usage now, into
/// `*out_quota`; `COORD_RESULT_NO_NODE` when no quota is set there.
#[unsafe(no_mangle)]
pub extern "C" fn coord_get_quota(
    client: *const coord_client,
    path: *const c_char,
    out_quota: *mut coord_quota,
) -> coord_result {
    guard(|| {
        need(out_quota, "out_quota")?;
        let c = crate::client::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        let q = run(async move { c.get_quota(&path).await }, None)?;
        let out = coord_quota {
            max_nodes: limit_out(q.limits.max_nodes),
            max_bytes: limit_out(q.limits.max_bytes),
            nodes: q.usage.nodes,
            bytes: q.usage.bytes,
        };
        unsafe { put(out_quota, out) };
        Ok(())
    })
}

/// Removes the quota on `path` (`COORD_RESULT_NO_NODE` when none is set).
#[unsafe(no_mangle)]
pub extern "C" fn coord_clear_quota(
    client: *const coord_client,
    path: *const c_char,
) -> coord_result {
    guard(|| {
        let c = crate::client::client(client)?.clone();
        let path = unsafe { util::path(path, "path") }?;
        run(async move { c.clear_quota(&path).await }, None)
    })
}
