//! TLS through the `coord` binary: `coord serve --tls-cert --tls-key
//! --tls-client-ca` and client verbs with `--tls-ca --tls-cert --tls-key`
//! (and their `COORD_TLS_*` twins), a refused verb's message, and SIGHUP:
//! the server re-reads its certificate, new connections get the new one, and
//! a connection opened before (a `coord watch` waiting) stays up.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use support::{COORD, Served};

/// A CA: its PEM file and its issuer.
struct Ca {
    file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(dir: &Path, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let file = dir.join(format!("{name}.pem"));
    std::fs::write(&file, cert.pem()).unwrap();
    Ca {
        file,
        issuer: Issuer::new(params, key),
    }
}

/// A leaf of `ca` for 127.0.0.1 with subject CN=`name`: (cert, key) files.
fn leaf(dir: &Path, ca: &Ca, name: &str) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn coord(addr: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(COORD);
    cmd.env("COORD_SERVERS", addr)
        .env_remove("COORD_TLS_CA")
        .env_remove("COORD_TLS_CERT")
        .env_remove("COORD_TLS_KEY")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run coord")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Polls the server log (bounded) for `what`.
fn wait_log(served: &Served, what: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if served.log_text().contains(what) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn verbs_speak_mtls_and_sighup_rotates_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca1 = ca(d, "ca1");
    let (server_cert, server_key) = leaf(d, &ca1, "server");
    let (alice, alice_key) = leaf(d, &ca1, "alice");
    let served = Served::start(
        &d.join("data"),
        &[
            "--tls-cert",
            server_cert.to_str().unwrap(),
            "--tls-key",
            server_key.to_str().unwrap(),
            "--tls-client-ca",
            ca1.file.to_str().unwrap(),
        ],
    );
    let addr = served.addr().to_string();
    let flags = |ca: &Path| {
        vec![
            "--tls-ca".to_string(),
            ca.to_str().unwrap().to_string(),
            "--tls-cert".to_string(),
            alice.to_str().unwrap().to_string(),
            "--tls-key".to_string(),
            alice_key.to_str().unwrap().to_string(),
        ]
    };
    let with = |ca: &Path, verb: &[&str]| {
        let mut args = flags(ca);
        args.extend(verb.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        coord(&addr, &args, &[])
    };

    let o = with(&ca1.file, &["create", "/cfg", "v1"]);
    assert!(o.status.success(), "{}", text(&o));
    // The environment twins do the same.
    let o = coord(
        &addr,
        &["get", "/cfg"],
        &[
            ("COORD_TLS_CA", &ca1.file),
            ("COORD_TLS_CERT", &alice),
            ("COORD_TLS_KEY", &alice_key),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "v1");
    // Without TLS flags: refused, saying why.
    let o = coord(&addr, &["--session-timeout-ms", "1000", "get", "/cfg"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("server requires TLS"), "{}", text(&o));
    // Without a client certificate: refused, saying why.
    let o = coord(
        &addr,
        &["--tls-ca", ca1.file.to_str().unwrap(), "get", "/cfg"],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("requires a client certificate"),
        "{}",
        text(&o)
    );

    // A connection opened before the rotation: a watch waiting for a change.
    let mut args = flags(&ca1.file);
    args.extend(["watch", "/cfg", "--count", "2"].map(String::from));
    let mut watcher = Command::new(COORD)
        .env("COORD_SERVERS", &addr)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // Changes until the watcher reports one: its watch is set.
    let mut first = None;
    for i in 0..100 {
        let o = with(&ca1.file, &["set", "/cfg", &format!("v1.{i}")]);
        assert!(o.status.success(), "{}", text(&o));
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            first = Some(line);
            break;
        }
    }
    assert!(
        first.is_some_and(|l| l.contains("/cfg")),
        "the watcher never saw a change"
    );

    // Rotate: a server certificate of a new CA over the same files, SIGHUP.
    let ca2 = ca(d, "ca2");
    let (new_cert, new_key) = leaf(d, &ca2, "server2");
    std::fs::copy(&new_cert, &server_cert).unwrap();
    std::fs::copy(&new_key, &server_key).unwrap();
    let pid = rustix::process::Pid::from_raw(served.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    assert!(
        wait_log(&served, "SIGHUP: TLS certificates re-read"),
        "{}",
        served.log_text()
    );
    let o = with(&ca1.file, &["get", "/cfg"]);
    assert!(
        !o.status.success(),
        "the old certificate is no longer served"
    );
    assert!(text(&o).contains("unknown issuer"), "{}", text(&o));
    let o = with(&ca2.file, &["set", "/cfg", "v2"]);
    assert!(o.status.success(), "{}", text(&o));

    // The watcher's connection survived the rotation and saw the change.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = watcher.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = watcher.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.map(|s| s.success()), Some(true), "the watcher ended");
    let second = lines.recv_timeout(Duration::from_secs(5));
    assert!(
        second.is_ok_and(|l| l.contains("/cfg")),
        "the watcher saw the change after SIGHUP"
    );

    // A broken key: SIGHUP keeps the certificate in use and says why.
    std::fs::write(&server_key, "not a key").unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    assert!(
        wait_log(&served, "TLS re-read failed"),
        "{}",
        served.log_text()
    );
    let o = with(&ca2.file, &["get", "/cfg"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "v2");
}
