//! The one error table of coord.
//!
//! Every failure a user can see is an [`Error`] variant with a stable numeric
//! [`Error::code`] and a stable upper-snake name ([`Error::name`]). The C enum,
//! the Python exception classes and the Node `error.code` strings are derived
//! from [`Error::TABLE`]; nothing else in the project lists error kinds.
//!
//! Rules for the table: a code is never renumbered, and a retired code is never
//! given to another variant. Each variant carries one `String` of detail (which
//! path, which limit, which field) so that the same shape crosses the wire:
//! `(code, detail)` in, the same `Error` out ([`Error::from_code`]).
//!
//! This module owns no behaviour beyond formatting; it must not depend on any
//! other module of the crate.

use serde::{Deserialize, Serialize};

macro_rules! error_table {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal, $name:literal, $summary:literal;
    )*) => {
        /// Every error coord reports. See the module docs for the rules.
        #[non_exhaustive]
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Error {
            $(
                $(#[$doc])*
                $variant(String),
            )*
        }

        /// One row of the error table, for code generators and bindings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct ErrorInfo {
            /// Stable numeric code.
            pub code: u32,
            /// Variant name in Rust (`NoNode`).
            pub variant: &'static str,
            /// Stable upper-snake name (`NO_NODE`), used by the Node binding.
            pub name: &'static str,
            /// Short human summary, the static message.
            pub summary: &'static str,
        }

        impl Error {
            /// The whole table, in declaration order.
            pub const TABLE: &'static [ErrorInfo] = &[
                $(ErrorInfo { code: $code, variant: stringify!($variant), name: $name, summary: $summary },)*
            ];

            /// Stable numeric code of this error.
            pub fn code(&self) -> u32 {
                match self { $(Error::$variant(_) => $code,)* }
            }

            /// Stable upper-snake name of this error (`NO_NODE`).
            pub fn name(&self) -> &'static str {
                match self { $(Error::$variant(_) => $name,)* }
            }

            /// The static summary of this error kind, without detail.
            pub fn summary(&self) -> &'static str {
                match self { $(Error::$variant(_) => $summary,)* }
            }

            /// The detail text (which path, which limit, ...), possibly empty.
            pub fn detail(&self) -> &str {
                match self { $(Error::$variant(d) => d,)* }
            }

            /// Rebuilds an error from its wire form. Unknown codes (from a newer
            /// server) become [`Error::Unknown`] with the code in the detail.
            pub fn from_code(code: u32, detail: impl Into<String>) -> Error {
                let detail = detail.into();
                match code {
                    $($code => Error::$variant(detail),)*
                    other => Error::Unknown(format!("code {other}: {detail}")),
                }
            }

            /// Looks up the table row for a code.
            pub fn info(code: u32) -> Option<&'static ErrorInfo> {
                Self::TABLE.iter().find(|i| i.code == code)
            }
        }
    };
}

error_table! {
    /// An error the server or client did not expect; a bug or an environment fault.
    Internal = 1, "INTERNAL", "internal error";
    /// A multi-op failed at an earlier op; this op was not applied.
    RuntimeInconsistency = 2, "RUNTIME_INCONSISTENCY", "not applied because an earlier op of the multi failed";
    /// Inside a failed multi: this op came before the failing one and was rolled back.
    RolledBack = 3, "ROLLED_BACK", "rolled back because a later op of the multi failed";
    /// The connection to the server was lost; the request may or may not have been applied.
    ConnectionLoss = 4, "CONNECTION_LOSS", "connection lost";
    /// Bytes on the wire could not be decoded or broke the protocol.
    Protocol = 5, "PROTOCOL", "protocol error";
    /// The server does not implement this request.
    Unimplemented = 6, "UNIMPLEMENTED", "not implemented";
    /// The operation did not complete within its deadline.
    OperationTimeout = 7, "OPERATION_TIMEOUT", "operation timed out";
    /// An argument is invalid (names the argument).
    BadArguments = 8, "BAD_ARGUMENTS", "bad arguments";
    /// This server is not the leader and cannot order writes now.
    NotLeader = 9, "NOT_LEADER", "not the leader";
    /// A disk or OS error on the server.
    Io = 10, "IO", "I/O error";
    /// The client was closed by its owner.
    Closed = 11, "CLOSED", "client closed";
    /// The operation was cancelled by its caller.
    Cancelled = 12, "CANCELLED", "cancelled";
    /// A value, frame or request is over a configured limit (names the limit).
    TooLarge = 13, "TOO_LARGE", "too large";
    /// A path is not valid (says why).
    InvalidPath = 14, "INVALID_PATH", "invalid path";
    /// An error code this client does not know (sent by a newer server).
    Unknown = 15, "UNKNOWN", "unknown error";
    /// The server is shutting down.
    ShuttingDown = 16, "SHUTTING_DOWN", "server shutting down";
    /// The node does not exist.
    NoNode = 101, "NO_NODE", "no node";
    /// The session lacks the permission an operation needs (names the path,
    /// the permission and the node whose ACL refused it).
    NoAuth = 102, "NO_AUTH", "not authorized";
    /// The expected version did not match the node's version.
    BadVersion = 103, "BAD_VERSION", "version mismatch";
    /// Ephemeral nodes may not have children.
    NoChildrenForEphemerals = 108, "NO_CHILDREN_FOR_EPHEMERALS", "ephemeral nodes may not have children";
    /// The node already exists.
    NodeExists = 110, "NODE_EXISTS", "node already exists";
    /// The node has children and cannot be deleted.
    NotEmpty = 111, "NOT_EMPTY", "node has children";
    /// An ACL list is malformed (names the entry and why).
    InvalidAcl = 114, "INVALID_ACL", "invalid ACL";
    /// Credentials were refused (unknown scheme, bad token, identity required).
    AuthFailed = 115, "AUTH_FAILED", "authentication failed";
    /// The session has expired (or was closed); its ephemerals are gone.
    SessionExpired = 112, "SESSION_EXPIRED", "session expired";
    /// The session is now attached to another connection.
    SessionMoved = 118, "SESSION_MOVED", "session moved to another connection";
    /// No watch matched a remove-watches request.
    NoWatcher = 121, "NO_WATCHER", "no such watcher";
    /// A lock, lease or leadership was not obtained within the timeout.
    LockTimeout = 200, "LOCK_TIMEOUT", "lock not acquired within the timeout";
    /// A held lock was lost (session expired or lock node deleted).
    LockLost = 201, "LOCK_LOST", "lock lost";
    /// The caller does not hold the lock it tried to use.
    NotHeld = 202, "NOT_HELD", "lock not held";
    /// A write would take a subtree over its quota (names the quota's path,
    /// the limit, and the value the write would have reached).
    QuotaExceeded = 125, "QUOTA_EXCEEDED", "quota exceeded";
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detail = self.detail();
        if detail.is_empty() {
            f.write_str(self.summary())
        } else {
            write!(f, "{}: {}", self.summary(), detail)
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// Result with coord's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique() {
        let mut codes: Vec<u32> = Error::TABLE.iter().map(|i| i.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Error::TABLE.len());
        let mut names: Vec<&str> = Error::TABLE.iter().map(|i| i.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Error::TABLE.len());
    }

    #[test]
    fn error_round_trips_through_code_and_detail() {
        let e = Error::NoNode("/a/b".into());
        let back = Error::from_code(e.code(), e.detail());
        assert_eq!(back, e);
        assert_eq!(e.to_string(), "no node: /a/b");
        assert_eq!(
            Error::from_code(9999, "x"),
            Error::Unknown("code 9999: x".into())
        );
    }

    #[test]
    fn well_known_codes_never_change() {
        // Renumbering breaks every binding and stored client; this test pins them.
        assert_eq!(Error::NoNode(String::new()).code(), 101);
        assert_eq!(Error::NodeExists(String::new()).code(), 110);
        assert_eq!(Error::BadVersion(String::new()).code(), 103);
        assert_eq!(Error::SessionExpired(String::new()).code(), 112);
        assert_eq!(Error::ConnectionLoss(String::new()).code(), 4);
    }
}
