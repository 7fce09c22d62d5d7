//! Whether this member may take a session now. A member that cannot serve
//! one promptly says so during the handshake (`ConnectionLoss`), and the
//! client tries the next server instead of waiting on this one:
//!
//! - a follower or learner that has not heard from its leader within
//!   [`contact_limit`] (cut off, or the leader died and no election has
//!   ended yet);
//! - a follower that has not applied up to the leader's commit point (as of
//!   the leader's last message) within that time: it is catching up, by log
//!   or by snapshot, and every read or write there would wait;
//! - a leader that has not heard from a majority of its voters within that
//!   time: it is on the minority side of a partition and can commit nothing.
//!
//! A single server is its own majority and always passes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::Error;

use super::Shared;
use crate::replication::NodeId;

/// How long a member may go without word from its leader (or a leader
/// from a majority) and still take sessions: three times
/// `--election-timeout-ms`, i.e. twice the upper bound of the random
/// timeout. A follower that hears nothing for that long would have started
/// an election; also the longest a handshake waits for this member to
/// catch up.
pub(crate) fn contact_limit(shared: &Shared) -> Duration {
    shared.cfg.election_timeout * 3
}

/// How often a waiting handshake looks again at the leader's followers.
const RECHECK: Duration = Duration::from_millis(10);

/// `Ok` once this member can take a session; `ConnectionLoss` naming why
/// not (at once, or after at most [`contact_limit`]).
pub(crate) async fn ready_for_sessions(shared: &Shared) -> Result<(), Error> {
    let limit = contact_limit(shared);
    if shared.replica.is_leader() {
        return majority_follows(shared, limit).await;
    }
    let Some(heard) = shared.contact.leader() else {
        return Err(Error::ConnectionLoss(
            "this server has not heard from a leader since it started; try another member".into(),
        ));
    };
    let silent = heard.at.elapsed();
    if silent > limit {
        return Err(Error::ConnectionLoss(format!(
            "this server has not heard from the leader (member {}) for {} ms; try another member",
            heard.leader,
            silent.as_millis()
        )));
    }
    let mut metrics = shared.replica.metrics();
    let applied = |m: &openraft::RaftMetrics<NodeId, crate::replication::Member>| {
        m.last_applied.map_or(0, |l| l.index)
    };
    let lagging = |metrics: &watch::Receiver<_>| {
        Error::ConnectionLoss(format!(
            "this server is behind the leader: it has applied up to raft index {} of the {} \
             the leader (member {}) has committed, and did not catch up within {} ms; try \
             another member",
            applied(&metrics.borrow()),
            heard.committed,
            heard.leader,
            limit.as_millis()
        ))
    };
    if wait_within(&mut metrics, limit, |m| applied(m) >= heard.committed).await? {
        Ok(())
    } else {
        Err(lagging(&metrics))
    }
}

/// Waits at most `limit` until `rx`'s value satisfies `done`: `Ok(true)` if
/// it did, `Ok(false)` if time ran out, `ShuttingDown` if the sender is
/// gone (the server is stopping).
pub(crate) async fn wait_within<T>(
    rx: &mut watch::Receiver<T>,
    limit: Duration,
    done: impl FnMut(&T) -> bool,
) -> Result<bool, Error> {
    match tokio::time::timeout(limit, rx.wait_for(done)).await {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(_)) => Err(Error::ShuttingDown("server is stopping".into())),
        Err(_) => Ok(false),
    }
}

/// Waits (at most `limit`) until a majority of every voter set (two while a
/// membership change is under way) has accepted this leader's
/// append-entries sent within the last `limit`.
async fn majority_follows(shared: &Shared, limit: Duration) -> Result<(), Error> {
    let me = shared.replica.node_id();
    let deadline = Instant::now() + limit;
    loop {
        let configs: Vec<BTreeSet<NodeId>> = shared
            .replica
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_joint_config()
            .clone();
        let short = configs.iter().find(|voters| {
            let reached = voters
                .iter()
                .filter(|id| {
                    **id == me
                        || shared
                            .contact
                            .acked(**id)
                            .is_some_and(|sent| sent.elapsed() <= limit)
                })
                .count();
            reached * 2 <= voters.len()
        });
        let Some(voters) = short else {
            return Ok(());
        };
        if Instant::now() >= deadline || !shared.replica.is_leader() {
            return Err(Error::ConnectionLoss(format!(
                "this server leads but has not heard from a majority of the voters {voters:?} \
                 within {} ms; try another member",
                limit.as_millis()
            )));
        }
        tokio::time::sleep(RECHECK).await;
    }
}
