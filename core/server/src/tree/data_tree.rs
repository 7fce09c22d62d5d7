//! The data tree: nodes by path, with the indexes the state machine needs.
//!
//! This module owns the node map, every node's child set, the per-session set
//! of ephemeral paths and the index of container and TTL nodes, and keeps them
//! consistent through its few mutations ([`DataTree::create`],
//! [`DataTree::delete`], [`DataTree::set_data`]). Each mutation returns an
//! [`Undo`] record so that a multi can be rolled back without cloning the tree.
//!
//! It decides the structural outcomes ZooKeeper decides in its tree (no parent,
//! node exists, ephemeral parent, bad version, not empty). It must not know
//! about sessions, limits, path syntax, commands or watches: those belong to
//! `state_machine`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use super::node::{Node, NodeKind, SharedAcl};

use crate::error::{Error, Result};
use coord_proto::Stat;

/// How to reverse one mutation. Applied newest first by [`DataTree::undo`].
#[derive(Debug)]
pub(crate) enum Undo {
    /// A node was created: remove it, restore the parent's counters.
    Created {
        path: Arc<str>,
        parent_cversion: i32,
        parent_pzxid: u64,
    },
    /// A node was deleted: put it back, restore the parent's counters.
    Deleted {
        path: Arc<str>,
        node: Arc<Node>,
        parent_cversion: i32,
        parent_pzxid: u64,
    },
    /// Data was set: restore the old data and data metadata.
    DataSet {
        path: Arc<str>,
        data: Bytes,
        version: i32,
        mzxid: u64,
        mtime: i64,
    },
}

/// Nodes by path: a persistent hash map (`imbl`), so cloning it is one
/// pointer copy and a change after a clone copies only the changed path of
/// the map and the changed node. A snapshot clones it under the state's lock
/// and walks the clone after, so writes are not held up by the encoding.
pub type NodeMap = imbl::HashMap<Arc<str>, Arc<Node>>;

/// The node at `path` in `nodes`, to change (copied first if a snapshot
/// still shares it).
fn node_mut<'a>(nodes: &'a mut NodeMap, path: &str) -> Option<&'a mut Node> {
    nodes.get_mut(path).map(Arc::make_mut)
}

/// Nodes by path plus the ephemeral and reaper indexes. Root `/` always exists.
#[derive(Debug, Clone)]
pub struct DataTree {
    /// Persistent (see [`NodeMap`]): a snapshot takes it in O(1).
    nodes: NodeMap,
    /// Ephemeral paths by owning session (no empty sets are kept).
    ephemerals: BTreeMap<u64, BTreeSet<Arc<str>>>,
    /// Paths of container and TTL nodes, for the reaper.
    reapable: BTreeSet<Arc<str>>,
    /// Nodes with a non-open ACL removed by the command being applied, so
    /// that their deletion event reaches only sessions that could read them
    /// (emptied before each command by [`DataTree::forget_removed_acls`]).
    removed_acls: Vec<(Arc<str>, SharedAcl)>,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A tree holding only the root `/`, whose stat is all zero.
    pub fn new() -> DataTree {
        let mut nodes = NodeMap::new();
        let root = Node::new(Bytes::new(), NodeKind::Persistent, 0, 0);
        nodes.insert(Arc::from("/"), Arc::new(root));
        DataTree {
            nodes,
            ephemerals: BTreeMap::new(),
            reapable: BTreeSet::new(),
            removed_acls: Vec::new(),
        }
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: the root always exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node at `path`, if any (no validation: an invalid path is absent).
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path).map(|n| &**n)
    }

    /// Ephemeral paths owned by session `owner`, sorted.
    pub fn ephemerals_of(&self, owner: u64) -> Vec<Arc<str>> {
        self.ephemerals
            .get(&owner)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of ephemeral nodes owned by session `owner`.
    pub fn ephemeral_count(&self, owner: u64) -> usize {
        self.ephemerals.get(&owner).map_or(0, BTreeSet::len)
    }

    /// Sessions that own at least one ephemeral node, in id order.
    pub fn ephemeral_owners(&self) -> impl Iterator<Item = u64> + '_ {
        self.ephemerals.keys().copied()
    }

    /// Container and TTL nodes that may be reaped at `now_ms`, in path order,
    /// at most `max`, as `(path, czxid)`. Scans only the container/TTL index.
    pub fn reapable_at(&self, now_ms: i64, max: usize) -> Vec<(String, u64)> {
        self.reapable
            .iter()
            .filter_map(|p| {
                let node = self.nodes.get(p)?;
                node.is_reapable_at(now_ms)
                    .then(|| (p.to_string(), node.czxid))
            })
            .take(max)
            .collect()
    }

    /// Every node, parents before children, children in name order: a
    /// depth-first walk from the root. Deterministic whatever the map's order.
    pub fn walk(&self) -> Walk<'_> {
        walk(&self.nodes)
    }

    /// The node map as it is now, to read after the state's lock is
    /// released (one pointer copy; see [`NodeMap`]).
    pub fn frozen_nodes(&self) -> NodeMap {
        self.nodes.clone()
    }

    /// Creates `path` (already validated, sequential suffix included) under
    /// its existing parent. Bumps the parent's cversion and sets its pzxid.
    pub(crate) fn create(
        &mut self,
        path: &str,
        data: Bytes,
        kind: NodeKind,
        zxid: u64,
        time_ms: i64,
    ) -> Result<(Stat, Undo)> {
        let parent_path =
            coord_proto::parent(path).ok_or_else(|| Error::NodeExists(path.to_string()))?;
        if self.nodes.contains_key(path) {
            return Err(Error::NodeExists(path.to_string()));
        }
        let parent = node_mut(&mut self.nodes, parent_path)
            .ok_or_else(|| Error::NoNode(parent_path.to_string()))?;
        if let NodeKind::Ephemeral { owner } = parent.kind {
            return Err(Error::NoChildrenForEphemerals(format!(
                "{path}: parent {parent_path} is ephemeral (session 0x{owner:x})"
            )));
        }
        let key: Arc<str> = Arc::from(path);
        let undo = Undo::Created {
            path: key.clone(),
            parent_cversion: parent.cversion,
            parent_pzxid: parent.pzxid,
        };
        parent.cversion = parent.cversion.wrapping_add(1);
        parent.pzxid = zxid;
        parent.children.insert(key.clone());
        let node = Node::new(data, kind, zxid, time_ms);
        let stat = node.stat();
        self.index_add(&key, kind);
        self.nodes.insert(key, Arc::new(node));
        Ok((stat, undo))
    }

    /// Deletes the childless node at `path` if `version` is -1 or matches;
    /// `bump_cversion`: the delete also bumps the parent's cversion, as
    /// ZooKeeper 3.8 does (the replicated
    /// [`Limits::delete_bumps_parent_cversion`](crate::config::Limits)).
    pub(crate) fn delete(
        &mut self,
        path: &str,
        version: i32,
        zxid: u64,
        bump_cversion: bool,
    ) -> Result<Undo> {
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| Error::NoNode(path.to_string()))?;
        let Some(parent_path) = coord_proto::parent(path) else {
            return Err(Error::BadArguments(
                "the root / cannot be deleted".to_string(),
            ));
        };
        check_version(path, version, node.version)?;
        if !node.children.is_empty() {
            return Err(Error::NotEmpty(format!(
                "{path} has {} children",
                node.children.len()
            )));
        }
        self.remove_leaf(path, parent_path, zxid, bump_cversion)
    }

    /// Removes the leaf `path` (checked by the caller) from the map, its
    /// parent's child set and the indexes.
    fn remove_leaf(
        &mut self,
        path: &str,
        parent_path: &str,
        zxid: u64,
        bump_cversion: bool,
    ) -> Result<Undo> {
        let parent = node_mut(&mut self.nodes, parent_path)
            .ok_or_else(|| Error::Internal(format!("{path}: parent {parent_path} is missing")))?;
        let parent_cversion = parent.cversion;
        let parent_pzxid = parent.pzxid;
        if bump_cversion {
            parent.cversion = parent.cversion.wrapping_add(1);
        }
        parent.pzxid = zxid;
        parent.children.remove(path);
        let (key, node) = self
            .nodes
            .remove_with_key(path)
            .ok_or_else(|| Error::Internal(format!("{path} vanished during delete")))?;
        self.index_remove(&key, node.kind);
        if node.acl.is_some() {
            self.removed_acls.push((key.clone(), node.acl.clone()));
        }
        Ok(Undo::Deleted {
            path: key,
            node,
            parent_cversion,
            parent_pzxid,
        })
    }

    /// Replaces the data of `path` if `version` is -1 or matches.
    pub(crate) fn set_data(
        &mut self,
        path: &str,
        data: Bytes,
        version: i32,
        zxid: u64,
        time_ms: i64,
    ) -> Result<(Stat, Undo)> {
        let (key, node) = self
            .nodes
            .get_key_value(path)
            .ok_or_else(|| Error::NoNode(path.to_string()))?;
        check_version(path, version, node.version)?;
        let key = key.clone();
        let node =
            node_mut(&mut self.nodes, path).ok_or_else(|| Error::NoNode(path.to_string()))?;
        let undo = Undo::DataSet {
            path: key,
            data: std::mem::replace(&mut node.data, data),
            version: node.version,
            mzxid: node.mzxid,
            mtime: node.mtime,
        };
        node.version = node.version.wrapping_add(1);
        node.mzxid = zxid;
        node.mtime = time_ms;
        Ok((node.stat(), undo))
    }

    /// Forgets the ACLs of nodes removed by earlier commands.
    pub(crate) fn forget_removed_acls(&mut self) {
        self.removed_acls.clear();
    }

    /// The ACL of `path` if the command being applied removed it (`None`
    /// also when it was open).
    pub fn removed_acl(&self, path: &str) -> Option<&[coord_proto::Acl]> {
        self.removed_acls
            .iter()
            .rev()
            .find(|(p, _)| &**p == path)
            .and_then(|(_, acl)| acl.as_deref())
            .map(|a| &*a.list)
    }

    /// Gives the node just created at `path` its ACL (a create's second
    /// step; the create's [`Undo`] removes the node with it).
    pub(crate) fn init_acl(&mut self, path: &str, acl: SharedAcl) {
        if let Some(node) = node_mut(&mut self.nodes, path) {
            node.acl = acl;
        }
    }

    /// Replaces the ACL (and aversion) of `path`; the caller checked the
    /// version. Not part of a multi, so no undo.
    pub(crate) fn set_acl(&mut self, path: &str, acl: SharedAcl) -> Result<Stat> {
        let node =
            node_mut(&mut self.nodes, path).ok_or_else(|| Error::NoNode(path.to_string()))?;
        node.acl = acl;
        Ok(node.stat())
    }

    /// Fails unless `path` exists and `version` is -1 or matches.
    pub(crate) fn check(&self, path: &str, version: i32) -> Result<()> {
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| Error::NoNode(path.to_string()))?;
        check_version(path, version, node.version)
    }

    /// Deletes `path` if it is still the node with `czxid` and still
    /// reapable at `now_ms`. `Ok(None)` when it no longer qualifies.
    /// `bump_cversion` as for [`DataTree::delete`].
    pub(crate) fn reap(
        &mut self,
        path: &str,
        czxid: u64,
        now_ms: i64,
        zxid: u64,
        bump_cversion: bool,
    ) -> Result<Option<Undo>> {
        let qualifies = self
            .nodes
            .get(path)
            .is_some_and(|n| n.czxid == czxid && n.is_reapable_at(now_ms));
        match coord_proto::parent(path) {
            Some(parent_path) if qualifies => self
                .remove_leaf(path, parent_path, zxid, bump_cversion)
                .map(Some),
            _ => Ok(None),
        }
    }

    /// Reverses one mutation. Undo records must be applied newest first, on
    /// the tree that produced them; anything else is a bug, which is skipped
    /// (and asserted in debug builds) rather than panicking a replica.
    pub(crate) fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Created {
                path,
                parent_cversion,
                parent_pzxid,
            } => {
                if let Some(node) = self.nodes.remove(&*path) {
                    self.index_remove(&path, node.kind);
                }
                self.restore_parent(&path, parent_cversion, parent_pzxid, false);
            }
            Undo::Deleted {
                path,
                node,
                parent_cversion,
                parent_pzxid,
            } => {
                self.restore_parent(&path, parent_cversion, parent_pzxid, true);
                self.index_add(&path, node.kind);
                self.nodes.insert(path, node);
            }
            Undo::DataSet {
                path,
                data,
                version,
                mzxid,
                mtime,
            } => {
                let node = node_mut(&mut self.nodes, &path);
                debug_assert!(node.is_some(), "undo set_data of missing {path}");
                if let Some(node) = node {
                    node.data = data;
                    node.version = version;
                    node.mzxid = mzxid;
                    node.mtime = mtime;
                }
            }
        }
    }

    fn restore_parent(&mut self, path: &Arc<str>, cversion: i32, pzxid: u64, relink: bool) {
        let parent = coord_proto::parent(path).and_then(|p| node_mut(&mut self.nodes, p));
        debug_assert!(parent.is_some(), "undo under missing parent of {path}");
        if let Some(parent) = parent {
            parent.cversion = cversion;
            parent.pzxid = pzxid;
            if relink {
                parent.children.insert(path.clone());
            } else {
                parent.children.remove(&**path);
            }
        }
    }

    /// Inserts a node read from a snapshot under its already-inserted parent,
    /// keeping the node's own stat; the caller checks the record first.
    pub(crate) fn insert_restored(&mut self, path: &str, node: Node) -> Result<()> {
        if path == "/" {
            let root = node_mut(&mut self.nodes, "/")
                .ok_or_else(|| Error::Internal("root is missing".to_string()))?;
            let children = std::mem::take(&mut root.children);
            *root = Node { children, ..node };
            return Ok(());
        }
        if self.nodes.contains_key(path) {
            return Err(Error::NodeExists(path.to_string()));
        }
        let parent_path = coord_proto::parent(path).unwrap_or("/");
        let parent = node_mut(&mut self.nodes, parent_path)
            .ok_or_else(|| Error::NoNode(format!("parent {parent_path} of {path}")))?;
        if matches!(parent.kind, NodeKind::Ephemeral { .. }) {
            return Err(Error::NoChildrenForEphemerals(path.to_string()));
        }
        let key: Arc<str> = Arc::from(path);
        parent.children.insert(key.clone());
        self.index_add(&key, node.kind);
        self.nodes.insert(key, Arc::new(node));
        Ok(())
    }

    fn index_add(&mut self, path: &Arc<str>, kind: NodeKind) {
        match kind {
            NodeKind::Ephemeral { owner } => {
                self.ephemerals
                    .entry(owner)
                    .or_default()
                    .insert(path.clone());
            }
            NodeKind::Container | NodeKind::Ttl { .. } => {
                self.reapable.insert(path.clone());
            }
            NodeKind::Persistent => {}
        }
    }

    fn index_remove(&mut self, path: &str, kind: NodeKind) {
        match kind {
            NodeKind::Ephemeral { owner } => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            NodeKind::Container | NodeKind::Ttl { .. } => {
                self.reapable.remove(path);
            }
            NodeKind::Persistent => {}
        }
    }
}

/// ZooKeeper's version check: -1 matches any version.
fn check_version(path: &str, expected: i32, actual: i32) -> Result<()> {
    if expected == -1 || expected == actual {
        Ok(())
    } else {
        Err(Error::BadVersion(format!(
            "{path}: expected version {expected}, actual {actual}"
        )))
    }
}

/// Every node of `nodes`, parents before children, children in name order
/// (see [`DataTree::walk`]).
pub fn walk(nodes: &NodeMap) -> Walk<'_> {
    let root = nodes.get_key_value("/");
    Walk {
        nodes,
        pending: root.map(|(p, n)| (&**p, &**n)),
        stack: Vec::new(),
    }
}

/// Iterator of [`walk`]: `(path, node)`, parents first.
pub struct Walk<'a> {
    nodes: &'a NodeMap,
    pending: Option<(&'a str, &'a Node)>,
    stack: Vec<imbl::ordset::Iter<'a, Arc<str>, imbl::shared_ptr::DefaultSharedPtr>>,
}

impl std::fmt::Debug for Walk<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walk")
            .field("pending", &self.pending.map(|(path, _)| path))
            .field("depth", &self.stack.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Iterator for Walk<'a> {
    type Item = (&'a str, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((path, node)) = self.pending.take() {
            self.stack.push(node.children.iter());
            return Some((path, node));
        }
        loop {
            let top = self.stack.last_mut()?;
            match top.next() {
                None => {
                    self.stack.pop();
                }
                Some(child) => {
                    // A child missing from the map would be a broken tree;
                    // skip it rather than panic.
                    if let Some(node) = self.nodes.get(&**child) {
                        self.stack.push(node.children.iter());
                        return Some((&**child, &**node));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "data_tree_tests.rs"]
mod tests;
