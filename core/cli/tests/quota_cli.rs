//! `coord quota set|get|clear` against a real `coord serve`: the verbs set,
//! print and remove a quota, and a `coord create` past it fails with the
//! QuotaExceeded message and its own exit code.

mod support;
use support::Served;

/// Runs a CLI verb (bounded by a timeout); returns (exit code, stdout, stderr).
async fn coord(addr: &str, args: &[&str]) -> (Option<i32>, String, String) {
    support::run_coord(&[&["--servers", addr], args].concat()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_verbs_set_print_and_clear_and_a_create_past_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path(), &[]);
    let addr = server.addr();
    let ok = |r: (Option<i32>, String, String)| {
        assert_eq!(r.0, Some(0), "stderr: {}", r.2);
        r.1
    };
    ok(coord(addr, &["create", "/app", "abc"]).await);
    ok(coord(addr, &["quota", "set", "/app", "--nodes", "2"]).await);
    let got = ok(coord(addr, &["quota", "get", "/app"]).await);
    assert_eq!(got, "max_nodes 2\nmax_bytes none\nnodes 1\nbytes 3\n");
    ok(coord(addr, &["create", "/app/a"]).await);

    let (code, _, stderr) = coord(addr, &["create", "/app/b"]).await;
    assert_eq!(code, Some(18), "{stderr}");
    assert!(
        stderr.contains("quota exceeded") && stderr.contains("quota on /app allows max_nodes = 2"),
        "{stderr}"
    );

    let (code, _, stderr) = coord(addr, &["quota", "set", "/app"]).await;
    assert_eq!(code, Some(17), "no limit given: {stderr}");
    ok(coord(addr, &["quota", "clear", "/app"]).await);
    ok(coord(addr, &["create", "/app/b"]).await);
    let (code, _, stderr) = coord(addr, &["quota", "get", "/app"]).await;
    assert_eq!(code, Some(10), "no quota left: {stderr}");
}
