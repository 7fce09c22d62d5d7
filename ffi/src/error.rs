//! Result codes, the per-thread error detail and the panic boundary.
//!
//! [`coord_result`] mirrors the core error table ([`Error::TABLE`]) number for
//! number; the only codes it adds are the ABI's own (a NULL argument, a panic,
//! bad UTF-8), which live in a reserved range (1000..=1099) the core table
//! never uses. The enum has to be written out with literals because cbindgen
//! reads source, not evaluated constants; the tests in this module (and the
//! header drift test) fail the moment it and the table disagree.
//!
//! Every exported function runs its body through `guard` (or one of its
//! siblings): a panic becomes [`coord_result::Panic`], a failure writes its
//! detail to the calling thread's last-error slot. Nothing here knows about
//! clients or recipes.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use ::coord_client::Error;

/// The result of every fallible libcoord function. `COORD_RESULT_OK` (0) is
/// success; codes 1..=999 are the core error table (stable, never
/// renumbered, retired numbers never reused); 1000..=1099 are reserved for
/// errors of the C ABI itself.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum coord_result {
    /// Success.
    Ok = 0,
    /// An error the library did not expect; a bug or an environment fault.
    Internal = 1,
    /// A multi-op failed at an earlier op; this op was not applied.
    RuntimeInconsistency = 2,
    /// Inside a failed multi: this op was rolled back.
    RolledBack = 3,
    /// The connection was lost; the request may or may not have been applied.
    ConnectionLoss = 4,
    /// Protocol error.
    Protocol = 5,
    /// The server does not implement this request.
    Unimplemented = 6,
    /// The operation did not complete within its deadline.
    OperationTimeout = 7,
    /// An argument is invalid (the last error message names it).
    BadArguments = 8,
    /// The server is not the leader.
    NotLeader = 9,
    /// A disk or OS error.
    Io = 10,
    /// The client was closed.
    Closed = 11,
    /// The call was cancelled through its `coord_cancel_token`.
    Cancelled = 12,
    /// A value or request is over a limit.
    TooLarge = 13,
    /// A path is invalid: malformed, over-long, or not UTF-8.
    InvalidPath = 14,
    /// An error code this library does not know (sent by a newer server).
    Unknown = 15,
    /// The server is shutting down.
    ShuttingDown = 16,
    /// The node does not exist.
    NoNode = 101,
    /// The session lacks a permission the node's ACL requires.
    NoAuth = 102,
    /// The expected version did not match.
    BadVersion = 103,
    /// Ephemeral nodes may not have children.
    NoChildrenForEphemerals = 108,
    /// The node already exists.
    NodeExists = 110,
    /// The node has children.
    NotEmpty = 111,
    /// The session has expired.
    SessionExpired = 112,
    /// An ACL list is malformed.
    InvalidAcl = 114,
    /// Credentials were refused.
    AuthFailed = 115,
    /// The session moved to another connection.
    SessionMoved = 118,
    /// No such watcher.
    NoWatcher = 121,
    /// A lock, lease or leadership was not obtained within the timeout.
    LockTimeout = 200,
    /// A held lock was lost.
    LockLost = 201,
    /// The caller does not hold the lock.
    NotHeld = 202,
    /// A write would take a subtree over its quota.
    QuotaExceeded = 125,
    /// ABI: a required pointer argument was NULL.
    NullParameter = 1000,
    /// ABI: the library panicked; the call had no effect it could vouch for.
    Panic = 1001,
    /// ABI: a string argument (other than a path) is not valid UTF-8.
    InvalidUtf8 = 1002,
    /// ABI: the program was compiled against a `coord.h` of another ABI
    /// version than the loaded library's (the last error names both).
    AbiMismatch = 1003,
}

/// The ABI-only codes: `(code, name, message)`.
const ABI_CODES: &[(coord_result, &str, &str)] = &[
    (coord_result::Ok, "OK", "success"),
    (
        coord_result::NullParameter,
        "NULL_PARAMETER",
        "a required pointer argument was NULL",
    ),
    (coord_result::Panic, "PANIC", "the library panicked"),
    (
        coord_result::InvalidUtf8,
        "INVALID_UTF8",
        "a string argument is not valid UTF-8",
    ),
    (
        coord_result::AbiMismatch,
        "ABI_MISMATCH",
        "the program's coord.h and the loaded libcoord have different ABI versions",
    ),
];

/// Every variant, for the tests and the name/message lookups.
const ALL: &[coord_result] = {
    use coord_result::*;
    &[
        Ok,
        Internal,
        RuntimeInconsistency,
        RolledBack,
        ConnectionLoss,
        Protocol,
        Unimplemented,
        OperationTimeout,
        BadArguments,
        NotLeader,
        Io,
        Closed,
        Cancelled,
        TooLarge,
        InvalidPath,
        Unknown,
        ShuttingDown,
        NoNode,
        NoAuth,
        BadVersion,
        NoChildrenForEphemerals,
        NodeExists,
        NotEmpty,
        SessionExpired,
        InvalidAcl,
        AuthFailed,
        SessionMoved,
        NoWatcher,
        LockTimeout,
        LockLost,
        NotHeld,
        QuotaExceeded,
        NullParameter,
        Panic,
        InvalidUtf8,
        AbiMismatch,
    ]
};

impl coord_result {
    /// The variant with this number, if any.
    pub(crate) fn from_code(code: u32) -> Option<coord_result> {
        ALL.iter().copied().find(|r| *r as u32 == code)
    }

    /// The result for a core error: same number (unknown numbers, which a
    /// newer core could add before this enum learns them, become `Unknown`).
    pub(crate) fn from_error(e: &Error) -> coord_result {
        coord_result::from_code(e.code()).unwrap_or(coord_result::Unknown)
    }
}

/// Static, NUL-terminated `(name, message)` per code, built once.
fn texts() -> &'static [(u32, CString, CString)] {
    static TEXTS: OnceLock<Vec<(u32, CString, CString)>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let core = Error::TABLE.iter().map(|i| (i.code, i.name, i.summary));
        let abi = ABI_CODES.iter().map(|(r, n, m)| (*r as u32, *n, *m));
        core.chain(abi)
            .map(|(code, name, msg)| (code, c_text(name), c_text(msg)))
            .collect()
    })
}

/// A C string from text that has no NUL (all our static texts).
pub(crate) fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// A failed call: its result code and the detail for `coord_last_error_message`.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: coord_result,
    pub(crate) detail: String,
}

impl Fail {
    pub(crate) fn new(code: coord_result, detail: impl Into<String>) -> Fail {
        Fail {
            code,
            detail: detail.into(),
        }
    }

    pub(crate) fn null(arg: &str) -> Fail {
        Fail::new(
            coord_result::NullParameter,
            format!("argument `{arg}` is NULL"),
        )
    }

    pub(crate) fn bad(detail: impl Into<String>) -> Fail {
        Fail::new(coord_result::BadArguments, detail)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail {
            code: coord_result::from_error(&e),
            detail: e.to_string(),
        }
    }
}

/// What exported bodies return inside the boundary.
pub(crate) type Res<T = ()> = std::result::Result<T, Fail>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(detail: &str) {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c_text(detail));
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// The panic boundary of every function that returns `coord_result`.
pub(crate) fn guard(body: impl FnOnce() -> Res) -> coord_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => coord_result::Ok,
        Ok(Err(fail)) => {
            set_last_error(&fail.detail);
            fail.code
        }
        Err(payload) => {
            set_last_error(&format!("panic: {}", panic_text(payload.as_ref())));
            coord_result::Panic
        }
    }
}

/// The panic boundary of functions that return a plain value: `fallback` on
/// a panic (the detail still goes to the last-error slot).
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(&format!("panic: {}", panic_text(payload.as_ref())));
            fallback
        }
    }
}

/// The static message of a result code (`"no node"`), or `"unknown result
/// code"` for a number this library does not know. Never NULL.
///
/// Ownership: the string is static; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn coord_result_message(code: u32) -> *const c_char {
    guard_value(c"unknown result code".as_ptr(), || {
        texts()
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(c"unknown result code".as_ptr(), |(_, _, m)| m.as_ptr())
    })
}

/// The stable upper-snake name of a result code without its prefix
/// (`"NO_NODE"` for `COORD_RESULT_NO_NODE`), or `"UNKNOWN_CODE"`. Never NULL.
///
/// Ownership: the string is static; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn coord_result_name(code: u32) -> *const c_char {
    guard_value(c"UNKNOWN_CODE".as_ptr(), || {
        texts()
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(c"UNKNOWN_CODE".as_ptr(), |(_, n, _)| n.as_ptr())
    })
}

/// The detail of the last failed libcoord call on the calling thread (which
/// path, which argument, which limit), or `""` if none failed yet. Successful
/// calls do not clear it: read it right after a call returned an error.
///
/// Ownership: owned by the library; valid until the next libcoord call on
/// the same thread. Do not free it. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn coord_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || {
        LAST_ERROR.with(|slot| slot.borrow().as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::ffi::CStr;

    #[test]
    fn every_core_error_has_the_same_number_in_the_c_enum() {
        for row in Error::TABLE {
            let r = coord_result::from_code(row.code)
                .unwrap_or_else(|| panic!("core code {} ({}) missing", row.code, row.name));
            assert_eq!(r as u32, row.code);
            assert_eq!(
                format!("{r:?}"),
                row.variant,
                "variant name of code {}",
                row.code
            );
        }
    }

    #[test]
    fn abi_codes_stay_in_their_reserved_range_and_never_collide() {
        let mut seen = BTreeMap::new();
        for r in ALL {
            assert!(seen.insert(*r as u32, *r).is_none(), "{r:?} duplicated");
            let core = Error::info(*r as u32).is_some();
            let abi = ABI_CODES.iter().any(|(a, _, _)| a == r);
            assert!(core ^ abi, "{r:?} must be in exactly one of the tables");
            if abi && *r != coord_result::Ok {
                assert!((1000..=1099).contains(&(*r as u32)), "{r:?}");
            }
        }
        assert_eq!(ALL.len(), Error::TABLE.len() + ABI_CODES.len());
        assert!(Error::TABLE.iter().all(|i| i.code != 0 && i.code < 1000));
    }

    /// The checked-in header is what C programs compile against: its enum
    /// must list exactly the core table plus the ABI codes, by name and number.
    #[test]
    fn the_header_enum_matches_the_core_error_table() {
        let header =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../include/coord.h"))
                .expect("include/coord.h exists (run ffi/generate-header.sh)");
        let mut in_header = BTreeMap::new();
        for line in header.lines() {
            let line = line.trim().trim_end_matches(',');
            if let Some(rest) = line.strip_prefix("COORD_RESULT_")
                && let Some((name, num)) = rest.split_once(" = ")
            {
                in_header.insert(name.to_string(), num.trim().parse::<u32>().unwrap());
            }
        }
        let mut expected = BTreeMap::new();
        for row in Error::TABLE {
            expected.insert(row.name.to_string(), row.code);
        }
        for (r, name, _) in ABI_CODES {
            expected.insert(name.to_string(), *r as u32);
        }
        assert_eq!(in_header, expected);
    }

    #[test]
    fn messages_and_names_come_from_the_table() {
        let msg = unsafe { CStr::from_ptr(coord_result_message(101)) };
        assert_eq!(msg.to_str().unwrap(), "no node");
        let name = unsafe { CStr::from_ptr(coord_result_name(1000)) };
        assert_eq!(name.to_str().unwrap(), "NULL_PARAMETER");
        let unknown = unsafe { CStr::from_ptr(coord_result_message(999_999)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown result code");
    }

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        let r = guard(|| panic!("boom"));
        assert_eq!(r, coord_result::Panic);
        let detail = unsafe { CStr::from_ptr(coord_last_error_message()) };
        assert_eq!(detail.to_str().unwrap(), "panic: boom");
    }
}
