//! One TCP connection to one server: the handshake, then a reader that hands
//! responses and events to the session, and a writer task that drains the
//! connection's outbox and sends pings when idle.
//!
//! Owns the socket until the handshake is done, then its read half; the
//! write half and the order of frames on it belong to `outbox`. It must not
//! decide what a frame means for the session: it reports through
//! [`ConnectionEvents`] (implemented by the client's state in `inner`), and
//! `supervisor` decides what to do when the connection ends. Every wait here
//! is bounded by a timeout or by the connection's end.

use std::time::Duration;

use bytes::BytesMut;
use prost::Message;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::Error;
use coord_proto::WatchEvent;
use coord_proto::proto;
use coord_proto::proto::server_message::Body;
use coord_proto::wire::{
    FrameError, FrameReader, PROTOCOL_VERSION, encode_frame, secret_from_bytes,
};

use super::outbox::{self, Outbox, WriteQueue};
use super::session::Credentials;
use super::tls::{ClientTls, describe};
use super::transport::{self, ReadSide};

/// What a connection tells the session it serves. Called from the reader and
/// writer of the connection; every method must return without waiting.
pub(crate) trait ConnectionEvents: Sync {
    /// The newest zxid the session has seen (sent in the handshake).
    fn last_zxid(&self) -> u64;
    /// A frame arrived: the server is alive.
    fn heard(&self);
    /// A response arrived.
    fn on_response(&self, resp: proto::Response);
    /// A watch event arrived (before any later response: see `read_loop`).
    fn on_event(&self, ev: &WatchEvent);
    /// Nothing was written for a third of the session timeout: send a ping
    /// (through the outbox, like any request).
    fn ping_due(&self);
}

/// What the client asks of every connection.
#[derive(Debug, Clone)]
pub(crate) struct Terms {
    /// A bearer token to present at connect (the session gets `token:<user>`).
    pub(crate) token: Option<super::config::Token>,
    /// The session timeout to ask the server for.
    pub(crate) session_timeout: Duration,
    /// Largest frame accepted from the server.
    pub(crate) max_frame_bytes: usize,
    /// TLS to speak (`None`: plain TCP).
    pub(crate) tls: Option<ClientTls>,
}

/// A connection whose handshake succeeded.
#[derive(Debug)]
pub(crate) struct Established {
    /// `host:port` dialled.
    pub(crate) addr: String,
    /// Session credentials from the server's answer.
    pub(crate) creds: Credentials,
    /// The callers' end of the outbox (goes to the session's state).
    pub(crate) outbox: Outbox,
    /// The writer's end: lent to [`run`], kept by the supervisor to take
    /// back what was never written.
    pub(crate) queue: WriteQueue,
    /// The read half, for [`run`].
    pub(crate) reader: Reader,
}

/// The read half of an established connection, and the negotiated session
/// timeout that paces its reads and pings.
#[derive(Debug)]
pub(crate) struct Reader {
    frames: FrameReader<ReadSide>,
    session_timeout: Duration,
}

/// Why a handshake did not give a usable connection.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The session is gone (the server said so, or would not resume it).
    Expired(String),
    /// This server could not be used now; try another.
    Failed(Error),
}

/// Why a running connection ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The connection broke, timed out or was closed; reconnect.
    Lost(String),
    /// The server closed it because the session expired.
    Expired(String),
}

/// Dials `addr` and opens (`creds.session_id == 0`) or resumes the session,
/// all within `timeout`.
pub(crate) async fn open(
    events: &impl ConnectionEvents,
    addr: &str,
    creds: Credentials,
    terms: Terms,
    timeout: Duration,
) -> Result<Established, HandshakeError> {
    match tokio::time::timeout(timeout, handshake(events, addr, creds, terms)).await {
        Ok(r) => r,
        Err(_) => Err(HandshakeError::Failed(Error::ConnectionLoss(format!(
            "no session from {addr} within {timeout:?}"
        )))),
    }
}

async fn handshake(
    events: &impl ConnectionEvents,
    addr: &str,
    creds: Credentials,
    terms: Terms,
) -> Result<Established, HandshakeError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        HandshakeError::Failed(Error::ConnectionLoss(format!("{what} {addr}: {e}")))
    };
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| failed("cannot connect to", &e))?;
    // Small frames must not wait for Nagle: latency is the point of pipelining.
    let _ = stream.set_nodelay(true);
    let (rd, wr) = match &terms.tls {
        None => transport::plain(stream),
        Some(tls) => transport::tls(
            tls.connect(addr, stream)
                .await
                .map_err(HandshakeError::Failed)?,
        ),
    };
    let connect = proto::ClientMessage {
        body: Some(proto::client_message::Body::Connect(proto::Connect {
            protocol_version: PROTOCOL_VERSION,
            session_id: creds.session_id,
            session_secret: if creds.session_id == 0 {
                bytes::Bytes::new()
            } else {
                bytes::Bytes::copy_from_slice(&creds.secret)
            },
            requested_timeout_ms: terms.session_timeout.as_millis() as u32,
            last_zxid: events.last_zxid(),
            token: terms
                .token
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
        })),
    };
    let mut buf = BytesMut::new();
    encode_frame(&connect, &mut buf);
    outbox::write_all(&wr, &buf)
        .await
        .map_err(|e| failed("cannot write to", &e))?;
    let mut reader = FrameReader::new(rd, terms.max_frame_bytes);
    let frame = match reader.next_frame().await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(failed("handshake refused by", &"connection closed")),
        // Over TLS 1.3 a server that refuses the client's certificate says
        // so only after the client finished its side of the TLS handshake.
        Err(FrameError::Io(e)) if terms.tls.is_some() => {
            return Err(failed("TLS with", &describe(&e)));
        }
        Err(e) => return Err(failed("handshake failed with", &e)),
    };
    events.heard();
    let msg = proto::ServerMessage::decode(frame).map_err(|e| {
        HandshakeError::Failed(Error::Protocol(format!(
            "bad handshake answer from {addr}: {e}"
        )))
    })?;
    let connected = match msg.body {
        Some(Body::Connected(c)) => c,
        Some(Body::Closing(e)) => {
            return Err(match Error::from(&e) {
                Error::SessionExpired(d) => HandshakeError::Expired(format!("{addr}: {d}")),
                other => HandshakeError::Failed(other),
            });
        }
        _ => {
            return Err(HandshakeError::Failed(Error::Protocol(format!(
                "{addr} answered the handshake with something other than Connected"
            ))));
        }
    };
    // `connected.last_zxid` is the server's state, not something this client
    // has seen: taking it as `last_zxid` would hide the changes missed while
    // disconnected from `SetWatches`.
    let creds = accept(creds, &connected, addr)?;
    if connected.protocol_version != PROTOCOL_VERSION {
        tracing::debug!(
            server = addr,
            version = connected.protocol_version,
            "server speaks another protocol version"
        );
    }
    let (outbox, queue) = outbox::new(wr);
    Ok(Established {
        addr: addr.to_string(),
        creds,
        outbox,
        queue,
        reader: Reader {
            frames: reader,
            session_timeout: creds.timeout,
        },
    })
}

/// Checks the server's `Connected` against what was asked and returns the
/// session credentials to use from now on.
fn accept(
    asked: Credentials,
    c: &proto::Connected,
    addr: &str,
) -> Result<Credentials, HandshakeError> {
    let resuming = asked.session_id != 0;
    if resuming && (!c.resumed || c.session_id != asked.session_id) {
        return Err(HandshakeError::Expired(format!(
            "{addr} did not resume session {:#x}",
            asked.session_id
        )));
    }
    if c.session_id == 0 || c.timeout_ms == 0 {
        return Err(HandshakeError::Failed(Error::Protocol(format!(
            "{addr} answered with session {:#x} and timeout {} ms",
            c.session_id, c.timeout_ms
        ))));
    }
    let secret = if resuming && c.session_secret.is_empty() {
        asked.secret
    } else {
        secret_from_bytes(&c.session_secret).map_err(HandshakeError::Failed)?
    };
    Ok(Credentials {
        session_id: c.session_id,
        secret,
        timeout: Duration::from_millis(u64::from(c.timeout_ms)),
    })
}

/// Runs the connection until it ends: reads from `reader`, writes what the
/// outbox hands to `queue`, and pings when nothing was written for a while.
pub(crate) async fn run(
    events: &impl ConnectionEvents,
    reader: Reader,
    queue: &mut WriteQueue,
) -> Ended {
    let Reader {
        frames,
        session_timeout,
    } = reader;
    // Something must arrive every 2/3 of the timeout; pings every 1/3 when
    // idle make sure the server has something to answer.
    // (Floors keep a degenerate negotiated timeout from spinning.)
    let read_timeout = (session_timeout * 2 / 3).max(Duration::from_millis(20));
    let ping_every = (session_timeout / 3).max(Duration::from_millis(10));
    tokio::select! {
        ended = read_loop(events, frames, read_timeout) => ended,
        ended = write_loop(events, queue, ping_every) => ended,
    }
}

/// Frames are handed over in the order they arrive, each before the next is
/// read: an event reaches the session before any response sent after it.
async fn read_loop(
    events: &impl ConnectionEvents,
    mut reader: FrameReader<ReadSide>,
    read_timeout: Duration,
) -> Ended {
    loop {
        let frame = match tokio::time::timeout(read_timeout, reader.next_frame()).await {
            Err(_) => {
                return Ended::Lost(format!("nothing received for {read_timeout:?}"));
            }
            Ok(Err(e)) => return Ended::Lost(e.to_string()),
            Ok(Ok(None)) => return Ended::Lost("the server closed the connection".into()),
            Ok(Ok(Some(frame))) => frame,
        };
        events.heard();
        let body = match proto::ServerMessage::decode(frame) {
            Ok(msg) => msg.body,
            Err(e) => return protocol_error(format!("undecodable frame: {e}")),
        };
        match body {
            Some(Body::Response(resp)) => events.on_response(resp),
            Some(Body::Event(ev)) => match WatchEvent::try_from(ev) {
                Ok(ev) => events.on_event(&ev),
                Err(e) => return protocol_error(e.to_string()),
            },
            Some(Body::Closing(e)) => {
                return match Error::from(&e) {
                    Error::SessionExpired(d) => Ended::Expired(d),
                    other => Ended::Lost(format!("the server is closing the connection: {other}")),
                };
            }
            Some(Body::Connected(_)) => return protocol_error("a second Connected".into()),
            None => return protocol_error("an empty message".into()),
        }
    }
}

fn protocol_error(detail: String) -> Ended {
    let err = Error::Protocol(detail);
    tracing::warn!(%err, "dropping the connection");
    Ended::Lost(err.to_string())
}

async fn write_loop(
    events: &impl ConnectionEvents,
    queue: &mut WriteQueue,
    ping_every: Duration,
) -> Ended {
    let mut next_ping = Instant::now() + ping_every;
    loop {
        tokio::select! {
            more = queue.ready() => {
                if !more {
                    return Ended::Lost("the client dropped the connection".into());
                }
                if let Err(e) = queue.flush().await {
                    return Ended::Lost(format!("write failed: {e}"));
                }
                next_ping = Instant::now() + ping_every;
            }
            () = tokio::time::sleep_until(next_ping) => {
                events.ping_due();
                next_ping = Instant::now() + ping_every;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(id: u64, resumed: bool, secret: &[u8]) -> proto::Connected {
        proto::Connected {
            protocol_version: PROTOCOL_VERSION,
            session_id: id,
            session_secret: bytes::Bytes::copy_from_slice(secret),
            timeout_ms: 3000,
            last_zxid: 9,
            resumed,
        }
    }

    #[test]
    fn a_new_session_takes_the_servers_credentials() {
        let c = accept(
            Credentials::default(),
            &connected(7, false, &[1; 16]),
            "h:1",
        )
        .unwrap();
        assert_eq!(c.session_id, 7);
        assert_eq!(c.secret, [1; 16]);
        assert_eq!(c.timeout, Duration::from_secs(3));
    }

    #[test]
    fn a_resume_answered_with_a_new_session_means_expired() {
        let asked = Credentials {
            session_id: 7,
            secret: [1; 16],
            timeout: Duration::from_secs(3),
        };
        assert!(matches!(
            accept(asked, &connected(8, false, &[2; 16]), "h:1"),
            Err(HandshakeError::Expired(_))
        ));
        let kept = accept(asked, &connected(7, true, &[]), "h:1").unwrap();
        assert_eq!(kept.secret, [1; 16]);
    }

    #[test]
    fn a_bad_secret_is_a_protocol_error() {
        assert!(matches!(
            accept(Credentials::default(), &connected(7, false, &[1; 3]), "h:1"),
            Err(HandshakeError::Failed(Error::Protocol(_)))
        ));
    }
}
