//! The session's supervisor task: runs one connection at a time, and after a
//! loss reconnects with backoff across the server list (rotating), resuming
//! the session, until it succeeds, the session expires, or the client closes.
//!
//! Owns the reconnect policy and the client-side expiry rule: when no server
//! could be reached for longer than the negotiated session timeout since the
//! last frame received, the session is declared `Expired` (a lock holder must
//! learn that its ephemerals may be gone). It must not touch the pending map
//! or the watch table directly: transitions go through `inner`.

use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use tokio::sync::watch;

use crate::error::{Error, Result};

use super::backoff::Backoff;
use super::connection::{self, Ended, Established, HandshakeError, Reader};
use super::inner::Inner;
use super::outbox::WriteQueue;

/// Opens the session for a new client: tries the servers in random order with
/// backoff until one answers or `connect_timeout` has passed, then installs
/// the connection (state `Connected`) and starts the supervisor task.
pub(crate) async fn start(inner: &Arc<Inner>) -> Result<()> {
    let config = &inner.config;
    let mut servers = config.servers.clone();
    servers.shuffle(&mut rand::thread_rng());
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut last_err = None;
    for attempt in 0usize.. {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        let addr = &servers[attempt % servers.len()];
        let opened =
            connection::open(&**inner, addr, inner.creds(), inner.terms(), deadline - now).await;
        match opened {
            Ok(est) => {
                let Established {
                    addr,
                    creds,
                    outbox,
                    queue,
                    reader,
                } = est;
                inner.install(addr, outbox, creds);
                let next = attempt % servers.len();
                tokio::spawn(run(Arc::clone(inner), servers, next, reader, queue));
                return Ok(());
            }
            Err(HandshakeError::Expired(d)) => last_err = Some(Error::SessionExpired(d)),
            // Refused credentials (or none under --auth-required): the
            // caller must fix them; retrying would only hide the refusal.
            Err(HandshakeError::Failed(Error::AuthFailed(d))) => {
                return Err(Error::AuthFailed(format!("{addr}: {d}")));
            }
            Err(HandshakeError::Failed(e)) => last_err = Some(e),
        }
        tracing::debug!(server = %addr, error = ?last_err, "connect attempt failed");
        let pause = backoff.next_delay();
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + pause)).await;
    }
    let last = last_err.map_or_else(|| "none tried".to_string(), |e| e.to_string());
    Err(Error::ConnectionLoss(format!(
        "no session with any of {} within {:?}; last error: {last}",
        servers.join(","),
        config.connect_timeout
    )))
}

/// The supervisor loop. `current` indexes the server of the installed
/// connection, `reader` is its read half, `queue` its writer's end (kept
/// here across the connection's end, to take back what was never written).
async fn run(
    inner: Arc<Inner>,
    servers: Vec<String>,
    mut current: usize,
    reader: Reader,
    mut queue: WriteQueue,
) {
    let mut shutdown = inner.shutdown_signal();
    let mut backoff = Backoff::new(inner.config.backoff_min, inner.config.backoff_max);
    let mut live = Some(reader);
    loop {
        if let Some(reader) = live.take() {
            let ended = tokio::select! {
                ended = connection::run(&*inner, reader, &mut queue) => Some(ended),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            match ended {
                None => break,
                Some(Ended::Expired(d)) => {
                    inner.expire(d);
                    break;
                }
                Some(Ended::Lost(reason)) => inner.connection_lost(&mut queue, &reason),
            }
        }
        if inner.is_terminal() {
            break;
        }
        let Some((next, est)) =
            reconnect(&inner, &servers, current, &mut backoff, &mut shutdown).await
        else {
            break;
        };
        let Established {
            addr,
            creds,
            outbox,
            queue: new_queue,
            reader,
        } = est;
        if !inner.install(addr, outbox, creds) {
            break;
        }
        backoff.reset();
        current = next;
        queue = new_queue;
        live = Some(reader);
    }
    tracing::debug!("client supervisor stopped");
}

/// Tries servers from the one after `current`, with backoff, until one
/// resumes the session. `None` when the session expired or the client stops.
async fn reconnect(
    inner: &Inner,
    servers: &[String],
    current: usize,
    backoff: &mut Backoff,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(usize, Established)> {
    for attempt in 1usize.. {
        if inner.is_terminal() {
            return None;
        }
        let creds = inner.creds();
        let silent = inner.since_heard();
        if silent > creds.timeout {
            inner.expire(format!(
                "no server reachable for {silent:?}, longer than the session timeout {:?}",
                creds.timeout
            ));
            return None;
        }
        if attempt > 1 {
            // Never sleep past the expiry deadline: it must be noticed on time.
            let pause = backoff.next_delay().min(creds.timeout - silent);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|stop| *stop) => return None,
            }
        }
        let index = (current + attempt) % servers.len();
        let addr = &servers[index];
        let left = creds.timeout.saturating_sub(inner.since_heard());
        let limit = inner
            .config
            .connect_timeout
            .min(left)
            .max(Duration::from_millis(10));
        let opened = tokio::select! {
            r = connection::open(inner, addr, creds, inner.terms(), limit) => r,
            _ = shutdown.wait_for(|stop| *stop) => return None,
        };
        match opened {
            Ok(est) => return Some((index, est)),
            Err(HandshakeError::Expired(d)) => {
                inner.expire(d);
                return None;
            }
            Err(HandshakeError::Failed(e)) => {
                tracing::debug!(server = %addr, error = %e, "reconnect attempt failed");
            }
        }
    }
    None
}
