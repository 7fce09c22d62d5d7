//! The ACL verbs and credentials of the real `coord` binary against a real
//! `coord serve` started with `--tokens-file` and `--superuser`: `create
//! --acl`, `acl get`, `acl set --version`, `whoami`, `--token` and
//! `--digest`, NoAuth's exit code and message, and the super user.

mod support;
use coord_proto::acl::digest_id;
use support::Served;

/// Runs a CLI verb against `addr` (bounded by a timeout); returns (exit
/// code, stdout, stderr).
async fn coord(addr: &str, args: &[&str]) -> (Option<i32>, String, String) {
    support::run_coord(&[&["--servers", addr], args].concat()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_verbs_and_credentials_protect_a_node_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "# users\nalice tok-alice\nadmin tok-admin\n").unwrap();
    let data = dir.path().join("data");
    let server = Served::start(
        &data,
        &[
            "--tokens-file",
            tokens.to_str().unwrap(),
            "--superuser",
            "token:admin",
        ],
    );
    let addr = server.addr().to_string();
    let bob = digest_id("bob", "pw");

    let (code, out, err) = coord(&addr, &["--token", "tok-alice", "whoami"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.lines().any(|l| l == "token:alice"), "{out}");
    assert!(!err.contains("tok-alice") && !out.contains("tok-alice"));

    let bob_acl = format!("digest:{bob}:r");
    let (code, _, err) = coord(
        &addr,
        &[
            "--token",
            "tok-alice",
            "create",
            "/cfg",
            "v1",
            "--acl",
            "token:alice:cdrwa",
            &bob_acl,
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");

    let (code, out, _) = coord(&addr, &["acl", "get", "/cfg"]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("token:alice:cdrwa"), "{out}");
    assert!(out.contains(&format!("digest:{bob}:r")), "{out}");
    assert!(out.contains("aversion 0"), "{out}");

    // Anyone else: NoAuth, exit code 18, naming the path and the permission.
    let (code, _, err) = coord(&addr, &["get", "/cfg"]).await;
    assert_eq!(code, Some(19), "{err}");
    assert!(err.contains("/cfg") && err.contains("READ"), "{err}");
    let (code, out, err) = coord(&addr, &["--digest", "bob:pw", "get", "/cfg"]).await;
    assert_eq!((code, out.trim()), (Some(0), "v1"), "{err}");
    let (code, _, err) = coord(&addr, &["--digest", "bob:pw", "set", "/cfg", "v2"]).await;
    assert_eq!(code, Some(19), "bob may only read: {err}");

    // acl set checks the version.
    let (code, _, err) = coord(
        &addr,
        &[
            "--token",
            "tok-alice",
            "acl",
            "set",
            "/cfg",
            "world:anyone:r",
            "--version",
            "5",
        ],
    )
    .await;
    assert_eq!(code, Some(12), "BadVersion's exit code: {err}");
    let (code, out, err) = coord(
        &addr,
        &[
            "--token",
            "tok-alice",
            "acl",
            "set",
            "/cfg",
            "token:alice:cdrwa",
            "--version",
            "0",
        ],
    )
    .await;
    assert_eq!((code, out.trim()), (Some(0), "aversion 1"), "{err}");

    // The super user reads and writes whatever the ACL says.
    let (code, _, err) = coord(&addr, &["--token", "tok-admin", "set", "/cfg", "root"]).await;
    assert_eq!(code, Some(0), "{err}");
    // A refused token: AuthFailed, exit code 23, token not echoed.
    let (code, _, err) = coord(&addr, &["--token", "nope-secret", "whoami"]).await;
    assert_eq!(code, Some(23), "{err}");
    assert!(!err.contains("nope-secret"), "{err}");
    drop(server);
}
