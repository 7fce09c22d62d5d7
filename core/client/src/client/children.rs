//! [`Client`]'s children listings: one page ([`Client::children_page`]), the
//! count alone ([`Client::children_count`]), and every child however many
//! there are ([`Client::children`], [`Client::children_watch`],
//! [`Client::children_with_stats`]).
//!
//! Why the "every child" calls page: a reply must fit the client's frame
//! (4 MiB by default), and a directory with a hundred thousand children does
//! not. As a ZooKeeper user expects `getChildren` to return the whole
//! directory, these calls keep doing so: they ask for a first page as large as
//! the server's budget and the client's frame allow, which for any directory
//! that fitted one reply before is the whole listing, in one round trip from
//! one state, exactly as before; only a larger directory takes more pages.
//! Callers that want etcd-style control (a count limit, their own cursor, a
//! stream of pages) use [`Client::children_page`].
//!
//! Consistency of a listing in several pages: each page is read from one
//! state (its own zxid), and pages never go back in time. Every child that
//! exists for the whole listing is returned exactly once; a child created or
//! deleted while it runs may or may not be; the result is sorted by name
//! without duplicates. A child watch (set by the first page only) covers the
//! whole directory, so a caller that watches learns of any change it may
//! have missed. Recipes need no more: their decisions (who is first in line)
//! only compare children that existed before their own node.
//!
//! This module owns only the paging loop; the request and page shapes and
//! their wire form are `coord_proto`'s ([`ListChildren`], [`ChildrenPage`]).

use coord_proto::proto::request::Op as Req;
use coord_proto::wire::children_page_from_proto;
use coord_proto::{ChildrenPage, ListChildren, ListShape, Stat};

use super::api::{Client, children_result, oneshot_action};
use super::request::{Action, OneshotRequest};
use super::watcher::OneshotWatch;
use crate::error::{Error, Result};

impl Client {
    /// A listing request for `path` that announces this client's frame limit.
    fn listing(&self, path: &str, shape: ListShape) -> ListChildren {
        ListChildren {
            path: path.to_string(),
            watch: false,
            shape,
            client_max_frame: self.inner().config.max_frame_bytes,
        }
    }

    /// Sends one listing; `action` (a watch) is done if it succeeds.
    async fn list(&self, mut req: ListChildren, action: Action) -> Result<ChildrenPage> {
        req.watch = !matches!(action, Action::None);
        let with_stats = req.shape.with_stats();
        let resp = self.read(Req::GetChildren((&req).into()), action).await?;
        let zxid = resp.zxid;
        children_page_from_proto(children_result(resp)?, zxid, with_stats)
    }

    /// One page of the node's children: the names sorting strictly after
    /// `start_after` (from the first with `None`), in name order, at most
    /// `limit` of them (`None`: as many as the server's `--max-listing-bytes`
    /// and this client's frame allow; a page holds at least one name while
    /// any remain). The page's `stat` is the parent's (`num_children` is the
    /// total); `more` says whether names after the last one remain: pass
    /// [`ChildrenPage::next_start_after`] to get the next page.
    pub async fn children_page(
        &self,
        path: &str,
        start_after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ChildrenPage> {
        let shape = ListShape::Page {
            with_stats: false,
            start_after: start_after.map(str::to_string),
            limit,
        };
        self.list(self.listing(path, shape), Action::None).await
    }

    /// The number of the node's children, without their names (one cheap
    /// read whatever the directory's size).
    pub async fn children_count(&self, path: &str) -> Result<u32> {
        let page = self
            .list(self.listing(path, ListShape::Count), Action::None)
            .await?;
        Ok(page.stat.num_children)
    }

    /// Every child, page after page (see the module docs for consistency);
    /// `action` goes with the first page only. The result's `stat` and
    /// `zxid` are those of the last page.
    async fn list_all(&self, path: &str, with_stats: bool, action: Action) -> Result<ChildrenPage> {
        let mut action = Some(action);
        let mut all = ChildrenPage::default();
        loop {
            let shape = ListShape::Page {
                with_stats,
                start_after: all.names.last().cloned(),
                limit: None,
            };
            let page = self
                .list(self.listing(path, shape), action.take().unwrap_or_default())
                .await?;
            // Each page must move past the cursor, or paging would never end.
            let stuck = page.more && page.names.is_empty();
            let backwards = matches!(
                (page.names.first(), all.names.last()),
                (Some(first), Some(cursor)) if first <= cursor
            );
            if stuck || backwards {
                return Err(Error::Protocol(format!(
                    "children page of {path} after {:?} did not advance",
                    all.names.last()
                )));
            }
            all.names.extend(page.names);
            all.stats.extend(page.stats);
            all.stat = page.stat;
            all.zxid = page.zxid;
            if !page.more {
                return Ok(all);
            }
        }
    }

    /// The names of all the node's children, sorted by name (byte order of
    /// the UTF-8 names; the server guarantees it, so a caller may rely on it
    /// without sorting again). A directory too large for one reply is read in
    /// pages: see the module docs for what a concurrent change may do.
    pub async fn children(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.list_all(path, false, Action::None).await?.names)
    }

    /// All the node's children with their stats, sorted by name as in
    /// [`Client::children`] (paged the same way), and the node's own stat
    /// (as of the last page).
    pub async fn children_with_stats(&self, path: &str) -> Result<(Vec<(String, Stat)>, Stat)> {
        let all = self.list_all(path, true, Action::None).await?;
        Ok((all.names.into_iter().zip(all.stats).collect(), all.stat))
    }

    /// Like [`Client::children`] (all names, sorted by name), and watches the
    /// node's children: the watch fires when a child is added or removed
    /// anywhere in the directory, or the node is deleted. It is set with the
    /// first page, so a change made while later pages are read fires it too.
    pub async fn children_watch(&self, path: &str) -> Result<(Vec<String>, OneshotWatch)> {
        let (action, watch) = oneshot_action(path, OneshotRequest::Child);
        Ok((self.list_all(path, false, action).await?.names, watch))
    }
}
