//! Status calls of held recipes never wait, a lease reports its loss like a
//! lock, and a waiting acquire rides out a request timeout while its session
//! lives (issue 11, points 6 and 7).

#[path = "../../server/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use coord_client::Error;
use coord_client::recipes::{Lock, Semaphore};
use coord_client::{Client, CreateMode, Op};
use support::eventually;
use support::proxy::Proxy;

/// Bound of a call that must answer at once.
const AT_ONCE: Duration = Duration::from_secs(1);

async fn count_children(c: &Client, path: &str) -> usize {
    c.children(path).await.map(|k| k.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_status_answers_at_once_while_an_acquire_of_the_same_handle_waits() {
    let ts = support::start_server().await;
    let a = support::client_of(&ts).await;
    let holder = Lock::new(&a, "/locks/status");
    holder.acquire().await.unwrap();

    let b = support::client_of(&ts).await;
    let lock = Arc::new(Lock::new(&b, "/locks/status"));
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire().await }
    });
    assert!(
        eventually(Duration::from_secs(5), || async {
            count_children(&a, "/locks/status").await == 2
        })
        .await,
        "the second acquire is in line"
    );

    // Every status call answers at once and says "not held".
    assert!(!lock.is_held());
    assert_eq!(lock.token(), None);
    assert!(!lock.is_lost());
    assert!(lock.lost_signal().is_none());
    tokio::time::timeout(AT_ONCE, lock.lost())
        .await
        .expect("lost() resolves at once when not held");
    let guarded = tokio::time::timeout(
        AT_ONCE,
        lock.guarded(vec![Op::Create {
            acl: Vec::new(),
            path: "/status-write".into(),
            data: Default::default(),
            mode: CreateMode::Persistent,
        }]),
    )
    .await
    .expect("guarded answers at once");
    assert!(matches!(guarded, Err(Error::NotHeld(_))), "{guarded:?}");
    let released = tokio::time::timeout(AT_ONCE, lock.release())
        .await
        .expect("release answers at once");
    assert!(matches!(released, Err(Error::NotHeld(_))), "{released:?}");
    assert_eq!(
        tokio::time::timeout(AT_ONCE, lock.try_acquire())
            .await
            .expect("try_acquire answers at once")
            .unwrap(),
        None,
        "the handle is already waiting in line"
    );

    // The acquire was not disturbed: it is still waiting, then gets the lock.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the acquire is still pending");
    holder.release().await.unwrap();
    let token = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiter acquires")
        .unwrap()
        .unwrap();
    assert!(lock.is_held());
    assert_eq!(lock.token(), Some(token));
    lock.release().await.unwrap();
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_reports_loss_when_another_client_deletes_its_node() {
    let ts = support::start_server().await;
    let c = support::client_of(&ts).await;
    let sem = Semaphore::new(&c, "/sems/loss", 2);
    let lease = sem.acquire().await.unwrap();
    let signal = lease.lost_signal();
    assert!(!lease.is_lost());
    assert!(!*signal.borrow());

    let operator = support::client_of(&ts).await;
    operator.delete(lease.node(), None).await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), lease.lost())
        .await
        .expect("the lease's loss is reported");
    assert!(lease.is_lost());
    assert!(*signal.borrow());
    // Giving back a lost lease succeeds: nothing is left to free.
    lease.release().await.unwrap();
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_acquire_rides_out_a_request_timeout_while_the_session_lives() {
    let ts = support::start_server().await;
    let a = support::client_of(&ts).await;
    let holder = Lock::new(&a, "/locks/slow");
    holder.acquire().await.unwrap();

    let proxy = Proxy::start(&ts.addr()).await.expect("proxy starts");
    let b = Client::builder()
        .servers(proxy.addr())
        .session_timeout(Duration::from_secs(8))
        .request_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let lock = Arc::new(Lock::new(&b, "/locks/slow"));
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire().await }
    });
    assert!(
        eventually(Duration::from_secs(5), || async {
            count_children(&a, "/locks/slow").await == 2
        })
        .await
    );

    // Replies now come later than the request timeout: the waiter's re-read
    // after the release times out (OperationTimeout) while the session lives.
    proxy.delay_replies(Duration::from_millis(700));
    holder.release().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.delay_replies(Duration::ZERO);

    let token = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the acquire finishes")
        .unwrap()
        .expect("a request timeout does not abort the acquire");
    assert!(lock.is_held());
    assert_eq!(lock.token(), Some(token));
    let kids = a.children("/locks/slow").await.unwrap();
    assert_eq!(kids.len(), 1, "our node is the one left: {kids:?}");
    lock.release().await.unwrap();
    ts.stop().await.expect("clean shutdown");
}
