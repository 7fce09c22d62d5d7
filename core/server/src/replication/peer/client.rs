//! The calling side of the peer network: [`TcpNetwork`] (a member's
//! `RaftNetworkFactory`) and [`TcpPeer`] (its connection to one peer).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::SnapshotSegmentId;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    SnapshotMismatch, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tokio::net::TcpStream;

use super::stream::{PeerStream, host_of};
use super::{PROTOCOL_VERSION, PeerConfig, convert, frame, proto};
use crate::replication::{Member, NodeId, TypeConfig};

/// Largest handshake answer read (a refusal's reason).
pub(super) const MAX_HANDSHAKE_BYTES: usize = 64 << 10;

/// A member's peer network over TCP (see the module docs).
#[derive(Debug, Clone)]
pub struct TcpNetwork {
    cfg: Arc<PeerConfig>,
}

impl TcpNetwork {
    /// The network of the member `cfg.node_id`.
    pub fn new(cfg: PeerConfig) -> TcpNetwork {
        TcpNetwork { cfg: Arc::new(cfg) }
    }
}

impl RaftNetworkFactory<TypeConfig> for TcpNetwork {
    type Network = TcpPeer;

    async fn new_client(&mut self, target: NodeId, member: &Member) -> TcpPeer {
        TcpPeer {
            cfg: self.cfg.clone(),
            target,
            addr: member.peer_addr.clone(),
            conn: None,
        }
    }
}

/// Opens a connection to member `target` at `addr` and shakes hands, within
/// `cfg.connect_timeout`.
async fn connect(cfg: &PeerConfig, target: NodeId, addr: &str) -> io::Result<PeerStream> {
    // The certificate names the member's own address, also when a test
    // routes the connection through a proxy.
    let member_host = host_of(addr).to_string();
    let routed = cfg.dial.as_ref().and_then(|d| (d.0)(target));
    let addr = routed.as_deref().unwrap_or(addr);
    if addr.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("member {target} has no peer address in the membership"),
        ));
    }
    let open = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut s = match &cfg.tls {
            None => PeerStream::Tcp(tcp),
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(member_host)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let s = tls.connector().connect(name, tcp).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("TLS with member {target} at {addr}: {e}"))
                })?;
                PeerStream::Client(Box::new(s))
            }
        };
        let hello = proto::Hello {
            protocol_version: PROTOCOL_VERSION,
            cluster_name: cfg.cluster_name.clone(),
            from: cfg.node_id,
            to: target,
            client_addr: cfg.client_addr.clone(),
        };
        frame::write(&mut s, &hello, MAX_HANDSHAKE_BYTES).await?;
        let reply: proto::HelloReply = frame::read(&mut s, MAX_HANDSHAKE_BYTES).await?;
        match reply.reply {
            Some(proto::hello_reply::Reply::Welcome(w)) => {
                cfg.directory.record(target, &w.client_addr);
                Ok(s)
            }
            Some(proto::hello_reply::Reply::Refusal(r)) => Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!(
                    "member {target} at {addr} refused this member: {}",
                    r.reason
                ),
            )),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "handshake answer without a reply",
            )),
        }
    };
    match tokio::time::timeout(cfg.connect_timeout, open).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "connecting to member {target} at {addr} took over {:?}",
                cfg.connect_timeout
            ),
        )),
    }
}

/// Opens a forward stream to member `target` (the leader) at `addr`: a peer
/// connection past its handshake and `open_forward` (see `peer.proto`).
pub async fn open_forward(cfg: &PeerConfig, target: NodeId, addr: &str) -> io::Result<PeerStream> {
    let mut s = connect(cfg, target, addr).await?;
    let open = proto::PeerRequest {
        request: Some(proto::peer_request::Request::OpenForward(proto::Empty {})),
    };
    frame::write(&mut s, &open, MAX_HANDSHAKE_BYTES).await?;
    let reply = tokio::time::timeout(
        cfg.connect_timeout,
        frame::read::<_, proto::PeerResponse>(&mut s, MAX_HANDSHAKE_BYTES),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer to open_forward"))??;
    match reply.response {
        Some(proto::peer_response::Response::ForwardOpened(_)) => Ok(s),
        Some(proto::peer_response::Response::Error(e)) => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "member {target} takes no forwarded writes: {}",
                peer_error_text(e)
            ),
        )),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected answer to open_forward",
        )),
    }
}

/// The newest membership a peer holds, as it answered [`ask_membership`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMembership {
    /// The raft index of the membership entry.
    pub log_index: u64,
    /// How far the peer has applied: the membership is committed when this
    /// reaches `log_index`.
    pub applied: u64,
    /// Its voters and learners.
    pub members: Vec<NodeId>,
}

/// Asks member `target` (peer address `addr`) which membership it holds, on
/// a connection of its own, within `cfg.connect_timeout` for each step.
pub async fn ask_membership(
    cfg: &PeerConfig,
    target: NodeId,
    addr: &str,
) -> io::Result<PeerMembership> {
    let mut s = connect(cfg, target, addr).await?;
    let request = proto::PeerRequest {
        request: Some(proto::peer_request::Request::Membership(proto::Empty {})),
    };
    let exchange = async {
        frame::write(&mut s, &request, MAX_HANDSHAKE_BYTES).await?;
        frame::read::<_, proto::PeerResponse>(&mut s, MAX_HANDSHAKE_BYTES).await
    };
    let reply = tokio::time::timeout(cfg.connect_timeout, exchange)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "member {target} did not answer within {:?}",
                    cfg.connect_timeout
                ),
            )
        })??;
    match reply.response {
        Some(proto::peer_response::Response::Membership(m)) => Ok(PeerMembership {
            log_index: m.log_index,
            applied: m.applied,
            members: m.members,
        }),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("member {target} answered a membership question with {other:?}"),
        )),
    }
}

/// One member's connection to one peer, opened on first use and dropped on
/// any failure (the next call opens a new one).
#[derive(Debug)]
pub struct TcpPeer {
    cfg: Arc<PeerConfig>,
    target: NodeId,
    addr: String,
    conn: Option<PeerStream>,
}

/// Why a call did not get an answer.
enum Failure {
    /// No connection could be opened (or the peer refused the handshake).
    Unreachable(io::Error),
    /// The connection broke mid-call.
    Network(io::Error),
    /// The request alone is over the frame limit.
    TooLarge,
    /// The call's deadline passed.
    Timeout(Duration),
}

impl TcpPeer {
    /// Opens a connection and shakes hands.
    async fn connect(&self) -> io::Result<PeerStream> {
        connect(&self.cfg, self.target, &self.addr).await
    }

    /// Sends `request` and reads its answer within `ttl`.
    async fn call(
        &mut self,
        request: proto::PeerRequest,
        ttl: Duration,
    ) -> Result<proto::peer_response::Response, Failure> {
        let max = self.cfg.max_frame_bytes;
        // The connection is taken out of `self` for the exchange and put back
        // only once its reply has been read whole. A call ends early not only
        // through its own deadline: openraft wraps each call in a timeout of
        // the same length, started before this one, and drops the call when
        // that fires first. A connection left in `self` then would carry the
        // dropped call's request and reply, and the next call on it would
        // take that reply for its own (a Success or Conflict for other log
        // ids). Owned by the exchange, it is closed with it instead.
        let conn = self.conn.take();
        let exchange = async {
            let mut conn = match conn {
                Some(c) => c,
                None => self.connect().await.map_err(Failure::Unreachable)?,
            };
            frame::write(&mut conn, &request, max).await.map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidInput {
                    Failure::TooLarge
                } else {
                    Failure::Network(e)
                }
            })?;
            let reply: proto::PeerResponse = frame::read(&mut conn, max)
                .await
                .map_err(Failure::Network)?;
            let response = reply.response.ok_or_else(|| {
                Failure::Network(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "peer answer without a response",
                ))
            })?;
            Ok((conn, response))
        };
        // On any failure the connection is dropped with the exchange: its
        // state is unknown (half a frame may be on it).
        match tokio::time::timeout(ttl, exchange).await {
            Ok(Ok((conn, response))) => {
                self.conn = Some(conn);
                Ok(response)
            }
            Ok(Err(f)) => Err(f),
            Err(_) => Err(Failure::Timeout(ttl)),
        }
    }

    fn rpc_error<E: std::error::Error>(
        &self,
        failure: Failure,
        action: RPCTypes,
        entries: usize,
    ) -> RPCError<NodeId, Member, E> {
        match failure {
            Failure::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            Failure::Network(e) => RPCError::Network(NetworkError::new(&e)),
            Failure::TooLarge if action == RPCTypes::AppendEntries && entries > 1 => {
                RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint((entries / 2) as u64))
            }
            Failure::TooLarge => RPCError::Network(NetworkError::new(&io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {action} message to member {} is over max_peer_frame_bytes ({})",
                    self.target, self.cfg.max_frame_bytes
                ),
            ))),
            Failure::Timeout(timeout) => RPCError::Timeout(Timeout {
                action,
                id: self.cfg.node_id,
                target: self.target,
                timeout,
            }),
        }
    }

    /// An answer that is not the one asked for, or does not convert.
    fn bad_answer<E: std::error::Error>(
        &mut self,
        what: impl std::fmt::Display,
    ) -> RPCError<NodeId, Member, E> {
        self.conn = None;
        RPCError::Network(NetworkError::new(&io::Error::new(
            io::ErrorKind::InvalidData,
            format!("member {} answered badly: {what}", self.target),
        )))
    }

    fn failed_remotely<E: std::error::Error>(&self, why: String) -> RPCError<NodeId, Member, E> {
        RPCError::Network(NetworkError::new(&io::Error::other(format!(
            "member {}: {why}",
            self.target
        ))))
    }
}

impl RaftNetwork<TypeConfig> for TcpPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        use proto::peer_response::Response;
        let entries = rpc.entries.len();
        let request = convert::append_to(&rpc).map_err(|e| self.bad_answer(e))?;
        let request = proto::PeerRequest {
            request: Some(proto::peer_request::Request::AppendEntries(request)),
        };
        let sent = std::time::Instant::now();
        match self.call(request, option.hard_ttl()).await {
            Ok(Response::AppendEntries(r)) => {
                let reply = convert::append_reply_from(r).map_err(|e| self.bad_answer(e))?;
                if !matches!(reply, AppendEntriesResponse::HigherVote(_)) {
                    self.cfg.contact.acked_by(self.target, sent);
                }
                Ok(reply)
            }
            Ok(Response::Error(e)) => Err(self.failed_remotely(peer_error_text(e))),
            Ok(_) => Err(self.bad_answer("not an append-entries answer")),
            Err(f) => Err(self.rpc_error(f, RPCTypes::AppendEntries, entries)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        use proto::peer_response::Response;
        let request = convert::snapshot_to(&rpc).map_err(|e| self.bad_answer(e))?;
        let request = proto::PeerRequest {
            request: Some(proto::peer_request::Request::InstallSnapshot(request)),
        };
        match self.call(request, option.hard_ttl()).await {
            Ok(Response::InstallSnapshot(r)) => {
                convert::snapshot_reply_from(r).map_err(|e| self.bad_answer(e))
            }
            Ok(Response::Error(proto::PeerError {
                error: Some(proto::peer_error::Error::SnapshotMismatch(m)),
            })) => {
                let mismatch = SnapshotMismatch {
                    expect: SnapshotSegmentId {
                        id: m.expect_id,
                        offset: m.expect_offset,
                    },
                    got: SnapshotSegmentId {
                        id: m.got_id,
                        offset: m.got_offset,
                    },
                };
                Err(RPCError::RemoteError(RemoteError::new(
                    self.target,
                    RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch)),
                )))
            }
            Ok(Response::Error(e)) => Err(self.failed_remotely(peer_error_text(e))),
            Ok(_) => Err(self.bad_answer("not an install-snapshot answer")),
            Err(f) => Err(self.rpc_error(f, RPCTypes::InstallSnapshot, 0)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        use proto::peer_response::Response;
        let request = proto::PeerRequest {
            request: Some(proto::peer_request::Request::Vote(convert::vote_req_to(
                &rpc,
            ))),
        };
        match self.call(request, option.hard_ttl()).await {
            Ok(Response::Vote(r)) => convert::vote_reply_from(r).map_err(|e| self.bad_answer(e)),
            Ok(Response::Error(e)) => Err(self.failed_remotely(peer_error_text(e))),
            Ok(_) => Err(self.bad_answer("not a vote answer")),
            Err(f) => Err(self.rpc_error(f, RPCTypes::Vote, 0)),
        }
    }
}

fn peer_error_text(e: proto::PeerError) -> String {
    match e.error {
        Some(proto::peer_error::Error::Failed(why)) => why,
        Some(proto::peer_error::Error::SnapshotMismatch(m)) => format!(
            "snapshot chunk mismatch: expected {}@{}, got {}@{}",
            m.expect_id, m.expect_offset, m.got_id, m.got_offset
        ),
        None => "an error without a reason".into(),
    }
}
