//! Replicated commands and the pure `apply`.
//!
//! [`Command`] and its results are in `command`; [`StateMachine`] (tree,
//! session table, zxid, replicated limits, last leader time) and its reads in
//! `machine` (the paged children listing in `listing`); the write logic in `apply`
//! (ops, multi, reap) and `sessions` (session commands); ACL checks and the
//! identity / ACL commands in `acl`; subtree quotas and their usage in
//! `quota`; the snapshot stream in `snapshot`. Nothing in this module does I/O outside a snapshot stream
//! the caller hands in, reads a clock or draws a random number.
mod acl;
mod apply;
mod command;
mod listing;
mod machine;
mod quota;
mod sessions;
mod snapshot;
#[cfg(test)]
mod tests;

pub use command::*;
pub use listing::Listing;
pub use machine::{SessionInfo, StateMachine};
pub use snapshot::Frozen;
