//! Identities and per-node ACLs through the native client against a real
//! in-process server: every operation needs exactly its permission (the
//! matrix), a multi with one forbidden op applies nothing, setACL needs ADMIN
//! and the right aversion, the super user bypasses ACLs, tokens and
//! `--auth-required` at connect, and ACLs with the sessions' identities
//! survive a restart from the log and from a snapshot.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use coord_client::Error;
use coord_client::client::{Client, CreateMode, Op, OpResult};
use coord_proto::acl::{digest_id, perms};
use coord_proto::{Acl, Identity};
use coord_server::server::{Server, ServerConfig, Tokens};
use support::eventually;

const SESSION: Duration = Duration::from_secs(5);

async fn start(cfg: ServerConfig) -> (Server, String) {
    let server = Server::start(cfg).await.expect("server starts");
    let addr = server.local_addr().to_string();
    (server, addr)
}

/// A client authenticated as digest user `user` (password `pw-<user>`).
async fn digest_client(addr: &str, user: &str) -> Client {
    let c = support::client_to(addr, SESSION).await;
    c.add_auth("digest", format!("{user}:pw-{user}").as_bytes())
        .await
        .expect("digest auth");
    c
}

fn digest_of(user: &str) -> String {
    digest_id(user, &format!("pw-{user}"))
}

fn acl_for(user: &str, bits: u32) -> Acl {
    Acl::new("digest", digest_of(user), bits)
}

/// One operation of the matrix on node `n` (whose child `n/c` exists), and
/// the permission it needs.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Get,
    Exists,
    Children,
    Set,
    Create,
    Delete,
    SetAcl,
    SetQuota,
}

impl Operation {
    const ALL: [Operation; 8] = [
        Operation::Get,
        Operation::Exists,
        Operation::Children,
        Operation::Set,
        Operation::Create,
        Operation::Delete,
        Operation::SetAcl,
        Operation::SetQuota,
    ];

    fn needs(self) -> u32 {
        match self {
            Operation::Get | Operation::Exists | Operation::Children => perms::READ,
            Operation::Set => perms::WRITE,
            Operation::Create => perms::CREATE,
            Operation::Delete => perms::DELETE,
            Operation::SetAcl | Operation::SetQuota => perms::ADMIN,
        }
    }

    async fn run(self, c: &Client, n: &str, acl: &[Acl]) -> Result<(), Error> {
        match self {
            Operation::Get => c.get(n).await.map(drop),
            Operation::Exists => c.exists(n).await.map(drop),
            Operation::Children => c.children(n).await.map(drop),
            Operation::Set => c.set(n, "x", None).await.map(drop),
            Operation::Create => c
                .create(&format!("{n}/new"), "", CreateMode::Persistent)
                .await
                .map(drop),
            Operation::Delete => c.delete(&format!("{n}/c"), None).await,
            Operation::SetAcl => c.set_acl(n, acl, None).await.map(drop),
            Operation::SetQuota => {
                let limits = coord_client::client::QuotaLimits {
                    max_nodes: Some(100),
                    max_bytes: None,
                };
                c.set_quota(n, limits).await
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_needs_exactly_its_permission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let admin = digest_client(&addr, "admin").await;
    let user = digest_client(&addr, "user").await;
    let stranger = support::client_to(&addr, SESSION).await;
    let grants = [
        perms::READ,
        perms::WRITE,
        perms::CREATE,
        perms::DELETE,
        perms::ADMIN,
    ];
    for (i, &granted) in grants.iter().enumerate() {
        for (j, op) in Operation::ALL.iter().enumerate() {
            let n = format!("/m{i}-{j}");
            let acl = vec![acl_for("admin", perms::ALL), acl_for("user", granted)];
            admin
                .create_with_acl(&n, "", CreateMode::Persistent, &acl)
                .await
                .expect("admin creates");
            admin
                .create(&format!("{n}/c"), "", CreateMode::Persistent)
                .await
                .expect("admin creates the child");
            let allowed = op.needs() == granted;
            let got = op.run(&user, &n, &acl).await;
            match (&got, allowed) {
                (Ok(()), true) => {}
                (Err(Error::NoAuth(detail)), false) => {
                    let perm = coord_proto::acl::perm_name(op.needs());
                    assert!(
                        detail.contains(perm) && detail.contains(&n),
                        "{op:?} on {n}: NoAuth should name {perm} and {n}: {detail}"
                    );
                }
                _ => panic!("{op:?} with only {granted} granted: allowed={allowed}, got {got:?}"),
            }
            // A session without the identity gets nothing from this ACL.
            assert!(
                matches!(op.run(&stranger, &n, &acl).await, Err(Error::NoAuth(_))),
                "{op:?} by a session without identity on {n}"
            );
        }
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_with_one_forbidden_op_applies_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let admin = digest_client(&addr, "admin").await;
    let user = digest_client(&addr, "user").await;
    let locked = vec![acl_for("admin", perms::ALL), acl_for("user", perms::READ)];
    admin
        .create_with_acl("/locked", "", CreateMode::Persistent, &locked)
        .await
        .expect("create /locked");
    let results = user
        .multi_results(vec![
            Op::Create {
                path: "/free".into(),
                data: "a".into(),
                mode: CreateMode::Persistent,
                acl: Vec::new(),
            },
            Op::Create {
                path: "/locked/x".into(),
                data: "b".into(),
                mode: CreateMode::Persistent,
                acl: Vec::new(),
            },
        ])
        .await
        .expect("multi answers per op");
    assert!(
        matches!(&results[1], OpResult::Error(Error::NoAuth(d)) if d.contains("CREATE on /locked")),
        "{results:?}"
    );
    assert!(
        matches!(&results[0], OpResult::Error(Error::RolledBack(_))),
        "{results:?}"
    );
    assert_eq!(admin.exists("/free").await.expect("exists"), None);
    assert_eq!(admin.exists("/locked/x").await.expect("exists"), None);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_acl_needs_admin_and_the_current_aversion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let admin = digest_client(&addr, "admin").await;
    let user = digest_client(&addr, "user").await;
    let acl = vec![
        acl_for("admin", perms::ALL),
        acl_for("user", perms::ALL & !perms::ADMIN),
    ];
    admin
        .create_with_acl("/n", "", CreateMode::Persistent, &acl)
        .await
        .expect("create");
    let open = [Acl::open()];
    assert!(matches!(
        user.set_acl("/n", &open, None).await,
        Err(Error::NoAuth(d)) if d.contains("ADMIN")
    ));
    let (got, stat) = admin.get_acl("/n").await.expect("get_acl");
    let mut want = acl.clone();
    want.sort();
    assert_eq!((got, stat.aversion), (want, 0), "unchanged by the refusal");
    assert!(matches!(
        admin.set_acl("/n", &open, Some(3)).await,
        Err(Error::BadVersion(_))
    ));
    let after = admin.set_acl("/n", &open, Some(0)).await.expect("set_acl");
    assert_eq!(after.aversion, 1);
    assert!(matches!(
        admin.set_acl("/n", &open, Some(0)).await,
        Err(Error::BadVersion(_))
    ));
    user.set_acl("/n", &acl, Some(1))
        .await
        .expect("open again: anyone is admin");
    assert!(matches!(
        admin
            .create_with_acl(
                "/bad",
                "",
                CreateMode::Persistent,
                &[Acl::new("nosuch", "x", 1)]
            )
            .await,
        Err(Error::InvalidAcl(_))
    ));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_scheme_grants_the_creators_identities_and_whoami_lists_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let anon = support::client_to(&addr, SESSION).await;
    assert!(matches!(
        anon.create_with_acl(
            "/a",
            "",
            CreateMode::Persistent,
            &[Acl::new("auth", "", perms::ALL)]
        )
        .await,
        Err(Error::InvalidAcl(_))
    ));
    assert!(matches!(
        anon.add_auth("kerberos", b"x").await,
        Err(Error::AuthFailed(_))
    ));
    let alice = digest_client(&addr, "alice").await;
    let who = alice.whoami().await.expect("whoami");
    assert!(
        who.contains(&Identity::new("digest", digest_of("alice"))),
        "{who:?}"
    );
    alice
        .create_with_acl(
            "/a",
            "",
            CreateMode::Persistent,
            &[Acl::new("auth", "", perms::ALL)],
        )
        .await
        .expect("auth ACL");
    let (acl, _) = alice.get_acl("/a").await.expect("get_acl");
    assert_eq!(acl, vec![acl_for("alice", perms::ALL)]);
    assert!(matches!(anon.get("/a").await, Err(Error::NoAuth(_))));
    alice.get("/a").await.expect("alice reads");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_superuser_bypasses_every_acl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.limits.superusers = vec![Identity::new("digest", digest_of("root"))];
    let (server, addr) = start(cfg).await;
    let alice = digest_client(&addr, "alice").await;
    alice
        .create_with_acl(
            "/private",
            "s",
            CreateMode::Persistent,
            &[acl_for("alice", perms::ALL)],
        )
        .await
        .expect("create");
    let other = digest_client(&addr, "bob").await;
    assert!(matches!(other.get("/private").await, Err(Error::NoAuth(_))));
    let root = digest_client(&addr, "root").await;
    root.get("/private").await.expect("root reads");
    root.set("/private", "r", None).await.expect("root writes");
    root.set_acl("/private", &[Acl::open()], None)
        .await
        .expect("root sets the ACL");
    other.get("/private").await.expect("open now");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_identify_sessions_at_connect_and_auth_required_serves_only_the_authenticated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.tokens = Some(Arc::new(
        Tokens::parse("alice t-alice\nbob t-bob\n").expect("tokens"),
    ));
    cfg.auth_required = true;
    let (server, addr) = start(cfg).await;
    let connect = |token: Option<&str>| {
        let mut b = Client::builder()
            .servers(addr.clone())
            .session_timeout(SESSION)
            .connect_timeout(Duration::from_secs(2));
        if let Some(t) = token {
            b = b.token(t);
        }
        b.connect()
    };
    // Without a token the session is made (a digest can only come after
    // connecting, as with ZooKeeper clients), but serves nothing until it
    // proves an identity: reads, writes and watches fail with AuthFailed.
    let anon = connect(None).await.expect("connects, to authenticate");
    for r in [
        anon.get("/").await.map(|_| ()),
        anon.exists("/x").await.map(|_| ()),
        anon.children("/").await.map(|_| ()),
        anon.create("/anon", "", CreateMode::Persistent)
            .await
            .map(|_| ()),
        anon.get_acl("/").await.map(|_| ()),
    ] {
        match r {
            Err(Error::AuthFailed(d)) => assert!(d.contains("--auth-required"), "{d}"),
            other => panic!("unauthenticated under --auth-required: {other:?}"),
        }
    }
    let who = anon.whoami().await.expect("whoami is served");
    assert!(who.iter().all(|i| i.scheme == "ip"), "{who:?}");
    anon.add_auth("digest", b"carol:pw")
        .await
        .expect("a digest authenticates the session");
    anon.create("/carol", "", CreateMode::Persistent)
        .await
        .expect("served once authenticated");
    assert!(matches!(
        connect(Some("wrong")).await,
        Err(Error::AuthFailed(_))
    ));
    let alice = connect(Some("t-alice")).await.expect("alice connects");
    let who = alice.whoami().await.expect("whoami");
    assert!(who.contains(&Identity::new("token", "alice")), "{who:?}");
    assert!(who.contains(&Identity::new("ip", "127.0.0.1")), "{who:?}");
    alice
        .create_with_acl(
            "/t",
            "",
            CreateMode::Persistent,
            &[Acl::new("token", "alice", perms::ALL)],
        )
        .await
        .expect("create");
    let bob = connect(Some("t-bob")).await.expect("bob connects");
    assert!(matches!(bob.get("/t").await, Err(Error::NoAuth(_))));
    bob.add_auth("token", b"t-alice")
        .await
        .expect("bob proves alice's token too");
    bob.get("/t").await.expect("now bob reads");
    server.shutdown().await.expect("shutdown");
}

fn snapshot_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("snapshots")).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".snap"))
            .count()
    })
}

/// Restarts on the same data dir (and port, so the client resumes).
async fn restart(server: Server, addr: &str, dir: &Path, snapshot_every: u64) -> Server {
    server.shutdown().await.expect("shutdown");
    let mut cfg = ServerConfig::for_test(dir);
    cfg.listen = addr.parse().expect("addr");
    cfg.snapshot_logs_since_last = snapshot_every;
    Server::start(cfg).await.expect("restart")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_and_identities_survive_restart_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.snapshot_logs_since_last = 10_000;
    let (server, addr) = start(cfg).await;
    let alice = digest_client(&addr, "alice").await;
    let acl = vec![
        acl_for("alice", perms::ALL),
        Acl::new("world", "anyone", perms::READ),
    ];
    alice
        .create_with_acl("/kept", "v", CreateMode::Persistent, &acl)
        .await
        .expect("create");
    alice
        .set_acl("/kept", &acl, Some(0))
        .await
        .expect("bump aversion");
    let mut want = acl.clone();
    want.sort();

    // From the log alone.
    let server = restart(server, &addr, dir.path(), 10_000).await;
    assert_eq!(snapshot_count(dir.path()), 0, "the restart replays the log");
    let (got, stat) = alice.get_acl("/kept").await.expect("get_acl after restart");
    assert_eq!((got, stat.aversion), (want.clone(), 1));
    alice
        .set("/kept", "w", None)
        .await
        .expect("the resumed session is still alice");

    // From a snapshot.
    let server = restart(server, &addr, dir.path(), 20).await;
    for i in 0..40 {
        alice
            .create(&format!("/n{i}"), "", CreateMode::Persistent)
            .await
            .expect("small create");
    }
    let path = dir.path().to_path_buf();
    assert!(
        eventually(Duration::from_secs(10), || {
            let path = path.clone();
            async move { snapshot_count(&path) > 0 }
        })
        .await,
        "a snapshot was built"
    );
    let server = restart(server, &addr, dir.path(), 20).await;
    let (got, stat) = alice
        .get_acl("/kept")
        .await
        .expect("get_acl after snapshot");
    assert_eq!((got, stat.aversion), (want, 1));
    alice
        .set("/kept", "x", None)
        .await
        .expect("identity restored from the snapshot");
    let anon = support::client_to(&addr, SESSION).await;
    anon.get("/kept").await.expect("world may read");
    assert!(matches!(
        anon.set("/kept", "y", None).await,
        Err(Error::NoAuth(_))
    ));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_a_node_the_session_cannot_read_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let alice = digest_client(&addr, "alice").await;
    alice
        .create_with_acl(
            "/secret",
            "",
            CreateMode::Persistent,
            &[acl_for("alice", perms::ALL)],
        )
        .await
        .expect("create");
    let bob = digest_client(&addr, "bob").await;
    assert!(matches!(
        bob.get_watch("/secret").await,
        Err(Error::NoAuth(_))
    ));
    assert!(matches!(
        bob.exists_watch("/secret").await,
        Err(Error::NoAuth(_))
    ));
    assert_eq!(server.watch_count(), 0, "no watch was registered");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_watch_hears_nothing_about_nodes_the_session_cannot_read() {
    use coord_client::client::{EventType, WatchMode};
    use futures::StreamExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let alice = digest_client(&addr, "alice").await;
    let bob = digest_client(&addr, "bob").await;
    let mut events = bob
        .watch("/", WatchMode::PersistentRecursive)
        .await
        .expect("watch /");
    let private = [acl_for("alice", perms::ALL)];
    alice
        .create_with_acl("/secret", "", CreateMode::Persistent, &private)
        .await
        .expect("create /secret");
    alice.set("/secret", "x", None).await.expect("set /secret");
    alice.delete("/secret", None).await.expect("delete /secret");
    alice
        .create("/open", "", CreateMode::Persistent)
        .await
        .expect("create /open");
    // Events arrive in zxid order: anything about /secret would come first.
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within the patience")
        .expect("stream open")
        .expect("event");
    assert_eq!(
        (first.kind, first.path.as_str()),
        (EventType::NodeCreated, "/open"),
        "bob heard of a node he cannot read"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_under_a_node_the_session_cannot_create_in_fails_with_no_auth() {
    use coord_client::recipes::Lock;
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let alice = digest_client(&addr, "alice").await;
    let read_only = [
        acl_for("alice", perms::ALL),
        Acl::new("world", "anyone", perms::READ),
    ];
    alice
        .create_with_acl("/locks", "", CreateMode::Persistent, &read_only)
        .await
        .expect("create /locks");
    let bob = digest_client(&addr, "bob").await;
    let lock = Lock::new(&bob, "/locks/job");
    match lock.acquire_timeout(Duration::from_secs(5)).await {
        Err(Error::NoAuth(d)) => assert!(d.contains("CREATE on /locks"), "{d}"),
        other => panic!("bob's lock under a read-only /locks: {other:?}"),
    }
    let mine = Lock::new(&alice, "/locks/job");
    mine.acquire_timeout(Duration::from_secs(5))
        .await
        .expect("alice may lock");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_info_reads_the_replicated_table_for_any_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(ServerConfig::for_test(dir.path())).await;
    let alice = digest_client(&addr, "alice").await;
    alice
        .create("/eph", "", CreateMode::Ephemeral)
        .await
        .expect("create");
    let other = support::client_to(&addr, SESSION).await;
    let got = other
        .session_info(&[alice.session_id(), 0x1234_5678])
        .await
        .expect("session info");
    let a = got[0].as_ref().expect("alice's session is known");
    assert_eq!(a.session_id, alice.session_id());
    assert_eq!(a.client_ip(), Some("127.0.0.1"));
    assert!(
        a.identities
            .contains(&Identity::new("digest", digest_of("alice"))),
        "{a:?}"
    );
    assert_eq!(a.ephemerals, 1);
    assert!(a.timeout_ms > 0);
    assert!(got[1].is_none(), "an unknown session reads as ended");
    let too_many: Vec<u64> = (1..=1001).collect();
    match other.session_info(&too_many).await {
        Err(Error::TooLarge(d)) => assert!(d.contains("max_session_info_ids = 1000"), "{d}"),
        r => panic!("1001 ids: {r:?}"),
    }
    server.shutdown().await.expect("shutdown");
}
