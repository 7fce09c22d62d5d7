//! The answering side of the peer network: [`serve_peers`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::AppendEntriesResponse;
use openraft::{Raft, ServerState};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::MAX_HANDSHAKE_BYTES;
use super::stream::PeerStream;
use super::{Contact, ForwardService, PROTOCOL_VERSION, PeerConfig, convert, frame, proto};
use crate::replication::{NodeId, TypeConfig};

/// Accepts peer connections on `listener` and answers their requests from
/// `raft`, at most `max_connections` at once (more are closed at once). Runs
/// until the returned future is dropped, which also ends every connection it
/// serves.
pub async fn serve_peers(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    cfg: PeerConfig,
    max_connections: usize,
    forward: Option<Arc<dyn ForwardService>>,
) {
    let cfg = Arc::new(cfg);
    let room = Arc::new(Semaphore::new(max_connections));
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (stream, from) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: wait a little, keep serving.
                tracing::warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = room.clone().try_acquire_owned() else {
            tracing::warn!(%from, max_connections, "peer connection refused: max_peer_connections reached");
            continue;
        };
        let (raft, cfg, forward) = (raft.clone(), cfg.clone(), forward.clone());
        conns.spawn(async move {
            let _permit = permit;
            if let Err(e) = serve_one(stream, &raft, &cfg, forward.as_deref()).await {
                tracing::warn!(%from, error = %e, "peer connection closed");
            }
        });
    }
}

/// Shakes hands, then answers requests one after another until the caller
/// closes or sends something that is not a peer request.
async fn serve_one(
    tcp: TcpStream,
    raft: &Raft<TypeConfig>,
    cfg: &PeerConfig,
    forward: Option<&dyn ForwardService>,
) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    // A connection closed before its first byte is a port check, like the
    // probes `campaign_if_gone` makes: nothing to report. One that stays
    // silent gets no second wait from the handshake below.
    let mut first = [0u8; 1];
    match tokio::time::timeout(cfg.connect_timeout, tcp.peek(&mut first)).await {
        Ok(Ok(0)) => {
            tracing::debug!("peer connection closed before its handshake (a port check)");
            return Ok(());
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no handshake within {:?}", cfg.connect_timeout),
            ));
        }
    }
    let mut s = match &cfg.tls {
        None => PeerStream::Tcp(tcp),
        Some(tls) => {
            match tokio::time::timeout(cfg.connect_timeout, tls.acceptor().accept(tcp)).await {
                Ok(Ok(s)) => PeerStream::Server(Box::new(s)),
                Ok(Err(e)) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("TLS handshake failed: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no TLS handshake within {:?}", cfg.connect_timeout),
                    ));
                }
            }
        }
    };
    let hello: proto::Hello = match tokio::time::timeout(
        cfg.connect_timeout,
        frame::read(&mut s, MAX_HANDSHAKE_BYTES),
    )
    .await
    {
        Ok(r) => r?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no handshake within {:?}", cfg.connect_timeout),
            ));
        }
    };
    if let Some(reason) = refusal(&hello, cfg) {
        let reply = proto::HelloReply {
            reply: Some(proto::hello_reply::Reply::Refusal(proto::Refusal {
                reason: reason.clone(),
            })),
        };
        // Best effort: the caller may already be gone.
        let _ = frame::write(&mut s, &reply, MAX_HANDSHAKE_BYTES).await;
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, reason));
    }
    cfg.directory.record(hello.from, &hello.client_addr);
    let welcome = proto::HelloReply {
        reply: Some(proto::hello_reply::Reply::Welcome(proto::Welcome {
            protocol_version: PROTOCOL_VERSION,
            client_addr: cfg.client_addr.clone(),
        })),
    };
    frame::write(&mut s, &welcome, MAX_HANDSHAKE_BYTES).await?;
    let ended = serve_requests(s, raft, cfg, forward, hello.from).await;
    if cfg.contact.leader().map(|c| c.leader) == Some(hello.from) {
        tokio::spawn(campaign_if_gone(
            raft.clone(),
            hello.from,
            cfg.connect_timeout,
        ));
    }
    ended
}

/// Answers the requests of member `from` on `s` until it closes the
/// connection or sends something that is not a peer request.
async fn serve_requests(
    mut s: PeerStream,
    raft: &Raft<TypeConfig>,
    cfg: &PeerConfig,
    forward: Option<&dyn ForwardService>,
    from: NodeId,
) -> io::Result<()> {
    loop {
        let request: proto::PeerRequest = match frame::read(&mut s, cfg.max_frame_bytes).await {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(proto::peer_request::Request::OpenForward(_)) = request.request {
            let Some(forward) = forward else {
                let no = failed("this member serves no forward streams");
                let response = proto::PeerResponse { response: Some(no) };
                return frame::write(&mut s, &response, cfg.max_frame_bytes).await;
            };
            let opened = proto::PeerResponse {
                response: Some(proto::peer_response::Response::ForwardOpened(
                    proto::Empty {},
                )),
            };
            frame::write(&mut s, &opened, cfg.max_frame_bytes).await?;
            return forward.serve(from, s).await;
        }
        let response = answer(raft, &cfg.contact, request).await?;
        frame::write(&mut s, &response, cfg.max_frame_bytes).await?;
    }
}

/// The connection of `leader`, the leader this member follows, has ended.
/// If its process is gone (its peer port refuses connections: it was
/// killed, or it stopped) this member campaigns at once instead of waiting
/// out the leader's lease and an election timeout, which openraft must
/// otherwise assume the leader may still be serving. A connection that
/// ended for any other reason (the leader replaced it, or the network
/// failed: a connect that times out or fails otherwise proves nothing)
/// changes nothing, and raft's own timers decide as before.
///
/// Safe whatever the outcome: an election is raft's own, only earlier; a
/// member whose leader is in fact alive at worst makes it step down.
async fn campaign_if_gone(raft: Raft<TypeConfig>, leader: NodeId, limit: Duration) {
    let addr = {
        let metrics = raft.metrics();
        let m = metrics.borrow();
        if m.state != ServerState::Follower || m.current_leader != Some(leader) {
            return;
        }
        match m.membership_config.membership().get_node(&leader) {
            Some(member) if !member.peer_addr.is_empty() => member.peer_addr.clone(),
            _ => return,
        }
    };
    // A few probes a little apart: a dying process's sockets close one after
    // another, its connections sometimes a moment before its port.
    let mut refused = false;
    for delay in PROBE_DELAYS {
        tokio::time::sleep(delay).await;
        let connect = tokio::time::timeout(limit.min(PROBE_LIMIT), TcpStream::connect(&addr));
        if let Ok(Err(e)) = connect.await
            && e.kind() == io::ErrorKind::ConnectionRefused
        {
            refused = true;
            break;
        }
    }
    if !refused {
        return;
    }
    // Still following it (no election has begun meanwhile)?
    if raft.metrics().borrow().current_leader != Some(leader) {
        return;
    }
    tracing::info!(
        leader,
        %addr,
        "the leader's connection ended and its peer port refuses connections: campaigning now"
    );
    if let Err(e) = raft.trigger().elect().await {
        tracing::warn!(error = %e, "could not start an election");
    }
}

/// Longest wait for a connect that tells whether a leader's process is
/// still there: a refusal comes back at once; anything slower proves nothing.
const PROBE_LIMIT: Duration = Duration::from_millis(500);

/// When the connects that probe a leader whose connection ended are made,
/// each after the one before.
const PROBE_DELAYS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(5),
    Duration::from_millis(20),
    Duration::from_millis(50),
];

/// Why `hello` is refused, if it is.
fn refusal(hello: &proto::Hello, cfg: &PeerConfig) -> Option<String> {
    if hello.protocol_version != PROTOCOL_VERSION {
        return Some(format!(
            "peer protocol version {} is not {PROTOCOL_VERSION}",
            hello.protocol_version
        ));
    }
    if hello.cluster_name != cfg.cluster_name {
        return Some(format!(
            "member {} belongs to cluster {:?}, this is cluster {:?}",
            hello.from, hello.cluster_name, cfg.cluster_name
        ));
    }
    if hello.to != cfg.node_id {
        return Some(format!(
            "member {} called member {} but reached member {} (check --cluster)",
            hello.from, hello.to, cfg.node_id
        ));
    }
    None
}

/// The leader a request with `vote` comes from, if the vote is a leader's.
fn leader_of(
    vote: &openraft::Vote<crate::replication::NodeId>,
) -> Option<crate::replication::NodeId> {
    vote.is_committed()
        .then(|| vote.leader_id().voted_for())
        .flatten()
}

/// Hands one request to raft, noting in `contact` what a leader's requests
/// tell; `InvalidData` for a request that does not convert (the connection
/// is then closed).
async fn answer(
    raft: &Raft<TypeConfig>,
    contact: &Contact,
    request: proto::PeerRequest,
) -> io::Result<proto::PeerResponse> {
    use proto::peer_request::Request;
    use proto::peer_response::Response;
    let response = match request.request {
        Some(Request::AppendEntries(r)) => {
            let r = convert::append_from(r)?;
            let leader = leader_of(&r.vote);
            let committed = r.leader_commit.map_or(0, |c| c.index);
            match raft.append_entries(r).await {
                Ok(r) => {
                    // Anything but a higher vote means raft took the sender
                    // as its leader (a conflict too: alive, and ahead of us).
                    if let (Some(leader), false) =
                        (leader, matches!(r, AppendEntriesResponse::HigherVote(_)))
                    {
                        contact.heard_from(leader, committed);
                    }
                    Response::AppendEntries(convert::append_reply_to(&r))
                }
                Err(e) => failed(e),
            }
        }
        Some(Request::Vote(r)) => match raft.vote(convert::vote_req_from(r)?).await {
            Ok(r) => Response::Vote(convert::vote_reply_to(&r)),
            Err(e) => failed(e),
        },
        Some(Request::InstallSnapshot(r)) => {
            let r = convert::snapshot_from(r)?;
            let (vote, leader) = (r.vote, leader_of(&r.vote));
            let last = r.meta.last_log_id.map_or(0, |l| l.index);
            match raft.install_snapshot(r).await {
                Ok(r) => {
                    // Answered with a higher vote: refused, not from our leader.
                    if let (Some(leader), false) = (leader, r.vote > vote) {
                        contact.installing_from(leader, last);
                    }
                    Response::InstallSnapshot(convert::snapshot_reply_to(&r))
                }
                Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => {
                    Response::Error(proto::PeerError {
                        error: Some(proto::peer_error::Error::SnapshotMismatch(
                            proto::SnapshotMismatch {
                                expect_id: m.expect.id,
                                expect_offset: m.expect.offset,
                                got_id: m.got.id,
                                got_offset: m.got.offset,
                            },
                        )),
                    })
                }
                Err(e) => failed(e),
            }
        }
        Some(Request::Membership(_)) => {
            let metrics = raft.metrics();
            let m = metrics.borrow();
            let stored = &m.membership_config;
            Response::Membership(proto::MembershipReply {
                log_index: stored.log_id().map_or(0, |l| l.index),
                applied: m.last_applied.map_or(0, |l| l.index),
                members: stored.membership().nodes().map(|(id, _)| *id).collect(),
            })
        }
        Some(Request::OpenForward(_)) | None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "peer request without a request",
            ));
        }
    };
    Ok(proto::PeerResponse {
        response: Some(response),
    })
}

fn failed(e: impl std::fmt::Display) -> proto::peer_response::Response {
    proto::peer_response::Response::Error(proto::PeerError {
        error: Some(proto::peer_error::Error::Failed(e.to_string())),
    })
}
