//! Connecting and versions: `coord_connect_abi` (what the `coord_connect`
//! macro of the header expands to), the ABI check every connect makes,
//! `coord_version` / `coord_abi_version` and the version constants, and
//! `hand_out`, the one place a connected client becomes a C handle. Node
//! operations are in `client`; connecting with options in `security`.

use std::ffi::c_char;
use std::time::Duration;

use ::coord_client::client::Client;
use ::coord_client::embed::ForkGuard;

use crate::client::coord_client;
use crate::error::{Fail, Res, coord_result, guard};
use crate::util::{self, need, put, run};

/// Version of the C ABI. Bumped on any incompatible change of this header
/// (2: `coord_connect` and `coord_connect_opts` became macros over
/// `coord_connect_abi` / `coord_connect_opts_abi`, which check this value).
pub const COORD_ABI_VERSION: u32 = 2;
/// Major version of libcoord (the crate version).
pub const COORD_VERSION_MAJOR: u32 = 0;
/// Minor version of libcoord.
pub const COORD_VERSION_MINOR: u32 = 1;
/// Patch version of libcoord.
pub const COORD_VERSION_PATCH: u32 = 0;

/// The library version, `"MAJOR.MINOR.PATCH"` (the crate version).
///
/// Ownership: static; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn coord_version() -> *const c_char {
    const V: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    V.as_ptr().cast()
}

/// The ABI version this library implements; compare with
/// `COORD_ABI_VERSION` from the header you compiled against.
#[unsafe(no_mangle)]
pub extern "C" fn coord_abi_version() -> u32 {
    COORD_ABI_VERSION
}

/// Fails with `COORD_RESULT_ABI_MISMATCH` unless `abi_version` (the
/// `COORD_ABI_VERSION` of the header the caller was compiled against) is
/// the one this library implements; the message names both.
pub(crate) fn check_abi(abi_version: u32) -> Res {
    if abi_version == COORD_ABI_VERSION {
        return Ok(());
    }
    Err(Fail::new(
        coord_result::AbiMismatch,
        format!(
            "ABI mismatch: the program was compiled against coord.h with \
             COORD_ABI_VERSION {abi_version}, the loaded libcoord {} implements \
             ABI version {COORD_ABI_VERSION}: rebuild the program against this \
             library's coord.h or load the library it was built with",
            env!("CARGO_PKG_VERSION")
        ),
    ))
}

/// What `coord_connect` expands to: connects after checking that
/// `abi_version` (the caller's `COORD_ABI_VERSION`, passed by the macro) is
/// this library's, else `COORD_RESULT_ABI_MISMATCH` naming both versions.
/// Call it through the `coord_connect` macro, which passes the header's value.
///
/// Connects to `servers` (`"host:port,host:port"`; NULL means
/// `$COORD_SERVERS` or `127.0.0.1:2281`) with a session timeout in ms (0 for
/// the default, 10 s; the server clamps it into its bounds). The connect
/// itself is bounded by the default connect timeout (5 s; use
/// `coord_connect_opts` for another limit or a cancel token). Every later
/// request of this client is bounded by the session timeout.
///
/// Results: `COORD_RESULT_OK`; `COORD_RESULT_ABI_MISMATCH`;
/// `COORD_RESULT_NULL_PARAMETER` (`out`); `COORD_RESULT_INVALID_UTF8`
/// (`servers`); `COORD_RESULT_BAD_ARGUMENTS` (a malformed server list);
/// `COORD_RESULT_CONNECTION_LOSS` / `COORD_RESULT_OPERATION_TIMEOUT` (no
/// server answered in time).
///
/// Ownership: `servers` is borrowed for the call; `*out` is owned by the
/// caller, free it with `coord_client_free`.
/// Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn coord_connect_abi(
    abi_version: u32,
    servers: *const c_char,
    session_timeout_ms: u32,
    out: *mut *mut coord_client,
) -> coord_result {
    guard(|| {
        check_abi(abi_version)?;
        let out = need(out, "out")?;
        let servers =
            unsafe { util::opt_text(servers, "servers") }?.unwrap_or_else(Client::default_servers);
        let mut builder = Client::builder().servers(servers);
        if session_timeout_ms > 0 {
            builder = builder.session_timeout(Duration::from_millis(session_timeout_ms.into()));
        }
        let client = run(async move { builder.connect().await }, None)?;
        unsafe { hand_out(out, client) };
        Ok(())
    })
}

/// Boxes a connected `client` into a handle and writes it to `*out` (owned
/// by the caller from then on: `coord_client_free`).
///
/// # Safety
/// `out` is a valid pointer to write a handle to.
pub(crate) unsafe fn hand_out(out: *mut *mut coord_client, client: Client) {
    let c = Box::new(coord_client {
        client,
        fork: ForkGuard::new(),
    });
    unsafe { put(out, Box::into_raw(c)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_version_is_the_crate_version() {
        let v = format!("{COORD_VERSION_MAJOR}.{COORD_VERSION_MINOR}.{COORD_VERSION_PATCH}");
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        let c = unsafe { std::ffi::CStr::from_ptr(coord_version()) };
        assert_eq!(c.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
