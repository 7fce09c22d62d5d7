//! How a node reaches its raft peers: openraft's [`RaftNetworkFactory`].
//!
//! For now coord runs one-member clusters, so every peer is [`Unreachable`]. The peer
//! network (prost messages over TCP) comes with the multi-node issue and replaces
//! only this file: nothing else in `replication` knows how peers are reached.

use std::io;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::{Member, NodeId, TypeConfig};

/// Creates clients for raft peers. Today every peer is unreachable.
#[derive(Debug, Default, Clone)]
pub struct NetworkFactory;

/// A client for one raft peer. Today every call fails with [`Unreachable`].
#[derive(Debug, Clone)]
pub struct PeerClient {
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _member: &Member) -> PeerClient {
        PeerClient { target }
    }
}

impl PeerClient {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<NodeId, Member, E> {
        let why = io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "no peer network yet: node {} is unreachable (one-member clusters only)",
                self.target
            ),
        );
        RPCError::Unreachable(Unreachable::new(&why))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        Err(self.unreachable())
    }
}
