//! coord-server: the replicated service. A tour in the order a write flows:
//! - [`server`]: listener, per-connection loop, dispatch, graceful shutdown.
//! - [`replication`]: openraft types, the durable log store, the state-machine store.
//! - [`storage`]: the durable record types (`proto/storage.proto`) and their conversions.
//! - [`state_machine`]: [`state_machine::Command`] and the pure `apply`.
//! - [`tree`]: the data tree and its snapshot records.
//! - [`liveness`]: the leader's session liveness tracker (deadlines only).
//! - [`watch`]: the server's watch registry.
//! - [`config`]: named limits and settings.
//! - `testing` (feature `testing`): in-process servers for tests and the
//!   bindings' test helpers, and a fault-injecting proxy.
//!
//! It depends on `coord-proto` for the client protocol and the shared domain
//! types, and on nothing of the client or the recipes.
#![warn(missing_docs)]

pub mod config;
pub(crate) mod histogram;
pub mod liveness;
pub mod replication;
pub mod server;
pub mod state_machine;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tree;
pub mod watch;

// The error table is coord-proto's; `crate::error` names it inside this crate.
use coord_proto::error;
pub use coord_proto::{Error, Result};
