//! Watch kinds shared by client and server: what a client asks for
//! ([`WatchMode`] for persistent watches, [`WatcherType`] for removal), the
//! registrations they become ([`WatchKind`]), and the one routing rule both
//! the server's registry and the client's watch table follow
//! ([`watches_reached`]): which registrations an event reaches and which of
//! them it consumes.
//!
//! Routing (ZooKeeper's rules):
//! - `NodeCreated`, `NodeDataChanged`: one-shot data and exists watches of the path;
//! - `NodeDeleted`: one-shot data, exists and child watches of the path;
//! - `NodeChildrenChanged`: one-shot child watches of the path;
//! - persistent watches of the path see all four;
//! - persistent-recursive watches of the path or of any ancestor see created,
//!   deleted and data-changed (not children-changed);
//! - `EventsLost` reaches every watch registered exactly on its path.
//!
//! One-shot watches ([`WatchKind::is_one_shot`]) are consumed by the event
//! that reaches them; the others stay until removed.

use crate::op::EventType;

/// The kinds of registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// One-shot, set by a get on an existing node.
    Data,
    /// One-shot, set by exists (the node may or may not exist).
    Exist,
    /// One-shot, set by a children listing.
    Child,
    /// Every event on the path until removed.
    Persistent,
    /// Created / deleted / data-changed on the path and its subtree until removed.
    PersistentRecursive,
}

impl WatchKind {
    /// Whether a watch of this kind is consumed by the first event that
    /// reaches it (data, exists and child watches).
    pub fn is_one_shot(self) -> bool {
        matches!(self, WatchKind::Data | WatchKind::Exist | WatchKind::Child)
    }
}

/// Every registration an event of type `event` on `path` reaches, as
/// `(kind, watched path)` pairs (see the module docs). Each pair appears
/// once; a table looks each one up and consumes the one-shot ones it finds.
pub fn watches_reached(
    event: EventType,
    path: &str,
) -> impl Iterator<Item = (WatchKind, &str)> + '_ {
    use WatchKind::{Child, Data, Exist, Persistent};
    let exact: &'static [WatchKind] = match event {
        EventType::NodeCreated | EventType::NodeDataChanged => &[Data, Exist, Persistent],
        EventType::NodeDeleted => &[Data, Exist, Child, Persistent],
        EventType::NodeChildrenChanged => &[Child, Persistent],
        EventType::EventsLost => &KINDS,
    };
    let recursive = matches!(
        event,
        EventType::NodeCreated | EventType::NodeDeleted | EventType::NodeDataChanged
    );
    let subtree = recursive
        .then(|| self_and_ancestors(path).map(|p| (WatchKind::PersistentRecursive, p)))
        .into_iter()
        .flatten();
    exact.iter().map(move |&k| (k, path)).chain(subtree)
}

/// Whether an event of type `event` on `path` reaches a watch of `kind`
/// registered on `watched`: [`watches_reached`] asked the other way round.
pub fn reaches(event: EventType, path: &str, kind: WatchKind, watched: &str) -> bool {
    watches_reached(event, path).any(|(k, p)| k == kind && p == watched)
}

/// `/a/b` -> `/a/b`, `/a`, `/`.
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.rfind('/') {
            _ if current == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&current[..i]),
            None => None,
        };
        Some(current)
    })
}

/// Every kind, in the order the server keeps its tables.
pub const KINDS: [WatchKind; 5] = [
    WatchKind::Data,
    WatchKind::Exist,
    WatchKind::Child,
    WatchKind::Persistent,
    WatchKind::PersistentRecursive,
];

/// Kind of a persistent watch (set with `AddWatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchMode {
    /// Every event on the path itself (created, deleted, data and children
    /// changed), until removed.
    Persistent,
    /// Created, deleted and data-changed events on the path and every node
    /// below it, until removed.
    PersistentRecursive,
}

/// Which watches a remove-watches request targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatcherType {
    /// Every kind below.
    Any,
    /// One-shot data and exists watches.
    Data,
    /// One-shot child watches.
    Children,
    /// Persistent watches.
    Persistent,
    /// Persistent-recursive watches.
    PersistentRecursive,
}

impl WatcherType {
    /// Whether a removal of this type removes registrations of kind `k`.
    pub fn covers(self, k: WatchKind) -> bool {
        match self {
            WatcherType::Any => true,
            WatcherType::Data => matches!(k, WatchKind::Data | WatchKind::Exist),
            WatcherType::Children => k == WatchKind::Child,
            WatcherType::Persistent => k == WatchKind::Persistent,
            WatcherType::PersistentRecursive => k == WatchKind::PersistentRecursive,
        }
    }
}

impl From<WatchMode> for WatchKind {
    fn from(m: WatchMode) -> Self {
        match m {
            WatchMode::Persistent => WatchKind::Persistent,
            WatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
        }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
