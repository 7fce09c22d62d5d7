//! The handshake: the first frame of a connection opens a new session or
//! resumes one, and attaches the connection to it through the session manager.
//!
//! Until it is done the connection is untrusted: its reader allows only
//! `max_handshake_frame_bytes` (the caller sets that limit), a resume is
//! judged by the replicated session table after catching up with what the
//! client has seen, and the session secret is compared in constant time
//! ([`secrets_equal`]) so the comparison's duration tells nothing about how
//! much of a guess was right. This module writes to no socket: the caller
//! sends `Connected` or the refusal.

use std::sync::Arc;

use prost::Message;

use super::Shared;
use super::acl_requests::{PeerIdentity, connect_identities};
use super::in_touch;
use super::outbound::ConnSink;
use super::sessions::ConnGuard;
use crate::error::Error;
use crate::state_machine::{Command, CommandKind, CommandResult};
use crate::watch::ConnId;
use coord_proto::proto;
use coord_proto::wire::{FrameError, FrameReader, PROTOCOL_VERSION, secret_from_bytes};

/// The session this connection serves, once the handshake attached it (the
/// replicated record is `state_machine::SessionInfo`; its liveness is the
/// `liveness` tracker's; the session manager owns both maps).
pub(crate) struct AttachedSession {
    pub(crate) id: u64,
    pub(crate) secret: [u8; 16],
    pub(crate) timeout_ms: u32,
    pub(crate) resumed: bool,
    /// The subject of the client's TLS certificate (`CN=alice,O=team`),
    /// when the connection presented one: the session's `x509` identity.
    pub(crate) x509_subject: Option<String>,
    /// This connection's registration; dropped with the connection's future.
    _attached: ConnGuard,
}

/// Whether two byte strings are equal, in time that depends only on their
/// lengths (which are not secret: a session secret is always 16 bytes).
pub(crate) fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimizer from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The error to tell a client whose frame could not be read.
pub(crate) fn frame_error(e: FrameError) -> Error {
    match e {
        FrameError::TooLarge { .. } => Error::TooLarge(e.to_string()),
        FrameError::Truncated | FrameError::Io(_) => Error::ConnectionLoss(e.to_string()),
    }
}

/// Reads the `Connect` and attaches the connection to its session.
/// `x509_subject`: the client certificate's subject (TLS with a client CA).
pub(crate) async fn handshake<R>(
    shared: &Shared,
    reader: &mut FrameReader<R>,
    conn: ConnId,
    sink: &Arc<ConnSink>,
    peer: &PeerIdentity,
) -> Result<AttachedSession, Error>
where
    R: tokio::io::AsyncRead + Unpin,
{
    let frame = match reader.next_frame().await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(Error::ConnectionLoss("closed before handshake".into())),
        Err(e) => return Err(frame_error(e)),
    };
    let msg = proto::ClientMessage::decode(frame)
        .map_err(|e| Error::Protocol(format!("undecodable handshake: {e}")))?;
    let connect = match msg.body {
        Some(proto::client_message::Body::Connect(c)) => c,
        _ => return Err(Error::Protocol("first message must be a Connect".into())),
    };
    attach(shared, connect, conn, sink, peer).await
}

/// Opens or resumes the session a `Connect` asks for (whichever protocol
/// carried it) and attaches connection `conn` to it. A new session starts
/// with the identities `peer` and the `Connect`'s token prove; a resumed
/// one keeps those it has (they are in the replicated session table).
pub(crate) async fn attach(
    shared: &Shared,
    connect: proto::Connect,
    conn: ConnId,
    sink: &Arc<ConnSink>,
    peer: &PeerIdentity,
) -> Result<AttachedSession, Error> {
    if connect.protocol_version != PROTOCOL_VERSION {
        return Err(Error::Protocol(format!(
            "protocol version {} is not supported; this server speaks {PROTOCOL_VERSION}",
            connect.protocol_version
        )));
    }
    if shared.replica.leader().is_none() {
        // Cut off from the cluster (or an election is under way): the client
        // is better served by another member.
        return Err(Error::ConnectionLoss(
            "this server knows no leader; try another member".into(),
        ));
    }
    // Cut off from the leader, behind it, or a leader without a majority:
    // the client moves on rather than wait here.
    in_touch::ready_for_sessions(shared).await?;
    if connect.session_id == 0 {
        let identities = connect_identities(shared, &connect.token, peer)?;
        return open_session(
            shared,
            connect.requested_timeout_ms,
            identities,
            conn,
            sink,
            peer.x509_subject.clone(),
        )
        .await;
    }
    let id = connect.session_id;
    let secret = secret_from_bytes(&connect.session_secret)?;
    // First catch up with what the client has seen (never let it read older
    // state), then judge the session by the replicated table as of that
    // state: a close or expiry the client may have seen is applied by now.
    caught_up_with_client(shared, id, connect.last_zxid).await?;
    let sm = shared.read_sm();
    let timeout_ms = match sm.session(id) {
        Some(s) if secrets_equal(&s.secret, &secret) => s.timeout_ms,
        Some(_) => {
            return Err(Error::SessionExpired(format!(
                "session {id:#x}: wrong secret"
            )));
        }
        None => {
            return Err(Error::SessionExpired(format!(
                "session {id:#x} has expired or was closed"
            )));
        }
    };
    // Under the same read lock: no close or expiry can slip in between.
    let attached = shared.sessions.attach(&sm, conn, id, sink.clone())?;
    drop(sm);
    shared.announce_owner(id, conn);
    Ok(AttachedSession {
        id,
        secret,
        timeout_ms,
        resumed: true,
        x509_subject: peer.x509_subject.clone(),
        _attached: attached,
    })
}

/// Waits (at most `in_touch::contact_limit`) until this server has applied
/// `zxid`, the newest the client has seen; `ConnectionLoss` if it does not
/// (the client tries another member rather than read older state here).
async fn caught_up_with_client(shared: &Shared, session: u64, zxid: u64) -> Result<(), Error> {
    let mut applied = shared.applied.clone();
    let limit = in_touch::contact_limit(shared);
    if in_touch::wait_within(&mut applied, limit, |z| *z >= zxid).await? {
        return Ok(());
    }
    Err(Error::ConnectionLoss(format!(
        "session {session:#x} has seen zxid {zxid} but this server has applied only up to {} \
         within {} ms; try another member",
        *applied.borrow(),
        limit.as_millis()
    )))
}

async fn open_session(
    shared: &Shared,
    requested_ms: u32,
    identities: Vec<coord_proto::Identity>,
    conn: ConnId,
    sink: &Arc<ConnSink>,
    x509_subject: Option<String>,
) -> Result<AttachedSession, Error> {
    let timeout_ms = shared.cfg.session_limits.negotiate(requested_ms);
    // Drawn here and carried in the command: apply stays deterministic.
    for _ in 0..4 {
        // Odd, and below 2^63: ZooKeeper clients read the id as a signed
        // long and some print or compare it as a positive one.
        let id = (rand::random::<u64>() & (i64::MAX as u64)) | 1;
        let secret: [u8; 16] = rand::random();
        let create = Command::new(
            0,
            shared.now_ms(),
            CommandKind::CreateSession {
                session_id: id,
                timeout_ms,
                secret,
                identities: identities.clone(),
            },
        );
        let outcome = shared.propose(create, conn).await?.await?;
        match outcome.result {
            Ok(CommandResult::SessionCreated { .. }) => {
                // Applying the create started its liveness tracking.
                let attached = shared
                    .sessions
                    .attach(&shared.read_sm(), conn, id, sink.clone())?;
                shared.announce_owner(id, conn);
                return Ok(AttachedSession {
                    id,
                    secret,
                    timeout_ms,
                    resumed: false,
                    x509_subject,
                    _attached: attached,
                });
            }
            // An id collision (astronomically rare): draw again.
            Err(Error::BadArguments(_)) => continue,
            Err(e) => return Err(e),
            Ok(other) => {
                return Err(Error::Internal(format!(
                    "unexpected result for CreateSession: {other:?}"
                )));
            }
        }
    }
    Err(Error::Internal("could not draw a free session id".into()))
}

#[cfg(test)]
mod tests {
    use super::secrets_equal;

    #[test]
    fn secret_comparison_accepts_only_identical_bytes() {
        let a = [7u8; 16];
        let mut last_differs = a;
        last_differs[15] ^= 1;
        let mut first_differs = a;
        first_differs[0] ^= 0x80;
        assert!(secrets_equal(&a, &a));
        assert!(secrets_equal(&[], &[]));
        assert!(!secrets_equal(&a, &last_differs));
        assert!(!secrets_equal(&a, &first_differs));
        assert!(!secrets_equal(&a, &a[..15]), "a prefix is not equal");
        assert!(!secrets_equal(&a[..15], &a));
        assert!(!secrets_equal(&a, &[]));
    }
}
