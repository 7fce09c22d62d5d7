//! Changing the cluster's members through the [`Replica`]: learners, voters
//! (joint consensus), new addresses, removal. Each runs on the leader and
//! returns once the change is committed; openraft does the protocol.

use std::collections::{BTreeMap, BTreeSet};

use super::errors::map_membership_err;
use super::{Member, NodeId, Replica};
use crate::error::Error;

impl Replica {
    /// Adds member `id` (reached as `member`) as a learner: it receives the
    /// log but does not vote. Returns once the learner has caught up with
    /// the leader's log. Call it on the leader.
    pub async fn add_learner(&self, id: NodeId, member: Member) -> Result<(), Error> {
        self.refuse_if_alone(id)?;
        self.raft
            .add_learner(id, member, true)
            .await
            .map(|_| ())
            .map_err(map_membership_err)
    }

    /// Makes `voters` the cluster's voters (joint consensus: the old and the
    /// new majority both agree during the change). A new voter must be a
    /// learner already; a removed voter leaves the cluster. Call it on the
    /// leader; returns once the change is committed.
    pub async fn change_voters(&self, voters: BTreeSet<NodeId>) -> Result<(), Error> {
        if let Some(other) = voters.iter().find(|v| **v != self.node_id) {
            self.refuse_if_alone(*other)?;
        }
        self.raft
            .change_membership(voters, false)
            .await
            .map(|_| ())
            .map_err(map_membership_err)
    }

    /// Records new addresses for member `id`, which stays the same member
    /// (same data, same vote). Call it on the leader.
    pub async fn update_member(&self, id: NodeId, member: Member) -> Result<(), Error> {
        self.raft
            .change_membership(
                openraft::ChangeMembers::SetNodes(BTreeMap::from([(id, member)])),
                false,
            )
            .await
            .map(|_| ())
            .map_err(map_membership_err)
    }

    /// A replica that runs alone lets raft commit entries before they are
    /// durable (see [`Replica::start`]): no other member may ever receive
    /// them, so it takes none.
    fn refuse_if_alone(&self, id: NodeId) -> Result<(), Error> {
        if self.runs_alone() {
            return Err(Error::BadArguments(format!(
                "cannot add member {id}: this replica was started alone (no peers) and \
                 stays a cluster of one; start it as a cluster member to grow"
            )));
        }
        Ok(())
    }

    /// Removes member `id` from the cluster (a voter through joint
    /// consensus, a learner at once). Call it on the leader.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), Error> {
        let membership = self.metrics.borrow().membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let change: openraft::ChangeMembers<NodeId, Member> = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(Error::BadArguments(format!(
                    "member {id} is the only voter: a cluster cannot remove its last voter"
                )));
            }
            openraft::ChangeMembers::ReplaceAllVoters(
                voters.into_iter().filter(|v| *v != id).collect(),
            )
        } else if membership.get_node(&id).is_some() {
            openraft::ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(Error::NoNode(format!("member {id} is not in the cluster")));
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(map_membership_err)
    }
}
