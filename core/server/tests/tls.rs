//! TLS on the client port and the ZooKeeper port, against an in-process
//! server with rcgen-made CAs and certificates: sessions over TLS and mTLS,
//! each refusal (plain text, a foreign CA, an expired certificate, a wrong
//! host name, no client certificate) with its client-side error and its
//! server log line while a good client on the same server keeps working,
//! the ZooKeeper port over TLS, and re-reading certificates (SIGHUP) while
//! sessions stay.

mod tlscerts;
mod zkwire;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use coord_client::{Client, CreateMode, TlsOptions};
use coord_server::server::{Server, ServerConfig, TlsFiles};
use tlscerts::{Ca, CertFiles, Leaf};

/// Everything the server logs in this test binary (tests run in parallel,
/// so a check looks for a line only its own test produces).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("coord_server=debug"))
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (bounded) for a log line holding every one of `parts`.
async fn logged(parts: &[&str]) -> bool {
    for _ in 0..200 {
        let found = {
            let text = logs().lock().unwrap();
            String::from_utf8_lossy(&text)
                .lines()
                .any(|l| parts.iter().all(|p| l.contains(p)))
        };
        if found {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // What was refused, to explain a failure.
    let text = logs().lock().unwrap();
    for l in String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| l.contains("refused"))
    {
        eprintln!("log: {l}");
    }
    false
}

/// A server with TLS on both client ports.
struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
    ca: Ca,
    ca_file: std::path::PathBuf,
}

async fn start(mtls: bool, adjust: impl FnOnce(&Ca, &Path, &mut TlsFiles)) -> Fixture {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("coord test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let server_cert = ca.server(dir.path(), "server");
    let mut files = TlsFiles {
        cert: server_cert.cert,
        key: server_cert.key,
        client_ca: mtls.then(|| ca_file.clone()),
    };
    adjust(&ca, dir.path(), &mut files);
    let mut cfg = ServerConfig::for_test(&dir.path().join("data"));
    cfg.zk_listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.tls = Some(files);
    let server = Server::start(cfg).await.expect("server starts");
    Fixture {
        server,
        dir,
        ca,
        ca_file,
    }
}

impl Fixture {
    fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    /// A client certificate of this fixture's CA.
    fn client_cert(&self, name: &str) -> CertFiles {
        self.ca.client(self.dir.path(), name, name, "team")
    }

    /// Connects with `tls`, giving up after 2 s.
    async fn connect(&self, tls: TlsOptions) -> coord_client::Result<Client> {
        Client::builder()
            .servers(self.addr())
            .connect_timeout(Duration::from_secs(2))
            .tls(tls)
            .connect()
            .await
    }

    /// A client that presents a certificate of this fixture's CA.
    async fn good_client(&self, name: &str) -> Client {
        let c = self.client_cert(name);
        self.connect(TlsOptions::ca_file(&self.ca_file).client_cert_files(c.cert, c.key))
            .await
            .expect("a client with a good certificate connects")
    }
}

/// `client` still reads and writes.
async fn works(client: &Client, path: &str) {
    client
        .create(path, &b"v"[..], CreateMode::Persistent)
        .await
        .expect("create over TLS");
    let (data, _) = client.get(path).await.expect("get over TLS");
    assert_eq!(&data[..], b"v");
}

fn refused(r: coord_client::Result<Client>) -> String {
    match r {
        Ok(_) => panic!("the connection should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn mtls_client_does_ops_and_its_subject_reaches_the_handshake() {
    let f = start(true, |_, _, _| {}).await;
    let client = f.good_client("alice-subject").await;
    works(&client, "/a").await;
    assert!(
        logged(&["session attached", "CN=alice-subject,O=team"]).await,
        "the session's x509 subject is known where the handshake runs"
    );
    client.close().await.unwrap();
    f.server.shutdown().await.unwrap();
}

/// The TLS and ACL join: the client certificate's subject is the session's
/// `x509` identity, so an ACL naming it admits that client and no other.
#[tokio::test]
async fn the_certificate_subject_is_an_x509_identity_for_acls() {
    let f = start(true, |_, _, _| {}).await;
    let alice = f.good_client("alice-x509").await;
    let bob = f.good_client("bob-x509").await;
    let subject = "CN=alice-x509,O=team";
    let who = alice.whoami().await.unwrap();
    assert!(
        who.iter().any(|i| i.scheme == "x509" && i.id == subject),
        "{who:?}"
    );
    let only_alice = [coord_proto::Acl::new(
        "x509",
        subject,
        coord_proto::acl::perms::ALL,
    )];
    alice
        .create_with_acl(
            "/alice-only",
            &b"s"[..],
            CreateMode::Persistent,
            &only_alice,
        )
        .await
        .unwrap();
    assert_eq!(&alice.get("/alice-only").await.unwrap().0[..], b"s");
    match bob.get("/alice-only").await {
        Err(coord_client::Error::NoAuth(detail)) => {
            assert!(detail.contains("/alice-only"), "{detail}")
        }
        other => panic!("bob read alice's node: {other:?}"),
    }
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn tls_without_client_ca_needs_no_client_certificate() {
    let f = start(false, |_, _, _| {}).await;
    let client = f.connect(TlsOptions::ca_file(&f.ca_file)).await.unwrap();
    works(&client, "/plain-auth").await;
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_client_on_a_tls_port_is_told_the_server_requires_tls() {
    let f = start(true, |_, _, _| {}).await;
    let good = f.good_client("good-plain").await;
    let err = refused(
        Client::builder()
            .servers(f.addr())
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await,
    );
    assert!(err.contains("server requires TLS"), "{err}");
    assert!(logged(&["TLS connection refused", "plain text on a TLS port"]).await);
    works(&good, "/after-plain").await;
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let f = start(true, |_, _, _| {}).await;
    let good = f.good_client("good-foreign").await;
    let other = Ca::new("another CA");
    let c = other.client(f.dir.path(), "mallory", "mallory", "elsewhere");
    let err = refused(
        f.connect(TlsOptions::ca_file(&f.ca_file).client_cert_files(c.cert, c.key))
            .await,
    );
    assert!(err.contains("refused our client certificate"), "{err}");
    assert!(logged(&["TLS connection refused", "UnknownIssuer"]).await);
    works(&good, "/after-foreign").await;
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_without_certificate_is_refused_when_mtls_is_on() {
    let f = start(true, |_, _, _| {}).await;
    let good = f.good_client("good-nocert").await;
    let err = refused(f.connect(TlsOptions::ca_file(&f.ca_file)).await);
    assert!(err.contains("requires a client certificate"), "{err}");
    assert!(logged(&["TLS connection refused", "peer sent no certificates"]).await);
    works(&good, "/after-nocert").await;
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn expired_server_certificate_is_refused() {
    let f = start(false, |ca, dir, files| {
        let expired = ca.leaf(
            dir,
            "expired",
            &["127.0.0.1"],
            Leaf {
                expired: true,
                ..Leaf::default()
            },
        );
        files.cert = expired.cert;
        files.key = expired.key;
    })
    .await;
    let err = refused(f.connect(TlsOptions::ca_file(&f.ca_file)).await);
    assert!(err.contains("server certificate expired"), "{err}");
    assert!(logged(&["TLS connection refused", "CertificateExpired"]).await);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_host_name_is_refused_and_the_ip_is_checked_by_default() {
    let f = start(false, |_, _, _| {}).await;
    // The default name is the address's host, 127.0.0.1: an IP SAN.
    let good = f.connect(TlsOptions::ca_file(&f.ca_file)).await.unwrap();
    let err = refused(
        f.connect(TlsOptions::ca_file(&f.ca_file).server_name("db.example"))
            .await,
    );
    assert!(err.contains("name mismatch"), "{err}");
    assert!(logged(&["TLS connection refused", "BadCertificate"]).await);
    let named = f
        .connect(TlsOptions::ca_file(&f.ca_file).server_name("localhost"))
        .await
        .unwrap();
    works(&named, "/by-name").await;
    works(&good, "/after-name").await;
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unreadable_tls_files_stop_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(&dir.path().join("data"));
    let missing = dir.path().join("missing.pem");
    cfg.tls = Some(TlsFiles {
        cert: missing.clone(),
        key: missing.clone(),
        client_ca: None,
    });
    let err = Server::start(cfg).await.expect_err("no certificate");
    let text = err.to_string();
    assert!(
        text.contains("--tls-cert") && text.contains("missing.pem"),
        "{text}"
    );
}

/// A rustls client configuration trusting `ca` and presenting `client`.
fn rustls_client(ca: &Path, client: &CertFiles) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let certs: Vec<_> = CertificateDer::pem_file_iter(&client.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&client.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// The server chooses AES-128-GCM (cheaper per record than AES-256-GCM) by
/// its own preference, even for a client that offers ring's default order,
/// AES-256-GCM first.
#[tokio::test]
async fn the_server_chooses_aes_128_gcm_whatever_the_client_prefers() {
    let f = start(true, |_, _, _| {}).await;
    let config = rustls_client(&f.ca_file, &f.client_cert("suite"));
    assert_eq!(
        config.crypto_provider().cipher_suites[0].suite(),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
        "this client offers AES-256-GCM first"
    );
    let tcp = tokio::net::TcpStream::connect(f.server.local_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let suite = tls.get_ref().1.negotiated_cipher_suite().unwrap().suite();
    assert_eq!(suite, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn zookeeper_port_speaks_tls() {
    let f = start(true, |_, _, _| {}).await;
    let zk_addr = f.server.zk_addr().unwrap();
    let config = rustls_client(&f.ca_file, &f.client_cert("zk-alice"));
    let tcp = tokio::net::TcpStream::connect(zk_addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("TLS handshake on the ZooKeeper port");
    let (rd, wr) = tokio::io::split(tls);
    let mut zk = zkwire::connect_over(Box::new(rd), Box::new(wr), 0, &[0; 16], 10_000, 0)
        .await
        .expect("ZooKeeper session over TLS");
    assert_eq!(zk.create("/zk-tls", b"z", 0).await.err, 0);
    let reply = zk
        .call(zkwire::op::GET_DATA, |e| {
            e.str("/zk-tls").boolean(false);
        })
        .await;
    assert_eq!(reply.err, 0);
    assert!(logged(&["ZooKeeper session attached", "CN=zk-alice,O=team"]).await);
    // The native port sees the same tree, over TLS too.
    let native = f.good_client("zk-native").await;
    let (data, _) = native.get("/zk-tls").await.unwrap();
    assert_eq!(&data[..], b"z");

    // Plain text on the ZooKeeper TLS port: closed, logged, nothing else hurt.
    let plain = zkwire::connect_with(zk_addr, 0, &[0; 16], 10_000, 0).await;
    assert!(plain.is_err(), "a plain ZooKeeper client gets no session");
    assert!(logged(&["TLS connection refused on the ZooKeeper port", "plain text"]).await);
    assert_eq!(zk.create("/zk-tls-after", b"", 0).await.err, 0);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reload_serves_new_certificates_to_new_connections_and_keeps_sessions() {
    let f = start(true, |_, _, _| {}).await;
    let old = f.good_client("before-reload").await;
    let session = old.session_id();
    works(&old, "/before").await;

    // New server certificate, from a new CA, written over the same files.
    let new_ca = Ca::new("coord rotated CA");
    let rotated = new_ca.server(f.dir.path(), "rotated");
    let files = TlsFiles {
        cert: f.dir.path().join("server.pem"),
        key: f.dir.path().join("server-key.pem"),
        client_ca: Some(f.ca_file.clone()),
    };
    std::fs::copy(&rotated.cert, &files.cert).unwrap();
    std::fs::copy(&rotated.key, &files.key).unwrap();
    f.server.reload_tls().expect("reload");

    let new_ca_file = new_ca.write(f.dir.path(), "new-ca.pem");
    let c = f.client_cert("after-reload");
    let fresh = f
        .connect(TlsOptions::ca_file(&new_ca_file).client_cert_files(&c.cert, &c.key))
        .await
        .expect("the new certificate is served to new connections");
    works(&fresh, "/after").await;
    let err = refused(
        f.connect(TlsOptions::ca_file(&f.ca_file).client_cert_files(&c.cert, &c.key))
            .await,
    );
    assert!(err.contains("unknown issuer"), "{err}");
    // The connection accepted before the reload carries on, same session.
    works(&old, "/before-still").await;
    assert_eq!(old.session_id(), session);

    // A broken key file: the reload fails naming it, the certificates in
    // use stay.
    std::fs::write(&files.key, "not a key").unwrap();
    let err = f.server.reload_tls().expect_err("a broken key is refused");
    assert!(err.to_string().contains("--tls-key"), "{err}");
    let again = f
        .connect(TlsOptions::ca_file(&new_ca_file).client_cert_files(&c.cert, &c.key))
        .await
        .expect("the last good certificates are still served");
    works(&again, "/after-failed-reload").await;
    works(&old, "/before-still-2").await;
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn cluster_members_replicate_over_mutual_tls() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("coord peers CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let cert = ca.server(dir.path(), "member");
    let files = TlsFiles {
        cert: cert.cert,
        key: cert.key,
        client_ca: Some(ca_file.clone()),
    };
    let peer_ports = Arc::new(Mutex::new(Vec::new()));
    let seen = peer_ports.clone();
    let cluster = coord_server::testing::TestCluster::start_with(3, move |cfg| {
        cfg.tls = Some(files.clone());
        if let Some(founders) = &cfg.cluster {
            *seen.lock().unwrap() = founders.values().copied().collect();
        }
    })
    .await
    .expect("a TLS cluster starts");
    let leader = cluster
        .wait_for_leader(Duration::from_secs(20))
        .await
        .expect("a leader is elected over TLS peer connections");
    let follower = cluster.other_than(leader);
    let c = TlsOptions::ca_file(&ca_file);
    let client_cert = ca.client(dir.path(), "cluster-client", "cluster-client", "team");
    let tls = c.client_cert_files(&client_cert.cert, &client_cert.key);
    let connect = |addr: String| {
        let tls = tls.clone();
        async move {
            Client::builder()
                .servers(addr)
                .tls(tls)
                .connect()
                .await
                .expect("a TLS client of a member")
        }
    };
    // A write through a follower travels the forward stream to the leader
    // and comes back through raft's append: both over peer TLS.
    let writer = connect(cluster.addr(follower)).await;
    works(&writer, "/through-follower").await;
    for id in cluster.members() {
        let reader = connect(cluster.addr(id)).await;
        let mut found = false;
        for _ in 0..200 {
            if reader.exists("/through-follower").await.unwrap().is_some() {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(found, "member {id} applied the write");
    }

    // Plain text to a peer port: refused in the TLS handshake, logged, and
    // the cluster goes on.
    let ports = peer_ports.lock().unwrap().clone();
    assert_eq!(ports.len(), 3);
    let mut plain = tokio::net::TcpStream::connect(ports[0]).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"\x00\x00\x00\x05hello")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut plain, &mut buf),
    )
    .await
    .expect("the peer port answers or closes");
    assert!(
        matches!(n, Ok(0) | Err(_)) || buf[0] == 0x15,
        "no peer handshake answer in plain text"
    );
    assert!(logged(&["peer connection closed", "TLS handshake failed"]).await);
    works(&writer, "/after-plain-peer").await;
    cluster.stop().await.unwrap();
}

/// A TLS handshake with a member's peer port, as a peer presenting
/// `client` and trusting `ca` would make it.
async fn peer_handshake(
    addr: std::net::SocketAddr,
    ca: &Path,
    client: &CertFiles,
) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let certs = CertificateDer::pem_file_iter(&client.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&client.key).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(certs, key)
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("handshake timed out".into()),
    }
}

#[tokio::test]
async fn reload_serves_new_peer_certificates_to_new_peer_connections() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("coord peer CA");
    let old_ca_file = old_ca.write(dir.path(), "old-peer-ca.pem");
    let first = old_ca.server(dir.path(), "peer-first");
    let files = TlsFiles {
        cert: dir.path().join("peer.pem"),
        key: dir.path().join("peer-key.pem"),
        client_ca: Some(dir.path().join("peer-ca.pem")),
    };
    std::fs::copy(&first.cert, &files.cert).unwrap();
    std::fs::copy(&first.key, &files.key).unwrap();
    std::fs::copy(&old_ca_file, files.client_ca.as_ref().unwrap()).unwrap();
    // A cluster of one with TLS on its peer port.
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_addr = socket.local_addr().unwrap();
    let mut cfg = ServerConfig::for_test(&dir.path().join("data"));
    cfg.peer_socket = Some(Arc::new(socket));
    cfg.peer_tls = Some(files.clone());
    cfg.cluster = Some([(cfg.node_id, peer_addr)].into());
    let server = Server::start(cfg).await.expect("member starts");

    let old_peer = old_ca.client(dir.path(), "old-peer", "member-2", "peers");
    peer_handshake(peer_addr, &old_ca_file, &old_peer)
        .await
        .expect("a peer of the CA in use is answered");
    let new_ca = Ca::new("coord rotated peer CA");
    let new_ca_file = new_ca.write(dir.path(), "new-peer-ca.pem");
    let new_peer = new_ca.client(dir.path(), "new-peer", "member-2", "peers");
    let err = peer_handshake(peer_addr, &new_ca_file, &new_peer)
        .await
        .expect_err("the member still presents the old CA's certificate");
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );

    // The peer files rotated in place, then re-read (as on SIGHUP).
    let rotated = new_ca.server(dir.path(), "peer-rotated");
    std::fs::copy(&rotated.cert, &files.cert).unwrap();
    std::fs::copy(&rotated.key, &files.key).unwrap();
    std::fs::copy(&new_ca_file, files.client_ca.as_ref().unwrap()).unwrap();
    server.reload_tls().expect("reload");
    peer_handshake(peer_addr, &new_ca_file, &new_peer)
        .await
        .expect("new peer connections get the rotated certificate");
    let err = peer_handshake(peer_addr, &old_ca_file, &old_peer)
        .await
        .expect_err("the old certificate is no longer presented");
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
    // The member still serves its clients.
    let client = coord_client::Client::builder()
        .servers(server.local_addr().to_string())
        .connect()
        .await
        .expect("client connects");
    works(&client, "/after-peer-reload").await;
    server.shutdown().await.unwrap();
}
