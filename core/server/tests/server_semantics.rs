//! Server-side semantics through the real protocol: reaping of containers and
//! TTL nodes, ephemeral rules, multi atomicity, session FIFO and zxid order.

mod support;

use std::time::Duration;

use coord_client::Error;
use coord_client::client::{CreateMode, Op, OpResult};
use support::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_containers_and_expired_ttl_nodes_are_reaped() {
    let ts = support::start_server().await;
    let c = support::client_of(&ts).await;
    c.create("/box", Vec::new(), CreateMode::Container)
        .await
        .unwrap();
    c.create("/never-used", Vec::new(), CreateMode::Container)
        .await
        .unwrap();
    c.create("/box/item", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.create("/ttl", Vec::new(), CreateMode::PersistentWithTtl(150))
        .await
        .unwrap();
    c.create("/ttl-busy", Vec::new(), CreateMode::PersistentWithTtl(150))
        .await
        .unwrap();
    c.create("/ttl-busy/child", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    c.delete("/box/item", None).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            c.exists("/box").await.unwrap().is_none()
        })
        .await,
        "container removed once its last child went"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            c.exists("/ttl").await.unwrap().is_none()
        })
        .await,
        "TTL node removed after its TTL"
    );
    assert!(
        c.exists("/never-used").await.unwrap().is_some(),
        "a container that never had a child stays"
    );
    assert!(
        c.exists("/ttl-busy").await.unwrap().is_some(),
        "a TTL node with children stays"
    );
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_cannot_have_children_and_go_with_their_session() {
    let ts = support::start_server().await;
    let owner = support::client_of(&ts).await;
    let other = support::client_of(&ts).await;
    owner
        .create("/e", Vec::new(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let stat = other.exists("/e").await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, owner.session_id());
    assert!(matches!(
        owner
            .create("/e/child", Vec::new(), CreateMode::Persistent)
            .await,
        Err(Error::NoChildrenForEphemerals(_))
    ));
    let (_, deleted) = other.exists_watch("/e").await.unwrap();
    owner.close().await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(2), deleted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.path, "/e");
    assert!(other.exists("/e").await.unwrap().is_none());
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_changes_nothing_and_names_the_failing_op() {
    let ts = support::start_server().await;
    let c = support::client_of(&ts).await;
    c.create("/m", b"0".to_vec(), CreateMode::Persistent)
        .await
        .unwrap();
    let ops = vec![
        Op::Create {
            acl: Vec::new(),
            path: "/m/a".into(),
            data: Default::default(),
            mode: CreateMode::Persistent,
        },
        Op::SetData {
            path: "/m".into(),
            data: b"1".to_vec().into(),
            version: -1,
        },
        Op::Check {
            path: "/m".into(),
            version: 7,
        },
        Op::Delete {
            path: "/m/a".into(),
            version: -1,
        },
    ];
    let results = c.multi_results(ops.clone()).await.unwrap();
    assert!(matches!(results[0], OpResult::Error(Error::RolledBack(_))));
    assert!(matches!(results[1], OpResult::Error(Error::RolledBack(_))));
    assert!(matches!(results[2], OpResult::Error(Error::BadVersion(_))));
    assert!(matches!(
        results[3],
        OpResult::Error(Error::RuntimeInconsistency(_))
    ));
    match c.multi(ops).await {
        Err(Error::BadVersion(d)) => assert!(d.contains("op #2"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(c.exists("/m/a").await.unwrap().is_none());
    let (data, stat) = c.get("/m").await.unwrap();
    assert_eq!((data.as_ref(), stat.version), (&b"0"[..], 0));

    let ok = c
        .multi(vec![
            Op::Check {
                path: "/m".into(),
                version: 0,
            },
            Op::Create {
                acl: Vec::new(),
                path: "/m/b".into(),
                data: Default::default(),
                mode: CreateMode::Persistent,
            },
            Op::Create {
                acl: Vec::new(),
                path: "/m/b/c".into(),
                data: Default::default(),
                mode: CreateMode::Persistent,
            },
        ])
        .await
        .unwrap();
    assert_eq!(ok.len(), 3);
    let stats: Vec<u64> = ok
        .iter()
        .filter_map(|r| match r {
            OpResult::Create { stat, .. } => Some(stat.czxid),
            _ => None,
        })
        .collect();
    assert_eq!(stats[0], stats[1], "one multi, one zxid");
    ts.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_of_a_session_apply_and_answer_in_order() {
    let ts = support::start_server().await;
    let c = support::client_of(&ts).await;
    c.create("/fifo", b"0".to_vec(), CreateMode::Persistent)
        .await
        .unwrap();
    // Issue writes and reads without waiting; each read must see every write
    // issued before it, and zxids must grow with issue order.
    let mut futs = Vec::new();
    for i in 1..=200u32 {
        let c1 = c.clone();
        let c2 = c.clone();
        futs.push(tokio::spawn(async move {
            let set = c1.set("/fifo", i.to_string().into_bytes(), None);
            let get = c2.get("/fifo");
            let (s, g) = tokio::join!(set, get);
            (i, s.unwrap(), g.unwrap())
        }));
    }
    let mut mzxids = Vec::new();
    for f in futs {
        let (_, set_stat, (_, get_stat)) = f.await.unwrap();
        assert!(get_stat.mzxid >= set_stat.mzxid || get_stat.version >= set_stat.version);
        mzxids.push(set_stat.mzxid);
    }
    mzxids.sort_unstable();
    mzxids.dedup();
    assert_eq!(mzxids.len(), 200, "every set got its own zxid");
    for w in mzxids.windows(2) {
        assert_eq!(w[1], w[0] + 1, "zxids of consecutive writes are gap-free");
    }
    let (_, stat) = c.get("/fifo").await.unwrap();
    assert_eq!(stat.version, 200);
    c.sync("/fifo").await.unwrap();
    ts.stop().await.expect("clean shutdown");
}
