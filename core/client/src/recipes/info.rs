//! Who holds a lock and who waits, read from the lock's line as it is on the
//! server: [`lock_info`] (for locks, read-write locks and elections, which
//! share kazoo's node names, so kazoo's contenders are shown too) and
//! [`Client`]-level helpers for the CLI's `coord locks`, `coord elections`
//! and `coord lock break`.
//!
//! Pure reading: one listing with stats (one state of the directory) and,
//! for elections, the candidates' data. The hold decision is the recipes'
//! own ([`sequence::decide_lock`]), so what is shown is what the contenders
//! themselves decide.

use bytes::Bytes;

use super::sequence::{self, LockNode};
use crate::Result;
use crate::client::Client;
use coord_proto::Stat;

/// One node in a lock's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    /// The node's name (`<owner>__lock__NNNNNNNNNN` or `…__rlock__…`).
    pub node: String,
    /// The owner id the name starts with.
    pub owner: String,
    /// Exclusive (a mutex, a writer, an election candidate) or shared (a reader).
    pub kind: LockNode,
    /// The session holding the node (its ephemeral owner).
    pub session: u64,
    /// The fencing token a holder got: the node's czxid.
    pub token: u64,
    /// When the node was created (joined the line), ms since the epoch
    /// (the leader's clock).
    pub since_ms: i64,
}

/// A lock's line at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// The lock's path.
    pub path: String,
    /// Who holds it: one exclusive holder, or any number of readers.
    pub holders: Vec<Contender>,
    /// Who waits, in line order.
    pub waiters: Vec<Contender>,
}

/// The line of the lock (or read-write lock, or election) at `path`; empty
/// lists when nobody contends.
pub async fn lock_info(client: &Client, path: &str) -> Result<LockInfo> {
    let (children, _) = client.children_with_stats(path).await?;
    Ok(line_of(path, &children))
}

impl Client {
    /// Who holds the lock (read-write lock, election) at `path` and who
    /// waits, in line order: see [`lock_info`].
    pub async fn lock_info(&self, path: &str) -> Result<LockInfo> {
        lock_info(self, path).await
    }
}

/// Splits `children` (names with stats) into holders and waiters.
pub fn line_of(path: &str, children: &[(String, Stat)]) -> LockInfo {
    let names: Vec<String> = children.iter().map(|(n, _)| n.clone()).collect();
    let mut line: Vec<(i64, Contender)> = children
        .iter()
        .filter_map(|(name, stat)| {
            let (kind, seq) = sequence::lock_node(name)?;
            let marker = match kind {
                LockNode::Exclusive => sequence::LOCK_MARKER,
                LockNode::Shared => sequence::READ_LOCK_MARKER,
            };
            let owner = name[..name.len() - sequence::SEQUENCE_DIGITS - marker.len()].to_string();
            Some((
                seq,
                Contender {
                    node: name.clone(),
                    owner,
                    kind,
                    session: stat.ephemeral_owner,
                    token: stat.czxid,
                    since_ms: stat.ctime,
                },
            ))
        })
        .collect();
    line.sort_by_key(|(seq, _)| *seq);
    let mut info = LockInfo {
        path: path.to_string(),
        holders: Vec::new(),
        waiters: Vec::new(),
    };
    for (_, c) in line {
        let blocked_by = match c.kind {
            LockNode::Exclusive => sequence::EXCLUSIVE_BLOCKED_BY,
            LockNode::Shared => sequence::SHARED_BLOCKED_BY,
        };
        if sequence::decide_lock(&names, &c.node, blocked_by) == sequence::Decision::Acquired {
            info.holders.push(c);
        } else {
            info.waiters.push(c);
        }
    }
    info
}

/// The locks under `root` (itself included): every directory with at
/// least one contender, in depth-first name order. Walks the subtree, so
/// give the narrowest path you can.
pub async fn locks_under(client: &Client, root: &str) -> Result<Vec<LockInfo>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_string()];
    while let Some(dir) = stack.pop() {
        let children = match client.children_with_stats(&dir).await {
            Ok((c, _)) => c,
            // Deleted while we walked: nothing to show there.
            Err(crate::Error::NoNode(_)) if dir != root => continue,
            Err(e) => return Err(e),
        };
        let info = line_of(&dir, &children);
        if !info.holders.is_empty() || !info.waiters.is_empty() {
            found.push(info);
        }
        for (name, stat) in children.iter().rev() {
            // Contender nodes are ephemeral leaves; only directories are walked.
            if stat.num_children > 0 {
                stack.push(if dir == "/" {
                    format!("/{name}")
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
    }
    Ok(found)
}

/// The data (an election candidate's identity) of each contender's node,
/// in the order given; a node gone meanwhile reads as empty.
pub async fn identities(client: &Client, info: &LockInfo) -> Result<Vec<Bytes>> {
    let mut out = Vec::new();
    for c in info.holders.iter().chain(&info.waiters) {
        let path = format!("{}/{}", info.path.trim_end_matches('/'), c.node);
        match client.get(&path).await {
            Ok((data, _)) => out.push(data),
            Err(crate::Error::NoNode(_)) => out.push(Bytes::new()),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(czxid: u64, session: u64) -> Stat {
        Stat {
            czxid,
            ephemeral_owner: session,
            ctime: 1000 + czxid as i64,
            ..Stat::default()
        }
    }

    #[test]
    fn the_first_exclusive_holds_and_the_rest_wait_in_sequence_order() {
        let children = vec![
            ("b__lock__0000000002".to_string(), stat(12, 2)),
            ("stray".to_string(), stat(9, 0)),
            ("a__lock__0000000001".to_string(), stat(11, 1)),
            ("c__rlock__0000000003".to_string(), stat(13, 3)),
        ];
        let info = line_of("/l", &children);
        assert_eq!(info.holders.len(), 1);
        assert_eq!(info.holders[0].owner, "a");
        assert_eq!(info.holders[0].token, 11);
        assert_eq!(info.holders[0].session, 1);
        let waiting: Vec<&str> = info.waiters.iter().map(|w| w.owner.as_str()).collect();
        assert_eq!(waiting, ["b", "c"]);
    }

    #[test]
    fn readers_ahead_of_any_writer_hold_together() {
        let children = vec![
            ("r1__rlock__0000000001".to_string(), stat(1, 1)),
            ("r2__rlock__0000000002".to_string(), stat(2, 2)),
            ("w__lock__0000000003".to_string(), stat(3, 3)),
            ("r3__rlock__0000000004".to_string(), stat(4, 4)),
        ];
        let info = line_of("/rw", &children);
        let holders: Vec<&str> = info.holders.iter().map(|h| h.owner.as_str()).collect();
        assert_eq!(holders, ["r1", "r2"]);
        let waiting: Vec<&str> = info.waiters.iter().map(|w| w.owner.as_str()).collect();
        assert_eq!(waiting, ["w", "r3"]);
        assert_eq!(info.holders[0].kind, LockNode::Shared);
    }
}
