//! A cluster of in-process servers (three members on loopback, each with its
//! own data dir, client port and peer port): any member serves any client;
//! writes sent to a follower are forwarded to the leader and answered after
//! the follower's own apply; `sync` works everywhere; sessions live while
//! their clients talk to any member, and survive the leader's death.

mod raw;
mod support;

use std::time::Duration;

use coord_client::{Client, CreateMode, Error};
use coord_proto::proto;
use coord_server::testing::{TestCluster, proxy::Proxy};
use futures::future::join_all;
use raw::{Raw, error_of};
use support::eventually;

fn create_op(path: &str) -> proto::request::Op {
    proto::request::Op::Create(proto::CreateRequest {
        path: path.into(),
        ..Default::default()
    })
}

/// Resumes `first`'s session on another connection to `addr`.
async fn resume(addr: std::net::SocketAddr, first: &Raw) -> Raw {
    match try_resume(addr, first, first.connected.last_zxid).await {
        Ok(raw) => raw,
        Err(e) => panic!("resuming on {addr} was refused: {e:?}"),
    }
}

const PATIENCE: Duration = Duration::from_secs(20);

async fn cluster() -> (TestCluster, u64) {
    support::init_test_log();
    let c = TestCluster::start(3).await.expect("cluster starts");
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    (c, leader)
}

async fn client(servers: &str, timeout: Duration) -> Client {
    Client::builder()
        .servers(servers.to_string())
        .session_timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_sent_to_a_follower_is_forwarded_and_read_back_there() {
    let (c, leader) = cluster().await;
    let follower = c.other_than(leader);
    let on_follower = client(&c.addr(follower), Duration::from_secs(5)).await;
    let path = on_follower
        .create("/a", b"one".to_vec(), CreateMode::Persistent)
        .await
        .expect("create through a follower");
    assert_eq!(path, "/a");
    // Answered after the follower's own apply: its next read sees the write.
    let (data, stat) = on_follower.get("/a").await.expect("read back");
    assert_eq!(&data[..], b"one");
    assert!(
        c.server(follower).unwrap().applied_zxid() >= stat.mzxid,
        "the follower applied the write before answering"
    );
    // Outcomes come from the apply: a failing op fails through a follower too.
    let again = on_follower
        .create("/a", Vec::new(), CreateMode::Persistent)
        .await;
    assert!(matches!(again, Err(Error::NodeExists(_))), "{again:?}");
    // The leader has it as well.
    let on_leader = client(&c.addr(leader), Duration::from_secs(5)).await;
    assert_eq!(&on_leader.get("/a").await.expect("on leader").0[..], b"one");
    on_follower.close().await.expect("close");
    on_leader.close().await.expect("close");
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_pipelined_writes_through_a_follower_keep_their_order() {
    let (c, leader) = cluster().await;
    let follower = c.other_than(leader);
    let cl = client(&c.addr(follower), Duration::from_secs(5)).await;
    cl.create("/q", Vec::new(), CreateMode::Persistent)
        .await
        .expect("parent");
    // 200 creates in flight at once: sent in this order, they must take
    // their sequence numbers in this order.
    let creates = (0..200u32).map(|i| {
        cl.create(
            "/q/n-",
            i.to_string().into_bytes(),
            CreateMode::PersistentSequential,
        )
    });
    let paths: Vec<String> = join_all(creates)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every create");
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "sequence numbers follow the sending order");
    for (i, p) in paths.iter().enumerate().step_by(37) {
        assert_eq!(cl.get(p).await.expect("get").0, i.to_string().into_bytes());
    }
    cl.close().await.expect("close");
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_on_a_follower_goes_through_the_leaders_read_index() {
    let (c, leader) = cluster().await;
    let follower = c.other_than(leader);
    let writer = client(&c.addr(leader), Duration::from_secs(5)).await;
    let reader = client(&c.addr(follower), Duration::from_secs(5)).await;
    writer
        .create("/x", b"0".to_vec(), CreateMode::Persistent)
        .await
        .expect("create");
    for i in 1..=20 {
        let v = i.to_string().into_bytes();
        writer.set("/x", v.clone(), None).await.expect("set");
        reader.sync("/x").await.expect("sync on a follower");
        assert_eq!(reader.get("/x").await.expect("get").0, v, "round {i}");
    }
    writer.close().await.expect("close");
    reader.close().await.expect("close");
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_a_follower_lives_on_relayed_touches_and_expires_when_its_client_goes() {
    let (c, leader) = cluster().await;
    let follower = c.other_than(leader);
    // The client reaches only the follower, through a proxy that can cut it.
    let proxy = Proxy::start(&c.addr(follower)).await.expect("proxy");
    let idle = client(&proxy.addr(), Duration::from_millis(600)).await;
    idle.create("/e", Vec::new(), CreateMode::Ephemeral)
        .await
        .expect("ephemeral");
    let observer = client(&c.addr(leader), Duration::from_secs(5)).await;
    // Five session timeouts with nothing but pings, which only the follower
    // hears: the leader keeps the session because the follower relays them.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(
        observer.exists("/e").await.expect("exists").is_some(),
        "the leader expired a session whose client kept pinging a follower"
    );
    // The client goes silent: the leader expires the session.
    proxy.block();
    assert!(
        eventually(Duration::from_secs(10), || async {
            observer.exists("/e").await.ok() == Some(None)
        })
        .await,
        "the session of a vanished client never expired"
    );
    observer.close().await.expect("close");
    drop(idle);
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_dies_writes_resume_and_sessions_keep_their_ephemerals() {
    let (mut c, leader) = cluster().await;
    let follower = c.other_than(leader);
    // One client on a follower, one on the leader; both list every member.
    let mut servers: Vec<String> = vec![c.addr(follower)];
    servers.extend(
        c.running()
            .into_iter()
            .filter(|id| *id != follower)
            .map(|id| c.addr(id)),
    );
    let on_follower = client(&servers.join(","), Duration::from_secs(4)).await;
    let mut servers: Vec<String> = vec![c.addr(leader)];
    servers.extend(
        c.running()
            .into_iter()
            .filter(|id| *id != leader)
            .map(|id| c.addr(id)),
    );
    let on_leader = client(&servers.join(","), Duration::from_secs(4)).await;
    let (s1, s2) = (on_follower.session_id(), on_leader.session_id());
    on_follower
        .create("/f", Vec::new(), CreateMode::Ephemeral)
        .await
        .expect("ephemeral f");
    on_leader
        .create("/l", Vec::new(), CreateMode::Ephemeral)
        .await
        .expect("ephemeral l");
    c.kill(leader).await;
    let new_leader = c.wait_for_leader(PATIENCE).await.expect("a new leader");
    assert_ne!(new_leader, leader);
    // Both clients write again (the one on the dead leader moves on by
    // itself) with their sessions, and both ephemerals are still there.
    for (cl, name) in [(&on_follower, "/after-f"), (&on_leader, "/after-l")] {
        let mut done = false;
        for _ in 0..100 {
            match cl.create(name, Vec::new(), CreateMode::Persistent).await {
                Ok(_) | Err(Error::NodeExists(_)) => {
                    done = true;
                    break;
                }
                Err(Error::ConnectionLoss(_) | Error::OperationTimeout(_)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("write after failover: {e}"),
            }
        }
        assert!(done, "{name}: no write went through after the failover");
    }
    assert_eq!(on_follower.session_id(), s1);
    assert_eq!(on_leader.session_id(), s2);
    // /after-l came through the other session: read after a sync, since a
    // session is only promised its own writes without one.
    on_follower.sync("/").await.expect("sync");
    for p in ["/f", "/l", "/after-f", "/after-l"] {
        assert!(
            on_follower.exists(p).await.expect("exists").is_some(),
            "{p} is gone after the failover"
        );
    }
    on_follower.close().await.expect("close");
    on_leader.close().await.expect("close");
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_on_a_follower_during_an_election_waits_for_the_next_leader() {
    let (mut c, leader) = cluster().await;
    let follower = c.other_than(leader);
    let addr = c.server(follower).unwrap().local_addr();
    let mut s = Raw::session(addr, 10_000).await;
    let sync = || proto::request::Op::Sync(proto::SyncRequest { path: "/".into() });
    let r = s.call(1, sync()).await;
    assert!(error_of(&r).is_none(), "sync with a leader: {r:?}");
    // Sent while the follower still names the dead leader (or none yet):
    // answered once the next leader confirmed a read index, not NOT_LEADER
    // or a lost connection.
    c.kill(leader).await;
    // One sync after another through the whole election (bounded: 200
    // syncs or 10 s), until the follower has known the new leader for 3.
    let started = std::time::Instant::now();
    let mut after_election = 0;
    for xid in 2..202 {
        let r = s.call(xid, sync()).await;
        assert!(
            error_of(&r).is_none(),
            "sync {xid} during the election: {r:?}"
        );
        let known = c.server(follower).unwrap().leader();
        if known.is_some_and(|l| l != leader) {
            after_election += 1;
        }
        if after_election >= 3 || started.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        after_election >= 3,
        "the follower never learned a new leader"
    );
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_any_leader_refuses_new_sessions() {
    let (mut c, leader) = cluster().await;
    let follower = c.other_than(leader);
    for id in c.running() {
        if id != follower {
            c.kill(id).await;
        }
    }
    // Alone, the member cannot elect anyone; once it knows it has no leader
    // it refuses sessions, so that clients move on to another member.
    let refused = eventually(Duration::from_secs(10), || async {
        Client::builder()
            .servers(c.addr(follower))
            .session_timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_millis(500))
            .connect()
            .await
            .is_err()
    })
    .await;
    assert!(refused, "a member without a leader opened a session");
    c.stop().await.expect("stop");
}

/// Opens a session on `addr` or returns the refusal.
async fn try_session(addr: std::net::SocketAddr) -> Result<Raw, Option<coord_proto::Error>> {
    Raw::try_handshake(
        addr,
        proto::Connect {
            protocol_version: coord_proto::wire::PROTOCOL_VERSION,
            requested_timeout_ms: 5000,
            ..Default::default()
        },
    )
    .await
}

/// Resumes `first`'s session on `addr` or returns the refusal.
async fn try_resume(
    addr: std::net::SocketAddr,
    first: &Raw,
    last_zxid: u64,
) -> Result<Raw, Option<coord_proto::Error>> {
    Raw::try_handshake(
        addr,
        proto::Connect {
            token: String::new(),
            protocol_version: coord_proto::wire::PROTOCOL_VERSION,
            requested_timeout_ms: 5000,
            session_id: first.connected.session_id,
            session_secret: first.connected.session_secret.clone(),
            last_zxid,
        },
    )
    .await
}

/// Panics unless `r` is a refusal with `ConnectionLoss` whose text holds `why`.
fn assert_refused(r: Result<Raw, Option<coord_proto::Error>>, why: &str, what: &str) {
    match r {
        Err(Some(coord_proto::Error::ConnectionLoss(text))) if text.contains(why) => {}
        Err(other) => panic!("{what}: refused with {other:?}, expected ConnectionLoss ({why})"),
        Ok(raw) => panic!("{what}: accepted (session {:#x})", raw.connected.session_id),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_cut_off_from_the_leader_refuses_new_and_resumed_sessions() {
    let (mut c, leader) = cluster().await;
    c.add_member(4, true).await.expect("learner added");
    let addr = |c: &TestCluster, id: u64| c.server(id).unwrap().local_addr();
    let on_leader = Raw::session(addr(&c, leader), 5000).await;
    // In touch, the learner takes sessions.
    let fine = eventually(PATIENCE, || async {
        try_session(addr(&c, 4)).await.is_ok()
    })
    .await;
    assert!(fine, "the learner never took a session");
    // A learner never campaigns, so it keeps believing in its leader; it
    // must notice the silence itself.
    c.partition(4);
    let why = "has not heard from the leader";
    let refused = eventually(Duration::from_secs(5), || async {
        matches!(try_session(addr(&c, 4)).await,
            Err(Some(coord_proto::Error::ConnectionLoss(t))) if t.contains(why))
    })
    .await;
    assert!(refused, "the cut-off learner kept taking new sessions");
    // Nor does it take over a session (which would read old state there).
    let r = try_resume(addr(&c, 4), &on_leader, on_leader.connected.last_zxid).await;
    assert_refused(r, why, "resuming a session on the cut-off learner");
    c.heal();
    let back = eventually(PATIENCE, || async {
        try_session(addr(&c, 4)).await.is_ok()
    })
    .await;
    assert!(back, "the healed learner never took sessions again");
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_on_the_minority_side_refuses_new_and_resumed_sessions() {
    let (mut c, leader) = cluster().await;
    let addr = |c: &TestCluster, id: u64| c.server(id).unwrap().local_addr();
    let mut s = Raw::session(addr(&c, leader), 5000).await;
    let r = s.call(1, create_op("/before")).await;
    assert!(error_of(&r).is_none(), "{r:?}");
    let seen = r.zxid;
    c.partition(leader);
    // The old leader may go on believing it leads for a while; it must not
    // take sessions it cannot serve meanwhile.
    let why = "has not heard from a majority";
    // Past the contact limit (3 x the 150 ms election timeout) the leader
    // knows a majority has been silent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let refused = eventually(Duration::from_secs(5), || async {
        matches!(try_session(addr(&c, leader)).await,
            Err(Some(coord_proto::Error::ConnectionLoss(t))) if t.contains(why)
                || t.contains("knows no leader"))
    })
    .await;
    assert!(
        refused,
        "the leader cut off from its followers kept taking sessions"
    );
    let r = try_resume(addr(&c, leader), &s, seen).await;
    match r {
        Err(Some(coord_proto::Error::ConnectionLoss(_))) => {}
        Err(other) => panic!("resume on the cut-off leader refused with {other:?}"),
        Ok(raw) => panic!(
            "the cut-off leader resumed session {:#x}",
            raw.connected.session_id
        ),
    }
    // The majority elects a new leader and takes the session.
    let others: Vec<u64> = c.running().into_iter().filter(|id| *id != leader).collect();
    let new_leader = c
        .wait_for_leader_among(&others, PATIENCE)
        .await
        .expect("new leader");
    let moved = try_resume(addr(&c, new_leader), &s, seen).await;
    assert!(
        moved.is_ok(),
        "the majority side refused the session: {:?}",
        moved.err()
    );
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_clients_view_refuses_its_session_at_once() {
    let (mut c, leader) = cluster().await;
    let follower = c.other_than(leader);
    let addr = |c: &TestCluster, id: u64| c.server(id).unwrap().local_addr();
    let mut s = Raw::session(addr(&c, leader), 5000).await;
    // The leader can no longer send the follower anything (the follower
    // still reaches the leader): the next write is not on the follower.
    c.cut_link(leader, follower);
    let r = s.call(1, create_op("/unseen-there")).await;
    assert!(error_of(&r).is_none(), "{r:?}");
    let started = std::time::Instant::now();
    let r = try_resume(addr(&c, follower), &s, r.zxid).await;
    match r {
        Err(Some(coord_proto::Error::ConnectionLoss(_))) => {}
        Err(other) => panic!("refused with {other:?}, expected ConnectionLoss"),
        Ok(raw) => panic!(
            "the follower resumed session {:#x} behind its view",
            raw.connected.session_id
        ),
    }
    // Refused within the contact limit (3 x the 150 ms election timeout),
    // not after the 10 s a read waits to catch up.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused only after {:?}",
        started.elapsed()
    );
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_refuses_a_moved_sessions_old_connection_on_another_follower() {
    let (c, leader) = cluster().await;
    let followers: Vec<u64> = c.running().into_iter().filter(|id| *id != leader).collect();
    let addr = |id: u64| c.server(id).unwrap().local_addr();
    let mut old = Raw::session(addr(followers[0]), 5000).await;
    let r = old.call(1, create_op("/by-old")).await;
    assert!(error_of(&r).is_none(), "{r:?}");
    // The session moves to the other follower; a write there is answered,
    // so the leader has seen the move before the old connection writes.
    let mut new = resume(addr(followers[1]), &old).await;
    assert!(new.connected.resumed);
    let r = new.call(1, create_op("/by-new")).await;
    assert!(error_of(&r).is_none(), "{r:?}");
    let r = old.call(2, create_op("/by-old-after-the-move")).await;
    assert!(
        matches!(error_of(&r), Some(coord_proto::Error::SessionMoved(_))),
        "the old connection's write after the move: {r:?}"
    );
    // ... and the old connection is closed (this panics if it stays open
    // past the patience of `raw`), and the write was not applied.
    old.closing_reason().await;
    let r = new
        .call(
            2,
            proto::request::Op::Exists(proto::ExistsRequest {
                path: "/by-old-after-the-move".into(),
                watch: false,
            }),
        )
        .await;
    match r.result {
        Some(proto::response::Result::Exists(e)) => assert!(e.stat.is_none(), "applied: {e:?}"),
        other => panic!("exists: {other:?} {:?}", r.error),
    }
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumed_on_a_follower_closes_its_old_connection_on_the_leader() {
    let (c, leader) = cluster().await;
    let follower = c.other_than(leader);
    let addr = |id: u64| c.server(id).unwrap().local_addr();
    let mut old = Raw::session(addr(leader), 5000).await;
    let mut new = resume(addr(follower), &old).await;
    let r = new.call(1, create_op("/moved")).await;
    assert!(error_of(&r).is_none(), "{r:?}");
    let reason = old.closing_reason().await;
    assert!(
        matches!(reason, Some(coord_proto::Error::SessionMoved(_))),
        "the leader's old connection was closed with {reason:?}"
    );
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_writes_through_a_follower_are_forwarded_in_batches_that_fit_a_peer_frame() {
    // Peer frames as small as the settings allow: the writes in flight
    // together must still travel in frames that fit, forwarded and in the
    // log entries the leader sends.
    let c = TestCluster::start_with(3, |cfg| {
        cfg.max_peer_frame_bytes = cfg.max_frame_bytes
            + coord_server::server::bounds::LOG_BATCH_BYTES as usize
            + coord_server::server::bounds::PEER_FRAME_OVERHEAD as usize;
    })
    .await
    .expect("cluster starts");
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    let follower = c.other_than(leader);
    let cl = client(&c.addr(follower), Duration::from_secs(10)).await;
    let value = vec![7u8; 1_000_000];
    let paths: Vec<String> = (0..100).map(|i| format!("/big-{i:03}")).collect();
    let creates = paths
        .iter()
        .map(|p| cl.create(p, value.clone(), CreateMode::Persistent));
    for r in join_all(creates).await {
        r.expect("a 1 MB write through a follower");
    }
    assert_eq!(cl.get("/big-099").await.expect("get").0.len(), 1_000_000);
    cl.close().await.expect("close");
    c.stop().await.expect("stop");
}

/// A leader cut off from both followers cannot commit anything, so its
/// housekeeping's proposal (here: expiring a session whose client went
/// away) waits for ever; a graceful stop must not wait with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_without_a_quorum_stops_when_asked() {
    let (mut c, leader) = cluster().await;
    let gone = Raw::session(c.addr(leader).parse().expect("addr"), 1000).await;
    drop(gone);
    for id in c.running() {
        if id != leader {
            c.kill(id).await;
        }
    }
    // The session's 1 s runs out; the next ticks propose its expiry.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(c.running(), vec![leader]);
    let stopped = tokio::time::timeout(Duration::from_secs(15), c.stop()).await;
    assert!(
        matches!(stopped, Ok(Ok(()))),
        "the stop did not finish: {stopped:?}"
    );
}

/// A cluster whose raft timers alone would take at least 5 s to replace a
/// dead leader: a follower campaigns only once the leader's lease (the
/// election timeout's upper bound, 3 s) and an election timeout (2-3 s)
/// have passed since it last heard from it.
async fn slow_timer_cluster() -> (TestCluster, u64) {
    support::init_test_log();
    let c = TestCluster::start_with(3, |cfg| {
        cfg.heartbeat = Duration::from_millis(100);
        cfg.election_timeout = Duration::from_secs(2);
    })
    .await
    .expect("cluster starts");
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    (c, leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_campaigns_at_once_when_the_dead_leaders_port_refuses() {
    let (mut c, leader) = slow_timer_cluster().await;
    let started = std::time::Instant::now();
    c.kill_and_close_port(leader).await;
    let others: Vec<u64> = c.running();
    let next = c
        .wait_for_leader_among(&others, Duration::from_secs(10))
        .await
        .expect("a new leader");
    let took = started.elapsed();
    assert_ne!(next, leader);
    // Waiting out the lease and a timeout would take 5 s or more.
    assert!(
        took < Duration::from_millis(2500),
        "a new leader took {took:?}: the followers waited for their timers"
    );
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_to_a_live_leader_starts_no_election() {
    let (mut c, leader) = slow_timer_cluster().await;
    let follower = c.other_than(leader);
    // The leader's link to the follower breaks (its connections close), but
    // the leader is alive and its port answers: nobody may campaign early.
    c.cut_link(leader, follower);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        for id in c.running() {
            let named = c.server(id).and_then(|s| s.leader());
            assert_eq!(
                named,
                Some(leader),
                "member {id} stopped following {leader} {:?} after the link broke",
                started.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.heal();
    c.stop().await.expect("stop");
}
