//! Who holds a lock and who waits, read from the lock's line as it is on the
//! server: [`lock_info`] (for locks, read-write locks and elections, which
//! share kazoo's node names, so kazoo's contenders are shown too, and for
//! semaphores, whose leases are read with the count in their data) and
//! [`Client`]-level helpers for the CLI's `coord locks`, `coord elections`
//! and `coord lock break`.
//!
//! Pure reading: one listing with stats (one state of the directory) and,
//! for elections, the candidates' data. The hold decision is the recipes'
//! own ([`coord_proto::lock_line::decide_lock`], through [`line_of`]), so what is shown is what the contenders
//! themselves decide.

use bytes::Bytes;

use crate::Result;
use crate::client::Client;
pub use coord_proto::lock_line::{Contender, LockInfo, line_of};
use coord_proto::lock_line::{has_leases, line_of_dir};

/// The line of the lock (or read-write lock, election, semaphore) at
/// `path`; empty lists when nobody contends.
pub async fn lock_info(client: &Client, path: &str) -> Result<LockInfo> {
    let (children, _) = client.children_with_stats(path).await?;
    line(client, path, &children).await
}

/// The line among `children` of `dir`: with lease nodes among them, the
/// directory's data (the semaphore's count) is read too.
async fn line(client: &Client, dir: &str, children: &[(String, crate::Stat)]) -> Result<LockInfo> {
    if !has_leases(children) {
        return Ok(line_of(dir, children));
    }
    let data = match client.get(dir).await {
        Ok((data, _)) => data,
        Err(crate::Error::NoNode(_)) => Bytes::new(),
        Err(e) => return Err(e),
    };
    Ok(line_of_dir(dir, &data, children))
}

impl Client {
    /// Who holds the lock (read-write lock, election) at `path` and who
    /// waits, in line order: see [`lock_info`].
    pub async fn lock_info(&self, path: &str) -> Result<LockInfo> {
        lock_info(self, path).await
    }
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
        let info = line(client, &dir, &children).await?;
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
