//! A peer connection's byte stream: plain TCP, or TLS as the caller or as
//! the answering side. Both ends of a TLS peer connection present a
//! certificate signed by the peers' CA (mutual TLS); the configuration is
//! built by the server (`server::cluster`) and carried in
//! [`PeerConfig::tls`](super::PeerConfig::tls).
//!
//! Plain connections are the TCP stream itself; the enum costs one match
//! per poll.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// TLS of the peer port: how to call peers and how to answer them. Clones
/// share one configuration, which [`PeerTls::replace`] swaps for the next
/// connections (certificates re-read on SIGHUP); open connections keep the
/// one they were made with.
#[derive(Clone)]
pub struct PeerTls {
    current: Arc<RwLock<(TlsConnector, TlsAcceptor)>>,
}

impl PeerTls {
    /// `connector` calls peers presenting this member's certificate;
    /// `acceptor` answers them, asking for theirs.
    pub fn new(connector: TlsConnector, acceptor: TlsAcceptor) -> PeerTls {
        PeerTls {
            current: Arc::new(RwLock::new((connector, acceptor))),
        }
    }

    /// How the next call to a peer is made.
    pub fn connector(&self) -> TlsConnector {
        self.read().0.clone()
    }

    /// How the next peer that calls is answered.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.read().1.clone()
    }

    /// Makes `other`'s configuration this one's (and every clone's) for the
    /// connections made from now on.
    pub fn replace(&self, other: &PeerTls) {
        let next = other.read().clone();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (TlsConnector, TlsAcceptor)> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls(..)")
    }
}

/// One peer connection.
#[derive(Debug)]
pub enum PeerStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS, this member called.
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// TLS, this member answered.
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Calls the poll method `$m` on whichever stream `$self` holds.
macro_rules! each {
    ($self:expr, $m:ident($($a:expr),*)) => {
        match $self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).$m($($a),*),
            PeerStream::Client(s) => Pin::new(s.as_mut()).$m($($a),*),
            PeerStream::Server(s) => Pin::new(s.as_mut()).$m($($a),*),
        }
    };
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, poll_shutdown(cx))
    }
}

/// The host of `host:port` (IPv6 without brackets), for a certificate check.
pub(crate) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}
