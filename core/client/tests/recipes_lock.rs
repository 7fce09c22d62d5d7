//! The lock recipes against a real server: mutual exclusion with fencing
//! tokens, no herd, lock loss on session expiry, recovery of a create whose
//! reply was lost, timeouts and cancellation, read-write fairness, semaphore
//! and multi-lock.

#[path = "../../server/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coord_client::Error;
use coord_client::client::{CreateMode, Op};
use coord_client::recipes::{Lock, MultiLock, RwLock, Semaphore};
use support::proxy::Proxy;
use support::{TestServer, client_to, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_increment_exactly_under_the_lock_with_increasing_tokens() {
    let ts = support::start_server().await;
    let setup = support::client_of(&ts).await;
    setup
        .create("/counter", b"0".to_vec(), CreateMode::Persistent)
        .await
        .unwrap();
    let observed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = support::client_of(&ts).await;
        let observed = observed.clone();
        tasks.push(tokio::spawn(async move {
            let lock = Lock::new(&c, "/locks/counter");
            for _ in 0..50 {
                let token = lock.acquire().await.unwrap();
                // A deliberately non-atomic read-modify-write.
                let (data, _) = c.get("/counter").await.unwrap();
                let n: u64 = std::str::from_utf8(&data).unwrap().parse().unwrap();
                c.set("/counter", (n + 1).to_string().into_bytes(), None)
                    .await
                    .unwrap();
                observed.lock().unwrap().push((n, token));
                lock.release().await.unwrap();
            }
            c.close().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (data, _) = setup.get("/counter").await.unwrap();
    assert_eq!(data.as_ref(), b"1000");
    let mut seen = observed.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen.len(), 1000);
    for pair in seen.windows(2) {
        assert!(
            pair[1].1 > pair[0].1,
            "fencing token did not increase: {pair:?}"
        );
    }
    // The lock's directory is a container: once empty it may already have
    // been reaped (the test server reaps every 50 ms), which leaves nothing
    // behind too.
    match setup.children("/locks/counter").await {
        Ok(left) => assert!(left.is_empty(), "no node left behind: {left:?}"),
        Err(coord_client::Error::NoNode(_)) => {}
        Err(e) => panic!("listing the lock's directory: {e}"),
    }
    ts.stop().await.expect("clean shutdown");
}

/// 1 holder, `waiters` queued; returns watch events delivered by one release.
async fn events_per_release(ts: &TestServer, path: &str, waiters: usize, naive: bool) -> u64 {
    let holder_client = support::client_of(ts).await;
    let holder = Lock::new(&holder_client, path);
    holder.acquire().await.unwrap();
    let acquired = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..waiters {
        let c = support::client_of(ts).await;
        clients.push(c.clone());
        let acquired = acquired.clone();
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            if naive {
                // The herd recipe: everyone watches the parent's children.
                let (_, w) = c.children_watch(&path).await.unwrap();
                let _ = w.await;
                acquired.fetch_add(1, Ordering::SeqCst);
            } else {
                let lock = Lock::new(&c, &path);
                lock.acquire().await.unwrap();
                acquired.fetch_add(1, Ordering::SeqCst);
                // Hold until the test ends so only one handoff is counted.
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }));
    }
    let expected_watches = waiters;
    assert!(
        eventually(Duration::from_secs(10), || async {
            ts.server.watch_count() >= expected_watches
        })
        .await,
        "all waiters are watching ({} of {expected_watches})",
        ts.server.watch_count()
    );
    // Count the watchers woken on every client, the holder's included (its
    // released lock-loss monitor hears of its node's deletion but no longer
    // listens: that wakes nobody).
    let mut everyone = clients.clone();
    everyone.push(holder_client.clone());
    let woken = |clients: &[coord_client::client::Client]| {
        clients.iter().map(|c| c.watchers_woken()).sum::<u64>()
    };
    let before = woken(&everyone);
    let server_before = ts.server.watch_events_delivered();
    holder.release().await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            acquired.load(Ordering::SeqCst) >= 1
        })
        .await
    );
    // Let any herd arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered = woken(&everyone) - before;
    // The server sent at most one more event: the releaser's own.
    let at_server = ts.server.watch_events_delivered() - server_before;
    assert!(
        at_server >= delivered && at_server <= delivered + 1,
        "server delivered {at_server}, watchers woken {delivered}"
    );
    for t in tasks {
        t.abort();
    }
    for c in clients {
        let _ = c.close().await;
    }
    let _ = holder_client.close().await;
    delivered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_release_wakes_exactly_one_of_fifty_waiters() {
    let ts = support::start_server().await;
    let herd_free = events_per_release(&ts, "/locks/herd-free", 50, false).await;
    assert_eq!(herd_free, 1, "herd-free recipe: one event per release");
    // The same measurement catches a herd: the naive recipe wakes everyone.
    let naive = events_per_release(&ts, "/locks/naive", 49, true).await;
    assert_eq!(naive, 49, "naive recipe: every waiter is woken");
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_whose_session_expires_loses_the_lock_visibly() {
    let ts = support::start_server().await;
    let proxy = Proxy::start(&ts.addr()).await.expect("proxy starts");
    let timeout = Duration::from_millis(600);
    let holder_client = client_to(&proxy.addr(), timeout).await;
    let holder = Lock::new(&holder_client, "/locks/expiry");
    let old_token = holder.acquire().await.unwrap();
    let lost = holder.lost_signal().unwrap();

    let waiter_client = support::client_of(&ts).await;
    let waiter = tokio::spawn(async move {
        let lock = Lock::new(&waiter_client, "/locks/expiry");
        let token = lock.acquire().await.unwrap();
        (Instant::now(), token, lock, waiter_client)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let cut = Instant::now();
    proxy.block();
    let (acquired_at, new_token, _lock, _c) =
        tokio::time::timeout(timeout + Duration::from_secs(3), waiter)
            .await
            .expect("waiter acquires")
            .unwrap();
    assert!(
        acquired_at - cut <= timeout + Duration::from_secs(1),
        "next waiter took over after {:?}",
        acquired_at - cut
    );
    assert!(new_token > old_token);

    let mut lost = lost;
    tokio::time::timeout(timeout + Duration::from_secs(2), lost.wait_for(|l| *l))
        .await
        .expect("lock-lost signal fires")
        .unwrap();
    assert!(holder.is_lost());

    // Even once the network heals, the stale holder cannot write.
    proxy.unblock();
    let write = holder
        .guarded(vec![Op::Create {
            acl: Vec::new(),
            path: "/stale-write".into(),
            data: Default::default(),
            mode: CreateMode::Persistent,
        }])
        .await;
    assert!(
        write.is_err(),
        "stale holder's guarded write was rejected: {write:?}"
    );
    let check = support::client_of(&ts).await;
    assert!(check.exists("/stale-write").await.unwrap().is_none());
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_whose_reply_was_lost_is_found_again_and_leaves_no_orphan() {
    let ts = support::start_server().await;
    let proxy = Proxy::start(&ts.addr()).await.expect("proxy starts");
    let c = client_to(&proxy.addr(), Duration::from_secs(5)).await;
    c.create("/locks", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.create("/locks/lost-reply", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let lock = Lock::new(&c, "/locks/lost-reply");
    proxy.lose_next_reply();
    let token = lock
        .acquire()
        .await
        .expect("acquired despite the lost reply");
    let observer = support::client_of(&ts).await;
    let children = observer.children("/locks/lost-reply").await.unwrap();
    assert_eq!(
        children.len(),
        1,
        "exactly our node, no orphan: {children:?}"
    );
    assert!(children[0].starts_with(lock.owner_id()));
    let (_, stat) = observer
        .get(&format!("/locks/lost-reply/{}", children[0]))
        .await
        .unwrap();
    assert_eq!(stat.czxid, token);
    lock.release().await.unwrap();
    assert!(
        observer
            .children("/locks/lost-reply")
            .await
            .unwrap()
            .is_empty()
    );
    ts.stop().await.expect("clean shutdown");
}

/// Whether `dir` comes to have exactly `n` children within `within`.
async fn children_become(c: &coord_client::Client, dir: &str, n: usize, within: Duration) -> bool {
    eventually(within, || async {
        c.children(dir).await.unwrap().len() == n
    })
    .await
}

/// An acquire dropped while its create is answered but not yet seen by the
/// acquiring future (an abort right after the request went out) leaves no
/// node behind: the next waiter would otherwise queue behind it until the
/// session ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquire_dropped_while_its_create_is_in_flight_leaves_no_node() {
    let ts = support::start_server().await;
    let a = support::client_of(&ts).await;
    let b = support::client_of(&ts).await;
    let holder = Lock::new(&a, "/locks/f");
    holder.acquire().await.unwrap();
    let waiter = Lock::new(&b, "/locks/f");
    for round in 0..5 {
        let mut fut = Box::pin(waiter.acquire());
        // One poll sends the create; the future is not polled again, so it
        // never sees the answer.
        assert!(futures::poll!(&mut fut).is_pending());
        assert!(
            children_become(&a, "/locks/f", 2, Duration::from_secs(5)).await,
            "round {round}: the waiter's node was created"
        );
        drop(fut);
        assert!(
            children_become(&a, "/locks/f", 1, Duration::from_secs(5)).await,
            "round {round}: the dropped acquire's node is still there"
        );
    }
    holder.release().await.unwrap();
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_cancellation_remove_the_waiters_node() {
    let ts = support::start_server().await;
    let a = support::client_of(&ts).await;
    let b = support::client_of(&ts).await;
    let holder = Lock::new(&a, "/locks/t");
    holder.acquire().await.unwrap();
    let waiter = Lock::new(&b, "/locks/t");
    match waiter.acquire_timeout(Duration::from_millis(200)).await {
        Err(Error::LockTimeout(_)) => {}
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert_eq!(
        a.children("/locks/t").await.unwrap().len(),
        1,
        "timed-out node removed"
    );
    assert_eq!(
        waiter.try_acquire().await.unwrap(),
        None,
        "try_acquire never waits"
    );
    assert_eq!(a.children("/locks/t").await.unwrap().len(), 1);

    // Cancel a waiting acquire by dropping its future.
    let fut = waiter.acquire();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), fut)
            .await
            .is_err()
    );
    assert!(
        children_become(&a, "/locks/t", 1, Duration::from_secs(2)).await,
        "cancelled node removed"
    );
    holder.release().await.unwrap();
    assert!(waiter.try_acquire().await.unwrap().is_some());
    waiter.release().await.unwrap();
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reentrant_acquire_counts_up_and_guarded_writes_commit_while_held() {
    let ts = support::start_server().await;
    let c = support::client_of(&ts).await;
    let lock = Lock::new(&c, "/locks/re");
    let t1 = lock.acquire().await.unwrap();
    let t2 = lock.acquire().await.unwrap();
    assert_eq!(t1, t2);
    lock.release().await.unwrap();
    assert!(lock.is_held(), "still held after one of two releases");
    let results = lock
        .guarded(vec![Op::Create {
            acl: Vec::new(),
            path: "/guarded".into(),
            data: b"x".to_vec().into(),
            mode: CreateMode::Persistent,
        }])
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    assert!(c.exists("/guarded").await.unwrap().is_some());
    lock.release().await.unwrap();
    assert!(!lock.is_held());
    assert!(matches!(lock.release().await, Err(Error::NotHeld(_))));
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_deleted_by_an_operator_is_reported_lost() {
    let ts = support::start_server().await;
    let c = support::client_of(&ts).await;
    let op = support::client_of(&ts).await;
    let lock = Lock::new(&c, "/locks/broken");
    lock.acquire().await.unwrap();
    let node = op.children("/locks/broken").await.unwrap().remove(0);
    op.delete(&format!("/locks/broken/{node}"), None)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(2), lock.lost())
        .await
        .expect("lost fires");
    assert!(matches!(
        lock.guarded(vec![]).await,
        Err(Error::LockLost(_))
    ));
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_overlap_writer_excludes_and_is_not_starved() {
    let ts = support::start_server().await;
    let c1 = support::client_of(&ts).await;
    let c2 = support::client_of(&ts).await;
    let c3 = support::client_of(&ts).await;
    let r1 = RwLock::new(&c1, "/rw");
    let r2 = RwLock::new(&c2, "/rw");
    r1.read.acquire().await.unwrap();
    r2.read
        .acquire_timeout(Duration::from_secs(2))
        .await
        .expect("readers overlap");

    let w = RwLock::new(&c3, "/rw");
    let writer = tokio::spawn(async move {
        w.write.acquire().await.unwrap();
        (Instant::now(), w)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!writer.is_finished(), "writer waits for readers");
    // A reader arriving after the waiting writer must queue behind it.
    let c4 = support::client_of(&ts).await;
    let late = RwLock::new(&c4, "/rw");
    assert!(matches!(
        late.read.acquire_timeout(Duration::from_millis(300)).await,
        Err(Error::LockTimeout(_))
    ));
    r1.read.release().await.unwrap();
    r2.read.release().await.unwrap();
    let (_, w) = tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            late.read.acquire_timeout(Duration::from_millis(200)).await,
            Err(Error::LockTimeout(_))
        ),
        "writer excludes readers"
    );
    w.write.release().await.unwrap();
    late.read
        .acquire_timeout(Duration::from_secs(2))
        .await
        .unwrap();
    ts.stop().await.expect("clean shutdown");
}

/// Creates a node the way kazoo's recipes name theirs: `uuid4().hex`, the
/// marker, the sequence suffix; its data is the contender's identifier.
async fn kazoo_node(c: &coord_client::Client, dir: &str, marker: &str, ident: &str) -> String {
    let hex: String = (0..32)
        .map(|i| char::from(b"0123456789abcdef"[i % 16]))
        .collect();
    c.create(
        &format!("{dir}/{hex}{marker}"),
        ident.as_bytes().to_vec(),
        CreateMode::EphemeralSequential,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coord_locks_follow_kazoo_named_nodes_in_the_same_line() {
    let ts = support::start_server().await;
    let raw = support::client_of(&ts).await;
    let c = support::client_of(&ts).await;
    raw.create("/kz", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    // A child outside the contender pattern is ignored, even though the
    // server reports it as the node just ahead of ours.
    raw.create("/kz/other-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .unwrap();
    let lock = Lock::new(&c, "/kz");
    lock.acquire_timeout(Duration::from_secs(2))
        .await
        .expect("a non-contender does not block");
    let (data, _) = raw
        .get(&format!(
            "/kz/{}",
            raw.children("/kz")
                .await
                .unwrap()
                .iter()
                .find(|n| n.contains("__lock__"))
                .unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(
        data.as_ref(),
        lock.owner_id().as_bytes(),
        "kazoo reads our owner id"
    );
    lock.release().await.unwrap();

    // kazoo writer ahead, then a kazoo reader: the server reports the reader as
    // our reader's predecessor, but the writer further ahead blocks us.
    let writer = kazoo_node(&raw, "/kz", "__lock__", "kazoo-writer").await;
    let reader = kazoo_node(&raw, "/kz", "__rlock__", "kazoo-reader").await;
    let rw = RwLock::new(&c, "/kz");
    assert!(matches!(
        rw.read.acquire_timeout(Duration::from_millis(300)).await,
        Err(Error::LockTimeout(_))
    ));
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(300)).await,
        Err(Error::LockTimeout(_))
    ));
    raw.delete(&writer, None).await.unwrap();
    rw.read
        .acquire_timeout(Duration::from_secs(2))
        .await
        .expect("readers share with the kazoo reader");
    // A writer (and a mutex) waits for the kazoo reader.
    assert!(matches!(
        rw.write.acquire_timeout(Duration::from_millis(300)).await,
        Err(Error::LockTimeout(_))
    ));
    rw.read.release().await.unwrap();
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(300)).await,
        Err(Error::LockTimeout(_))
    ));
    raw.delete(&reader, None).await.unwrap();
    lock.acquire_timeout(Duration::from_secs(2)).await.unwrap();
    lock.release().await.unwrap();
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_grants_at_most_n_and_multilock_is_all_or_nothing() {
    let ts = support::start_server().await;
    let c = support::client_of(&ts).await;
    let sem = Semaphore::new(&c, "/sem", 2);
    let l1 = sem.acquire().await.unwrap();
    let l2 = sem.acquire().await.unwrap();
    assert!(sem.try_acquire().await.unwrap().is_none());
    assert!(matches!(
        Semaphore::new(&c, "/sem", 3).try_acquire().await,
        Err(Error::BadArguments(_))
    ));
    l1.release().await.unwrap();
    let l3 = sem.acquire_timeout(Duration::from_secs(2)).await.unwrap();
    assert!(l3.token() > l2.token());

    let other = support::client_of(&ts).await;
    let blocker = Lock::new(&other, "/m/b");
    blocker.acquire().await.unwrap();
    let multi = MultiLock::new(&c, &["/m/c", "/m/a", "/m/b"]);
    assert!(matches!(
        multi.acquire_timeout(Duration::from_millis(300)).await,
        Err(Error::LockTimeout(_))
    ));
    // "/m/a" was taken first and released again on failure.
    assert!(
        Lock::new(&other, "/m/a")
            .try_acquire()
            .await
            .unwrap()
            .is_some()
    );
    ts.stop().await.expect("clean shutdown");
}
