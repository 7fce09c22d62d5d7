//! [`Contact`]: when this member last heard from the rest of its cluster, as
//! the peer network saw it. The server asks it before it accepts a session: a
//! member cut off from its leader, or behind it, sends the client elsewhere
//! at once instead of holding it while raft sorts itself out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::NodeId;

/// What a follower last heard from its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderContact {
    /// The leader that sent it.
    pub leader: NodeId,
    /// When this member answered it.
    pub at: Instant,
    /// The leader's commit index as of that message (raised to a snapshot's
    /// last index while one is being installed): this member is behind while
    /// it has applied less.
    pub committed: u64,
}

#[derive(Debug, Default)]
struct State {
    leader: Option<LeaderContact>,
    /// Per peer, when the last append-entries it accepted was sent (a leader
    /// counts these to know whether a majority still follows it).
    acked: BTreeMap<NodeId, Instant>,
}

/// Shared between the peer network, which records, and the server, which asks.
#[derive(Debug, Clone, Default)]
pub struct Contact(Arc<Mutex<State>>);

impl Contact {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This member accepted an append-entries of `leader`, whose commit
    /// index is `committed`.
    pub(crate) fn heard_from(&self, leader: NodeId, committed: u64) {
        self.state().leader = Some(LeaderContact {
            leader,
            at: Instant::now(),
            committed,
        });
    }

    /// This member is taking a snapshot chunk from `leader`, whose state
    /// reaches `last_index`: alive, but behind until it is installed.
    pub(crate) fn installing_from(&self, leader: NodeId, last_index: u64) {
        let mut state = self.state();
        let committed = match state.leader {
            Some(c) if c.leader == leader => c.committed.max(last_index),
            _ => last_index,
        };
        state.leader = Some(LeaderContact {
            leader,
            at: Instant::now(),
            committed,
        });
    }

    /// `peer` accepted (as its leader) an append-entries this member sent at `sent`.
    pub(crate) fn acked_by(&self, peer: NodeId, sent: Instant) {
        let mut state = self.state();
        let last = state.acked.entry(peer).or_insert(sent);
        *last = (*last).max(sent);
    }

    /// What this member last heard from a leader, if anything.
    pub fn leader(&self) -> Option<LeaderContact> {
        self.state().leader
    }

    /// When the last append-entries `peer` accepted from this member was sent.
    pub fn acked(&self, peer: NodeId) -> Option<Instant> {
        self.state().acked.get(&peer).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_raises_the_commit_point_and_a_new_leader_replaces_it() {
        let c = Contact::default();
        assert_eq!(c.leader(), None);
        c.heard_from(1, 10);
        assert_eq!(c.leader().map(|l| (l.leader, l.committed)), Some((1, 10)));
        c.installing_from(1, 500);
        assert_eq!(c.leader().map(|l| l.committed), Some(500));
        // An append-entries after the install tells the leader's own point.
        c.heard_from(1, 520);
        assert_eq!(c.leader().map(|l| l.committed), Some(520));
        // Another leader's snapshot does not keep the old leader's point.
        c.heard_from(1, 900);
        c.installing_from(2, 600);
        assert_eq!(c.leader().map(|l| (l.leader, l.committed)), Some((2, 600)));
    }

    #[test]
    fn acks_keep_the_latest_send_time() {
        let c = Contact::default();
        let early = Instant::now();
        let late = early + std::time::Duration::from_millis(5);
        c.acked_by(2, late);
        c.acked_by(2, early);
        assert_eq!(c.acked(2), Some(late));
        assert_eq!(c.acked(3), None);
    }
}
