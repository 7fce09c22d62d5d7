//! Recipes on a directory with more children than one reply holds: the lock,
//! the read-write lock, the queue and the election keep working, because
//! their listings page.
//!
//! The server's `--max-listing-bytes` is lowered to 2 KiB and each directory
//! gets 2,000 other children (about 60 KB of names, some 30 pages): the same
//! code path as the default 4 MiB budget with a hundred thousand children.
//! Each test first checks that the directory does not fit one reply.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coord_client::client::{Client, CreateMode, Op};
use coord_client::recipes::{Election, Lock, Queue, RwLock};
use coord_server::server::{Server, ServerConfig};

const PATIENCE: Duration = Duration::from_secs(20);
const FILLERS: usize = 2000;

struct Running {
    server: Server,
    _dir: tempfile::TempDir,
}

async fn small_budget_server() -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.max_listing_bytes = 2048;
    let server = Server::start(cfg).await.expect("server starts");
    Running { server, _dir: dir }
}

async fn client_of(r: &Running) -> Client {
    Client::builder()
        .servers(r.server.local_addr().to_string())
        .session_timeout(Duration::from_secs(5))
        .request_timeout(PATIENCE)
        .connect()
        .await
        .expect("client connects")
}

/// Creates `dir` (and parents) with [`FILLERS`] children that are not part of
/// any recipe's line (no sequence suffix), and checks they need many pages.
async fn crowd(c: &Client, dir: &str) {
    c.create_parents(dir, Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    for start in (0..FILLERS).step_by(500) {
        let ops = (start..start + 500)
            .map(|i| Op::Create {
                acl: Vec::new(),
                path: format!("{dir}/filler-{i:06}-{}", "p".repeat(1 + i % 9)),
                data: Vec::new().into(),
                mode: CreateMode::Persistent,
            })
            .collect();
        c.multi(ops).await.unwrap();
    }
    let first = c.children_page(dir, None, None).await.unwrap();
    assert!(first.more, "{dir} must not fit one reply");
    assert!(
        first.names.len() * 10 < FILLERS,
        "{} names in a page",
        first.names.len()
    );
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_hands_over_under_a_parent_too_large_for_one_reply() {
    let r = small_budget_server().await;
    let a = client_of(&r).await;
    let b = client_of(&r).await;
    crowd(&a, "/locks/crowded").await;
    let lock_a = Lock::new(&a, "/locks/crowded");
    let lock_b = Arc::new(Lock::new(&b, "/locks/crowded"));
    let first = lock_a.acquire().await.unwrap();
    let waiting = tokio::spawn({
        let lock_b = Arc::clone(&lock_b);
        async move { lock_b.acquire_timeout(PATIENCE).await }
    });
    // b is in line once its node is there.
    let mut queued = false;
    for _ in 0..200 {
        if a.children_count("/locks/crowded").await.unwrap() as usize == FILLERS + 2 {
            queued = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(queued, "b never joined the line");
    assert!(!waiting.is_finished(), "b must wait while a holds the lock");
    // Released: b learns it is first by listing the crowded directory.
    lock_a.release().await.unwrap();
    let second = within("b's lock", waiting).await.unwrap().unwrap();
    assert!(second > first, "fencing token {second} after {first}");
    assert_eq!(lock_a.try_acquire().await.unwrap(), None, "b holds it");
    lock_b.release().await.unwrap();

    // The read side lists the directory on every acquire.
    let rw_a = RwLock::new(&a, "/locks/crowded");
    let rw_b = RwLock::new(&b, "/locks/crowded");
    rw_a.read.acquire_timeout(PATIENCE).await.unwrap();
    rw_b.read.acquire_timeout(PATIENCE).await.unwrap();
    assert_eq!(rw_b.write.try_acquire().await.unwrap(), None);
    rw_a.read.release().await.unwrap();
    rw_b.read.release().await.unwrap();
    assert!(rw_b.write.try_acquire().await.unwrap().is_some());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_works_in_a_directory_too_large_for_one_reply() {
    let r = small_budget_server().await;
    let c = client_of(&r).await;
    // Items crowded by other children: taken in order, counted right.
    crowd(&c, "/queues/crowded").await;
    let q = Queue::new(&c, "/queues/crowded");
    for i in 0..5 {
        q.put(format!("job-{i}")).await.unwrap();
    }
    assert_eq!(q.len().await.unwrap(), 5);
    for i in 0..3 {
        let got = within("take", q.take()).await.unwrap();
        assert_eq!(got, Bytes::from(format!("job-{i}")));
    }
    assert_eq!(q.peek().await.unwrap(), Some(Bytes::from_static(b"job-3")));

    // A queue of many items: the oldest comes first.
    let many = Queue::new(&c, "/queues/many");
    many.put("first").await.unwrap();
    for start in (0..FILLERS).step_by(500) {
        let ops = (start..start + 500)
            .map(|i| Op::Create {
                acl: Vec::new(),
                path: "/queues/many/item-".into(),
                data: format!("item {i}").into_bytes().into(),
                mode: CreateMode::PersistentSequential,
            })
            .collect();
        c.multi(ops).await.unwrap();
    }
    assert!(
        c.children_page("/queues/many", None, None)
            .await
            .unwrap()
            .more
    );
    assert_eq!(
        many.try_take().await.unwrap(),
        Some(Bytes::from_static(b"first"))
    );
    assert_eq!(many.len().await.unwrap(), FILLERS);

    // An empty queue in a crowded directory: a waiting take wakes on a put.
    crowd(&c, "/queues/waiting").await;
    let waiting_q = Queue::new(&client_of(&r).await, "/queues/waiting");
    let taker = tokio::spawn(async move { waiting_q.take_timeout(PATIENCE).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!taker.is_finished(), "nothing to take yet");
    Queue::new(&c, "/queues/waiting").put("late").await.unwrap();
    let got = within("the waiting take", taker).await.unwrap().unwrap();
    assert_eq!(got, Bytes::from_static(b"late"));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_passes_leadership_in_a_directory_too_large_for_one_reply() {
    let r = small_budget_server().await;
    let setup = client_of(&r).await;
    crowd(&setup, "/election/crowded").await;
    let a = Election::new(&client_of(&r).await, "/election/crowded", "a");
    let b = Arc::new(Election::new(
        &client_of(&r).await,
        "/election/crowded",
        "b",
    ));
    let first = a.campaign_timeout(PATIENCE).await.unwrap();
    let leader = Election::leader(&setup, "/election/crowded").await.unwrap();
    assert_eq!(leader.unwrap().identity, Bytes::from_static(b"a"));
    let waiting = tokio::spawn({
        let b = Arc::clone(&b);
        async move { b.campaign_timeout(PATIENCE).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "a still leads");
    a.resign().await.unwrap();
    let second = within("b's election", waiting).await.unwrap().unwrap();
    assert!(second.token > first.token);
    let leader = Election::leader(&setup, "/election/crowded").await.unwrap();
    assert_eq!(leader.unwrap().identity, Bytes::from_static(b"b"));
    setup.close().await.unwrap();
}
