//! An in-process peer network ([`Router`]): several replicas in one process
//! reach each other by calling the target's `Raft` directly, through links
//! that tests can cut (one way or both) or slow down.
//!
//! It is how the cluster's behaviour (elections, partitions, catch-up by log
//! or snapshot, membership changes) is tested before, and apart from, the TCP
//! transport: a fault here is exact and immediate, with no sockets, ports or
//! timing of a proxy in the way. A link `a -> b` carries `a`'s requests to `b`;
//! `b`'s answer travels back over `b -> a`, so a one-way cut lets a request
//! take effect on the target while its sender never hears the answer, as a
//! real one-way partition does.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::Raft;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::{Member, NodeId, TypeConfig};

/// The in-process network shared by the replicas of one test cluster (see the
/// module docs). Cloning it gives another handle to the same network.
#[derive(Clone, Default)]
pub struct Router {
    inner: Arc<Mutex<Links>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let links = self.links();
        f.debug_struct("Router")
            .field("members", &links.rafts.keys().collect::<Vec<_>>())
            .field("cut", &links.cut)
            .field("delay", &links.delay)
            .finish()
    }
}

#[derive(Default)]
struct Links {
    /// The replicas reachable through the router, by raft id.
    rafts: BTreeMap<NodeId, Raft<TypeConfig>>,
    /// Links that carry nothing, as `(from, to)`.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Links that hold each message this long before delivering it.
    delay: BTreeMap<(NodeId, NodeId), Duration>,
}

impl Router {
    /// An empty network.
    pub fn new() -> Router {
        Router::default()
    }

    fn links(&self) -> std::sync::MutexGuard<'_, Links> {
        // A panic while the lock is held cannot leave the maps half-changed
        // (every change is one insert or remove).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The network as seen from member `from` (what its `Raft` is built with).
    pub fn network_of(&self, from: NodeId) -> RouterNetwork {
        RouterNetwork {
            router: self.clone(),
            from,
        }
    }

    /// Makes `raft` reachable as member `id` (again, after a restart).
    pub fn attach(&self, id: NodeId, raft: Raft<TypeConfig>) {
        self.links().rafts.insert(id, raft);
    }

    /// Makes member `id` unreachable, as if its process were gone.
    pub fn detach(&self, id: NodeId) {
        self.links().rafts.remove(&id);
    }

    /// Cuts the link `from -> to` (one way).
    pub fn cut_one_way(&self, from: NodeId, to: NodeId) {
        self.links().cut.insert((from, to));
    }

    /// Cuts both links between `a` and `b`.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut links = self.links();
        links.cut.insert((a, b));
        links.cut.insert((b, a));
    }

    /// Cuts every link between `side` and the other members: `side` on one
    /// side of the partition, everyone else on the other.
    pub fn partition(&self, side: &[NodeId]) {
        let mut links = self.links();
        let others: Vec<NodeId> = links
            .rafts
            .keys()
            .copied()
            .filter(|id| !side.contains(id))
            .collect();
        for &a in side {
            for &b in &others {
                links.cut.insert((a, b));
                links.cut.insert((b, a));
            }
        }
    }

    /// Delays every message on `from -> to` by `by` (zero removes the delay).
    pub fn delay(&self, from: NodeId, to: NodeId, by: Duration) {
        let mut links = self.links();
        if by.is_zero() {
            links.delay.remove(&(from, to));
        } else {
            links.delay.insert((from, to), by);
        }
    }

    /// Restores every link: no cut, no delay.
    pub fn heal(&self) {
        let mut links = self.links();
        links.cut.clear();
        links.delay.clear();
    }

    /// The target's `Raft` when `from -> to` carries messages, after the
    /// link's delay; `Unreachable` otherwise.
    async fn deliver(&self, from: NodeId, to: NodeId) -> Result<Raft<TypeConfig>, Unreachable> {
        self.wait_out_delay(from, to).await;
        let links = self.links();
        if links.cut.contains(&(from, to)) {
            return Err(unreachable(format!("link {from} -> {to} is cut")));
        }
        links
            .rafts
            .get(&to)
            .cloned()
            .ok_or_else(|| unreachable(format!("member {to} is not running")))
    }

    /// Sleeps for the delay of link `from -> to`, if it has one.
    async fn wait_out_delay(&self, from: NodeId, to: NodeId) {
        let delay = self.links().delay.get(&(from, to)).copied();
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
    }

    /// Whether `to`'s answer gets back to `from` (after the link's delay).
    async fn answer(&self, from: NodeId, to: NodeId) -> Result<(), Unreachable> {
        self.wait_out_delay(to, from).await;
        if self.links().cut.contains(&(to, from)) {
            return Err(unreachable(format!(
                "link {to} -> {from} is cut: the answer is lost"
            )));
        }
        Ok(())
    }
}

fn unreachable(why: String) -> Unreachable {
    Unreachable::new(&io::Error::new(io::ErrorKind::NotConnected, why))
}

/// [`Router`] as one member's `RaftNetworkFactory`.
#[derive(Debug, Clone)]
pub struct RouterNetwork {
    router: Router,
    from: NodeId,
}

/// One member's client for one peer over the [`Router`].
#[derive(Debug, Clone)]
pub struct RouterPeer {
    router: Router,
    from: NodeId,
    to: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for RouterNetwork {
    type Network = RouterPeer;

    async fn new_client(&mut self, target: NodeId, _member: &Member) -> RouterPeer {
        RouterPeer {
            router: self.router.clone(),
            from: self.from,
            to: target,
        }
    }
}

impl RouterPeer {
    /// Delivers a call to the peer and its answer back, each through its link.
    async fn call<T, E, F>(
        &self,
        call: impl FnOnce(Raft<TypeConfig>) -> F,
    ) -> Result<T, RPCError<NodeId, Member, E>>
    where
        E: std::error::Error,
        F: std::future::Future<Output = Result<T, E>>,
    {
        let raft = self.router.deliver(self.from, self.to).await?;
        let result = call(raft).await;
        self.router.answer(self.from, self.to).await?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
    }
}

impl RaftNetwork<TypeConfig> for RouterPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.call(|raft| async move { raft.append_entries(rpc).await })
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(|raft| async move { raft.install_snapshot(rpc).await })
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.call(|raft| async move { raft.vote(rpc).await }).await
    }
}
