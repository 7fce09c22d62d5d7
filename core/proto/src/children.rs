//! Children listings: what a listing asks for ([`ListChildren`], [`ListShape`]),
//! one answer ([`ChildrenPage`]) and the byte budget both sides agree on
//! ([`ReplyBudget`]), so that a server never builds a listing the client's
//! frame limit would refuse.
//!
//! A listing is one of three shapes: every child at once (the request as it
//! was before paging; it fails with `TooLarge` when the children do not fit
//! one reply), one page after a name cursor, or only the count. Pages are in
//! name order and cut by a count limit and by the byte budget; a page that is
//! not the last says so (`more`) and the next starts after its last name. A
//! child watch set by any shape covers the whole directory.
//!
//! This module owns the shapes and the budget arithmetic; their wire form is
//! in `wire` (with the exact size of one listed entry), walking the tree is
//! the server's.

use crate::stat::Stat;
use crate::wire::DEFAULT_MAX_FRAME_BYTES;

/// Room a children reply needs besides its entries (frame length, message
/// envelope, xid, zxid, the parent's stat, `more`): under 200 bytes, kept
/// generous.
pub const LISTING_ENVELOPE_BYTES: usize = 1024;

/// Largest `--max-listing-bytes`: the entries of a reply of this size plus
/// its envelope fill the protocol's default frame, the limit of a client
/// that does not say otherwise.
pub const MAX_LISTING_BYTES: usize = DEFAULT_MAX_FRAME_BYTES - LISTING_ENVELOPE_BYTES;

/// Smallest `--max-listing-bytes`.
pub const MIN_LISTING_BYTES: usize = 1024;

/// Default `--max-listing-bytes`: the largest, so that a listing that fitted
/// a client's default frame before paging existed still comes in one reply.
pub const DEFAULT_MAX_LISTING_BYTES: usize = MAX_LISTING_BYTES;

/// How much of the directory a listing returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListShape {
    /// Every child in one reply, or `TooLarge` when they do not fit the budget.
    All {
        /// Also each child's stat.
        with_stats: bool,
    },
    /// One page: the children after `start_after` in name order.
    Page {
        /// Also each child's stat.
        with_stats: bool,
        /// Only names sorting strictly after this one (`None`: from the first).
        start_after: Option<String>,
        /// At most this many children (`None`: as many as fit the budget).
        limit: Option<u32>,
    },
    /// Only the parent's stat, whose `num_children` is the count.
    Count,
}

impl ListShape {
    /// True when each child's stat is asked for.
    pub fn with_stats(&self) -> bool {
        match self {
            ListShape::All { with_stats } | ListShape::Page { with_stats, .. } => *with_stats,
            ListShape::Count => false,
        }
    }
}

/// A children listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListChildren {
    /// The parent's path.
    pub path: String,
    /// Set a one-shot child watch on the parent (covers every child, not
    /// only those this reply lists).
    pub watch: bool,
    /// What to list.
    pub shape: ListShape,
    /// The largest frame the client accepts (its `max_frame_bytes`).
    pub client_max_frame: usize,
}

impl ListChildren {
    /// Every child of `path`, in one reply (the original request).
    pub fn all(path: &str) -> Self {
        ListChildren {
            path: path.to_string(),
            watch: false,
            shape: ListShape::All { with_stats: false },
            client_max_frame: DEFAULT_MAX_FRAME_BYTES,
        }
    }

    /// The byte budget of this listing's entries on a server whose
    /// `--max-listing-bytes` is `server_max` (clamped into
    /// [`MIN_LISTING_BYTES`]..=[`MAX_LISTING_BYTES`]).
    pub fn budget(&self, server_max: usize) -> ReplyBudget {
        let hard = self
            .client_max_frame
            .saturating_sub(LISTING_ENVELOPE_BYTES)
            .max(1);
        let server = server_max.clamp(MIN_LISTING_BYTES, MAX_LISTING_BYTES);
        ReplyBudget {
            bytes: server.min(hard),
            hard,
            server,
        }
    }
}

/// How many bytes of entries (names, with their stats when asked) a reply may
/// carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBudget {
    /// The budget a page is cut at and an unpaged listing must fit.
    pub bytes: usize,
    /// What the client's frame leaves for entries: a page's first entry may
    /// exceed `bytes` (so every page makes progress) but never this.
    pub hard: usize,
    /// The server's setting, as clamped (for error messages).
    pub server: usize,
}

/// One answer to a [`ListChildren`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChildrenPage {
    /// Children names in name order (empty for [`ListShape::Count`]).
    pub names: Vec<String>,
    /// With stats: the stat of each of `names`, in the same order; else empty.
    pub stats: Vec<Stat>,
    /// The parent's stat; `num_children` is the directory's total count.
    pub stat: Stat,
    /// A page only: children after the last of `names` remain (list the
    /// next page with `start_after` = that name).
    pub more: bool,
    /// The state the page was read from (the response's zxid).
    pub zxid: u64,
}

impl ChildrenPage {
    /// The cursor for the next page: the last name, when `more` says one follows.
    pub fn next_start_after(&self) -> Option<&str> {
        if self.more {
            self.names.last().map(String::as_str)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_the_smaller_of_server_setting_and_client_frame() {
        let mut req = ListChildren::all("/d");
        let b = req.budget(10_000);
        assert_eq!(b.bytes, 10_000);
        assert_eq!(b.hard, DEFAULT_MAX_FRAME_BYTES - LISTING_ENVELOPE_BYTES);
        req.client_max_frame = 5_000;
        let b = req.budget(10_000);
        assert_eq!((b.bytes, b.hard), (3_976, 3_976));
        // Out-of-range settings are clamped, never trusted.
        assert_eq!(req.budget(1).server, MIN_LISTING_BYTES);
        assert_eq!(
            ListChildren::all("/d").budget(usize::MAX).bytes,
            MAX_LISTING_BYTES
        );
    }
}
