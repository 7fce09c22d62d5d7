//! Watches set again after a reconnect (`SetWatches`) are held to the same
//! READ rule as watches set by a read: a path the session may not read is
//! not registered, and none of its missed events is replayed.

mod raw;

use coord_client::{Client, CreateMode};
use coord_proto::Acl;
use coord_proto::acl::{digest_id, perms};
use coord_proto::proto::{self, request, server_message};
use coord_server::server::Server;
use raw::Raw;

fn path_of(body: &server_message::Body) -> Option<String> {
    match body {
        server_message::Body::Event(e) => Some(e.path.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_watches_skips_nodes_the_session_cannot_read_and_replays_none_of_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(raw::config(&dir)).await.unwrap();
    let owner: Client = raw::client(&server).await;
    owner
        .add_auth("digest", b"alice:pw")
        .await
        .expect("digest auth");
    owner
        .create_with_acl(
            "/secret",
            "s0",
            CreateMode::Persistent,
            &[Acl::new("digest", digest_id("alice", "pw"), perms::ALL)],
        )
        .await
        .unwrap();
    owner
        .create("/open", "o0", CreateMode::Persistent)
        .await
        .unwrap();
    owner.set("/secret", "s1", None).await.unwrap();
    owner.set("/open", "o1", None).await.unwrap();

    // An anonymous session re-registers persistent watches on both as if it
    // had missed everything since zxid 0.
    let mut anon = Raw::session(server.local_addr(), 10_000).await;
    anon.send(raw::request(
        1,
        request::Op::SetWatches(proto::SetWatchesRequest {
            last_zxid: 0,
            persistent: vec!["/secret".into(), "/open".into()],
            ..Default::default()
        }),
    ))
    .await;
    let mut replayed = Vec::new();
    for _ in 0..1000 {
        match anon.next().await.expect("the server answers") {
            server_message::Body::Response(r) if r.xid == 1 => {
                assert!(r.error.is_none(), "{r:?}");
                break;
            }
            other => replayed.extend(path_of(&other)),
        }
    }
    assert!(
        replayed.iter().any(|p| p == "/open"),
        "the readable node's missed events are replayed: {replayed:?}"
    );
    assert!(
        !replayed.iter().any(|p| p == "/secret"),
        "no replayed event about an unreadable node: {replayed:?}"
    );

    // Later changes: /secret's comes first in zxid order, so if its watch
    // had been registered its event would arrive before /open's.
    owner.set("/secret", "s2", None).await.unwrap();
    owner.set("/open", "o2", None).await.unwrap();
    let next = anon.next().await.expect("an event");
    assert_eq!(path_of(&next).as_deref(), Some("/open"), "{next:?}");
    server.shutdown().await.unwrap();
}
