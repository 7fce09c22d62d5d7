//! Subtree quotas inside the replicated state: the quota table, each quota's
//! usage, and the check that refuses a write taking a subtree over a limit.
//!
//! A quota on `P` counts the node at `P` and every node below it, and the
//! sum of their data lengths. Usage is kept incrementally: every change of
//! the tree (create, delete, set, reap, an ephemeral's end, a multi's
//! rollback) is charged, from its [`Undo`] record, to the quotas on the
//! changed path and its ancestors. With no quota set, charging is one
//! emptiness check: no walk, no allocation.
//!
//! Rules (also in the README): quotas may nest (each is enforced on its
//! own); a quota may be set on a subtree already over it (as ZooKeeper
//! allows), after which only writes that shrink it succeed; a quota stays when
//! its node is deleted (its usage then reads 0) and applies again if the
//! path is re-created. Setting a quota needs the node to exist. This module
//! decides nothing about paths or sessions; `apply` drives it.

use std::collections::BTreeMap;

use coord_proto::{Quota, QuotaLimits, QuotaUsage};

use crate::error::{Error, Result};
use crate::tree::{self, DataTree, Undo};

use super::CommandResult;
use super::machine::StateMachine;

/// Quotas by path (ordered, so listing and snapshots are deterministic).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Quotas {
    table: BTreeMap<String, Quota>,
}

/// A change of one path's subtree: `nodes` and `bytes` added (negative: removed).
#[derive(Debug, Clone, Copy)]
struct Delta<'a> {
    path: &'a str,
    nodes: i64,
    bytes: i64,
}

impl Quotas {
    /// The quota on exactly `path`, with its usage.
    pub(crate) fn get(&self, path: &str) -> Option<Quota> {
        self.table.get(path).copied()
    }

    /// Every quota, in path order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Quota)> + '_ {
        self.table.iter().map(|(p, q)| (p.as_str(), q))
    }

    /// Sets the quota on `path` (replacing any), counting the subtree's
    /// usage from `tree` as it is now.
    pub(crate) fn set(&mut self, tree: &DataTree, path: &str, limits: QuotaLimits) {
        let usage = subtree_usage(tree, path);
        self.table.insert(path.to_string(), Quota { limits, usage });
    }

    /// Removes the quota on `path`; false when there was none.
    pub(crate) fn clear(&mut self, path: &str) -> bool {
        self.table.remove(path).is_some()
    }

    /// The quotas a snapshot listed, their usage counted from `tree`.
    pub(crate) fn restored(tree: &DataTree, limits: BTreeMap<String, QuotaLimits>) -> Quotas {
        let table = limits
            .into_iter()
            .map(|(path, limits)| {
                let usage = subtree_usage(tree, &path);
                (path, Quota { limits, usage })
            })
            .collect();
        Quotas { table }
    }

    /// Charges the change `undo` records (the tree is already changed) to
    /// every quota on its path or an ancestor. Fails, charging nothing, when
    /// the change grows a subtree past a limit; the caller then undoes it.
    pub(crate) fn charge(
        &mut self,
        tree: &DataTree,
        undo: &Undo,
        what: &dyn std::fmt::Display,
    ) -> Result<()> {
        if self.table.is_empty() {
            return Ok(());
        }
        let delta = delta_of(tree, undo);
        self.check(delta, what)?;
        self.add(delta);
        Ok(())
    }

    /// Takes back the charge of `undo` before the tree undoes it (never fails:
    /// it returns usage to what it was before the change).
    pub(crate) fn uncharge(&mut self, tree: &DataTree, undo: &Undo) {
        if self.table.is_empty() {
            return;
        }
        let delta = delta_of(tree, undo);
        self.add(Delta {
            nodes: -delta.nodes,
            bytes: -delta.bytes,
            ..delta
        });
    }

    fn check(&self, d: Delta<'_>, what: &dyn std::fmt::Display) -> Result<()> {
        for quota_path in ancestors_or_self(d.path) {
            let Some(q) = self.table.get(quota_path) else {
                continue;
            };
            let over = |used: u64, by: i64, max: Option<u64>, name: &str| {
                let after = used.saturating_add_signed(by);
                match max {
                    Some(max) if by > 0 && after > max => Err(Error::QuotaExceeded(format!(
                        "{what}: quota on {quota_path} allows {name} = {max}, \
                         the subtree would hold {after}"
                    ))),
                    _ => Ok(()),
                }
            };
            over(q.usage.nodes, d.nodes, q.limits.max_nodes, "max_nodes")?;
            over(q.usage.bytes, d.bytes, q.limits.max_bytes, "max_bytes")?;
        }
        Ok(())
    }

    fn add(&mut self, d: Delta<'_>) {
        for quota_path in ancestors_or_self(d.path) {
            if let Some(q) = self.table.get_mut(quota_path) {
                q.usage.nodes = q.usage.nodes.saturating_add_signed(d.nodes);
                q.usage.bytes = q.usage.bytes.saturating_add_signed(d.bytes);
            }
        }
    }
}

/// What the change recorded by `undo` added to its path's subtree, read from
/// the tree after the change.
fn delta_of<'a>(tree: &DataTree, undo: &'a Undo) -> Delta<'a> {
    let len_now = |path: &str| tree.node(path).map_or(0, |n| n.data().len() as i64);
    match undo {
        Undo::Created { path, .. } => Delta {
            path,
            nodes: 1,
            bytes: len_now(path),
        },
        Undo::Deleted { path, node, .. } => Delta {
            path,
            nodes: -1,
            bytes: -(node.data().len() as i64),
        },
        Undo::DataSet { path, data, .. } => Delta {
            path,
            nodes: 0,
            bytes: len_now(path) - data.len() as i64,
        },
    }
}

/// `/`, then each ancestor of `path` down to `path` itself (`/a/b`: `/`,
/// `/a`, `/a/b`), as slices of `path`.
fn ancestors_or_self(path: &str) -> impl Iterator<Item = &str> + '_ {
    let inner = path
        .char_indices()
        .skip(1)
        .filter(|&(_, c)| c == '/')
        .map(move |(i, _)| &path[..i]);
    let last = (path != "/").then_some(path);
    std::iter::once("/").chain(inner).chain(last)
}

/// Nodes and data bytes of the subtree at `path` (zero when it does not exist).
pub(crate) fn subtree_usage(tree: &DataTree, path: &str) -> QuotaUsage {
    let mut usage = QuotaUsage::default();
    let mut stack: Vec<&str> = Vec::new();
    if tree.node(path).is_some() {
        stack.push(path);
    }
    while let Some(p) = stack.pop() {
        let Some(node) = tree.node(p) else { continue };
        usage.nodes += 1;
        usage.bytes += node.data().len() as u64;
        stack.extend(node.child_paths());
    }
    usage
}

/// Applies a `SetQuota` command: sets the quota on the existing node at
/// `path` (`Some`, at least one limit), or clears it (`None`).
pub(super) fn set_quota(
    sm: &mut StateMachine,
    path: &str,
    limits: Option<&QuotaLimits>,
) -> Result<CommandResult> {
    tree::validate_path(path, sm.limits.max_path_bytes)?;
    match limits {
        None => {
            if !sm.quotas.clear(path) {
                return Err(Error::NoNode(format!("no quota is set on {path}")));
            }
        }
        Some(limits) => {
            if limits.max_nodes.is_none() && limits.max_bytes.is_none() {
                return Err(Error::BadArguments(format!(
                    "quota on {path}: give max_nodes, max_bytes or both (to remove it, clear it)"
                )));
            }
            if sm.tree.node(path).is_none() {
                return Err(Error::NoNode(format!(
                    "{path} (a quota needs an existing node)"
                )));
            }
            sm.quotas.set(&sm.tree, path, *limits);
        }
    }
    Ok(CommandResult::QuotaSet)
}

#[cfg(test)]
mod tests {
    use super::ancestors_or_self;

    #[test]
    fn ancestors_run_from_the_root_to_the_path_itself() {
        let all = |p| ancestors_or_self(p).collect::<Vec<_>>();
        assert_eq!(all("/"), ["/"]);
        assert_eq!(all("/a"), ["/", "/a"]);
        assert_eq!(all("/a/bc/d"), ["/", "/a", "/a/bc", "/a/bc/d"]);
    }
}
