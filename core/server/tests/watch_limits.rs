//! Watches are bounded and checked: a session holds at most
//! `max_watches_per_session` registrations (every kind), every path of a
//! `SetWatches` is validated, and a large `SetWatches` does not stall other
//! clients' writes while it is registered.

mod raw;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coord_client::{Client, CreateMode};
use coord_proto::Error;
use coord_proto::proto::{self, request};
use coord_server::server::Server;
use raw::{PATIENCE, Raw, add_watch, error_of};

fn set_watches(last_zxid: u64, persistent: Vec<String>) -> request::Op {
    request::Op::SetWatches(proto::SetWatchesRequest {
        last_zxid,
        persistent,
        ..Default::default()
    })
}

fn exists_watch(path: &str) -> request::Op {
    request::Op::Exists(proto::ExistsRequest {
        path: path.into(),
        watch: true,
    })
}

fn too_large_naming_the_limit(r: &proto::Response) {
    match error_of(r) {
        Some(Error::TooLarge(d)) => assert!(d.contains("max_watches_per_session = 5"), "{d}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_past_its_watch_limit_gets_an_error_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.max_watches_per_session = 5;
    let server = Server::start(cfg).await.unwrap();
    let mut raw = Raw::session(server.local_addr(), 10_000).await;

    // Every kind counts: 2 persistent, 1 recursive, 2 exists.
    let mut xid = 0;
    let mut call = async |raw: &mut Raw, op| {
        xid += 1;
        raw.call(xid, op).await
    };
    for op in [
        add_watch("/a", false),
        add_watch("/b", false),
        add_watch("/c", true),
        exists_watch("/d"),
        exists_watch("/e"),
    ] {
        let r = call(&mut raw, op).await;
        assert!(r.error.is_none(), "{r:?}");
    }
    assert_eq!(server.watch_count(), 5);
    too_large_naming_the_limit(&call(&mut raw, add_watch("/f", false)).await);
    too_large_naming_the_limit(&call(&mut raw, exists_watch("/f")).await);
    too_large_naming_the_limit(&call(&mut raw, set_watches(0, vec!["/f".into()])).await);
    // Registering one it already holds adds nothing and is fine.
    let again = call(&mut raw, add_watch("/a", false)).await;
    assert!(again.error.is_none(), "{again:?}");
    // A SetWatches listing more than the limit is refused on its shape.
    let many = (0..6).map(|i| format!("/m{i}")).collect();
    too_large_naming_the_limit(&call(&mut raw, set_watches(0, many)).await);
    assert_eq!(server.watch_count(), 5);
    // The connection still serves reads without watches.
    let plain = call(&mut raw, raw::get_data("/")).await;
    assert!(plain.error.is_none(), "{plain:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches_with_an_invalid_path_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(raw::config(&dir)).await.unwrap();
    let mut raw = Raw::session(server.local_addr(), 10_000).await;
    let r = raw
        .call(
            1,
            set_watches(0, vec!["/ok".into(), "/fine/x".into(), "no-slash".into()]),
        )
        .await;
    match error_of(&r) {
        Some(Error::InvalidPath(d)) => {
            assert!(d.contains("persistent[2]") && d.contains("no-slash"), "{d}")
        }
        other => panic!("expected InvalidPath, got {other:?}"),
    }
    assert_eq!(
        server.watch_count(),
        0,
        "nothing of a refused request stays"
    );
    let recursive = raw
        .call(
            2,
            request::Op::SetWatches(proto::SetWatchesRequest {
                persistent_recursive: vec!["/a//b".into()],
                ..Default::default()
            }),
        )
        .await;
    assert!(matches!(error_of(&recursive), Some(Error::InvalidPath(_))));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_keep_completing_while_a_large_set_watches_is_registered() {
    const WATCHES: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.max_watches_per_session = WATCHES;
    let server = Arc::new(Server::start(cfg).await.unwrap());
    let writer = Client::builder()
        .servers(server.local_addr().to_string())
        .connect()
        .await
        .unwrap();
    writer
        .create("/x", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut raw = Raw::session(server.local_addr(), 30_000).await;
    let paths: Vec<String> = (0..WATCHES).map(|i| format!("/w/n{i}")).collect();

    // A thread (not a task of the server's runtime) samples the registered
    // count while the request runs. The count is read under the registry's
    // lock, so a partial count can only be seen between two steps: seeing
    // several proves the lock is let go while the watches are registered.
    // (Whether one of the writes below also completes between two steps
    // depends on the machine: on an idle one, the steps can all run within
    // one fsync.)
    let sampler = {
        let server = server.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + PATIENCE;
            let mut partial = BTreeSet::new();
            while Instant::now() < deadline {
                match server.watch_count() {
                    WATCHES => break,
                    0 => {}
                    n => {
                        partial.insert(n);
                    }
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            partial
        })
    };
    let started = Instant::now();
    raw.send(raw::request(1, set_watches(0, paths))).await;
    let reply = tokio::spawn(async move {
        let r = raw.response(1).await;
        (r, started.elapsed(), raw)
    });
    // Write, one at a time, until the reply came; note how long each took.
    let mut worst = Duration::ZERO;
    let mut writes = 0;
    while !reply.is_finished() && started.elapsed() < PATIENCE {
        let t = Instant::now();
        writer.set("/x", Vec::new(), None).await.unwrap();
        worst = worst.max(t.elapsed());
        writes += 1;
    }
    let (r, took, raw) = reply.await.unwrap();
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(server.watch_count(), WATCHES);
    let partial = tokio::task::spawn_blocking(move || sampler.join().unwrap())
        .await
        .unwrap();
    assert!(
        partial.len() >= 2,
        "the registered count was seen between 0 and {WATCHES} only as {partial:?}: \
         the watches were registered in fewer steps than expected"
    );
    assert!(writes >= 1, "no write completed during the SetWatches");
    // Generous: one step's lock hold plus an fsync, on a loaded machine.
    assert!(
        worst < Duration::from_secs(1).max(took / 2),
        "a write waited {worst:?} behind a SetWatches of {took:?}"
    );
    drop(raw);
    writer.close().await.unwrap();
    let server = Arc::into_inner(server).expect("the sampler thread has ended");
    server.shutdown().await.unwrap();
}
