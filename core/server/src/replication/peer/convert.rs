//! openraft's RPC types <-> the peer protocol's messages. Log entries go
//! through the durable format's conversion (`codec`), membership as the same
//! JSON the snapshots keep.

use std::io;

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{LogId, SnapshotMeta, StoredMembership, Vote};

use super::proto;
use crate::replication::codec::{
    entry_from_proto, entry_to_proto, invalid, log_id_from_proto, log_id_to_proto,
};
use crate::replication::{Member, NodeId, TypeConfig};

pub(super) fn vote_to(v: &Vote<NodeId>) -> proto::Vote {
    proto::Vote {
        term: v.leader_id.term,
        node_id: v.leader_id.node_id,
        committed: v.committed,
    }
}

pub(super) fn vote_from(v: Option<proto::Vote>) -> io::Result<Vote<NodeId>> {
    let v = v.ok_or_else(|| invalid("peer message without its vote"))?;
    Ok(if v.committed {
        Vote::new_committed(v.term, v.node_id)
    } else {
        Vote::new(v.term, v.node_id)
    })
}

fn log_id_to(id: &Option<LogId<NodeId>>) -> Option<crate::storage::LogId> {
    id.as_ref().map(log_id_to_proto)
}

fn log_id_from(id: &Option<crate::storage::LogId>) -> Option<LogId<NodeId>> {
    id.as_ref().map(log_id_from_proto)
}

pub(super) fn append_to(
    r: &AppendEntriesRequest<TypeConfig>,
) -> io::Result<proto::AppendEntriesRequest> {
    Ok(proto::AppendEntriesRequest {
        vote: Some(vote_to(&r.vote)),
        prev_log_id: log_id_to(&r.prev_log_id),
        entries: r
            .entries
            .iter()
            .map(entry_to_proto)
            .collect::<io::Result<_>>()?,
        leader_commit: log_id_to(&r.leader_commit),
    })
}

pub(super) fn append_from(
    r: proto::AppendEntriesRequest,
) -> io::Result<AppendEntriesRequest<TypeConfig>> {
    Ok(AppendEntriesRequest {
        vote: vote_from(r.vote)?,
        prev_log_id: log_id_from(&r.prev_log_id),
        entries: r
            .entries
            .into_iter()
            .map(entry_from_proto)
            .collect::<io::Result<_>>()?,
        leader_commit: log_id_from(&r.leader_commit),
    })
}

pub(super) fn append_reply_to(r: &AppendEntriesResponse<NodeId>) -> proto::AppendEntriesResponse {
    use proto::append_entries_response::Result as R;
    let result = match r {
        AppendEntriesResponse::Success => R::Success(proto::Empty {}),
        AppendEntriesResponse::PartialSuccess(m) => R::PartialSuccess(proto::PartialSuccess {
            matching: log_id_to(m),
        }),
        AppendEntriesResponse::Conflict => R::Conflict(proto::Empty {}),
        AppendEntriesResponse::HigherVote(v) => R::HigherVote(vote_to(v)),
    };
    proto::AppendEntriesResponse {
        result: Some(result),
    }
}

pub(super) fn append_reply_from(
    r: proto::AppendEntriesResponse,
) -> io::Result<AppendEntriesResponse<NodeId>> {
    use proto::append_entries_response::Result as R;
    Ok(match r.result {
        Some(R::Success(_)) => AppendEntriesResponse::Success,
        Some(R::PartialSuccess(p)) => {
            AppendEntriesResponse::PartialSuccess(log_id_from(&p.matching))
        }
        Some(R::Conflict(_)) => AppendEntriesResponse::Conflict,
        Some(R::HigherVote(v)) => AppendEntriesResponse::HigherVote(vote_from(Some(v))?),
        None => return Err(invalid("append-entries answer without a result")),
    })
}

pub(super) fn vote_req_to(r: &VoteRequest<NodeId>) -> proto::VoteRequest {
    proto::VoteRequest {
        vote: Some(vote_to(&r.vote)),
        last_log_id: log_id_to(&r.last_log_id),
    }
}

pub(super) fn vote_req_from(r: proto::VoteRequest) -> io::Result<VoteRequest<NodeId>> {
    Ok(VoteRequest {
        vote: vote_from(r.vote)?,
        last_log_id: log_id_from(&r.last_log_id),
    })
}

pub(super) fn vote_reply_to(r: &VoteResponse<NodeId>) -> proto::VoteResponse {
    proto::VoteResponse {
        vote: Some(vote_to(&r.vote)),
        vote_granted: r.vote_granted,
        last_log_id: log_id_to(&r.last_log_id),
    }
}

pub(super) fn vote_reply_from(r: proto::VoteResponse) -> io::Result<VoteResponse<NodeId>> {
    Ok(VoteResponse {
        vote: vote_from(r.vote)?,
        vote_granted: r.vote_granted,
        last_log_id: log_id_from(&r.last_log_id),
    })
}

pub(super) fn snapshot_to(
    r: &InstallSnapshotRequest<TypeConfig>,
) -> io::Result<proto::InstallSnapshotRequest> {
    let membership = serde_json::to_vec(&r.meta.last_membership)
        .map_err(|e| invalid(format!("snapshot membership: {e}")))?;
    Ok(proto::InstallSnapshotRequest {
        vote: Some(vote_to(&r.vote)),
        meta: Some(proto::SnapshotMeta {
            last_log_id: log_id_to(&r.meta.last_log_id),
            last_membership_json: membership.into(),
            snapshot_id: r.meta.snapshot_id.clone(),
        }),
        offset: r.offset,
        data: r.data.clone().into(),
        done: r.done,
    })
}

pub(super) fn snapshot_from(
    r: proto::InstallSnapshotRequest,
) -> io::Result<InstallSnapshotRequest<TypeConfig>> {
    let meta = r
        .meta
        .ok_or_else(|| invalid("snapshot chunk without its snapshot's meta"))?;
    let last_membership: StoredMembership<NodeId, Member> =
        serde_json::from_slice(&meta.last_membership_json)
            .map_err(|e| invalid(format!("snapshot membership: {e}")))?;
    Ok(InstallSnapshotRequest {
        vote: vote_from(r.vote)?,
        meta: SnapshotMeta {
            last_log_id: log_id_from(&meta.last_log_id),
            last_membership,
            snapshot_id: meta.snapshot_id,
        },
        offset: r.offset,
        data: r.data.to_vec(),
        done: r.done,
    })
}

pub(super) fn snapshot_reply_to(
    r: &InstallSnapshotResponse<NodeId>,
) -> proto::InstallSnapshotResponse {
    proto::InstallSnapshotResponse {
        vote: Some(vote_to(&r.vote)),
    }
}

pub(super) fn snapshot_reply_from(
    r: proto::InstallSnapshotResponse,
) -> io::Result<InstallSnapshotResponse<NodeId>> {
    Ok(InstallSnapshotResponse {
        vote: vote_from(r.vote)?,
    })
}
