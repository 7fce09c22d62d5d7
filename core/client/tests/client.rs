//! The client against a real in-process server: CRUD, create modes, multi,
//! watches and their ordering, reconnect and session resume, expiry, and
//! pipelining. Each test names the behaviour a user would notice.

#[path = "client/reconnect.rs"]
mod reconnect;
#[path = "client/replay.rs"]
mod replay;
#[path = "client/support.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use coord_client::Error;
use coord_client::client::{
    CreateMode, EventType, Op, OpResult, SessionState, WatchMode, WatcherType,
};
use futures::{FutureExt, StreamExt};
use support::{TestServer, client, eventually, within};

const SESSION: Duration = Duration::from_secs(5);

#[tokio::test]
async fn crud_round_trip_reports_data_and_stats() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    assert_eq!(c.state(), SessionState::Connected);
    assert_ne!(c.session_id(), 0);

    let (path, created) = c
        .create_with_stat("/a", "one", CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(path, "/a");
    assert_eq!(
        (
            created.version,
            created.data_length,
            created.ephemeral_owner
        ),
        (0, 3, 0)
    );
    assert!(c.last_zxid() >= created.czxid);

    let (data, stat) = c.get("/a").await.unwrap();
    assert_eq!((data, stat), (Bytes::from("one"), created));

    let set = c.set("/a", "two!", Some(0)).await.unwrap();
    assert_eq!((set.version, set.data_length), (1, 4));
    assert!(set.mzxid > created.mzxid);
    assert!(matches!(
        c.set("/a", "x", Some(0)).await,
        Err(Error::BadVersion(_))
    ));

    c.create("/a/x", "", CreateMode::Persistent).await.unwrap();
    c.create("/a/y", "yy", CreateMode::Persistent)
        .await
        .unwrap();
    let mut kids = c.children("/a").await.unwrap();
    kids.sort();
    assert_eq!(kids, ["x", "y"]);
    let (mut with_stats, parent) = c.children_with_stats("/a").await.unwrap();
    with_stats.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(parent.num_children, 2);
    assert_eq!(with_stats[1].0, "y");
    assert_eq!(with_stats[1].1.data_length, 2);

    assert!(matches!(
        c.delete("/a", None).await,
        Err(Error::NotEmpty(_))
    ));
    c.delete("/a/x", None).await.unwrap();
    assert!(matches!(
        c.delete("/a/y", Some(5)).await,
        Err(Error::BadVersion(_))
    ));
    c.delete("/a/y", Some(0)).await.unwrap();
    c.delete("/a", None).await.unwrap();
    assert_eq!(c.exists("/a").await.unwrap(), None);
    assert!(matches!(c.get("/a").await, Err(Error::NoNode(_))));
    assert!(matches!(
        c.create("/a", "", CreateMode::Persistent).await.map(|_| ()),
        Ok(())
    ));
    assert!(matches!(
        c.create("/a", "", CreateMode::Persistent).await,
        Err(Error::NodeExists(_))
    ));
    c.sync("/").await.unwrap();
    c.close().await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn children_come_back_sorted_by_name_whatever_the_creation_order() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    c.create("/s", "", CreateMode::Persistent).await.unwrap();
    // Created out of order; byte order puts "B" before "a", "10" before
    // "9", and "a-b" < "a0" < "a~" (a path-order sort would not).
    let created = ["a0", "9", "a~", "B", "a-b", "10", "a", "é"];
    for name in created {
        c.create(&format!("/s/{name}"), name, CreateMode::Persistent)
            .await
            .unwrap();
    }
    let sorted = ["10", "9", "B", "a", "a-b", "a0", "a~", "é"];
    assert_eq!(c.children("/s").await.unwrap(), sorted);
    let (with_stats, parent) = c.children_with_stats("/s").await.unwrap();
    let names: Vec<&str> = with_stats.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, sorted);
    for (name, stat) in &with_stats {
        assert_eq!(stat.data_length as usize, name.len(), "{name}'s own stat");
    }
    assert_eq!(parent.num_children, sorted.len() as u32);
    let (watched, _watch) = c.children_watch("/s").await.unwrap();
    assert_eq!(watched, sorted);
    // The root's children too (their paths share only "/").
    c.create("/0", "", CreateMode::Persistent).await.unwrap();
    assert_eq!(c.children("/").await.unwrap(), ["0", "s"]);
    srv.stop().await;
}

#[tokio::test]
async fn sequential_nodes_get_increasing_ten_digit_suffixes() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    c.create("/q", "", CreateMode::Persistent).await.unwrap();
    let first = c
        .create("/q/item-", "", CreateMode::PersistentSequential)
        .await
        .unwrap();
    let second = c
        .create("/q/item-", "", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    for p in [&first, &second] {
        let suffix = p.strip_prefix("/q/item-").expect("prefix kept");
        assert_eq!(suffix.len(), 10, "{p}");
        assert!(suffix.bytes().all(|b| b.is_ascii_digit()), "{p}");
    }
    assert!(second > first);
    srv.stop().await;
}

#[tokio::test]
async fn ephemeral_node_is_gone_for_another_client_once_its_owner_closes() {
    let srv = TestServer::start().await;
    let owner = client(srv.addr, SESSION).await;
    let other = client(srv.addr, SESSION).await;
    owner.create("/e", "", CreateMode::Ephemeral).await.unwrap();
    let stat = other
        .exists("/e")
        .await
        .unwrap()
        .expect("visible to others");
    assert_eq!(stat.ephemeral_owner, owner.session_id());

    owner.close().await.unwrap();
    assert_eq!(owner.state(), SessionState::Closed);
    // Closing deletes ephemerals at once: no waiting for a timeout.
    other.sync("/").await.unwrap();
    assert_eq!(other.exists("/e").await.unwrap(), None);
    srv.stop().await;
}

#[tokio::test]
async fn close_is_idempotent_and_later_calls_fail_with_closed() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    c.create("/w", "", CreateMode::Persistent).await.unwrap();
    let (_, _, watch) = c.get_watch("/w").await.unwrap();
    let mut stream = c.watch("/w", WatchMode::Persistent).await.unwrap();
    c.close().await.unwrap();
    c.close().await.unwrap();
    assert!(matches!(c.get("/w").await, Err(Error::Closed(_))));
    assert!(matches!(watch.await, Err(Error::Closed(_))));
    assert!(matches!(stream.next().await, Some(Err(Error::Closed(_)))));
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
    srv.stop().await;
}

#[tokio::test]
async fn dropping_the_last_clone_closes_the_session() {
    let srv = TestServer::start().await;
    let observer = client(srv.addr, SESSION).await;
    let c = client(srv.addr, SESSION).await;
    c.create("/mine", "", CreateMode::Ephemeral).await.unwrap();
    let clone = c.clone();
    drop(c);
    assert!(
        clone.exists("/mine").await.unwrap().is_some(),
        "a clone keeps it open"
    );
    drop(clone);
    eventually("the ephemeral of a dropped client to vanish", || async {
        Ok(observer.exists("/mine").await?.is_none())
    })
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn create_parents_makes_missing_ancestors() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    c.create("/x", "", CreateMode::Persistent).await.unwrap();
    let p = c
        .create_parents("/x/y/z/leaf", "data", CreateMode::Ephemeral)
        .await
        .unwrap();
    assert_eq!(p, "/x/y/z/leaf");
    assert!(c.exists("/x/y/z").await.unwrap().is_some());
    assert_eq!(c.get("/x/y/z/leaf").await.unwrap().0, Bytes::from("data"));
    assert!(matches!(
        c.create_parents("/x/y/z/leaf", "", CreateMode::Persistent)
            .await,
        Err(Error::NodeExists(_))
    ));
    srv.stop().await;
}

#[tokio::test]
async fn multi_applies_all_ops_or_none_and_names_the_failing_op() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    let ok = c
        .multi(vec![
            Op::Create {
                acl: Vec::new(),
                path: "/m".into(),
                data: Bytes::from("0"),
                mode: CreateMode::Persistent,
            },
            Op::SetData {
                path: "/m".into(),
                data: Bytes::from("1"),
                version: 0,
            },
            Op::Check {
                path: "/m".into(),
                version: 1,
            },
        ])
        .await
        .unwrap();
    assert!(matches!(&ok[0], OpResult::Create { path, .. } if path == "/m"));
    assert!(matches!(&ok[1], OpResult::SetData { stat } if stat.version == 1));
    assert_eq!(ok[2], OpResult::Check);

    let failing = vec![
        Op::Create {
            acl: Vec::new(),
            path: "/n".into(),
            data: Bytes::new(),
            mode: CreateMode::Persistent,
        },
        Op::Check {
            path: "/m".into(),
            version: 7,
        },
        Op::Delete {
            path: "/m".into(),
            version: -1,
        },
    ];
    match c.multi(failing.clone()).await {
        Err(Error::BadVersion(d)) => assert!(d.starts_with("op #1: "), "{d}"),
        other => panic!("expected BadVersion, got {other:?}"),
    }
    let raw = c.multi_results(failing).await.unwrap();
    assert!(matches!(raw[0], OpResult::Error(Error::RolledBack(_))));
    assert!(matches!(raw[1], OpResult::Error(Error::BadVersion(_))));
    assert!(matches!(
        raw[2],
        OpResult::Error(Error::RuntimeInconsistency(_))
    ));
    assert_eq!(c.exists("/n").await.unwrap(), None, "nothing applied");
    assert_eq!(c.get("/m").await.unwrap().0, Bytes::from("1"));
    srv.stop().await;
}

#[tokio::test]
async fn oneshot_watches_fire_once_with_the_right_event_type() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    let writer = client(srv.addr, SESSION).await;

    let (stat, created) = c.exists_watch("/o").await.unwrap();
    assert_eq!(stat, None);
    writer
        .create("/o", "", CreateMode::Persistent)
        .await
        .unwrap();
    let ev = within("exists watch", created).await.unwrap();
    assert_eq!((ev.kind, ev.path.as_str()), (EventType::NodeCreated, "/o"));

    let (_, _, changed) = c.get_watch("/o").await.unwrap();
    let (_, _, changed_too) = c.get_watch("/o").await.unwrap();
    let (kids, child) = c.children_watch("/o").await.unwrap();
    assert!(kids.is_empty());
    writer.set("/o", "v", None).await.unwrap();
    assert_eq!(
        within("data watch", changed).await.unwrap().kind,
        EventType::NodeDataChanged
    );
    assert_eq!(
        within("2nd data watch", changed_too).await.unwrap().kind,
        EventType::NodeDataChanged
    );

    writer
        .create("/o/k", "", CreateMode::Persistent)
        .await
        .unwrap();
    let ev = within("child watch", child).await.unwrap();
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventType::NodeChildrenChanged, "/o")
    );

    let (_, _, deleted) = c.get_watch("/o/k").await.unwrap();
    let (_, mut again) = c.exists_watch("/o/k").await.unwrap();
    writer.delete("/o/k", None).await.unwrap();
    assert_eq!(
        within("delete", deleted).await.unwrap().kind,
        EventType::NodeDeleted
    );
    assert_eq!(
        within("exists on delete", &mut again).await.unwrap().kind,
        EventType::NodeDeleted
    );

    // One-shot: a fresh watch is needed for the next change, the old one is spent.
    let (_, _, next) = c.get_watch("/o").await.unwrap();
    writer.set("/o", "w", None).await.unwrap();
    writer.set("/o", "x", None).await.unwrap();
    assert_eq!(
        within("next", next).await.unwrap().kind,
        EventType::NodeDataChanged
    );
    assert!(matches!(
        c.get_watch("/missing").await,
        Err(Error::NoNode(_))
    ));
    srv.stop().await;
}

#[tokio::test]
async fn watch_event_is_seen_before_a_read_showing_the_new_data() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    let writer = client(srv.addr, SESSION).await;
    c.create("/ord", "0", CreateMode::Persistent).await.unwrap();
    for round in 1..=30u32 {
        let (_, _, mut watch) = c.get_watch("/ord").await.unwrap();
        let value = Bytes::from(round.to_string());
        let set = tokio::spawn({
            let writer = writer.clone();
            let value = value.clone();
            async move { writer.set("/ord", value, None).await }
        });
        loop {
            let (data, _) = c.get("/ord").await.unwrap();
            if data == value {
                let fired = (&mut watch).now_or_never();
                assert!(
                    matches!(fired, Some(Ok(ref e)) if e.kind == EventType::NodeDataChanged),
                    "round {round}: read shows new data but the watch has {fired:?}"
                );
                break;
            }
        }
        set.await.unwrap().unwrap();
    }
    srv.stop().await;
}

#[tokio::test]
async fn persistent_recursive_watch_sees_changes_below_until_dropped() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    let writer = client(srv.addr, SESSION).await;
    writer
        .create("/r", "", CreateMode::Persistent)
        .await
        .unwrap();
    let mut below = c.watch("/r", WatchMode::PersistentRecursive).await.unwrap();
    let mut exact = c.watch("/r", WatchMode::Persistent).await.unwrap();
    writer
        .create("/r/a", "", CreateMode::Persistent)
        .await
        .unwrap();
    writer
        .create("/r/a/b", "", CreateMode::Persistent)
        .await
        .unwrap();
    writer.set("/r/a/b", "x", None).await.unwrap();
    writer.delete("/r/a/b", None).await.unwrap();
    writer
        .create("/elsewhere", "", CreateMode::Persistent)
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        let ev = within("recursive event", below.next())
            .await
            .unwrap()
            .unwrap();
        got.push((ev.kind, ev.path));
    }
    assert_eq!(
        got,
        [
            (EventType::NodeCreated, "/r/a".to_string()),
            (EventType::NodeCreated, "/r/a/b".to_string()),
            (EventType::NodeDataChanged, "/r/a/b".to_string()),
            (EventType::NodeDeleted, "/r/a/b".to_string()),
        ]
    );
    let ev = within("persistent event", exact.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventType::NodeChildrenChanged, "/r")
    );

    // remove_watches ends the stream with Cancelled; a second removal finds none.
    c.remove_watches("/r", WatcherType::Persistent)
        .await
        .unwrap();
    assert!(matches!(exact.next().await, Some(Err(Error::Cancelled(_)))));
    assert!(exact.next().await.is_none());
    assert!(matches!(
        c.remove_watches("/r", WatcherType::Persistent).await,
        Err(Error::NoWatcher(_))
    ));
    drop(below);
    assert!(matches!(
        c.remove_watches("/r", WatcherType::PersistentRecursive)
            .await,
        Err(Error::NoWatcher(_))
    ));
    srv.stop().await;
}

#[tokio::test]
async fn oversized_request_is_refused_locally_and_the_connection_stays_up() {
    let srv = TestServer::start().await;
    let c = coord_client::client::Client::builder()
        .servers(srv.addr.to_string())
        .max_frame_bytes(4096)
        .connect()
        .await
        .unwrap();
    let big = Bytes::from(vec![7u8; 8192]);
    assert!(matches!(
        c.create("/big", big, CreateMode::Persistent).await,
        Err(Error::TooLarge(_))
    ));
    assert_eq!(c.state(), SessionState::Connected);
    c.create("/small", "ok", CreateMode::Persistent)
        .await
        .unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn a_thousand_pipelined_sets_from_one_client_all_succeed_in_order() {
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    c.create("/pipe", "", CreateMode::Persistent).await.unwrap();
    let sets = (0..1000).map(|i| {
        let c = c.clone();
        async move { c.set("/pipe", format!("{i}"), None).await }
    });
    let results = within("1000 sets", futures::future::join_all(sets)).await;
    for (i, r) in results.into_iter().enumerate() {
        let stat = r.unwrap_or_else(|e| panic!("set #{i}: {e}"));
        assert_eq!(stat.version, i as i32 + 1, "answered in issue order");
    }
    let (data, stat) = c.get("/pipe").await.unwrap();
    assert_eq!(stat.version, 1000);
    assert_eq!(data, Bytes::from("999"));
    srv.stop().await;
}

#[tokio::test]
async fn large_frames_written_in_pieces_stay_ahead_of_requests_sent_after_them() {
    // A lone request is written by its caller (a large frame possibly in
    // part, its tail left to the writer); the request queued right behind it
    // must still reach the server after it.
    let srv = TestServer::start().await;
    let c = client(srv.addr, SESSION).await;
    c.create("/big", "", CreateMode::Persistent).await.unwrap();
    for round in 0..8u8 {
        let big = Bytes::from(vec![round; 1_000_000]);
        let version = 2 * i32::from(round);
        let (first, second) = within(
            "big set then small set",
            futures::future::join(
                c.set("/big", big.clone(), Some(version)),
                c.set("/big", vec![round], Some(version + 1)),
            ),
        )
        .await;
        assert_eq!(first.unwrap().version, version + 1, "round {round}");
        assert_eq!(second.unwrap().version, version + 2, "round {round}");
        let (data, _) = c.get("/big").await.unwrap();
        assert_eq!(data, Bytes::from(vec![round]));
    }
    assert_eq!(c.state(), SessionState::Connected);
    srv.stop().await;
}

#[tokio::test]
async fn connecting_to_nothing_fails_within_the_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let started = std::time::Instant::now();
    let r = coord_client::client::Client::builder()
        .servers(addr.to_string())
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await;
    assert!(matches!(r, Err(Error::ConnectionLoss(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
