//! Leader housekeeping: expiring sessions whose deadline passed and reaping
//! empty containers and expired TTL nodes. Both only propose commands; `apply`
//! re-checks every condition, so a stale view here can never delete wrongly.
//! What an applied expiry does to the tracker and connections is the session
//! manager's (`sessions`) business, not this module's.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::Shared;
use crate::state_machine::{Command, CommandKind, CommandResult};

/// Most reap targets proposed in one command.
const REAP_BATCH: usize = 1000;

/// Runs until shutdown. `leading` says whether this server already did
/// what a new leader does (a single node does it before serving).
///
/// Every proposal here waits for a quorum, which a leader cut off from its
/// followers may never get; a shutdown therefore ends a round in the
/// middle (a proposal already made may still commit, and `apply` decides
/// it as usual).
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>, leading: bool) {
    let mut tick = tokio::time::interval(shared.cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round = Round {
        leading,
        last_reap: Instant::now(),
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = round.run(&shared) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// What housekeeping remembers from one tick to the next.
struct Round {
    /// This server has taken office as leader (see [`take_office`]).
    leading: bool,
    last_reap: Instant,
}

impl Round {
    async fn run(&mut self, shared: &Shared) {
        shared.exports.sweep(shared.cfg.export_idle_timeout);
        if !shared.replica.is_leader() {
            // A follower keeps its clients' touches for the leader.
            shared.sessions.set_relay(true);
            self.leading = false;
            return;
        }
        // The leader hears its own clients directly.
        shared.sessions.set_relay(false);
        if !self.leading {
            if let Err(e) = take_office(shared).await {
                warn!(error = %e, "a newly elected leader could not take office; retrying");
                return;
            }
            self.leading = true;
        }
        expire_sessions(shared).await;
        if self.last_reap.elapsed() >= shared.cfg.reap_interval {
            self.last_reap = Instant::now();
            reap(shared).await;
        }
    }
}

/// What a newly elected leader does before it expires anything: it waits
/// until it has applied everything committed before its term (its no-op
/// entry is committed), gives every session in the table a full timeout
/// (their clients may have been talking to the old leader or failing over),
/// and makes its configured limits the replicated ones.
async fn take_office(shared: &Shared) -> Result<(), crate::error::Error> {
    shared.replica.ensure_linearizable().await?;
    {
        let sm = shared.read_sm();
        shared
            .sessions
            .grant_full_timeouts(&sm.sessions(), Instant::now());
    }
    shared
        .replica
        .replicate_limits(&shared.cfg.limits, shared.now_ms())
        .await?;
    if let Some(own) = &shared.own_member {
        let me = shared.replica.node_id();
        if shared.replica.member(me).as_ref() != Some(own) {
            // Started with other addresses than the membership records
            // (a single node given a peer port, or a changed --listen).
            shared.replica.update_member(me, own.clone()).await?;
            info!(node_id = me, peer_addr = %own.peer_addr, client_addr = %own.addr,
                  "recorded this member's addresses in the membership");
        }
    }
    info!(
        node_id = shared.replica.node_id(),
        "elected leader: every session has a full timeout"
    );
    Ok(())
}

async fn expire_sessions(shared: &Shared) {
    let expired = shared.sessions.expired(Instant::now());
    if expired.is_empty() {
        return;
    }
    let cmd = Command {
        origin: Default::default(),
        session_id: 0,
        time_ms: shared.now_ms(),
        kind: CommandKind::ExpireSessions(expired),
    };
    // Once applied, the session manager stops tracking the ids and closes
    // their connections; until then they stay listed (the next tick retries
    // a failed proposal).
    match shared.replica.write(cmd).await {
        Ok(outcome) => {
            if let Ok(CommandResult::SessionsExpired(ids)) = &outcome.result {
                debug!(count = ids.len(), "sessions expired");
            }
        }
        Err(e) => warn!(error = %e, "could not expire sessions"),
    }
}

async fn reap(shared: &Shared) {
    let targets = shared
        .read_sm()
        .reap_candidates(shared.now_ms(), REAP_BATCH);
    if targets.is_empty() {
        return;
    }
    let cmd = Command {
        origin: Default::default(),
        session_id: 0,
        time_ms: shared.now_ms(),
        kind: CommandKind::Reap(targets),
    };
    if let Err(e) = shared.replica.write(cmd).await {
        warn!(error = %e, "could not reap containers / TTL nodes");
    }
}
