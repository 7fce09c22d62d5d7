//! TLS for the client: the options a caller gives ([`TlsOptions`]: the CA
//! to trust, optionally a client certificate and key, and the name to expect
//! on the server's certificate), the rustls configuration built from them
//! once (ring provider), the handshake on a dialled socket, and the wording
//! of its failures.
//!
//! It owns nothing of the session: `connection` calls [`ClientTls::connect`]
//! between the TCP connect and the coord handshake, and gets a stream back.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{Error, Result};

/// PEM text, from a file or given as bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A PEM file to read when the client is built.
    File(PathBuf),
    /// PEM bytes.
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pem::File(p) => write!(f, "File({})", p.display()),
            // May be a private key: never printed.
            Pem::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
        }
    }
}

impl Pem {
    fn describe(&self, what: &str) -> String {
        match self {
            Pem::File(p) => format!("{what} {}", p.display()),
            Pem::Bytes(_) => format!("{what} (PEM bytes)"),
        }
    }

    fn certs(&self, what: &str) -> Result<Vec<CertificateDer<'static>>> {
        let read = match self {
            Pem::File(p) => CertificateDer::pem_file_iter(p)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>()),
            Pem::Bytes(b) => CertificateDer::pem_slice_iter(b).collect(),
        };
        let certs = read.map_err(|e| {
            Error::BadArguments(format!(
                "{}: cannot read certificates: {e}",
                self.describe(what)
            ))
        })?;
        if certs.is_empty() {
            return Err(Error::BadArguments(format!(
                "{}: no certificate (expected PEM \"BEGIN CERTIFICATE\")",
                self.describe(what)
            )));
        }
        Ok(certs)
    }

    fn key(&self, what: &str) -> Result<PrivateKeyDer<'static>> {
        match self {
            Pem::File(p) => PrivateKeyDer::from_pem_file(p),
            Pem::Bytes(b) => PrivateKeyDer::from_pem_slice(b),
        }
        .map_err(|e| {
            Error::BadArguments(format!(
                "{}: cannot read a private key: {e}",
                self.describe(what)
            ))
        })
    }
}

/// How a client speaks TLS to the servers. Give it to
/// [`ClientBuilder::tls`](super::ClientBuilder::tls).
///
/// ```no_run
/// # async fn f() -> coord_client::Result<()> {
/// use coord_client::client::TlsOptions;
/// let tls = TlsOptions::ca_file("ca.pem").client_cert_files("client.pem", "client-key.pem");
/// let client = coord_client::Client::builder()
///     .servers("db1.example:2281")
///     .tls(tls)
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    ca: Pem,
    client: Option<(Pem, Pem)>,
    server_name: Option<String>,
}

impl TlsOptions {
    /// Trusts the CA certificates of a PEM file (and nothing else).
    pub fn ca_file(path: impl Into<PathBuf>) -> Self {
        Self::ca(Pem::File(path.into()))
    }

    /// Trusts the CA certificates in PEM bytes (and nothing else).
    pub fn ca_pem(pem: impl Into<Vec<u8>>) -> Self {
        Self::ca(Pem::Bytes(pem.into()))
    }

    /// Trusts the CA certificates of `ca`.
    pub fn ca(ca: Pem) -> Self {
        TlsOptions {
            ca,
            client: None,
            server_name: None,
        }
    }

    /// Presents this certificate chain (leaf first) and its private key, for
    /// servers that ask for client certificates (mTLS).
    pub fn client_cert(mut self, cert: Pem, key: Pem) -> Self {
        self.client = Some((cert, key));
        self
    }

    /// [`TlsOptions::client_cert`] from two PEM files.
    pub fn client_cert_files(self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert(Pem::File(cert.into()), Pem::File(key.into()))
    }

    /// The name the server's certificate must carry. Default: the host of
    /// each server address (an IP address must then be among the
    /// certificate's IP SANs).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Reads the files and builds the rustls configuration; errors name the
    /// file or the setting.
    pub(crate) fn build(&self) -> Result<ClientTls> {
        let provider = Arc::new(provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in self.ca.certs("TLS CA")? {
            roots.add(cert).map_err(|e| {
                Error::BadArguments(format!(
                    "{}: not a usable CA certificate: {e}",
                    self.ca.describe("TLS CA")
                ))
            })?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(format!("TLS protocol versions: {e}")))?
            .with_root_certificates(roots);
        let config = match &self.client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    cert.certs("TLS client certificate")?,
                    key.key("TLS client key")?,
                )
                .map_err(|e| {
                    Error::BadArguments(format!(
                        "{} and {} do not make a usable pair: {e}",
                        cert.describe("TLS client certificate"),
                        key.describe("TLS client key")
                    ))
                })?,
            None => builder.with_no_client_auth(),
        };
        let server_name = match &self.server_name {
            Some(n) => Some(ServerName::try_from(n.clone()).map_err(|e| {
                Error::BadArguments(format!(
                    "TLS server name {n:?} is not a DNS name or IP: {e}"
                ))
            })?),
            None => None,
        };
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }
}

/// The built TLS settings a client dials with.
#[derive(Clone)]
pub(crate) struct ClientTls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl ClientTls {
    /// Runs the TLS handshake on `stream`, dialled to `addr` (`host:port`).
    pub(crate) async fn connect(
        &self,
        addr: &str,
        stream: TcpStream,
    ) -> Result<TlsStream<TcpStream>> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => host_name(addr)?,
        };
        let shown = name.to_str().into_owned();
        self.connector.connect(name, stream).await.map_err(|e| {
            Error::ConnectionLoss(format!("TLS with {addr} ({shown}): {}", describe(&e)))
        })
    }
}

/// ring's provider with AES-128-GCM first among the cipher suites, the
/// order the server uses too (`coord_server`'s `tls::provider`): in TLS 1.3
/// both AES-GCM suites are standard, and AES-128 costs less per record.
pub(crate) fn provider() -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    provider
}

/// The host part of `host:port` (IPv6 without its brackets) as a server name.
fn host_name(addr: &str) -> Result<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| {
        Error::BadArguments(format!(
            "server {addr:?}: {host:?} is not a DNS name or IP for TLS ({e}); set a TLS server name"
        ))
    })
}

/// Says what failed in words a user acts on, then rustls' own words.
pub(crate) fn describe(e: &std::io::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<R>()) else {
        return match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "the server closed the connection during the TLS handshake".into()
            }
            _ => e.to_string(),
        };
    };
    let what = match r {
        R::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "server certificate expired"
        }
        R::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "server certificate not valid yet"
        }
        R::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "server certificate name mismatch"
        }
        R::InvalidCertificate(C::UnknownIssuer) => {
            "server certificate not signed by the trusted CA (unknown issuer)"
        }
        // Another CA with the same subject name as the trusted one (two
        // local CAs made by the same script): the issuer is found by name,
        // its signature does not verify.
        R::InvalidCertificate(C::BadSignature) => {
            "server certificate not signed by the trusted CA (bad signature)"
        }
        R::InvalidCertificate(_) => "server certificate refused",
        R::AlertReceived(A::CertificateRequired) => {
            "the server requires a client certificate (mTLS)"
        }
        R::AlertReceived(A::UnknownCA | A::BadCertificate | A::DecryptError) => {
            "the server refused our client certificate"
        }
        R::AlertReceived(A::CertificateExpired) => "the server says our client certificate expired",
        R::InvalidMessage(_) => "the server does not speak TLS (a plain-text port?)",
        _ => "TLS handshake failed",
    };
    format!("{what} ({r})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_offers_aes_128_gcm_first() {
        let suites: Vec<_> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        // Nothing dropped: the order changed, the set did not.
        assert_eq!(
            suites.len(),
            rustls::crypto::ring::default_provider().cipher_suites.len()
        );
        assert!(suites.contains(&rustls::CipherSuite::TLS13_AES_256_GCM_SHA384));
    }
}
