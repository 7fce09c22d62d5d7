//! The data tree: nodes, paths, [`Stat`], and the tree's snapshot records.
//!
//! This module owns the in-memory tree ([`DataTree`], [`Node`], [`NodeKind`]),
//! path rules ([`validate_path`], [`parent`], [`name`]) and how a node is
//! written to and read from a snapshot. It must not know about sessions,
//! commands, watches or the network: `state_machine` drives it.
mod data_tree;
mod node;
pub(crate) mod snapshot;

pub(crate) use data_tree::Undo;
pub use data_tree::{DataTree, NodeMap, Walk, walk};
pub use node::{ChildSet, MAX_TTL_MS, Node, NodeAcl, NodeKind, SharedAcl, children_after};
// Shared with the client (coord-proto); re-exported for the tree's users.
pub use coord_proto::{CreateMode, Stat, name, parent, validate_path};
