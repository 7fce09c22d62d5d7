//! Node metadata ([`Stat`]) and the kinds of node a create can make
//! ([`CreateMode`]). Plain data shared by the tree, the wire and the client.

use serde::{Deserialize, Serialize};

/// A node's metadata, with ZooKeeper's meaning for every field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct Stat {
    /// zxid of the write that created the node.
    pub czxid: u64,
    /// zxid of the write that last changed the node's data (or created it).
    pub mzxid: u64,
    /// zxid of the write that last added or removed a child (or created it).
    pub pzxid: u64,
    /// Creation time, milliseconds since the Unix epoch, as decided by the leader.
    pub ctime: i64,
    /// Time of the last data change, milliseconds since the Unix epoch.
    pub mtime: i64,
    /// Number of data changes since creation.
    pub version: i32,
    /// Number of child additions and removals since creation.
    pub cversion: i32,
    /// Session id owning this node if it is ephemeral, else 0.
    pub ephemeral_owner: u64,
    /// Length of the data in bytes.
    pub data_length: u32,
    /// Number of children.
    pub num_children: u32,
}

/// What kind of node a create makes. Mirrors ZooKeeper's `CreateMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum CreateMode {
    /// Lives until deleted.
    #[default]
    Persistent,
    /// Persistent, name suffixed with the parent's 10-digit sequence number.
    PersistentSequential,
    /// Deleted when the owning session ends; may not have children.
    Ephemeral,
    /// Ephemeral with a sequence suffix.
    EphemeralSequential,
    /// Removed by the server once it has had a child and has none left.
    Container,
    /// Persistent, removed once it has gone unchanged and childless for the TTL (ms).
    PersistentWithTtl(u64),
    /// Like [`CreateMode::PersistentWithTtl`] with a sequence suffix.
    PersistentSequentialWithTtl(u64),
}

impl CreateMode {
    /// True for the ephemeral kinds.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// True for the kinds whose name gets a sequence suffix.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl(_)
        )
    }

    /// True for a container node.
    pub fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }

    /// The TTL in milliseconds for TTL nodes.
    pub fn ttl_ms(self) -> Option<u64> {
        match self {
            CreateMode::PersistentWithTtl(t) | CreateMode::PersistentSequentialWithTtl(t) => {
                Some(t)
            }
            _ => None,
        }
    }
}
