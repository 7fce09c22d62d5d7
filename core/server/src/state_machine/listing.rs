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
//! Under the state's read lock a listing only takes what it needs to finish
//! later ([`Listing`]): without stats, a clone of the parent's persistent
//! child set (one pointer copy, however many children); with stats, pointers
//! to the listed children's shared paths and their stats (those must be read
//! from the tree). The walk, the packing and the names happen after the lock
//! is released ([`Listing::finish`]), so a listing of many children holds up
//! writes for as short a time as it can.

use std::iter::Peekable;
use std::sync::Arc;

use coord_proto::children::ReplyBudget;
use coord_proto::wire::listed_entry_len;
use coord_proto::{ChildrenPage, ListChildren, ListShape, Stat};

use super::StateMachine;
use crate::error::{Error, Result};
use crate::tree::{ChildSet, Node, children_after};

/// A children listing taken under the state's lock and finished after it
/// (see the module docs): [`Listing::finish`] makes it a [`ChildrenPage`].
#[derive(Debug)]
pub struct Listing {
    page: ChildrenPage,
    rest: Rest,
}

/// What a [`Listing`] still has to do after the lock.
#[derive(Debug)]
enum Rest {
    /// The page's entries were chosen under the lock (with their stats):
    /// only the names are left to make.
    Names { prefix: usize, paths: Vec<Arc<str>> },
    /// The whole walk is left, over a clone of the child set.
    Walk {
        parent: String,
        children: ChildSet,
        pack: Pack,
    },
}

/// How a walk packs children into a page.
#[derive(Debug)]
struct Pack {
    after: Option<String>,
    limit: usize,
    paged: bool,
    budget: ReplyBudget,
}

impl Listing {
    /// At most how many children the page will list (what finishing it may
    /// cost).
    pub fn max_len(&self) -> usize {
        match &self.rest {
            Rest::Names { paths, .. } => paths.len(),
            Rest::Walk { children, pack, .. } => children.len().min(pack.limit),
        }
    }

    /// True when the listing holds `node`'s own child set (not a copy).
    #[cfg(test)]
    pub(crate) fn shares_children_with(&self, node: &Node) -> bool {
        matches!(&self.rest, Rest::Walk { children, .. } if children.ptr_eq(&node.children))
    }

    /// The page with its names (call it after releasing the state's lock);
    /// `TooLarge` naming the path when an unpaged listing does not fit.
    pub fn finish(self) -> Result<ChildrenPage> {
        let mut page = self.page;
        match self.rest {
            Rest::Names { prefix, paths } => {
                page.names = paths.iter().map(|p| p[prefix..].to_string()).collect();
            }
            Rest::Walk {
                parent,
                children,
                pack,
            } => {
                let prefix = name_offset(&parent);
                let total = children.len();
                let walk = children_after(&children, &parent, pack.after.as_deref());
                let mut names = Vec::new();
                page.more = pack.run(
                    &parent,
                    total,
                    walk.peekable(),
                    |_| Ok(None),
                    |path, _| names.push(path[prefix..].to_string()),
                )?;
                page.names = names;
            }
        }
        Ok(page)
    }
}

/// Where a child's name starts in its full path under `parent`.
fn name_offset(parent: &str) -> usize {
    match parent {
        "/" => 1,
        p => p.len() + 1,
    }
}

impl Pack {
    /// Takes children in name order until the count limit or the budget,
    /// always at least one on a paged listing unless that one alone would
    /// overflow the client's frame; an unpaged listing must fit whole and is
    /// refused after walking at most a budget's worth of children. Hands each
    /// taken child (and its stat, when `stat_of` gives one) to `take`; returns
    /// whether a paged listing has more.
    fn run<'a>(
        &self,
        parent: &str,
        total: usize,
        mut children: Peekable<impl Iterator<Item = &'a Arc<str>>>,
        mut stat_of: impl FnMut(&str) -> Result<Option<Stat>>,
        mut take: impl FnMut(&'a Arc<str>, Option<Stat>),
    ) -> Result<bool> {
        let prefix = name_offset(parent);
        let budget = self.budget;
        let mut used = 0usize;
        let mut taken = 0usize;
        while let Some(&arc) = children.peek() {
            if taken >= self.limit {
                break;
            }
            let path: &str = arc;
            let stat = stat_of(path)?;
            let len = listed_entry_len(&path[prefix..], stat.as_ref());
            let first = taken == 0;
            let fits = used + len <= budget.bytes || (self.paged && first && len <= budget.hard);
            if !fits {
                if self.paged && !first {
                    break;
                }
                return Err(if self.paged {
                    Error::TooLarge(format!(
                        "child {path} alone needs {len} bytes, over the {} bytes the \
                         client's max_reply_bytes leaves for a listing",
                        budget.hard
                    ))
                } else {
                    Error::TooLarge(format!(
                        "children of {parent} do not fit in one reply: {total} children need \
                         more than {} bytes (max_listing_bytes = {}, or less for the client's \
                         frame); list them in pages (GetChildrenRequest.paged)",
                        budget.bytes, budget.server
                    ))
                });
            }
            used += len;
            taken += 1;
            take(arc, stat);
            children.next();
        }
        Ok(self.paged && children.peek().is_some())
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
        self.list_children_deferred(req, max_listing_bytes)?
            .finish()
    }

    /// What [`StateMachine::list_children`] does under the state's read lock:
    /// the parent's stat and what the rest needs (see the module docs).
    pub fn list_children_deferred(
        &self,
        req: &ListChildren,
        max_listing_bytes: usize,
    ) -> Result<Listing> {
        let node = self.existing(&req.path)?;
        let page = ChildrenPage {
            stat: node.stat(),
            zxid: self.last_zxid,
            ..ChildrenPage::default()
        };
        let (with_stats, after, limit, paged) = match &req.shape {
            ListShape::Count => {
                let rest = Rest::Names {
                    prefix: 0,
                    paths: Vec::new(),
                };
                return Ok(Listing { page, rest });
            }
            ListShape::All { with_stats } => (*with_stats, None, usize::MAX, false),
            ListShape::Page {
                with_stats,
                start_after,
                limit,
            } => (
                *with_stats,
                start_after.clone(),
                limit.map_or(usize::MAX, |l| l as usize),
                true,
            ),
        };
        let pack = Pack {
            after,
            limit,
            paged,
            budget: req.budget(max_listing_bytes),
        };
        if !with_stats {
            let rest = Rest::Walk {
                parent: req.path.clone(),
                children: node.children.clone(),
                pack,
            };
            return Ok(Listing { page, rest });
        }
        self.list_with_stats(req, node, page, pack)
    }

    /// A listing with the children's stats: packed under the lock, since the
    /// stats are read from the tree.
    fn list_with_stats(
        &self,
        req: &ListChildren,
        node: &Node,
        mut page: ChildrenPage,
        pack: Pack,
    ) -> Result<Listing> {
        let mut paths = Vec::new();
        let mut stats = Vec::new();
        let children = node.child_arcs_after(&req.path, pack.after.as_deref());
        page.more = pack.run(
            &req.path,
            node.num_children(),
            children.peekable(),
            |path| {
                let child = self.tree.node(path).map(Node::stat).ok_or_else(|| {
                    Error::Internal(format!("{path} is listed as a child but has no node"))
                })?;
                Ok(Some(child))
            },
            |path, stat| {
                paths.push(path.clone());
                stats.extend(stat);
            },
        )?;
        page.stats = stats;
        let rest = Rest::Names {
            prefix: name_offset(&req.path),
            paths,
        };
        Ok(Listing { page, rest })
    }
}
