//! One node of the tree ([`Node`]) and its kind ([`NodeKind`]).
//!
//! This module owns the in-memory layout of a node, kept small because a
//! tree holds up to millions of them: the metadata is stored compactly and the
//! public [`Stat`] is built on demand. It must not know about other nodes,
//! sessions or commands.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use coord_proto::{Acl, CreateMode, Stat};

/// A node's ACL and its version, kept apart from the node (one pointer in
/// it) and shared between the nodes that have the same pair: the state
/// machine interns them, and most nodes share a few lists at aversion 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAcl {
    /// Number of ACL changes since creation.
    pub aversion: i32,
    /// The entries; empty when open (`world:anyone:cdrwa`).
    pub list: Box<[Acl]>,
}

/// A node's [`NodeAcl`] as the tree keeps it; `None`: open at aversion 0
/// (the ACL of every node created before ACLs existed).
pub type SharedAcl = Option<Arc<NodeAcl>>;

/// Largest TTL ZooKeeper accepts: 2^40 - 1 ms (its `EphemeralType.TTL` mask).
pub const MAX_TTL_MS: u64 = (1 << 40) - 1;

/// What kind of node this is, for its whole life (sequential is only a naming
/// rule at create time and is not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// Lives until deleted.
    Persistent,
    /// Deleted when session `owner` ends; never has children.
    Ephemeral {
        /// Session that owns the node.
        owner: u64,
    },
    /// Reaped once it has had a child and has none left.
    Container,
    /// Reaped once childless and unchanged (mtime) for longer than `ttl_ms`.
    Ttl {
        /// Time to live in milliseconds (1 ..= [`MAX_TTL_MS`]).
        ttl_ms: u64,
    },
}

impl NodeKind {
    /// The kind a create with `mode` makes on behalf of session `session_id`.
    /// The caller checks the session and the TTL range.
    pub fn for_create(mode: CreateMode, session_id: u64) -> NodeKind {
        match mode {
            CreateMode::Persistent | CreateMode::PersistentSequential => NodeKind::Persistent,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => {
                NodeKind::Ephemeral { owner: session_id }
            }
            CreateMode::Container => NodeKind::Container,
            CreateMode::PersistentWithTtl(ttl_ms)
            | CreateMode::PersistentSequentialWithTtl(ttl_ms) => NodeKind::Ttl { ttl_ms },
        }
    }

    /// The stat's `ephemeral_owner`: the session for ephemerals, else 0
    /// (containers and TTL nodes show 0 too; their kind is kept here instead
    /// of in ZooKeeper's special owner values).
    pub fn ephemeral_owner(self) -> u64 {
        match self {
            NodeKind::Ephemeral { owner } => owner,
            _ => 0,
        }
    }

    /// True for the kinds the reaper looks at (containers and TTL nodes).
    pub fn is_reapable(self) -> bool {
        matches!(self, NodeKind::Container | NodeKind::Ttl { .. })
    }
}

/// A node's children as their full paths (see [`Node`]).
pub type ChildSet = imbl::OrdSet<Arc<str>>;

/// A node: data, compact metadata, kind and the set of its children.
///
/// Children are kept as the children's full paths, sharing the allocation of
/// the tree's map key (an `Arc<str>`), so a node costs one path allocation, its
/// data and its share of the parent's child set. All children of a node share
/// the prefix `parent/`, so the set's order is the order of the names.
///
/// The set is persistent ([`ChildSet`]): cloning it is one pointer copy, and
/// a change after a clone copies only the path to the changed leaf. A listing
/// clones it under the state's lock and walks it after.
#[derive(Debug, Clone)]
pub struct Node {
    pub(crate) data: Bytes,
    pub(crate) children: ChildSet,
    pub(crate) czxid: u64,
    pub(crate) mzxid: u64,
    pub(crate) pzxid: u64,
    pub(crate) ctime: i64,
    pub(crate) mtime: i64,
    pub(crate) version: i32,
    pub(crate) cversion: i32,
    pub(crate) kind: NodeKind,
    pub(crate) acl: SharedAcl,
}

impl Node {
    /// A node created by the write with `zxid` at leader time `time_ms`
    /// (open ACL; the creator sets it with [`DataTree::init_acl`]).
    ///
    /// [`DataTree::init_acl`]: super::DataTree
    pub(crate) fn new(data: Bytes, kind: NodeKind, zxid: u64, time_ms: i64) -> Node {
        Node {
            data,
            children: ChildSet::new(),
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            kind,
            acl: None,
        }
    }

    /// A node with the given stat (as read from a snapshot); no children yet.
    pub(crate) fn from_stat(data: Bytes, kind: NodeKind, stat: &Stat) -> Node {
        Node {
            data,
            children: ChildSet::new(),
            czxid: stat.czxid,
            mzxid: stat.mzxid,
            pzxid: stat.pzxid,
            ctime: stat.ctime,
            mtime: stat.mtime,
            version: stat.version,
            cversion: stat.cversion,
            kind,
            acl: None,
        }
    }

    /// The node's data (a cheap reference-counted clone).
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The node's ACL; empty when open (see [`SharedAcl`]).
    pub fn acl(&self) -> &[Acl] {
        self.acl.as_deref().map(|a| &*a.list).unwrap_or_default()
    }

    /// Number of ACL changes since creation.
    pub fn aversion(&self) -> i32 {
        self.acl.as_deref().map_or(0, |a| a.aversion)
    }

    /// The node's ACL as shared (see [`SharedAcl`]).
    pub fn shared_acl(&self) -> &SharedAcl {
        &self.acl
    }

    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        self.kind
    }

    /// Number of children.
    pub fn num_children(&self) -> usize {
        self.children.len()
    }

    /// Full paths of the children, in name order.
    pub fn child_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.children.iter().map(|p| &**p)
    }

    /// Full paths of the children whose name sorts strictly after `after`
    /// (all of them for `None`), in name order, for a node at `own_path`.
    /// Starts at the cursor without walking the names before it.
    pub fn child_paths_after<'a>(
        &'a self,
        own_path: &str,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.child_arcs_after(own_path, after).map(|p| &**p)
    }

    /// [`Node::child_paths_after`] as the shared allocations, so that a
    /// listing can keep them (a pointer copy each) past the state's lock.
    pub(crate) fn child_arcs_after<'a>(
        &'a self,
        own_path: &str,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<str>> + 'a {
        children_after(&self.children, own_path, after)
    }

    /// The node's [`Stat`], built from the compact fields.
    pub fn stat(&self) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            pzxid: self.pzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            ephemeral_owner: self.kind.ephemeral_owner(),
            data_length: u32::try_from(self.data.len()).unwrap_or(u32::MAX),
            num_children: u32::try_from(self.children.len()).unwrap_or(u32::MAX),
            aversion: self.aversion(),
        }
    }

    /// True if the reaper may delete this node at leader time `now_ms`:
    /// childless and either a container that has had a child (cversion > 0)
    /// or a TTL node unchanged for longer than its TTL (ZooKeeper compares
    /// against mtime).
    pub fn is_reapable_at(&self, now_ms: i64) -> bool {
        if !self.children.is_empty() {
            return false;
        }
        match self.kind {
            NodeKind::Container => self.cversion > 0,
            NodeKind::Ttl { ttl_ms } => {
                i128::from(now_ms) - i128::from(self.mtime) > i128::from(ttl_ms)
            }
            NodeKind::Persistent | NodeKind::Ephemeral { .. } => false,
        }
    }
}

/// The paths in `children` (the child set of the node at `own_path`) whose
/// name sorts strictly after `after` (all of them for `None`), in name order,
/// starting at the cursor without walking the names before it.
pub fn children_after<'a>(
    children: &'a ChildSet,
    own_path: &str,
    after: Option<&str>,
) -> impl Iterator<Item = &'a Arc<str>> + 'a {
    // Every child path is `own_path/name`, so comparing paths compares
    // names, whatever bytes the cursor holds.
    let cursor = after.map(|name| match own_path {
        "/" => format!("/{name}"),
        _ => format!("{own_path}/{name}"),
    });
    let lower = match &cursor {
        Some(c) => Bound::Excluded(c.as_str()),
        None => Bound::Unbounded,
    };
    children.range::<_, str>((lower, Bound::Unbounded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_stays_small() {
        // Budget for 1M nodes: the map entry (key + node) must stay compact.
        // 128 = 120 before ACLs + one pointer to the shared ACL and aversion.
        assert!(
            std::mem::size_of::<Node>() <= 128,
            "{}",
            std::mem::size_of::<Node>()
        );
    }

    #[test]
    fn containers_and_ttl_nodes_show_no_ephemeral_owner() {
        assert_eq!(NodeKind::Container.ephemeral_owner(), 0);
        assert_eq!(NodeKind::Ttl { ttl_ms: 5 }.ephemeral_owner(), 0);
        assert_eq!(NodeKind::Ephemeral { owner: 7 }.ephemeral_owner(), 7);
    }

    #[test]
    fn children_after_a_cursor_start_past_it_in_name_order() {
        let mut n = Node::new(Bytes::new(), NodeKind::Persistent, 1, 0);
        for p in ["/d/b", "/d/a", "/d/c", "/d/b0"] {
            n.children.insert(Arc::from(p));
        }
        let after = |c: Option<&str>| n.child_paths_after("/d", c).collect::<Vec<_>>();
        assert_eq!(after(None), ["/d/a", "/d/b", "/d/b0", "/d/c"]);
        assert_eq!(after(Some("b")), ["/d/b0", "/d/c"]);
        // A cursor that is no child's name still starts at the next name.
        assert_eq!(after(Some("b00")), ["/d/c"]);
        assert!(after(Some("c")).is_empty());
        let mut root = Node::new(Bytes::new(), NodeKind::Persistent, 0, 0);
        root.children.insert(Arc::from("/a"));
        root.children.insert(Arc::from("/b"));
        assert_eq!(
            root.child_paths_after("/", Some("a")).collect::<Vec<_>>(),
            ["/b"]
        );
    }

    #[test]
    fn ttl_node_expires_strictly_after_mtime_plus_ttl() {
        let n = Node::new(Bytes::new(), NodeKind::Ttl { ttl_ms: 100 }, 1, 1_000);
        assert!(!n.is_reapable_at(1_100));
        assert!(n.is_reapable_at(1_101));
    }
}
