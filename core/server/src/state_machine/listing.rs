//! The children listing read ([`StateMachine::list_children`]): one
//! [`ListChildren`] against the tree, answered as a [`ChildrenPage`] that
//! fits the reply's byte budget, or `TooLarge`.
//!
//! It owns the packing rule. Each child is charged its exact encoded size
//! ([`listed_entry_len`]); a page takes children in name order from its
//! cursor until the count limit or the budget, and always at least one (so a
//! paged listing makes progress) unless that one alone would overflow the
//! client's frame; an unpaged listing must fit whole and is refused after
//! walking at most a budget's worth of children, never built in full. Only
//! reads: no watch, no write, no I/O.
//!
//! Under the state's read lock a page only copies pointers to the tree's
//! shared child paths ([`Listing`]); the names are made after the lock is
//! released ([`Listing::finish`]), so a listing of many children holds up
//! writes for as short a time as it can.

use std::sync::Arc;

use coord_proto::wire::listed_entry_len;
use coord_proto::{ChildrenPage, ListChildren, ListShape};

use super::StateMachine;
use crate::error::{Error, Result};
use crate::tree::{self, Node};

/// A children page whose entries are still the tree's shared child paths
/// (see the module docs); [`Listing::finish`] makes it a [`ChildrenPage`].
#[derive(Debug)]
pub struct Listing {
    page: ChildrenPage,
    paths: Vec<Arc<str>>,
}

impl Listing {
    /// Children in this page.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True when the page lists no child (also a count-only listing).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The page with its names (call it after releasing the state's lock).
    pub fn finish(self) -> ChildrenPage {
        let mut page = self.page;
        page.names = self
            .paths
            .iter()
            .map(|p| tree::name(p).to_string())
            .collect();
        page
    }
}

impl StateMachine {
    /// Answers a children listing from the current state, with entries cut at
    /// [`ListChildren::budget`] for a server whose `--max-listing-bytes` is
    /// `max_listing_bytes`. `NoNode` for a missing parent; `TooLarge` naming
    /// the path when an unpaged listing does not fit.
    pub fn list_children(
        &self,
        req: &ListChildren,
        max_listing_bytes: usize,
    ) -> Result<ChildrenPage> {
        self.list_children_deferred(req, max_listing_bytes)
            .map(Listing::finish)
    }

    /// [`StateMachine::list_children`] without making the names: what to do
    /// under the state's read lock.
    pub fn list_children_deferred(
        &self,
        req: &ListChildren,
        max_listing_bytes: usize,
    ) -> Result<Listing> {
        let node = self.existing(&req.path)?;
        let mut paths = Vec::new();
        let mut page = ChildrenPage {
            stat: node.stat(),
            zxid: self.last_zxid,
            ..ChildrenPage::default()
        };
        let (with_stats, after, limit, paged) = match &req.shape {
            ListShape::Count => return Ok(Listing { page, paths }),
            ListShape::All { with_stats } => (*with_stats, None, usize::MAX, false),
            ListShape::Page {
                with_stats,
                start_after,
                limit,
            } => (
                *with_stats,
                start_after.as_deref(),
                limit.map_or(usize::MAX, |l| l as usize),
                true,
            ),
        };
        let budget = req.budget(max_listing_bytes);
        let mut used = 0usize;
        let mut children = node.child_arcs_after(&req.path, after).peekable();
        while let Some(&arc) = children.peek() {
            let path: &str = arc;
            if paths.len() >= limit {
                break;
            }
            let name = tree::name(path);
            let stat = if with_stats {
                let child = self.tree.node(path).map(Node::stat).ok_or_else(|| {
                    Error::Internal(format!("{path} is listed as a child but has no node"))
                })?;
                Some(child)
            } else {
                None
            };
            let len = listed_entry_len(name, stat.as_ref());
            let first = paths.is_empty();
            let fits = used + len <= budget.bytes || (paged && first && len <= budget.hard);
            if !fits {
                if paged && !first {
                    break;
                }
                return Err(if paged {
                    Error::TooLarge(format!(
                        "child {path} alone needs {len} bytes, over the {} bytes the \
                         client's max_reply_bytes leaves for a listing",
                        budget.hard
                    ))
                } else {
                    Error::TooLarge(format!(
                        "children of {} do not fit in one reply: {} children need more \
                         than {} bytes (max_listing_bytes = {}, or less for the client's \
                         frame); list them in pages (GetChildrenRequest.paged)",
                        req.path,
                        node.num_children(),
                        budget.bytes,
                        budget.server
                    ))
                });
            }
            used += len;
            paths.push(arc.clone());
            page.stats.extend(stat);
            children.next();
        }
        page.more = paged && children.peek().is_some();
        Ok(Listing { page, paths })
    }
}
