//! Recipes: the coordination patterns programs need, built only on the public
//! [`crate::client::Client`] API so that any client speaking the protocol can
//! take part in the same lock, election or queue.
//!
//! - [`Lock`]: fair, herd-free mutex with fencing tokens, lock-loss signal and
//!   guarded writes; [`RwLock`]; [`Semaphore`]; [`MultiLock`].
//!
//! The decision "do I hold it / whom do I watch" is a pure function of the
//! sorted children ([`sequence`]), unit-tested without a server.
//!
//! Children come back from the server sorted by name (the tree keeps each
//! node's children in name order), so listings such as group members need
//! no sorting of their own. Waiting lines still order by the sequence suffix
//! ([`sequence::sorted_by_sequence`]): their names start with owner ids, so
//! name order is not arrival order.
//!
//! Every recipe lists through [`Client::children`](crate::client::Client::children)
//! (or `children_watch`), which reads a directory too large for one reply in
//! pages, so the recipes work under a parent with any number of children.
//! Paging is safe for the waiting lines: a node ahead of ours was created
//! before ours, so it is either listed or gone by the end of the listing,
//! and one that is gone is no longer ahead.

pub mod info;
pub mod line;
pub mod lock;
pub mod multilock;
pub mod rwlock;
pub mod semaphore;
pub mod sequence;

pub use info::{Contender, LockInfo};
pub use lock::{Lock, LockKind};
pub use multilock::MultiLock;
pub use rwlock::RwLock;
pub use semaphore::{Lease, Semaphore};

// Client-side recipes on the public API (election, group, barriers, queue,
// counter, caches, discovery); `support` holds their private helpers.
pub mod barrier;
pub mod cache;
pub mod counter;
pub mod discovery;
pub mod election;
pub mod group;
pub mod queue;
mod support;

pub use barrier::{Barrier, DoubleBarrier};
pub use cache::{NodeCache, TreeCache};
pub use counter::Counter;
pub use discovery::{Instance, Provider, Registration, ServiceDiscovery, Strategy};
pub use election::{Election, LeaderInfo};
pub use group::{Group, Membership};
pub use queue::Queue;
