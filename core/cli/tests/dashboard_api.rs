//! The dashboard's JSON API on the real `coord serve --http-listen`: each
//! `/api/*` endpoint answers what the test created; a node the caller's
//! identity (a bearer token from the tokens file) may not READ shows no data
//! and no children; `POST /api/locks/break` is refused without
//! `--http-admin` and without DELETE and ADMIN on the lock's directory, and with them
//! it deletes the holder's node so the waiter takes the lock with a higher
//! token; with `--auth-required` the page and the API want a token while
//! `/metrics` and `/health` stay open; listings and lock walks stop at their
//! named limits and say so.

mod support;

use std::time::Duration;

use coord_client::client::Client;
use coord_client::recipes::Lock;
use coord_proto::{Acl, CreateMode};
use serde_json::Value;
use support::{Served, http, http_addr};

const TOKENS: &str = "alice tok-alice\nbob tok-bob\n";

/// A JSON answer with the expected status.
fn api(addr: &str, method: &str, path: &str, token: Option<&str>, want: u16) -> Value {
    let (status, body) = http(addr, method, path, token);
    assert_eq!(status, want, "{method} {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

async fn client_with(addr: &str, token: &str) -> Client {
    Client::builder()
        .servers(addr.to_string())
        .token(token)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

fn start(dir: &std::path::Path, extra: &[&str]) -> Served {
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, TOKENS).unwrap();
    let mut args = vec![
        "--http-listen",
        "127.0.0.1:0",
        "--tokens-file",
        tokens.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let server = Served::start(&dir.join("data"), &args);
    assert!(server.is_serving(), "{}", server.log_text());
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_shows_the_tree_sessions_cluster_and_stats_under_acls() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let http_at = http_addr(&server);
    let alice = client_with(server.addr(), "tok-alice").await;
    alice
        .create("/cfg", &b"{\"a\":1}"[..], CreateMode::Persistent)
        .await
        .unwrap();
    alice
        .create("/secret", &b"hidden"[..], CreateMode::Persistent)
        .await
        .unwrap();
    alice
        .create("/secret/inner", &b""[..], CreateMode::Persistent)
        .await
        .unwrap();
    alice
        .set_acl("/secret", &[Acl::new("token", "alice", 31)], None)
        .await
        .unwrap();

    let root = api(&http_at, "GET", "/api/node?path=/", None, 200);
    let names: Vec<&str> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"cfg") && names.contains(&"secret"),
        "{root}"
    );

    let cfg = api(&http_at, "GET", "/api/node?path=/cfg", None, 200);
    assert_eq!(cfg["access"], true, "{cfg}");
    assert_eq!(cfg["data_base64"], "eyJhIjoxfQ==", "{cfg}");
    assert_eq!(cfg["data_json"], true, "{cfg}");
    assert_eq!(cfg["stat"]["data_length"], 7, "{cfg}");

    // Anyone (and bob): no data, no children, the ACL only.
    for token in [None, Some("tok-bob")] {
        let secret = api(&http_at, "GET", "/api/node?path=/secret", token, 200);
        assert_eq!(secret["access"], false, "{secret}");
        assert!(secret.get("data_base64").is_none(), "{secret}");
        assert!(secret.get("children").is_none(), "{secret}");
        assert_eq!(secret["acl"][0]["id"], "alice", "{secret}");
    }
    let secret = api(
        &http_at,
        "GET",
        "/api/node?path=/secret",
        Some("tok-alice"),
        200,
    );
    assert_eq!(secret["access"], true, "{secret}");
    assert_eq!(secret["data_base64"], "aGlkZGVu", "{secret}");
    assert_eq!(secret["children"][0], "inner", "{secret}");

    // A refused token, a bad path, a missing node: clear errors.
    let e = api(&http_at, "GET", "/api/node?path=/cfg", Some("nope"), 401);
    assert!(e["error"].as_str().unwrap().contains("token"), "{e}");
    let e = api(&http_at, "GET", "/api/node?path=cfg", None, 400);
    assert!(e["error"].as_str().unwrap().contains("cfg"), "{e}");
    let e = api(&http_at, "GET", "/api/node?path=/nope", None, 404);
    assert!(e["error"].as_str().unwrap().contains("/nope"), "{e}");

    alice
        .create("/cfg/eph", &b""[..], CreateMode::Ephemeral)
        .await
        .unwrap();
    let sessions = api(&http_at, "GET", "/api/sessions", None, 200);
    let ours = format!("{:#x}", alice.session_id());
    let me = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == ours.as_str())
        .unwrap_or_else(|| panic!("{ours} not in {sessions}"));
    assert!(
        me["client_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{me}"
    );
    assert!(
        me["identities"].to_string().contains("\"token:alice\""),
        "{me}"
    );
    assert_eq!(me["ephemerals"], 1, "{me}");
    assert_eq!(me["timeout_ms"], 10_000, "{me}");
    assert!(!sessions.to_string().contains("tok-alice"));

    let cluster = api(&http_at, "GET", "/api/cluster", None, 200);
    assert_eq!(cluster["leader"], 1, "{cluster}");
    assert_eq!(cluster["members"][0]["role"], "voter", "{cluster}");
    assert!(cluster["applied_index"].as_u64().unwrap() > 0, "{cluster}");
    assert!(
        cluster["commit_index"].as_u64().unwrap() >= cluster["applied_index"].as_u64().unwrap(),
        "{cluster}"
    );

    let stats = api(&http_at, "GET", "/api/stats", None, 200);
    let create = stats["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "create")
        .unwrap();
    assert!(create["count"].as_u64().unwrap() >= 3, "{stats}");
    assert!(create["sum_seconds"].as_f64().unwrap() > 0.0, "{stats}");

    let (status, page) = http(&http_at, "GET", "/", None);
    assert_eq!(status, 200);
    assert!(page.contains("coord dashboard"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaking_a_lock_needs_http_admin_delete_and_admin_then_the_waiter_holds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--http-admin"]);
    let http_at = http_addr(&server);
    let alice = client_with(server.addr(), "tok-alice").await;
    alice
        .create("/locks", &b""[..], CreateMode::Persistent)
        .await
        .unwrap();
    alice
        .create("/locks/job", &b""[..], CreateMode::Persistent)
        .await
        .unwrap();
    // alice may do anything there; bob may look and delete, but has no
    // ADMIN, which breaking another session's lock needs too.
    alice
        .set_acl(
            "/locks/job",
            &[
                Acl::new("token", "alice", 31),
                Acl::new("token", "bob", 1 | 8),
            ],
            None,
        )
        .await
        .unwrap();
    let holder_client = client_with(server.addr(), "tok-alice").await;
    let holder = Lock::new(&holder_client, "/locks/job");
    let first_token = tokio::time::timeout(Duration::from_secs(10), holder.acquire())
        .await
        .expect("holder in time")
        .unwrap();
    let waiter_client = client_with(server.addr(), "tok-alice").await;
    let waiter_session = format!("{:#x}", waiter_client.session_id());
    let waiting = tokio::spawn(async move {
        let lock = Lock::new(&waiter_client, "/locks/job");
        let token = lock.acquire().await;
        (token, lock, waiter_client)
    });

    // The line as the page sees it: the holder, then the waiter.
    let mut line = Value::Null;
    for _ in 0..100 {
        line = api(
            &http_at,
            "GET",
            "/api/locks?path=/locks",
            Some("tok-bob"),
            200,
        );
        if line["locks"][0]["waiters"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = &line["locks"][0];
    assert_eq!(job["path"], "/locks/job", "{line}");
    assert_eq!(job["holders"][0]["token"], first_token, "{line}");
    assert_eq!(
        job["holders"][0]["session"],
        format!("{:#x}", holder_client.session_id()),
        "{line}"
    );
    assert_eq!(job["waiters"][0]["session"], waiter_session, "{line}");
    assert!(job["waiters"][0]["for_ms"].as_i64().unwrap() >= 0, "{line}");
    assert_eq!(line["admin"], true, "{line}");
    // The same line read as an election (kazoo's names are shared).
    let el = api(
        &http_at,
        "GET",
        "/api/elections?path=/locks/job",
        Some("tok-bob"),
        200,
    );
    assert_eq!(
        el["elections"][0]["holders"][0]["token"], first_token,
        "{el}"
    );
    // Who may not read the directory sees no line there.
    let hidden = api(&http_at, "GET", "/api/locks?path=/locks", None, 200);
    assert_eq!(hidden["locks"], serde_json::json!([]), "{hidden}");
    // A walk bounded by its limit says so.
    assert_eq!(line["cut"], false, "{line}");

    // bob may delete but is no ADMIN: refused, naming the permission.
    let e = api(
        &http_at,
        "POST",
        "/api/locks/break?path=/locks/job",
        Some("tok-bob"),
        403,
    );
    let why = e["error"].as_str().unwrap();
    assert!(
        why.contains("needs DELETE and ADMIN on /locks/job;")
            && why.contains("token:bob")
            && why.ends_with(" lacks ADMIN"),
        "{e}"
    );
    assert!(holder.is_held(), "a refused break must leave the holder");
    let e = api(
        &http_at,
        "POST",
        "/api/locks/break?path=/locks/none",
        Some("tok-alice"),
        404,
    );
    assert!(e["error"].as_str().unwrap().contains("/locks/none"), "{e}");

    let mut lost = holder.lost_signal().expect("a held lock has a lost signal");
    let broke = api(
        &http_at,
        "POST",
        "/api/locks/break?path=/locks/job",
        Some("tok-alice"),
        200,
    );
    assert_eq!(broke["broke"][0]["token"], first_token, "{broke}");
    let (token, lock, _client) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiter takes over in time")
        .unwrap();
    let token = token.expect("the waiter acquires");
    assert!(token > first_token, "{token} after {first_token}");
    assert!(lock.is_held());
    tokio::time::timeout(Duration::from_secs(10), lost.wait_for(|l| *l))
        .await
        .expect("the holder's lost signal fires in time")
        .unwrap();
    let after = api(
        &http_at,
        "GET",
        "/api/locks?path=/locks/job",
        Some("tok-bob"),
        200,
    );
    assert_eq!(after["locks"][0]["holders"][0]["token"], token, "{after}");
    assert_eq!(
        after["locks"][0]["waiters"],
        serde_json::json!([]),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_http_admin_break_is_refused_and_auth_required_guards_the_api_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            "--auth-required",
            "--http-max-children",
            "2",
            "--http-max-walk-nodes",
            "3",
        ],
    );
    let http_at = http_addr(&server);
    let alice = client_with(server.addr(), "tok-alice").await;
    alice
        .create("/l", &b""[..], CreateMode::Persistent)
        .await
        .unwrap();
    let lock = Lock::new(&alice, "/l");
    lock.acquire().await.unwrap();
    for p in ["/w", "/w/a", "/w/b", "/w/c"] {
        alice
            .create(p, &b""[..], CreateMode::Persistent)
            .await
            .unwrap();
    }
    // Both bounds are named settings, and the answers say they were hit.
    let w = api(&http_at, "GET", "/api/node?path=/w", Some("tok-bob"), 200);
    assert_eq!(w["children"], serde_json::json!(["a", "b"]), "{w}");
    assert_eq!(
        (w["children_cut"].clone(), w["children_total"].clone()),
        (true.into(), 3.into()),
        "{w}"
    );
    let cut = api(&http_at, "GET", "/api/locks?path=/w", Some("tok-bob"), 200);
    assert_eq!(
        (cut["cut"].clone(), cut["walk_limit"].clone()),
        (true.into(), 3.into()),
        "{cut}"
    );
    let l = api(&http_at, "GET", "/api/locks?path=/l", Some("tok-bob"), 200);
    assert_eq!(l["cut"], false, "{l}");
    assert_eq!(l["locks"][0]["holders"].as_array().unwrap().len(), 1, "{l}");

    let e = api(
        &http_at,
        "POST",
        "/api/locks/break?path=/l",
        Some("tok-alice"),
        403,
    );
    assert!(e["error"].as_str().unwrap().contains("--http-admin"), "{e}");
    assert!(lock.is_held());

    for path in ["/api/info", "/api/node?path=/", "/api/locks", "/"] {
        let (status, body) = http(&http_at, "GET", path, None);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("--auth-required"), "{path}: {body}");
    }
    let info = api(&http_at, "GET", "/api/info", Some("tok-bob"), 200);
    assert!(
        info["identities"].to_string().contains("token:bob"),
        "{info}"
    );
    assert_eq!(info["admin"], false, "{info}");
    let (status, _) = http(&http_at, "GET", "/?token=tok-bob", None);
    assert_eq!(status, 200, "the page takes its token from the address");
    for open in ["/metrics", "/health"] {
        let (status, body) = http(&http_at, "GET", open, None);
        assert_eq!(status, 200, "{open} stays open: {body}");
    }
}

/// A three-member cluster, each member with its HTTP port: the leader's
/// `/api/cluster` shows every member with its lag and the commit index, and
/// a break sent to a follower's HTTP port goes through the log (forwarded
/// to the leader) so the waiter takes the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_through_a_follower_is_replicated_and_the_leader_shows_every_member() {
    let dir = tempfile::tempdir().unwrap();
    let ports = support::free_ports(3);
    let cluster = format!(
        "1=127.0.0.1:{},2=127.0.0.1:{},3=127.0.0.1:{}",
        ports[0], ports[1], ports[2]
    );
    let members: Vec<Served> = (1..=3u64)
        .map(|id| {
            let (id_s, peer) = (
                id.to_string(),
                format!("127.0.0.1:{}", ports[id as usize - 1]),
            );
            let server = Served::start(
                &dir.path().join(format!("m{id}")),
                &[
                    "--id",
                    &id_s,
                    "--peer-listen",
                    &peer,
                    "--cluster",
                    &cluster,
                    "--heartbeat-ms",
                    "50",
                    "--election-timeout-ms",
                    "300",
                    "--http-listen",
                    "127.0.0.1:0",
                    "--http-admin",
                ],
            );
            assert!(server.is_serving(), "{}", server.log_text());
            server
        })
        .collect();
    let https: Vec<String> = members.iter().map(http_addr).collect();

    // The leader, as member 1 sees it, then its own view of the cluster.
    let mut leader = 0;
    for _ in 0..300 {
        let c = api(&https[0], "GET", "/api/cluster", None, 200);
        if let Some(l) = c["leader"].as_u64() {
            leader = l;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(leader != 0, "no leader within 30 s");
    let lead_http = &https[leader as usize - 1];
    let mut view = Value::Null;
    for _ in 0..100 {
        view = api(lead_http, "GET", "/api/cluster", None, 200);
        let known = view["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["lag"].is_u64());
        if known && view["commit_index"].as_u64().is_some_and(|c| c > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view["members"].as_array().unwrap().len(), 3, "{view}");
    assert_eq!(view["this_member"], leader, "{view}");
    assert!(view["commit_index"].as_u64().unwrap() > 0, "{view}");

    let servers: Vec<&str> = members.iter().map(|m| m.addr()).collect();
    let servers = servers.join(",");
    let holder_client = support::client(&servers).await;
    // A young cluster on a busy machine may still change leaders: a write
    // caught in it reports ConnectionLoss ("may or may not have been
    // applied"), and is tried again (bounded).
    for attempt in 1..=10 {
        match holder_client
            .create("/locks", &b""[..], CreateMode::Persistent)
            .await
        {
            Ok(_) | Err(coord_proto::Error::NodeExists(_)) => break,
            Err(coord_proto::Error::ConnectionLoss(e)) if attempt < 10 => {
                eprintln!("create /locks: {e}; again");
            }
            Err(e) => panic!("create /locks: {e}"),
        }
    }
    let holder = Lock::new(&holder_client, "/locks/c");
    let mut first = 0;
    for attempt in 1..=10 {
        match tokio::time::timeout(Duration::from_secs(10), holder.acquire())
            .await
            .expect("holder in time")
        {
            Ok(token) => {
                first = token;
                break;
            }
            Err(coord_proto::Error::ConnectionLoss(e)) if attempt < 10 => {
                eprintln!("acquire /locks/c: {e}; again");
            }
            Err(e) => panic!("acquire /locks/c: {e}"),
        }
    }
    let waiter_client = support::client(&servers).await;
    let waiting = tokio::spawn(async move {
        let lock = Lock::new(&waiter_client, "/locks/c");
        let token = lock.acquire().await;
        (token, lock, waiter_client)
    });
    let follower = (1..=3u64).find(|id| *id != leader).unwrap();
    let follower_http = &https[follower as usize - 1];
    for _ in 0..100 {
        let l = api(follower_http, "GET", "/api/locks?path=/locks/c", None, 200);
        if l["locks"][0]["waiters"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every member names where the holder and the waiter connect from,
    // those whose connections it does not carry too (from the replicated
    // session table; the two sessions sit on one or two members of three).
    for at in &https {
        let mut l = Value::Null;
        for _ in 0..100 {
            // 404 until this member has applied /locks.
            let (status, body) = http(at, "GET", "/api/locks?path=/locks", None);
            if status == 200 {
                l = serde_json::from_str(&body).unwrap();
            }
            if l["locks"][0]["waiters"]
                .as_array()
                .is_some_and(|w| w.len() == 1)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let one = &l["locks"][0];
        for c in [&one["holders"][0], &one["waiters"][0]] {
            assert!(
                c["client_addr"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("127.0.0.1")),
                "{at}: {l}"
            );
        }
        let sessions = api(at, "GET", "/api/sessions", None, 200);
        for s in sessions["sessions"].as_array().unwrap() {
            assert!(s["client_addr"].is_string(), "{at}: {sessions}");
        }
    }
    let broke = api(
        follower_http,
        "POST",
        "/api/locks/break?path=/locks/c",
        None,
        200,
    );
    assert_eq!(broke["broke"][0]["token"], first, "{broke}");
    let (token, lock, _client) = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the waiter takes over in time")
        .unwrap();
    assert!(token.expect("the waiter acquires") > first);
    assert!(lock.is_held());
}
