//! TLS on the server's ports: the certificate files ([`TlsFiles`]), the
//! rustls configuration built from them (ring provider), its re-reading on
//! SIGHUP ([`TlsSource::reload`]), and the accept step that turns a TCP
//! socket into a TLS stream plus the client certificate's subject.
//!
//! The seam: connection code works on any `AsyncRead + AsyncWrite` halves;
//! this module decides nothing about sessions or requests. A plain-text
//! port never reaches it, so the plain path costs what it did before TLS.
//!
//! Reload: the configuration sits behind an `Arc` swapped under a lock
//! taken only to clone it (once per accepted connection) or to replace it.
//! Connections keep the configuration they were accepted with, so a reload
//! drops nothing; a re-read that fails keeps the old configuration and says
//! why.

mod subject;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::{Error, Result};

pub(crate) use subject::subject_of;

/// The first byte of a TLS record carrying a handshake message; a client
/// that starts with anything else is not speaking TLS.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The certificate files of one TLS listener (`--tls-cert`, `--tls-key`,
/// `--tls-client-ca`, or the `--peer-tls-*` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM: the private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM: the CAs whose certificates clients must present. `None`: no
    /// client certificate is asked for.
    pub client_ca: Option<PathBuf>,
}

/// The ring provider, the one crypto provider this build has, with
/// AES-128-GCM first among the cipher suites (ring's default puts
/// AES-256-GCM first). Both are TLS 1.3's standard AEADs; AES-128 takes 10
/// rounds per block against 14, which is most of what TLS adds to a small
/// request (`bench:instructions`). The client (`coord_client`'s `tls`)
/// orders its offer the same way, and the server picks by its own order
/// ([`server_config`]), so older clients get AES-128-GCM as well.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// Reads the certificates of a PEM file, naming the file and the setting on
/// error.
pub(crate) fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::BadArguments(format!(
                "{setting} {}: cannot read certificates: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::BadArguments(format!(
            "{setting} {}: no certificate (expected PEM \"BEGIN CERTIFICATE\")",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path, setting: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        Error::BadArguments(format!(
            "{setting} {}: cannot read a private key: {e}",
            path.display()
        ))
    })
}

/// A root store of the CAs in `path`.
pub(crate) fn read_roots(path: &Path, setting: &str) -> Result<Arc<rustls::RootCertStore>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(path, setting)? {
        roots.add(cert).map_err(|e| {
            Error::BadArguments(format!(
                "{setting} {}: not a usable CA certificate: {e}",
                path.display()
            ))
        })?;
    }
    Ok(Arc::new(roots))
}

/// The rustls server configuration `files` describe. `prefix` names the
/// flags in errors (`tls` or `peer-tls`).
pub(crate) fn server_config(files: &TlsFiles, prefix: &str) -> Result<Arc<rustls::ServerConfig>> {
    let certs = read_certs(&files.cert, &format!("--{prefix}-cert"))?;
    let key = read_key(&files.key, &format!("--{prefix}-key"))?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS protocol versions: {e}")))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let setting = format!("--{prefix}-client-ca");
            let roots = read_roots(ca, &setting)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| Error::BadArguments(format!("{setting} {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        Error::BadArguments(format!(
            "--{prefix}-cert {} and --{prefix}-key {} do not make a usable pair: {e}",
            files.cert.display(),
            files.key.display()
        ))
    })?;
    // The server's order ([`provider`]) decides, not the client's.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// The peer port's TLS from `files`: both sides present `files.cert` and
/// check the other's against `files.client_ca` (required: peers always
/// authenticate each other). `prefix` names the flags in errors.
pub(crate) fn peer_tls(
    files: &TlsFiles,
    prefix: &str,
) -> Result<crate::replication::peer::PeerTls> {
    let Some(ca) = &files.client_ca else {
        return Err(Error::BadArguments(
            "TLS on the peer port needs the CA of the members' certificates: \
             --peer-tls-ca (or --tls-client-ca)"
                .into(),
        ));
    };
    let acceptor = TlsAcceptor::from(server_config(files, prefix)?);
    let roots = read_roots(ca, &format!("--{prefix}-ca"))?;
    let certs = read_certs(&files.cert, &format!("--{prefix}-cert"))?;
    let key = read_key(&files.key, &format!("--{prefix}-key"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS protocol versions: {e}")))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| {
            Error::BadArguments(format!(
                "--{prefix}-cert {} and --{prefix}-key {} do not make a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    Ok(crate::replication::peer::PeerTls::new(
        tokio_rustls::TlsConnector::from(Arc::new(config)),
        acceptor,
    ))
}

/// A TLS listener's configuration, re-readable while connections run.
pub(crate) struct TlsSource {
    files: TlsFiles,
    prefix: &'static str,
    current: RwLock<TlsAcceptor>,
}

impl std::fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSource")
            .field("files", &self.files)
            .finish()
    }
}

impl TlsSource {
    /// Reads `files` now; an error names the file and the flag.
    pub(crate) fn load(files: TlsFiles, prefix: &'static str) -> Result<TlsSource> {
        let config = server_config(&files, prefix)?;
        Ok(TlsSource {
            files,
            prefix,
            current: RwLock::new(TlsAcceptor::from(config)),
        })
    }

    /// The configuration for the next connection.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the files. On error the configuration in use stays, and the
    /// error says which file failed.
    pub(crate) fn reload(&self) -> Result<()> {
        let config = server_config(&self.files, self.prefix)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = TlsAcceptor::from(config);
        Ok(())
    }
}

/// Why a connection on a TLS port did not become a TLS stream.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Its first byte is not a TLS handshake record: a plain-text client.
    NotTls,
    /// The handshake failed (the reason, from rustls).
    Handshake(String),
    /// Nothing (or not enough) arrived within the handshake timeout.
    Timeout,
    /// The client left before saying anything.
    Closed,
}

impl Refusal {
    /// A client that connected and left without a byte (a port probe or a
    /// load balancer's health check): not worth a warning.
    pub(crate) fn is_quiet(&self) -> bool {
        matches!(self, Refusal::Closed)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotTls => f.write_str("plain text on a TLS port"),
            Refusal::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            Refusal::Timeout => f.write_str("no TLS handshake within handshake_timeout"),
            Refusal::Closed => f.write_str("closed before the TLS handshake"),
        }
    }
}

/// A connection that completed its TLS handshake.
pub(crate) struct Accepted {
    pub(crate) stream: TlsStream<TcpStream>,
    /// The subject of the client's certificate, when it presented one.
    pub(crate) client_subject: Option<String>,
}

/// Runs the server side of the TLS handshake on `socket` within `timeout`.
/// A plain-text client is told apart by its first byte and handed back, so
/// that the caller can answer it in its own protocol.
pub(crate) async fn accept(
    source: &TlsSource,
    socket: TcpStream,
    timeout: Duration,
) -> std::result::Result<Accepted, (Refusal, Option<TcpStream>)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, socket.peek(&mut first)).await {
        Err(_) => return Err((Refusal::Timeout, None)),
        Ok(Ok(0)) | Ok(Err(_)) => return Err((Refusal::Closed, None)),
        Ok(Ok(_)) if first[0] != TLS_HANDSHAKE_RECORD => {
            return Err((Refusal::NotTls, Some(socket)));
        }
        Ok(Ok(_)) => {}
    }
    let stream = match tokio::time::timeout_at(deadline, source.acceptor().accept(socket)).await {
        Err(_) => return Err((Refusal::Timeout, None)),
        Ok(Err(e)) => return Err((Refusal::Handshake(e.to_string()), None)),
        Ok(Ok(s)) => s,
    };
    let client_subject = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|leaf| subject_of(leaf));
    Ok(Accepted {
        stream,
        client_subject,
    })
}
