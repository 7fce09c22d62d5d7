//! Watch replay on reconnect: every event missed while away arrives once, in
//! zxid order and with its own zxid, for every kind of watch; when the
//! server's history is too short, the watchers get `EventsLost` and the
//! caches re-read.

use std::time::Duration;

use bytes::Bytes;
use coord_client::client::{Client, CreateMode, EventType, SessionState, WatchMode, WatchStream};
use coord_client::recipes::NodeCache;
use futures::{FutureExt, StreamExt};

use super::SESSION;
use crate::support::{Proxy, TestServer, client, eventually, wait_state, within};

/// What a test compares: (type, path, zxid).
type Seen = (EventType, String, u64);

fn seen(kind: EventType, path: &str, zxid: u64) -> Seen {
    (kind, path.to_string(), zxid)
}

/// A client behind a proxy (to be cut off) and a writer straight to the server.
async fn away_and_writer(srv: &TestServer) -> (Proxy, Client, Client) {
    let proxy = Proxy::start(srv.addr).await;
    let away = client(proxy.addr, SESSION).await;
    let writer = client(srv.addr, SESSION).await;
    (proxy, away, writer)
}

async fn cut(proxy: &Proxy, c: &Client) {
    proxy.cut();
    wait_state(c, SessionState::Suspended).await;
}

/// Events of `stream` up to and including the first at `until`, then checks
/// that nothing else is queued.
async fn events_until(stream: &mut WatchStream, until: u64) -> Vec<Seen> {
    let mut got = Vec::new();
    within("events up to the marker", async {
        while let Some(ev) = stream.next().await {
            let ev = ev.expect("watch event");
            let done = ev.zxid >= until;
            got.push((ev.kind, ev.path, ev.zxid));
            if done {
                return;
            }
        }
        panic!("stream ended; got {got:?}");
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        stream.next().now_or_never().is_none(),
        "an event came twice: {got:?}"
    );
    got
}

#[tokio::test]
async fn one_shot_watches_fire_once_with_the_first_missed_change_and_its_zxid() {
    let srv = TestServer::start().await;
    let (proxy, c, w) = away_and_writer(&srv).await;
    w.create("/d", "0", CreateMode::Persistent).await.unwrap();
    w.create("/p", "", CreateMode::Persistent).await.unwrap();
    let (_, _, data) = c.get_watch("/d").await.unwrap();
    let (_, created) = c.exists_watch("/e").await.unwrap();
    let (_, children) = c.children_watch("/p").await.unwrap();

    cut(&proxy, &c).await;
    let changed = w.set("/d", "1", None).await.unwrap().mzxid;
    w.delete("/d", None).await.unwrap();
    let (_, e) = w
        .create_with_stat("/e", "", CreateMode::Persistent)
        .await
        .unwrap();
    w.set("/e", "1", None).await.unwrap();
    let (_, kid) = w
        .create_with_stat("/p/k", "", CreateMode::Persistent)
        .await
        .unwrap();
    w.delete("/p/k", None).await.unwrap();
    proxy.restore();

    let ev = within("data watch", data).await.unwrap();
    assert_eq!(
        (ev.kind, ev.zxid),
        (EventType::NodeDataChanged, changed),
        "the first change, not the delete"
    );
    let ev = within("exists watch", created).await.unwrap();
    assert_eq!((ev.kind, ev.zxid), (EventType::NodeCreated, e.czxid));
    let ev = within("child watch", children).await.unwrap();
    assert_eq!(
        (ev.kind, ev.zxid),
        (EventType::NodeChildrenChanged, kid.czxid)
    );
    srv.stop().await;
}

#[tokio::test]
async fn persistent_watch_gets_every_missed_event_in_order_even_when_the_node_is_gone() {
    let srv = TestServer::start().await;
    let (proxy, c, w) = away_and_writer(&srv).await;
    w.create("/p", "0", CreateMode::Persistent).await.unwrap();
    let mut stream = c.watch("/p", WatchMode::Persistent).await.unwrap();

    cut(&proxy, &c).await;
    let z1 = w.set("/p", "1", None).await.unwrap().mzxid;
    let (_, kid) = w
        .create_with_stat("/p/k", "", CreateMode::Persistent)
        .await
        .unwrap();
    w.delete("/p/k", None).await.unwrap();
    let z3 = w.last_zxid();
    w.delete("/p", None).await.unwrap();
    let z4 = w.last_zxid();
    proxy.restore();
    wait_state(&c, SessionState::Connected).await;
    let (_, back) = w
        .create_with_stat("/p", "", CreateMode::Persistent)
        .await
        .unwrap();

    assert_eq!(
        events_until(&mut stream, back.czxid).await,
        [
            seen(EventType::NodeDataChanged, "/p", z1),
            seen(EventType::NodeChildrenChanged, "/p", kid.czxid),
            seen(EventType::NodeChildrenChanged, "/p", z3),
            seen(EventType::NodeDeleted, "/p", z4),
            seen(EventType::NodeCreated, "/p", back.czxid),
        ]
    );
    srv.stop().await;
}

#[tokio::test]
async fn recursive_watch_gets_every_missed_subtree_event_in_order() {
    let srv = TestServer::start().await;
    let (proxy, c, w) = away_and_writer(&srv).await;
    w.create("/r", "", CreateMode::Persistent).await.unwrap();
    let mut stream = c.watch("/r", WatchMode::PersistentRecursive).await.unwrap();

    cut(&proxy, &c).await;
    let (_, a) = w
        .create_with_stat("/r/a", "", CreateMode::Persistent)
        .await
        .unwrap();
    let z2 = w.set("/r/a", "1", None).await.unwrap().mzxid;
    let (_, b) = w
        .create_with_stat("/r/a/b", "", CreateMode::Persistent)
        .await
        .unwrap();
    w.delete("/r/a/b", None).await.unwrap();
    let z4 = w.last_zxid();
    // A sibling sharing the prefix is not below /r.
    w.create("/rx", "", CreateMode::Persistent).await.unwrap();
    proxy.restore();
    wait_state(&c, SessionState::Connected).await;
    let marker = w.set("/r", "m", None).await.unwrap().mzxid;

    assert_eq!(
        events_until(&mut stream, marker).await,
        [
            seen(EventType::NodeCreated, "/r/a", a.czxid),
            seen(EventType::NodeDataChanged, "/r/a", z2),
            seen(EventType::NodeCreated, "/r/a/b", b.czxid),
            seen(EventType::NodeDeleted, "/r/a/b", z4),
            seen(EventType::NodeDataChanged, "/r", marker),
        ]
    );
    srv.stop().await;
}

#[tokio::test]
async fn too_short_watch_history_reports_events_lost_and_the_node_cache_rereads() {
    // Room for no event at all: anything missed is lost.
    let srv = TestServer::start_with(|cfg| cfg.watch_history_bytes = 0).await;
    let (proxy, c, w) = away_and_writer(&srv).await;
    w.create("/n", "0", CreateMode::Persistent).await.unwrap();
    let cache = NodeCache::start(&c, "/n").await.unwrap();
    let mut stream = c.watch("/n", WatchMode::Persistent).await.unwrap();
    let (_, _, data) = c.get_watch("/n").await.unwrap();

    cut(&proxy, &c).await;
    w.set("/n", "1", None).await.unwrap();
    w.set("/n", "2", None).await.unwrap();
    proxy.restore();

    let ev = within("lost on the stream", stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ev.kind, ev.path.as_str()), (EventType::EventsLost, "/n"));
    let ev = within("lost on the one-shot", data).await.unwrap();
    assert_eq!(ev.kind, EventType::EventsLost);
    eventually("the cache re-read", || {
        let v = cache.data();
        async move { Ok(v == Some(Bytes::from("2"))) }
    })
    .await;
    // The persistent watch stays registered and sees live events again.
    let z = w.set("/n", "3", None).await.unwrap().mzxid;
    let ev = within("live event", stream.next()).await.unwrap().unwrap();
    assert_eq!((ev.kind, ev.zxid), (EventType::NodeDataChanged, z));
    srv.stop().await;
}
