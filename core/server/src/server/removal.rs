//! A member notices that the cluster removed it, marks its data dir so that
//! it never serves from it again, and says so ([`super::Server::removed`]);
//! `coord serve` then stops.
//!
//! It learns it in one of two ways:
//! - its own log: once it was in a membership, it applies (so: committed)
//!   a newer one that leaves it out;
//! - its peers: the leader stops writing to a member as soon as the
//!   membership leaving it out is in the leader's log, so the member often
//!   never sees that entry, let alone its commit (and a member that was down
//!   or cut off during the change sees nothing at all). A member that has
//!   not heard from a leader for [`SILENT_LIMITS`] contact limits asks the
//!   members it knows which membership they hold: one that has applied a
//!   membership at least as new as this member's, without this member,
//!   settles it. A member merely cut off gets no answer, or answers that
//!   still name it, and goes on waiting.
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{Shared, in_touch, node_id};
use crate::replication::NodeId;
use crate::replication::peer::ask_membership;

/// How many contact limits (`in_touch::contact_limit`, 3 election timeouts)
/// a member waits without hearing from a leader before it asks its peers
/// whether it was removed, and between two such rounds of questions.
const SILENT_LIMITS: u32 = 10;

/// See [`SILENT_LIMITS`].
fn removal_silence(shared: &Shared) -> Duration {
    in_touch::contact_limit(shared) * SILENT_LIMITS
}

/// Watches the membership until this member is removed (then records it
/// and sends `true` on `removed`) or the server stops.
pub(crate) async fn watch(
    shared: Arc<Shared>,
    removed: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let me = shared.replica.node_id();
    let metrics = shared.replica.metrics();
    // Each tick, not each metrics change: raft's metrics change with every
    // applied batch, and a removal needs no faster answer than a tick.
    let mut tick = tokio::time::interval(shared.cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_member = false;
    let started = Instant::now();
    let mut last_asked: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            debug!(me, "stopping: no more removal checks");
            return;
        }
        let (included, index, applied) = {
            let m = metrics.borrow();
            let stored = &m.membership_config;
            (
                stored.membership().nodes().any(|(id, _)| *id == me),
                stored.log_id().map_or(0, |l| l.index),
                m.last_applied.map_or(0, |l| l.index),
            )
        };
        was_member |= included;
        // A member still catching up replays memberships from before it was
        // added: only one that was in a membership can be left out of one.
        if !was_member {
            continue;
        }
        if !included && applied >= index {
            let why =
                format!("it applied the membership at raft index {index}, which leaves it out");
            return settle(&shared, me, &why, &removed);
        }
        let silence = removal_silence(&shared);
        let silent = match shared.contact.leader() {
            Some(c) => c.at.elapsed() >= silence,
            None => started.elapsed() >= silence,
        };
        if !silent
            || shared.replica.is_leader()
            || last_asked.is_some_and(|t| t.elapsed() < silence)
        {
            continue;
        }
        let Some(cfg) = shared.peer_cfg.as_ref() else {
            continue;
        };
        last_asked = Some(Instant::now());
        let peers: Vec<(NodeId, String)> = metrics
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, n)| **id != me && !n.peer_addr.is_empty())
            .map(|(id, n)| (*id, n.peer_addr.clone()))
            .collect();
        debug!(
            included,
            index, applied, "no word from a leader for long: asking the peers"
        );
        for (peer, addr) in peers {
            match ask_membership(cfg, peer, &addr).await {
                Ok(theirs)
                    if theirs.applied >= theirs.log_index
                        && theirs.log_index >= index
                        && !theirs.members.contains(&me) =>
                {
                    let why = format!(
                        "member {peer} has applied the membership at raft index {}, which \
                         leaves it out",
                        theirs.log_index
                    );
                    return settle(&shared, me, &why, &removed);
                }
                Ok(theirs) => {
                    debug!(
                        peer,
                        ?theirs,
                        index,
                        "a peer's membership does not settle it"
                    );
                }
                Err(e) => debug!(peer, error = %e, "asking a peer for its membership failed"),
            }
        }
    }
}

/// Records the removal in the data dir, says so, and tells the server.
fn settle(shared: &Shared, me: NodeId, why: &str, removed: &watch::Sender<bool>) {
    if let Err(e) = node_id::record_removed(&shared.cfg.data_dir, why) {
        warn!(error = %e, "cannot mark the data dir of a removed member");
    }
    info!(node_id = me, %why, "this member was removed from the cluster; it stops serving");
    let _ = removed.send(true);
}
