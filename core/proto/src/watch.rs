//! Watch kinds shared by client and server: what a client asks for
//! ([`WatchMode`] for persistent watches, [`WatcherType`] for removal) and the
//! registrations they become ([`WatchKind`]).

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
