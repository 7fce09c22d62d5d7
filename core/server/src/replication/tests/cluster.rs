//! Several replicas in one process, over the in-process [`Router`] (exact
//! faults: partitions, one-way cuts) or over the TCP peer network on
//! loopback: forming a cluster, electing and re-electing a leader,
//! partitions, catch-up by log and by snapshot, membership changes under
//! writes. Every wait is bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::create_command;
use crate::error::Error;
use crate::replication::peer::{PeerConfig, TcpNetwork, serve_peers};
use crate::replication::{Member, NodeId, NoopObserver, Replica, ReplicationConfig, Router};
use crate::state_machine::Outcome;

/// Longest any test waits for the cluster to settle.
const SETTLE: Duration = Duration::from_secs(15);

/// How long a test waits for a snapshot to be built and the log purged
/// behind it (the snapshot thread runs at a low priority, nice 10).
const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(90);

/// How the test cluster's members reach each other.
enum Net {
    Router(Router),
    /// Each member's peer address, and the task serving it while it runs.
    Tcp(BTreeMap<NodeId, (String, Option<JoinHandle<()>>)>),
}

/// A test cluster: replicas (running or stopped) on one network.
struct Cluster {
    net: Net,
    dirs: BTreeMap<NodeId, TempDir>,
    replicas: BTreeMap<NodeId, Replica>,
    founders: BTreeMap<NodeId, Member>,
    snapshot_every: u64,
}

impl Cluster {
    /// `n` founding members on the router, all started, snapshots every
    /// `snapshot_every` entries.
    async fn start(n: u64, snapshot_every: u64) -> Cluster {
        Cluster::start_on(Net::Router(Router::new()), n, snapshot_every).await
    }

    /// The same over TCP on loopback.
    async fn start_tcp(n: u64, snapshot_every: u64) -> Cluster {
        let mut addrs = BTreeMap::new();
        // The membership names every port before any member runs; they are
        // bound when each member starts (and again when it restarts).
        let ports = crate::testing::unused_loopback_ports(n as usize).expect("peer ports");
        for (id, port) in (1..=n).zip(ports) {
            addrs.insert(id, (format!("127.0.0.1:{port}"), None));
        }
        Cluster::start_on(Net::Tcp(addrs), n, snapshot_every).await
    }

    async fn start_on(net: Net, n: u64, snapshot_every: u64) -> Cluster {
        let founders = (1..=n)
            .map(|id| {
                let peer = match &net {
                    Net::Router(_) => format!("peer-{id}"),
                    Net::Tcp(addrs) => addrs[&id].0.clone(),
                };
                (id, Member::new(format!("client-{id}"), peer))
            })
            .collect();
        let mut c = Cluster {
            net,
            dirs: BTreeMap::new(),
            replicas: BTreeMap::new(),
            founders,
            snapshot_every,
        };
        // Started in reverse order: the order must not matter.
        for id in (1..=n).rev() {
            c.run(id, true).await;
        }
        c
    }

    fn config(&mut self, id: NodeId) -> ReplicationConfig {
        let dir = self
            .dirs
            .entry(id)
            .or_insert_with(|| tempfile::tempdir().expect("temp dir"));
        let mut cfg = ReplicationConfig::new(dir.path());
        cfg.node_id = id;
        cfg.client_addr = format!("client-{id}");
        cfg.heartbeat_ms = 50;
        cfg.election_timeout_min_ms = 200;
        cfg.election_timeout_max_ms = 400;
        cfg.snapshot_logs_since_last = self.snapshot_every;
        cfg.logs_to_keep_after_snapshot = 5;
        cfg
    }

    /// Starts (or restarts, on its data dir) member `id`; a founder
    /// bootstraps when `found`, anyone else waits to be added.
    async fn run(&mut self, id: NodeId, found: bool) {
        let cfg = self.config(id);
        let bootstrap = found.then(|| self.founders.clone());
        let observer = Arc::new(NoopObserver);
        let started = match &self.net {
            Net::Router(r) => {
                Replica::start_member(cfg, observer, r.network_of(id), bootstrap).await
            }
            Net::Tcp(_) => {
                let net = TcpNetwork::new(PeerConfig::new("test", id));
                Replica::start_member(cfg, observer, net, bootstrap).await
            }
        };
        let replica = started.unwrap_or_else(|e| panic!("start member {id}: {e}"));
        // A member's raft must count only what is on its disk.
        assert!(!replica.runs_alone(), "member {id} runs as if alone");
        match &mut self.net {
            Net::Router(r) => r.attach(id, replica.raft().clone()),
            Net::Tcp(addrs) => {
                let entry = addrs
                    .entry(id)
                    .or_insert_with(|| ("127.0.0.1:0".into(), None));
                let listener = TcpListener::bind(&entry.0).await.expect("bind peer port");
                entry.0 = listener.local_addr().expect("addr").to_string();
                entry.1 = Some(tokio::spawn(serve_peers(
                    listener,
                    replica.raft().clone(),
                    PeerConfig::new("test", id),
                    64,
                    None,
                )));
            }
        }
        self.replicas.insert(id, replica);
    }

    /// The peer address of member `id` (over TCP: the port it listens on).
    fn peer_addr(&self, id: NodeId) -> String {
        match &self.net {
            Net::Router(_) => format!("peer-{id}"),
            Net::Tcp(addrs) => addrs[&id].0.clone(),
        }
    }

    fn router(&self) -> &Router {
        match &self.net {
            Net::Router(r) => r,
            Net::Tcp(_) => panic!("this test needs the in-process router"),
        }
    }

    /// Stops member `id` as a crash would look to its peers: gone from the
    /// network at once, its state left on disk.
    async fn stop(&mut self, id: NodeId) {
        match &mut self.net {
            Net::Router(r) => r.detach(id),
            Net::Tcp(addrs) => {
                if let Some(task) = addrs.get_mut(&id).and_then(|e| e.1.take()) {
                    task.abort();
                    let _ = task.await;
                }
            }
        }
        let replica = self.replicas.remove(&id).expect("running member");
        replica.shutdown().await.expect("shutdown");
    }

    fn replica(&self, id: NodeId) -> &Replica {
        &self.replicas[&id]
    }

    /// The one leader all of `among` agree on (and which believes it leads).
    async fn leader_of(&self, among: &[NodeId]) -> NodeId {
        eventually("one agreed leader", || {
            let seen: BTreeSet<Option<NodeId>> =
                among.iter().map(|id| self.replica(*id).leader()).collect();
            match seen.into_iter().collect::<Vec<_>>()[..] {
                [Some(l)] if among.contains(&l) && self.replica(l).is_leader() => Some(l),
                _ => None,
            }
        })
        .await
    }

    async fn leader(&self) -> NodeId {
        let all: Vec<NodeId> = self.replicas.keys().copied().collect();
        self.leader_of(&all).await
    }

    /// Creates `path` through member `id`.
    async fn create(&self, id: NodeId, path: &str) -> Result<Outcome, Error> {
        self.replica(id).write(create_command(path, 8)).await
    }

    fn has(&self, id: NodeId, path: &str) -> bool {
        let state = self.replica(id).state();
        let sm = state.read().expect("state lock");
        matches!(sm.exists(path), Ok(Some(_)))
    }

    /// Asserts that member `id` holds a snapshot at or past log index `at`
    /// (so it caught up by snapshot: the leader's log no longer had it).
    fn installed_a_snapshot(&self, id: NodeId, at: u64) {
        let installed = self
            .replica(id)
            .raft()
            .metrics()
            .borrow()
            .snapshot
            .map(|s| s.index);
        assert!(
            installed.is_some_and(|i| i >= at),
            "member {id} caught up without a snapshot at or past {at}: {installed:?}"
        );
    }

    /// Waits until every running member has every one of `paths`.
    async fn everyone_has(&self, paths: &[String]) {
        eventually("every member has every path", || {
            self.replicas
                .keys()
                .all(|id| paths.iter().all(|p| self.has(*id, p)))
                .then_some(())
        })
        .await;
    }
}

/// Polls `check` until it gives a value, failing the test after [`SETTLE`].
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < SETTLE, "not within {SETTLE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `f` with a deadline; `None` when it did not finish.
async fn within<T>(d: Duration, f: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(d, f).await.ok()
}

fn created(outcome: Result<Outcome, Error>, path: &str) {
    match outcome {
        Ok(o) => assert!(o.result.is_ok(), "create {path}: {:?}", o.result),
        Err(e) => panic!("create {path}: {e}"),
    }
}

fn paths(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/{prefix}-{i:04}")).collect()
}

#[test]
fn three_fresh_members_elect_one_leader_and_every_member_applies_its_writes() {
    super::replica::runtime().block_on(async {
        elect_and_replicate(Cluster::start(3, 10_000).await).await;
    });
}

#[test]
fn over_tcp_three_fresh_members_elect_one_leader_and_every_member_applies_its_writes() {
    super::replica::runtime().block_on(async {
        elect_and_replicate(Cluster::start_tcp(3, 10_000).await).await;
    });
}

async fn elect_and_replicate(c: Cluster) {
    let leader = c.leader().await;
    let written = paths("a", 20);
    for p in &written {
        created(c.create(leader, p).await, p);
    }
    c.everyone_has(&written).await;
    // A follower does not accept writes: it names the leader.
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    match c.create(follower, "/refused").await {
        Err(Error::NotLeader(m)) => {
            assert!(m.contains(&format!("node {leader}")), "{m}")
        }
        other => panic!("a follower accepted a write: {other:?}"),
    }
    assert!(!c.has(leader, "/refused"));
}

#[test]
fn the_others_elect_a_new_leader_when_the_leader_stops_and_it_catches_up_on_restart() {
    super::replica::runtime().block_on(async {
        leader_stops(Cluster::start(3, 10_000).await).await;
    });
}

#[test]
fn over_tcp_the_others_elect_a_new_leader_when_the_leader_stops_and_it_catches_up_on_restart() {
    super::replica::runtime().block_on(async {
        leader_stops(Cluster::start_tcp(3, 10_000).await).await;
    });
}

async fn leader_stops(mut c: Cluster) {
    let old = c.leader().await;
    created(c.create(old, "/before").await, "/before");
    c.everyone_has(&["/before".to_string()]).await;
    c.stop(old).await;
    let rest: Vec<NodeId> = (1..=3).filter(|id| *id != old).collect();
    let new = c.leader_of(&rest).await;
    assert_ne!(new, old);
    let after = paths("after", 10);
    for p in &after {
        created(c.create(new, p).await, p);
    }
    // The old leader's data dir holds its membership: it rejoins as a
    // member without bootstrapping and learns what it missed.
    c.run(old, false).await;
    c.everyone_has(&after).await;
    assert!(c.has(old, "/before"));
    assert_eq!(
        c.leader().await,
        new,
        "a returning member does not disturb the leader"
    );
}

#[test]
fn a_minority_commits_nothing_and_after_healing_holds_the_majority_writes_only() {
    super::replica::runtime().block_on(async {
        let c = Cluster::start(3, 10_000).await;
        let old = c.leader().await;
        c.router().partition(&[old]);
        // The isolated leader can neither commit a write nor confirm a read.
        let lost = within(Duration::from_millis(1500), c.create(old, "/minority")).await;
        assert!(
            !matches!(lost, Some(Ok(ref o)) if o.result.is_ok()),
            "a minority acknowledged a write: {lost:?}"
        );
        let sync = within(
            Duration::from_millis(1500),
            c.replica(old).ensure_linearizable(),
        )
        .await;
        assert!(
            !matches!(sync, Some(Ok(()))),
            "a minority confirmed a read index"
        );
        let majority: Vec<NodeId> = (1..=3).filter(|id| *id != old).collect();
        let new = c.leader_of(&majority).await;
        let kept = paths("majority", 10);
        for p in &kept {
            created(c.create(new, p).await, p);
        }
        c.router().heal();
        c.everyone_has(&kept).await;
        assert_eq!(c.leader().await, new);
        for id in 1..=3 {
            assert!(
                !c.has(id, "/minority"),
                "member {id} kept an uncommitted write"
            );
        }
    });
}

#[test]
fn a_member_cut_off_past_the_log_the_leader_keeps_catches_up_by_snapshot() {
    super::replica::runtime().block_on(async {
        let c = Cluster::start(3, 40).await;
        let leader = c.leader().await;
        let behind = (1..=3).find(|id| *id != leader).expect("a follower");
        c.router().partition(&[behind]);
        let missed = paths("missed", 200);
        for p in &missed {
            created(c.create(leader, p).await, p);
        }
        let applied_when_cut = c.replica(behind).applied_index().unwrap_or(0);
        let purged = eventually("the leader purges its log behind a snapshot", || {
            c.replica(leader)
                .purged_index()
                .filter(|p| *p > applied_when_cut + 1)
        })
        .await;
        assert!(
            purged > applied_when_cut,
            "the entries the member lacks must be gone from the leader's log"
        );
        c.router().heal();
        c.everyone_has(&missed).await;
        c.installed_a_snapshot(behind, purged);
    });
}

#[test]
fn a_member_is_added_promoted_and_a_voter_removed_while_writes_go_on() {
    super::replica::runtime().block_on(async {
        change_membership(Cluster::start(3, 10_000).await).await;
    });
}

#[test]
fn over_tcp_a_member_is_added_promoted_and_a_voter_removed_while_writes_go_on() {
    super::replica::runtime().block_on(async {
        change_membership(Cluster::start_tcp(3, 10_000).await).await;
    });
}

async fn change_membership(mut c: Cluster) {
    let leader = c.leader().await;
    // Member 4 starts empty and waits to be added.
    c.run(4, false).await;
    let writes = paths("during", 60);
    let change = async {
        c.replica(leader)
            .add_learner(4, Member::new("client-4", c.peer_addr(4)))
            .await
            .expect("add learner");
        let voters: BTreeSet<NodeId> = [1, 2, 3, 4].into();
        c.replica(leader)
            .change_voters(voters)
            .await
            .expect("promote 4");
        let removed = (1..=3).find(|id| *id != leader).expect("a follower");
        let voters: BTreeSet<NodeId> = [1, 2, 3, 4]
            .into_iter()
            .filter(|id| *id != removed)
            .collect();
        c.replica(leader)
            .change_voters(voters.clone())
            .await
            .expect("remove a voter");
        voters
    };
    let load = async {
        for p in &writes {
            created(c.create(leader, p).await, p);
        }
    };
    let (voters, ()) = tokio::join!(change, load);
    let m = c.replica(leader).raft().metrics().borrow().clone();
    let now: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
    assert_eq!(now, voters);
    // The new member has every acknowledged write.
    eventually("member 4 has every write", || {
        writes.iter().all(|p| c.has(4, p)).then_some(())
    })
    .await;
    // The new majority (with member 4, without the removed one) commits.
    created(c.create(leader, "/after-change").await, "/after-change");
}

#[test]
fn over_tcp_a_stopped_member_catches_up_by_snapshot_chunks() {
    super::replica::runtime().block_on(async {
        // 3 MiB chunks (openraft's default) over a snapshot of ~8 MiB.
        let mut c = Cluster::start_tcp(3, 40).await;
        let leader = c.leader().await;
        let behind = (1..=3).find(|id| *id != leader).expect("a follower");
        c.stop(behind).await;
        let missed: Vec<String> = (0..80).map(|i| format!("/big-{i:03}")).collect();
        for p in &missed {
            let out = c.replica(leader).write(create_command(p, 100 << 10)).await;
            created(out, p);
        }
        // The snapshot is encoded on a nice-10 thread: on a machine whose
        // cores are busy (the rest of the suite, a build) it may take a
        // while to get the CPU, so this wait is longer than SETTLE.
        let start = Instant::now();
        let purged = loop {
            if let Some(p) = c.replica(leader).purged_index().filter(|p| *p > 40) {
                break p;
            }
            assert!(
                start.elapsed() < SNAPSHOT_PATIENCE,
                "not within {SNAPSHOT_PATIENCE:?}: the leader purges its log behind a snapshot"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        c.run(behind, true).await;
        c.everyone_has(&missed).await;
        c.installed_a_snapshot(behind, purged);
    });
}

#[test]
fn a_member_not_among_the_founders_is_refused_before_it_touches_its_data() {
    super::replica::runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = ReplicationConfig::new(dir.path());
        cfg.node_id = 9;
        let founders: BTreeMap<NodeId, Member> = (1..=3)
            .map(|id| {
                (
                    id,
                    Member::new(format!("client-{id}"), format!("peer-{id}")),
                )
            })
            .collect();
        let r = Replica::start_member(
            cfg,
            Arc::new(NoopObserver),
            Router::new().network_of(9),
            Some(founders),
        )
        .await;
        match r {
            Err(Error::BadArguments(m)) => assert!(m.contains("node 9"), "{m}"),
            Ok(_) => panic!("a non-founder bootstrapped"),
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert!(
            std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
            "nothing written to the data dir"
        );
    });
}

#[test]
fn a_membership_written_before_the_peer_network_reads_with_an_empty_peer_address() {
    let old = serde_json::to_string(&openraft::BasicNode::new("127.0.0.1:2281")).expect("json");
    let m: Member = serde_json::from_str(&old).expect("old membership reads");
    assert_eq!(m, Member::new("127.0.0.1:2281", ""));
    assert_eq!(
        serde_json::to_string(&m).expect("json"),
        old,
        "a member without peers is written as before"
    );
}

#[test]
fn a_delayed_link_holds_each_message_and_a_one_way_cut_loses_the_answers() {
    super::replica::runtime().block_on(async {
        let c = Cluster::start(3, 10_000).await;
        let leader = c.leader().await;
        let followers: Vec<NodeId> = (1..=3).filter(|id| *id != leader).collect();
        for f in &followers {
            c.router().delay(leader, *f, Duration::from_millis(30));
        }
        let start = Instant::now();
        created(c.create(leader, "/delayed").await, "/delayed");
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "committed in {:?} through links delayed 30 ms (well under the election timeout)",
            start.elapsed()
        );
        c.router().heal();
        // The followers receive the leader's entries but their answers are
        // lost: nothing commits until the links back are restored.
        for f in &followers {
            c.router().cut_one_way(*f, leader);
        }
        let write = c.create(leader, "/answers-lost");
        tokio::pin!(write);
        assert!(
            within(Duration::from_millis(1000), &mut write)
                .await
                .is_none(),
            "a write committed without any answer from a follower"
        );
        c.router().heal();
        let out = within(SETTLE, write)
            .await
            .expect("committed after healing");
        created(out, "/answers-lost");
    });
}
