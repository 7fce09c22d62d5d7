//! A read that sets a watch answers before the event of any later change:
//! the client only listens for the event once it has the reply, so an event
//! overtaking its reply would be dropped and the client would wait forever
//! (a lock waiter watching the node ahead of it, for one). The server pauses
//! between registering such a watch and queueing its reply (a test hook),
//! while another client changes the watched node in that gap.

mod raw;

use std::time::Duration;

use coord_client::{Client, CreateMode};
use coord_proto::proto::{self, request, server_message};
use coord_server::server::Server;
use raw::{Raw, request};

/// How long the server holds a watched read between registration and reply.
const PAUSE: Duration = Duration::from_millis(400);

/// The order in which `raw` hears the reply to `xid` and the first event.
async fn reply_and_event_order(raw: &mut Raw, xid: u64) -> Vec<&'static str> {
    let mut order = Vec::new();
    for _ in 0..8 {
        match raw.next().await {
            Some(server_message::Body::Response(r)) if r.xid == xid => {
                assert!(r.error.is_none(), "{r:?}");
                order.push("reply");
            }
            Some(server_message::Body::Event(e)) => {
                order.push("event");
                assert!(!e.path.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        if order.len() == 2 {
            break;
        }
    }
    order
}

async fn check(watched_read: request::Op, change: impl AsyncFnOnce(&Client)) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.pause_before_watched_reply = PAUSE;
    let server = Server::start(cfg).await.unwrap();
    let c = raw::client(&server).await;
    c.create("/d", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.create("/d/n", b"x".to_vec(), CreateMode::Persistent)
        .await
        .unwrap();

    let mut raw = Raw::session(server.local_addr(), 30_000).await;
    raw.send(request(1, watched_read)).await;
    // The change is sent while the server sits between registration and reply.
    tokio::time::sleep(PAUSE / 4).await;
    change(&c).await;
    assert_eq!(
        reply_and_event_order(&mut raw, 1).await,
        ["reply", "event"],
        "the event overtook the reply that set its watch"
    );
    drop(raw);
    c.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exists_watch_reply_comes_before_the_delete_event() {
    let exists = request::Op::Exists(proto::ExistsRequest {
        path: "/d/n".into(),
        watch: true,
    });
    check(exists, async |c: &Client| {
        c.delete("/d/n", None).await.unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_watch_reply_comes_before_the_change_event() {
    let get = request::Op::GetData(proto::GetDataRequest {
        path: "/d/n".into(),
        watch: true,
    });
    check(get, async |c: &Client| {
        c.set("/d/n", b"y".to_vec(), None).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_watch_reply_comes_before_the_children_event() {
    let list = request::Op::GetChildren(proto::GetChildrenRequest {
        path: "/d".into(),
        watch: true,
        ..Default::default()
    });
    check(list, async |c: &Client| {
        c.create("/d/m", Vec::new(), CreateMode::Persistent)
            .await
            .unwrap();
    })
    .await;
}
