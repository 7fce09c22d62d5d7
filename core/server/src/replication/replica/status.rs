//! What a [`Replica`] reports: leader, members, raft's metrics, indexes,
//! fsync counts and histograms, the proposal queue. Reading only.

use super::*;

impl Replica {
    /// The leader this member knows of, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.metrics.borrow().current_leader
    }

    /// Member `id` as the membership this member knows records it.
    pub fn member(&self, id: NodeId) -> Option<Member> {
        self.metrics
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()
    }

    /// Raft's metrics, to follow leader changes.
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics<NodeId, Member>> {
        self.metrics.clone()
    }

    /// This member's raft id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The index of the last log entry this member has applied.
    pub fn applied_index(&self) -> Option<u64> {
        self.metrics.borrow().last_applied.map(|l| l.index)
    }

    /// The raft handle (the in-process router attaches it to its network).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// `fdatasync` calls made on the log so far (group commit shares one
    /// among many writes).
    pub fn log_fsyncs(&self) -> u64 {
        self.log
            .stats()
            .fsyncs
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The log writer's histograms: fsync seconds and entries per fsync
    /// (shared handles: registering them exports the live figures).
    pub(crate) fn log_histograms(
        &self,
    ) -> (
        crate::histogram::AtomicHistogram,
        crate::histogram::AtomicHistogram,
    ) {
        let stats = self.log.stats();
        (stats.fsync_seconds.clone(), stats.batch_entries.clone())
    }

    /// The state-machine store.
    #[cfg(test)]
    pub(crate) fn sm_store(&self) -> &SmStore {
        &self.sm_store
    }

    /// Index up to which the log has been purged (behind a snapshot).
    #[cfg(test)]
    pub(crate) fn purged_index(&self) -> Option<u64> {
        self.metrics.borrow().purged.map(|p| p.index)
    }

    /// Index up to which the log store itself was told to purge (openraft's
    /// metric may announce a purge before it reaches the store).
    #[cfg(test)]
    pub(crate) fn store_purged_index(&self) -> Option<u64> {
        self.log_view.last_purged().map(|p| p.index)
    }

    /// The most bytes of commands that were queued or in flight at once.
    pub fn pending_proposal_peak(&self) -> usize {
        self.batcher.pending_peak()
    }

    /// Bytes of proposals queued or in flight now (the proposal queue's
    /// depth, in the unit its bound counts).
    pub fn pending_proposal_bytes(&self) -> usize {
        self.batcher.pending_bytes()
    }

    /// Whether this node currently believes it is the leader.
    pub fn is_leader(&self) -> bool {
        self.metrics.borrow().state == ServerState::Leader
    }
}
