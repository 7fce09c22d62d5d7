//! Node metadata ([`Stat`]) and the kinds of node a create can make
//! ([`CreateMode`]). Plain data shared by the tree, the wire and the client.

use serde::{Deserialize, Serialize};

use crate::error::Error;

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
    /// Number of ACL changes since creation (what setACL's version checks).
    #[serde(default)]
    pub aversion: i32,
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
    /// The mode that create flags name, as the CLI and every binding take them:
    /// `sequential` combines with any kind but a container; `ephemeral`,
    /// `container` and a TTL exclude one another. The TTL's range is checked
    /// where the create is applied, like every other outcome.
    pub fn from_flags(
        ephemeral: bool,
        sequential: bool,
        container: bool,
        ttl_ms: Option<u64>,
    ) -> Result<CreateMode, Error> {
        Ok(match (ephemeral, sequential, container, ttl_ms) {
            (false, false, false, None) => CreateMode::Persistent,
            (false, true, false, None) => CreateMode::PersistentSequential,
            (true, false, false, None) => CreateMode::Ephemeral,
            (true, true, false, None) => CreateMode::EphemeralSequential,
            (false, false, true, None) => CreateMode::Container,
            (false, false, false, Some(t)) => CreateMode::PersistentWithTtl(t),
            (false, true, false, Some(t)) => CreateMode::PersistentSequentialWithTtl(t),
            (false, true, true, None) => {
                return Err(Error::BadArguments(
                    "a container node cannot be sequential".into(),
                ));
            }
            _ => {
                return Err(Error::BadArguments(format!(
                    "create flags do not combine: ephemeral={ephemeral}, container={container}, \
                     ttl_ms={ttl_ms:?} (ephemeral, container and a ttl exclude one another)"
                )));
            }
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_flags_name_every_mode_and_refuse_contradictions() {
        let ok = |e, s, c, t| CreateMode::from_flags(e, s, c, t).unwrap();
        assert_eq!(ok(false, false, false, None), CreateMode::Persistent);
        assert_eq!(
            ok(false, true, false, None),
            CreateMode::PersistentSequential
        );
        assert_eq!(ok(true, false, false, None), CreateMode::Ephemeral);
        assert_eq!(ok(true, true, false, None), CreateMode::EphemeralSequential);
        assert_eq!(ok(false, false, true, None), CreateMode::Container);
        assert_eq!(
            ok(false, false, false, Some(5)),
            CreateMode::PersistentWithTtl(5)
        );
        assert_eq!(
            ok(false, true, false, Some(5)),
            CreateMode::PersistentSequentialWithTtl(5)
        );
        for (e, s, c, t) in [
            (true, false, true, None),
            (true, false, false, Some(1)),
            (false, false, true, Some(1)),
            (false, true, true, None),
        ] {
            let err = CreateMode::from_flags(e, s, c, t).unwrap_err();
            assert!(matches!(err, Error::BadArguments(_)), "{err:?}");
        }
    }
}
