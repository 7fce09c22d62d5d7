//! The coordination recipes against a real in-process server on 127.0.0.1:0:
//! election, group membership, barriers, queue, counter, caches, discovery.
//!
//! A "crashed" process is a client on its own runtime and thread whose runtime
//! is dropped: its connection goes away without closing the session, so the
//! server expires the session after its timeout, as after `kill -9`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use coord_client::Error;
use coord_client::client::{Client, CreateMode};
use coord_client::recipes::{
    Barrier, Counter, DoubleBarrier, Election, Group, Instance, NodeCache, Queue, ServiceDiscovery,
    Strategy, TreeCache,
};
use coord_server::server::{Server, ServerConfig};
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Upper bound on any single wait in these tests.
const PATIENCE: Duration = Duration::from_secs(8);
/// Session timeout of ordinary clients: long enough that a server restart
/// on a loaded 2-core CI machine (replay, election) never expires a client
/// that merely waits for it; clients meant to expire use [`SHORT_SESSION`].
const SESSION: Duration = Duration::from_secs(3);
/// Session timeout of clients that are going to crash.
const SHORT_SESSION: Duration = Duration::from_millis(300);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

struct TestServer {
    server: Server,
    addr: String,
    dir: tempfile::TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(ServerConfig::for_test(dir.path()))
            .await
            .unwrap();
        TestServer {
            addr: server.local_addr().to_string(),
            server,
            dir,
        }
    }

    async fn client(&self) -> Client {
        connect(self.addr.clone(), SESSION).await
    }

    /// Kills the server as a crash would and starts it again on the same
    /// data dir and address (sessions survive: clients resume them).
    async fn crash_and_restart(self) -> TestServer {
        let TestServer { server, addr, dir } = self;
        let listen = server.local_addr();
        server.abort().await;
        let mut cfg = ServerConfig::for_test(dir.path());
        cfg.listen = listen;
        let server = Server::start(cfg).await.unwrap();
        TestServer { server, addr, dir }
    }

    async fn stop(self) {
        self.server.shutdown().await.unwrap();
    }
}

async fn connect(addr: String, session: Duration) -> Client {
    Client::builder()
        .servers(addr)
        .session_timeout(session)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect()
        .await
        .unwrap()
}

/// A client living on its own thread and runtime, until `crash`.
struct Crashable {
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Crashable {
    /// Runs `body` with a fresh client (short session); what it returns stays
    /// alive until the crash.
    fn spawn<F, Fut, K>(addr: &str, body: F) -> Crashable
    where
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = K>,
        K: 'static,
    {
        let addr = addr.to_string();
        let (kill, killed) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let kept = rt.block_on(async move {
                let kept = body(connect(addr, SHORT_SESSION).await).await;
                let _ = killed.await;
                kept
            });
            // Dropping the runtime drops the client's tasks and socket: no
            // close request reaches the server, no cleanup runs.
            drop(rt);
            std::mem::forget(kept);
        });
        Crashable {
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    fn crash(mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Items of `stream` until one satisfies `want`.
async fn until_item<S, T>(what: &str, stream: &mut S, want: impl Fn(&T) -> bool) -> T
where
    S: Stream<Item = coord_client::Result<T>> + Unpin,
    T: std::fmt::Debug,
{
    within(what, async {
        loop {
            match stream.next().await {
                Some(Ok(v)) if want(&v) => return v,
                Some(Ok(_)) => continue,
                other => panic!("stream ended while waiting for {what}: {other:?}"),
            }
        }
    })
    .await
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    within(what, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

async fn eventually_async<Fut: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> Fut) {
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

// ---------------------------------------------------------------- election

#[tokio::test]
async fn election_elects_exactly_one_leader_among_five_candidates() {
    let srv = TestServer::start().await;
    let (tx, mut elected) = mpsc::unbounded_channel();
    let mut candidates = Vec::new();
    for i in 0..5 {
        let e = Arc::new(Election::new(
            &srv.client().await,
            "/election/one",
            format!("c{i}"),
        ));
        candidates.push(Arc::clone(&e));
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Ok(term) = e.campaign().await {
                let _ = tx.send((i, term));
            }
        });
    }
    let (winner, term) = within("a leader", elected.recv()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        elected.try_recv().is_err(),
        "a second candidate was elected"
    );
    let leaders: Vec<usize> = (0..5).filter(|i| candidates[*i].is_leader()).collect();
    assert_eq!(leaders, vec![winner]);
    let seen = Election::leader(&srv.client().await, "/election/one")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, term);
    assert_eq!(seen.identity, Bytes::from(format!("c{winner}")));
    srv.stop().await;
}

#[tokio::test]
async fn killing_the_leaders_session_elects_exactly_one_new_leader_seen_by_observers() {
    let srv = TestServer::start().await;
    let path = "/election/crash";
    let (tx, rx) = oneshot::channel();
    let victim = Crashable::spawn(&srv.addr, move |c| async move {
        let e = Election::new(&c, path, "victim");
        let term = e.campaign().await.unwrap();
        let _ = tx.send(term);
        (c, e)
    });
    let old = within("the victim's election", rx).await.unwrap();
    let observer = srv.client().await;
    let mut changes = Election::observe(&observer, path);
    assert_eq!(
        within("the first leader", changes.next())
            .await
            .unwrap()
            .unwrap(),
        Some(old.clone())
    );

    let (tx, mut elected) = mpsc::unbounded_channel();
    let mut candidates = Vec::new();
    for i in 0..3 {
        let e = Arc::new(Election::new(&srv.client().await, path, format!("c{i}")));
        candidates.push(Arc::clone(&e));
        let tx = tx.clone();
        tokio::spawn(async move {
            if e.campaign().await.is_ok() {
                let _ = tx.send(i);
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        elected.try_recv().is_err(),
        "elected while the leader lives"
    );

    let crashed = Instant::now();
    victim.crash();
    let winner = within("a new leader", elected.recv()).await.unwrap();
    assert!(
        crashed.elapsed() <= SHORT_SESSION + Duration::from_secs(1),
        "new leader after {:?}",
        crashed.elapsed()
    );
    let new = until_item("the observer to see the new leader", &mut changes, |l| {
        l.as_ref() != Some(&old)
    })
    .await
    .unwrap();
    assert_eq!(new.identity, Bytes::from(format!("c{winner}")));
    assert!(new.token > old.token, "tokens must increase across terms");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(elected.try_recv().is_err(), "two new leaders");
    let leaders = candidates.iter().filter(|c| c.is_leader()).count();
    assert_eq!(leaders, 1);
    srv.stop().await;
}

#[tokio::test]
async fn resigning_hands_leadership_to_the_next_candidate() {
    let srv = TestServer::start().await;
    let path = "/election/resign";
    let a = Election::new(&srv.client().await, path, "a");
    let b = Arc::new(Election::new(&srv.client().await, path, "b"));
    let first = a.campaign().await.unwrap();
    let waiting = tokio::spawn({
        let b = Arc::clone(&b);
        async move { b.campaign().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished());
    assert!(a.is_leader());

    a.resign().await.unwrap();
    let second = within("b's election", waiting).await.unwrap().unwrap();
    assert!(!a.is_leader());
    assert!(b.is_leader());
    assert!(second.token > first.token);
    let seen = Election::leader(&srv.client().await, path)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.identity, Bytes::from_static(b"b"));
    // Resigning is no loss: b's term goes on, and a gives up a campaign that
    // times out without leaving a candidate node behind.
    let c = Election::new(&srv.client().await, path, "c");
    let timed_out = c.campaign_timeout(Duration::from_millis(150)).await;
    assert!(
        matches!(timed_out, Err(Error::LockTimeout(_))),
        "{timed_out:?}"
    );
    let observer = srv.client().await;
    let kids = observer.children(path).await.unwrap();
    assert_eq!(kids.len(), 1, "only b's node is left: {kids:?}");
    assert!(b.lost_signal().is_some_and(|s| !*s.borrow()));
    srv.stop().await;
}

#[tokio::test]
async fn a_kazoo_named_candidate_leads_until_it_leaves() {
    let srv = TestServer::start().await;
    let path = "/election/kazoo";
    let raw = srv.client().await;
    raw.create_parents(path, Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    // A reader node is no candidate (kazoo's election is a kazoo Lock).
    raw.create(
        &format!("{path}/00112233445566778899aabbccddeeff__rlock__"),
        Vec::new(),
        CreateMode::EphemeralSequential,
    )
    .await
    .unwrap();
    // kazoo's candidate: `uuid4().hex` + `__lock__`, the identifier as data.
    let kazoo = raw
        .create(
            &format!("{path}/0f1e2d3c4b5a69788796a5b4c3d2e1f0__lock__"),
            b"kazoo-1".to_vec(),
            CreateMode::EphemeralSequential,
        )
        .await
        .unwrap();
    let seen = Election::leader(&srv.client().await, path)
        .await
        .unwrap()
        .expect("a leader");
    assert_eq!(seen.identity.as_ref(), b"kazoo-1");
    let ours = Election::new(&srv.client().await, path, "coord-1");
    assert!(matches!(
        ours.campaign_timeout(Duration::from_millis(300)).await,
        Err(Error::LockTimeout(_))
    ));
    let ours = Arc::new(ours);
    let campaign = tokio::spawn({
        let ours = ours.clone();
        async move { ours.campaign().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!campaign.is_finished(), "the coord candidate waits in line");
    raw.delete(&kazoo, None).await.unwrap();
    let term = within("the coord candidate is elected", campaign)
        .await
        .unwrap()
        .unwrap();
    let seen = Election::leader(&raw, path)
        .await
        .unwrap()
        .expect("a leader");
    assert_eq!(seen.identity.as_ref(), b"coord-1");
    assert_eq!(seen.token, term.token);
    assert!(seen.node.contains("__lock__"));
    ours.resign().await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn dropping_a_campaign_removes_its_candidate_node() {
    let srv = TestServer::start().await;
    let path = "/election/cancel";
    let leader = Election::new(&srv.client().await, path, "leader");
    leader.campaign().await.unwrap();
    let waiter = Election::new(&srv.client().await, path, "waiter");
    let campaign = tokio::time::timeout(Duration::from_millis(150), waiter.campaign()).await;
    assert!(
        campaign.is_err(),
        "the waiter cannot be elected while the leader leads"
    );
    let observer = srv.client().await;
    eventually_async("the cancelled candidate's node to go", || async {
        observer.children(path).await.unwrap().len() == 1
    })
    .await;
    // The leader's term is untouched, and the next campaign starts afresh.
    assert!(leader.is_leader());
    leader.resign().await.unwrap();
    let term = within("the new campaign", waiter.campaign()).await.unwrap();
    assert_eq!(term.identity, Bytes::from_static(b"waiter"));
    srv.stop().await;
}

// ---------------------------------------------------------------- queue

#[tokio::test]
async fn queue_hands_every_item_to_exactly_one_taker_in_producer_order() {
    const PER_PRODUCER: usize = 40;
    let srv = TestServer::start().await;
    let clients = [
        srv.client().await,
        srv.client().await,
        srv.client().await,
        srv.client().await,
    ];
    let taken = Arc::new(AtomicUsize::new(0));
    let total = 2 * PER_PRODUCER;
    let mut takers = Vec::new();
    for t in 0..8 {
        let q = Queue::new(&clients[t % clients.len()], "/queue/work");
        let taken = Arc::clone(&taken);
        takers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while taken.load(Ordering::SeqCst) < total {
                match q.take_timeout(Duration::from_millis(300)).await {
                    Ok(item) => {
                        taken.fetch_add(1, Ordering::SeqCst);
                        got.push(String::from_utf8(item.to_vec()).unwrap());
                    }
                    Err(Error::OperationTimeout(_)) => continue,
                    Err(e) => panic!("taker {t}: {e}"),
                }
            }
            got
        }));
    }
    let mut producers = Vec::new();
    for (p, client) in clients.iter().take(2).enumerate() {
        let q = Queue::new(client, "/queue/work");
        producers.push(tokio::spawn(async move {
            for i in 0..PER_PRODUCER {
                q.put(format!("p{p}-{i:04}")).await.unwrap();
            }
        }));
    }
    for p in producers {
        within("producers", p).await.unwrap();
    }
    let mut all = Vec::new();
    for t in takers {
        let got = within("takers", t).await.unwrap();
        // Each taker sees each producer's items in the order they were put.
        for p in 0..2 {
            let mine: Vec<&String> = got
                .iter()
                .filter(|s| s.starts_with(&format!("p{p}-")))
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "out of order: {mine:?}"
            );
        }
        all.extend(got);
    }
    let expected: BTreeSet<String> = (0..2)
        .flat_map(|p| (0..PER_PRODUCER).map(move |i| format!("p{p}-{i:04}")))
        .collect();
    assert_eq!(all.len(), total, "an item was taken twice or lost");
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), expected);
    let q = Queue::new(&clients[0], "/queue/work");
    assert_eq!(q.len().await.unwrap(), 0);
    srv.stop().await;
}

#[tokio::test]
async fn queue_peek_len_and_try_take_answer_without_waiting() {
    let srv = TestServer::start().await;
    let q = Queue::new(&srv.client().await, "/queue/small");
    assert_eq!(q.try_take().await.unwrap(), None);
    assert_eq!(q.peek().await.unwrap(), None);
    q.put("one").await.unwrap();
    q.put("two").await.unwrap();
    assert_eq!(q.len().await.unwrap(), 2);
    assert_eq!(q.peek().await.unwrap(), Some(Bytes::from_static(b"one")));
    assert_eq!(
        q.try_take().await.unwrap(),
        Some(Bytes::from_static(b"one"))
    );
    assert_eq!(q.take().await.unwrap(), Bytes::from_static(b"two"));
    let waited = q.take_timeout(Duration::from_millis(100)).await;
    assert!(
        matches!(waited, Err(Error::OperationTimeout(_))),
        "{waited:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn waiting_takers_and_candidates_carry_on_across_a_server_restart() {
    let srv = TestServer::start().await;
    let leader = Election::new(&srv.client().await, "/election/restart", "leader");
    leader.campaign().await.unwrap();
    let candidate = Election::new(&srv.client().await, "/election/restart", "next");
    let taker = Queue::new(&srv.client().await, "/queue/restart");
    let waiting = tokio::spawn(async move {
        let term = candidate.campaign().await;
        (term, candidate)
    });
    let taking = tokio::spawn(async move { taker.take().await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let srv = srv.crash_and_restart().await;
    Queue::new(&srv.client().await, "/queue/restart")
        .put("after")
        .await
        .unwrap();
    let item = within("the item", taking).await.unwrap().unwrap();
    assert_eq!(item, Bytes::from_static(b"after"));
    leader.resign().await.unwrap();
    let (term, candidate) = within("the election", waiting).await.unwrap();
    assert_eq!(term.unwrap().identity, Bytes::from_static(b"next"));
    assert!(candidate.is_leader());
    srv.stop().await;
}

// ---------------------------------------------------------------- counter

#[tokio::test]
async fn counter_adds_from_ten_tasks_are_all_counted() {
    let srv = TestServer::start().await;
    let clients = [srv.client().await, srv.client().await];
    let mut tasks = Vec::new();
    for t in 0..10 {
        let counter = Counter::new(&clients[t % 2], "/counters/hits");
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                counter.add(1).await.unwrap();
            }
        }));
    }
    for t in tasks {
        within("adders", t).await.unwrap();
    }
    let counter = Counter::new(&clients[0], "/counters/hits");
    assert_eq!(counter.get().await.unwrap(), 200);
    let (data, _) = clients[1].get("/counters/hits").await.unwrap();
    assert_eq!(&data[..], b"200");
    srv.stop().await;
}

#[tokio::test]
async fn counter_compare_and_set_only_swaps_the_expected_value() {
    let srv = TestServer::start().await;
    let c = Counter::new(&srv.client().await, "/counters/cas");
    assert_eq!(c.get().await.unwrap(), 0);
    assert!(!c.compare_and_set(5, 6).await.unwrap());
    assert!(c.compare_and_set(0, 10).await.unwrap());
    assert!(!c.compare_and_set(0, 11).await.unwrap());
    assert_eq!(c.add(-3).await.unwrap(), 7);
    c.set(i64::MAX).await.unwrap();
    assert!(matches!(c.add(1).await, Err(Error::BadArguments(_))));
    srv.stop().await;
}

// ---------------------------------------------------------------- barriers

#[tokio::test]
async fn barrier_holds_four_waiters_until_it_is_removed() {
    let srv = TestServer::start().await;
    let barrier = Barrier::new(&srv.client().await, "/barriers/gate");
    barrier.set().await.unwrap();
    barrier.set().await.unwrap();
    let timed = barrier.wait_timeout(Duration::from_millis(100)).await;
    assert!(
        matches!(timed, Err(Error::OperationTimeout(_))),
        "{timed:?}"
    );
    let mut waiters = Vec::new();
    for _ in 0..4 {
        let b = Barrier::new(&srv.client().await, "/barriers/gate");
        waiters.push(tokio::spawn(async move { b.wait().await }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        waiters.iter().all(|w| !w.is_finished()),
        "a waiter passed a raised barrier"
    );
    barrier.remove().await.unwrap();
    for w in waiters {
        within("released waiters", w).await.unwrap().unwrap();
    }
    assert!(!barrier.is_set().await.unwrap());
    srv.stop().await;
}

#[tokio::test]
async fn double_barrier_lets_four_members_enter_together_and_leave_together() {
    let srv = TestServer::start().await;
    let entering = Arc::new(AtomicUsize::new(0));
    let leaving = Arc::new(AtomicUsize::new(0));
    let mut members = Vec::new();
    for m in 0..4u64 {
        let b = DoubleBarrier::new(&srv.client().await, "/barriers/double", &format!("m{m}"), 4);
        let (entering, leaving) = (Arc::clone(&entering), Arc::clone(&leaving));
        members.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(60 * m)).await;
            entering.fetch_add(1, Ordering::SeqCst);
            b.enter_timeout(PATIENCE).await.unwrap();
            // Nobody gets in before the last member has started entering.
            assert_eq!(entering.load(Ordering::SeqCst), 4, "m{m} entered early");
            tokio::time::sleep(Duration::from_millis(60 * (3 - m))).await;
            leaving.fetch_add(1, Ordering::SeqCst);
            b.leave_timeout(PATIENCE).await.unwrap();
            assert_eq!(leaving.load(Ordering::SeqCst), 4, "m{m} left early");
        }));
    }
    for m in members {
        within("members", m).await.unwrap();
    }
    let kids = srv
        .client()
        .await
        .children("/barriers/double")
        .await
        .unwrap();
    assert!(kids.is_empty(), "left behind: {kids:?}");
    srv.stop().await;
}

// ---------------------------------------------------------------- group

#[tokio::test]
async fn group_joins_and_leaves_are_seen_by_watch_members() {
    let srv = TestServer::start().await;
    let path = "/groups/workers";
    let watcher = srv.client().await;
    let mut members = Group::watch_members(&watcher, path);
    let names = |v: &Vec<(String, Bytes)>| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        within("the empty group", members.next())
            .await
            .unwrap()
            .unwrap(),
        vec![]
    );

    let ca = srv.client().await;
    let a = Group::join(&ca, path, "a", "payload-a").await.unwrap();
    let seen = until_item("a joins", &mut members, |v| names(v) == ["a"]).await;
    assert_eq!(seen[0].1, Bytes::from_static(b"payload-a"));

    let cb = srv.client().await;
    let b = Group::join(&cb, path, "b", "payload-b").await.unwrap();
    until_item("b joins", &mut members, |v| names(v) == ["a", "b"]).await;
    let taken = Group::join(&cb, path, "a", "again").await;
    assert!(matches!(taken, Err(Error::NodeExists(_))), "{taken:?}");
    // The failed join left a's node alone.
    let listed = Group::members(&watcher, path).await.unwrap();
    assert_eq!(names(&listed), ["a", "b"]);

    b.update("busy").await.unwrap();
    until_item("b's new payload", &mut members, |v| {
        v.iter().any(|(n, p)| n == "b" && &p[..] == b"busy")
    })
    .await;
    a.leave().await.unwrap();
    until_item("a leaves", &mut members, |v| names(v) == ["b"]).await;
    cb.close().await.unwrap();
    until_item("b's session ends", &mut members, |v| v.is_empty()).await;
    within("b's membership to be lost", b.lost()).await;
    assert!(b.is_lost());
    assert!(Group::members(&watcher, path).await.unwrap().is_empty());
    srv.stop().await;
}

// ---------------------------------------------------------------- caches

#[tokio::test]
async fn node_cache_sees_the_final_value_after_100_rapid_sets() {
    let srv = TestServer::start().await;
    let writer = srv.client().await;
    writer
        .create("/cached", "start", CreateMode::Persistent)
        .await
        .unwrap();
    let cache = NodeCache::start(&srv.client().await, "/cached")
        .await
        .unwrap();
    assert_eq!(cache.data(), Some(Bytes::from_static(b"start")));
    // Pipelined: the client sends all 100 before the first reply.
    let sets = (0..100).map(|i| writer.set("/cached", format!("v{i}"), None));
    for r in futures::future::join_all(sets).await {
        r.unwrap();
    }
    let mut changes = cache.subscribe();
    within(
        "the final value",
        changes.wait_for(|v| v.as_ref().is_some_and(|(d, _)| &d[..] == b"v99")),
    )
    .await
    .unwrap();
    assert_eq!(cache.current().map(|(_, s)| s.version), Some(100));
    writer.delete("/cached", None).await.unwrap();
    within("the deletion", changes.wait_for(|v| v.is_none()))
        .await
        .unwrap();
    cache.close().await.unwrap();
    assert!(!cache.is_running());
    srv.stop().await;
}

#[tokio::test]
async fn tree_cache_mirrors_a_subtree_after_creates_and_deletes() {
    let srv = TestServer::start().await;
    let writer = srv.client().await;
    let cache = TreeCache::start(&srv.client().await, "/tree")
        .await
        .unwrap();
    assert!(cache.is_empty());
    for (p, d) in [
        ("/tree", "r"),
        ("/tree/a", "a"),
        ("/tree/a/x", "x"),
        ("/tree/b", "b"),
        ("/treeish", "no"),
    ] {
        writer.create(p, d, CreateMode::Persistent).await.unwrap();
    }
    writer.set("/tree/b", "b2", None).await.unwrap();
    writer
        .create("/tree/a/y", "y", CreateMode::Persistent)
        .await
        .unwrap();
    writer.delete("/tree/a/x", None).await.unwrap();
    for i in 0..20 {
        writer
            .create(&format!("/tree/b/n{i}"), "n", CreateMode::Persistent)
            .await
            .unwrap();
    }
    for i in 0..10 {
        writer.delete(&format!("/tree/b/n{i}"), None).await.unwrap();
    }
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (p, d) in [
        ("/tree", "r"),
        ("/tree/a", "a"),
        ("/tree/a/y", "y"),
        ("/tree/b", "b2"),
    ] {
        expected.insert(p.into(), d.as_bytes().to_vec());
    }
    for i in 10..20 {
        expected.insert(format!("/tree/b/n{i}"), b"n".to_vec());
    }
    let mirror = |c: &TreeCache| -> BTreeMap<String, Vec<u8>> {
        c.snapshot()
            .into_iter()
            .map(|(p, (d, _))| (p, d.to_vec()))
            .collect()
    };
    eventually("the cache to mirror the subtree", || {
        mirror(&cache) == expected
    })
    .await;
    let kids: Vec<String> = cache
        .children("/tree")
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    assert_eq!(kids, ["a", "b"]);
    // Stats are the server's own.
    let (_, stat) = writer.get("/tree/b").await.unwrap();
    assert_eq!(cache.get("/tree/b").map(|(_, s)| s), Some(stat));

    writer.delete("/tree/a/y", None).await.unwrap();
    writer.delete("/tree/a", None).await.unwrap();
    expected.retain(|p, _| !p.starts_with("/tree/a"));
    eventually("the deletes to show", || mirror(&cache) == expected).await;
    cache.close().await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn caches_follow_changes_made_after_a_server_crash_and_restart() {
    let srv = TestServer::start().await;
    let writer = srv.client().await;
    writer
        .create("/survive", "before", CreateMode::Persistent)
        .await
        .unwrap();
    writer
        .create("/survive/a", "a", CreateMode::Persistent)
        .await
        .unwrap();
    let reader = srv.client().await;
    let node = NodeCache::start(&reader, "/survive").await.unwrap();
    let tree = TreeCache::start(&reader, "/survive").await.unwrap();
    assert_eq!(tree.len(), 2);

    let srv = srv.crash_and_restart().await;
    writer.set("/survive", "after", None).await.unwrap();
    writer
        .create("/survive/b", "b", CreateMode::Persistent)
        .await
        .unwrap();
    writer.delete("/survive/a", None).await.unwrap();
    let mut changes = node.subscribe();
    within(
        "the node cache",
        changes.wait_for(|v| v.as_ref().is_some_and(|(d, _)| &d[..] == b"after")),
    )
    .await
    .unwrap();
    eventually("the tree cache", || {
        tree.snapshot().keys().cloned().collect::<Vec<_>>() == ["/survive", "/survive/b"]
    })
    .await;
    assert!(node.is_running() && tree.is_running());
    node.close().await.unwrap();
    tree.close().await.unwrap();
    srv.stop().await;
}

// ---------------------------------------------------------------- discovery

fn instance(id: &str, port: u16) -> Instance {
    Instance {
        id: id.into(),
        address: "127.0.0.1".into(),
        port,
        metadata: BTreeMap::from([("zone".to_string(), "z1".to_string())]),
    }
}

#[tokio::test]
async fn discovery_round_robin_cycles_and_an_expired_instance_disappears() {
    let srv = TestServer::start().await;
    let c = srv.client().await;
    let sd = ServiceDiscovery::new(&c, "/services");
    let _a = sd.register("api", instance("a", 8001)).await.unwrap();
    let _b = sd.register("api", instance("b", 8002)).await.unwrap();
    let (tx, rx) = oneshot::channel();
    let victim = Crashable::spawn(&srv.addr, move |c| async move {
        let sd = ServiceDiscovery::new(&c, "/services");
        let reg = sd.register("api", instance("c", 8003)).await.unwrap();
        let _ = tx.send(());
        (c, reg)
    });
    within("the victim's registration", rx).await.unwrap();

    let listed = sd.instances("api").await.unwrap();
    assert_eq!(
        listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(listed[0], instance("a", 8001));

    let provider = sd.provider("api", Strategy::RoundRobin).await.unwrap();
    assert_eq!(provider.instances().len(), 3);
    let picks: Vec<String> = (0..6).map(|_| provider.pick().unwrap().id).collect();
    for window in picks.windows(3) {
        let distinct: BTreeSet<&String> = window.iter().collect();
        assert_eq!(distinct.len(), 3, "round robin must cycle: {picks:?}");
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for p in &picks {
        *counts.entry(p.clone()).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 2), "{picks:?}");

    let sticky = sd.provider("api", Strategy::Sticky).await.unwrap();
    let first = sticky.pick().unwrap();
    assert!((0..5).all(|_| sticky.pick().as_ref() == Some(&first)));

    let crashed = Instant::now();
    victim.crash();
    eventually("the expired instance to vanish", || {
        provider.instances().len() == 2
    })
    .await;
    assert!(
        crashed.elapsed() <= SHORT_SESSION + Duration::from_secs(1),
        "{:?}",
        crashed.elapsed()
    );
    assert!((0..6).all(|_| provider.pick().is_some_and(|i| i.id != "c")));
    assert_eq!(sd.instances("api").await.unwrap().len(), 2);
    provider.close().await.unwrap();
    sticky.close().await.unwrap();
    srv.stop().await;
}
