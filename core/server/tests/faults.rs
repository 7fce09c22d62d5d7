//! A cluster under faults: partitions (one member, one link one way),
//! kills and restarts (the leader included), membership changes while
//! clients write. What must hold: a cut-off minority accepts no write and
//! serves no `sync`; acknowledged writes are never lost; a member that
//! missed more than the kept log catches up by snapshot; client histories
//! of get / set / compare-and-set are linearizable; a fenced lock never
//! lets two holders' writes interleave.
//!
//! Random choices come from a seed printed at the start and on failure;
//! `COORD_FAULT_SEED` replays one, `COORD_FAULT_SECS` makes the
//! linearizability run longer and `COORD_FAULT_MEMBERS` its cluster larger
//! (default 3; `scripts/faults.sh` runs it for long).

mod lincheck;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use coord_client::recipes::Lock;
use coord_client::recipes::election::Election;
use coord_client::{Client, CreateMode, Error, Op, SessionState};
use coord_server::testing::TestCluster;
use futures::StreamExt;
use lincheck::{Input, Outcome, Reg};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::eventually;

const PATIENCE: Duration = Duration::from_secs(20);

async fn cluster(n: u64) -> (TestCluster, u64) {
    support::init_test_log();
    let c = TestCluster::start(n).await.expect("cluster starts");
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    (c, leader)
}

/// A client of `servers` whose requests give up after `request_timeout`.
async fn client(servers: &str, request_timeout: Duration) -> Client {
    Client::builder()
        .servers(servers.to_string())
        .session_timeout(Duration::from_secs(4))
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(request_timeout)
        .backoff(Duration::from_millis(10), Duration::from_millis(200))
        .connect()
        .await
        .expect("client connects")
}

/// `first`'s address, then every other member's.
fn servers_from(c: &TestCluster, first: u64) -> String {
    let mut list = vec![c.addr(first)];
    list.extend(
        c.members()
            .into_iter()
            .filter(|id| *id != first)
            .map(|id| c.addr(id)),
    );
    list.join(",")
}

/// Whether an error leaves the outcome of a write unknown.
fn unknown_outcome(e: &Error) -> bool {
    !matches!(
        e,
        Error::NodeExists(_) | Error::NoNode(_) | Error::BadVersion(_) | Error::BadArguments(_)
    )
}

/// Creates `path`, retrying while the outcome is unknown (an earlier try
/// may have made it: `NodeExists` then counts as done).
async fn create_surely(cl: &Client, path: &str) {
    let deadline = Instant::now() + PATIENCE;
    let mut tried = false;
    loop {
        match cl.create(path, Vec::new(), CreateMode::Persistent).await {
            Ok(_) => return,
            Err(Error::NodeExists(_)) if tried => return,
            Err(e) if unknown_outcome(&e) && Instant::now() < deadline => {
                tried = true;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("create {path}: {e}"),
        }
    }
}

/// A client pinned to member `id` that reads what the cluster committed
/// (`sync` first); every node under `parent`.
async fn children_on(c: &TestCluster, id: u64, parent: &str) -> BTreeSet<String> {
    let cl = client(&c.addr(id), Duration::from_secs(5)).await;
    let deadline = Instant::now() + PATIENCE;
    let names = loop {
        let listed = match cl.sync(parent).await {
            Ok(()) => cl.children(parent).await,
            Err(e) => Err(e),
        };
        match listed {
            Ok(names) => break names,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, id, "listing: retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("listing {parent} on member {id}: {e}"),
        }
    };
    let _ = cl.close().await;
    names.into_iter().collect()
}

/// The seed for this run: `COORD_FAULT_SEED`, else a fresh one.
fn seed() -> u64 {
    std::env::var("COORD_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_accepts_no_write_serves_no_sync_and_catches_up_after_heal() {
    let (mut c, old) = cluster(3).await;
    let majority: Vec<u64> = c.members().into_iter().filter(|id| *id != old).collect();
    let majority_servers = majority
        .iter()
        .map(|id| c.addr(*id))
        .collect::<Vec<_>>()
        .join(",");
    // One client reaches only the leader; the other only the majority.
    let lonely = client(&c.addr(old), Duration::from_millis(1500)).await;
    let main = client(&majority_servers, Duration::from_secs(3)).await;
    lonely
        .create("/before", Vec::new(), CreateMode::Persistent)
        .await
        .expect("a write before the partition");

    c.partition(old);
    let new = c
        .wait_for_leader_among(&majority, PATIENCE)
        .await
        .expect("the majority elects a leader");
    assert_ne!(new, old, "the cut-off leader still leads the majority");

    // The old leader (alone, maybe still believing it leads) commits nothing.
    let mut told_ok = Vec::new();
    for i in 0..4 {
        let path = format!("/lonely-{i}");
        if lonely
            .create(&path, Vec::new(), CreateMode::Persistent)
            .await
            .is_ok()
        {
            told_ok.push(path);
        }
    }
    assert!(
        told_ok.is_empty(),
        "a minority member acknowledged writes: {told_ok:?}"
    );
    let synced = lonely.sync("/").await;
    assert!(synced.is_err(), "a minority member served sync: {synced:?}");

    // The majority goes on.
    for i in 0..50 {
        create_surely(&main, &format!("/m-{i}")).await;
    }

    c.heal();
    c.wait_for_leader(PATIENCE)
        .await
        .expect("a leader after heal");
    // The old leader catches up: pinned to it, a reader sees every write
    // the majority made, and nothing the minority was told is missing.
    let on_old = children_on(&c, old, "/").await;
    for i in 0..50 {
        assert!(on_old.contains(&format!("m-{i}")), "m-{i} missing on {old}");
    }
    assert!(on_old.contains("before"));
    for p in &told_ok {
        assert!(on_old.contains(p.trim_start_matches('/')), "{p} lost");
    }
    let new_applied = c.server(new).expect("runs").applied_zxid();
    assert!(
        eventually(PATIENCE, || async {
            c.server(old).expect("runs").applied_zxid() >= new_applied
        })
        .await,
        "the old leader never applied what the new one had"
    );
    drop(lonely);
    main.close().await.expect("close");
    c.stop().await.expect("stop");
}

/// Writes made while a follower is cut off: more than the log the leader
/// keeps after a snapshot (`ReplicationConfig::logs_to_keep_after_snapshot`,
/// 1000, which `ServerConfig` does not expose) plus the snapshot interval.
const WRITES_PAST_THE_KEPT_LOG: usize = 1300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_missed_more_than_the_kept_log_catches_up_by_snapshot() {
    support::init_test_log();
    let mut c = TestCluster::start_with(3, |cfg| cfg.snapshot_logs_since_last = 100)
        .await
        .expect("cluster starts");
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    let behind = c.other_than(leader);
    let writer = client(&servers_from(&c, leader), Duration::from_secs(3)).await;
    create_surely(&writer, "/s").await;
    c.partition(behind);
    let majority: Vec<u64> = c.members().into_iter().filter(|id| *id != behind).collect();
    c.wait_for_leader_among(&majority, PATIENCE)
        .await
        .expect("the majority keeps a leader");
    // One at a time, so that each write is one log entry.
    for i in 0..WRITES_PAST_THE_KEPT_LOG {
        create_surely(&writer, &format!("/s/n-{i:05}")).await;
    }
    let behind_before = c.server(behind).expect("runs").applied_zxid();
    c.heal();
    c.wait_for_leader(PATIENCE)
        .await
        .expect("a leader after heal");
    let seen = children_on(&c, behind, "/s").await;
    assert_eq!(
        seen.len(),
        WRITES_PAST_THE_KEPT_LOG,
        "the healed member (applied {behind_before} before) lacks nodes"
    );
    for i in (0..WRITES_PAST_THE_KEPT_LOG).step_by(97) {
        assert!(seen.contains(&format!("n-{i:05}")));
    }
    // It keeps following: a new write reaches it.
    create_surely(&writer, "/s-after").await;
    assert!(children_on(&c, behind, "/").await.contains("s-after"));
    writer.close().await.expect("close");
    c.stop().await.expect("stop");
}

/// Cuts member `behind` off while more than the kept log is written (so it
/// catches up by snapshot), heals, and waits until it has every write.
async fn write_past_the_kept_log_while_cut_off(c: &mut TestCluster, behind: u64, writer: &Client) {
    c.partition(behind);
    let majority: Vec<u64> = c.members().into_iter().filter(|id| *id != behind).collect();
    c.wait_for_leader_among(&majority, PATIENCE)
        .await
        .expect("the majority keeps a leader");
    for i in 0..WRITES_PAST_THE_KEPT_LOG {
        create_surely(writer, &format!("/s/n-{i:05}")).await;
    }
    c.heal();
    c.wait_for_leader(PATIENCE)
        .await
        .expect("a leader after heal");
    let seen = children_on(c, behind, "/s").await;
    assert_eq!(seen.len(), WRITES_PAST_THE_KEPT_LOG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_a_member_that_catches_up_by_snapshot_fires() {
    support::init_test_log();
    let mut c = TestCluster::start_with(3, |cfg| cfg.snapshot_logs_since_last = 100)
        .await
        .expect("cluster starts");
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    let behind = c.other_than(leader);
    let writer = client(&servers_from(&c, leader), Duration::from_secs(3)).await;
    create_surely(&writer, "/s").await;
    // A client of that member only, with a session that outlives the
    // partition, watching for a node the majority will create.
    let pinned = Client::builder()
        .servers(c.addr(behind))
        .session_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("pinned client");
    pinned.sync("/s").await.expect("pinned sync");
    let (missing, created) = pinned.exists_watch("/s/n-00000").await.expect("watch");
    assert!(missing.is_none());
    let mut states = pinned.state_changes();
    assert_eq!(states.next().await, Some(SessionState::Connected));
    write_past_the_kept_log_while_cut_off(&mut c, behind, &writer).await;
    // The member has the node: the watch must have fired (or fire now).
    let fired = tokio::time::timeout(Duration::from_secs(5), created).await;
    let mut seen_states = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(10), states.next()).await {
        seen_states.push(s);
    }
    assert!(
        matches!(fired, Ok(Ok(_))),
        "the watch set on member {behind} never fired after it installed a snapshot \
         holding the change ({fired:?}); client states meanwhile: {seen_states:?}"
    );
    drop(pinned);
    writer.close().await.expect("close");
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_while_clients_write_lose_no_acknowledged_write() {
    let (mut c, _) = cluster(3).await;
    let setup = client(&c.servers(), Duration::from_secs(3)).await;
    create_surely(&setup, "/c").await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let cl = client(&servers_from(&c, w + 1), Duration::from_secs(2)).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..100_000u32 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("w{w}-{i:06}");
                match cl
                    .create(&format!("/c/{name}"), Vec::new(), CreateMode::Persistent)
                    .await
                {
                    Ok(_) => acked.push(name),
                    Err(e) if unknown_outcome(&e) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("writer {w}: {e}"),
                }
            }
            drop(cl);
            acked
        }));
    }
    let pause = || tokio::time::sleep(Duration::from_millis(400));
    pause().await;
    c.add_member(4, true).await.expect("add a learner");
    pause().await;
    c.promote(4).await.expect("promote the learner");
    pause().await;
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    let removed = c
        .members()
        .into_iter()
        .find(|id| *id != leader && *id != 4)
        .expect("a follower");
    c.remove_member(removed).await.expect("remove a voter");
    pause().await;
    // The leader goes too: the rest elect one among themselves.
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    c.remove_member(leader).await.expect("remove the leader");
    pause().await;
    stop.store(true, Ordering::SeqCst);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(
            tokio::time::timeout(PATIENCE, w)
                .await
                .expect("writer ends")
                .expect("writer"),
        );
    }
    assert!(
        acked.len() > 50,
        "too few writes went through: {}",
        acked.len()
    );
    let members = c.members();
    assert_eq!(members.len(), 2);
    c.wait_for_leader(PATIENCE)
        .await
        .expect("a leader at the end");
    for id in members {
        let seen = children_on(&c, id, "/c").await;
        let missing: Vec<&String> = acked.iter().filter(|n| !seen.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "member {id} lacks {} acknowledged writes, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
    drop(setup);
    c.stop().await.expect("stop");
}

/// The linearizability run: how long clients work under faults.
fn fault_secs() -> u64 {
    std::env::var("COORD_FAULT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

const KEYS: usize = 3;

/// One client's loop of get / set / cas on the keys until `stop`.
async fn register_client(
    mut cl: Client,
    servers: String,
    me: usize,
    seed: u64,
    clock: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> (Vec<lincheck::Op>, BTreeMap<String, u64>) {
    let mut rng = StdRng::seed_from_u64(seed ^ (me as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut history = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen_version = [0i32; KEYS];
    let mut next_value = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let key = rng.gen_range(0..KEYS);
        let path = format!("/k{key}");
        next_value += 1;
        let value = ((me as u64 + 1) << 32) | next_value;
        let input = match rng.gen_range(0..10) {
            0..=3 => Input::Get,
            4..=6 => Input::Set(value),
            _ => Input::Cas {
                expected: seen_version[key] + rng.gen_range(0..2),
                value,
            },
        };
        let invoke = clock.fetch_add(1, Ordering::SeqCst);
        let result = match input {
            // A linearizable read: sync through the leader's read index,
            // then read (with the zxid the sync answered as the floor).
            Input::Get => match cl.sync(&path).await {
                Ok(()) => cl.get(&path).await.map(|(data, stat)| {
                    let text = String::from_utf8_lossy(&data).to_string();
                    Outcome::Read(Reg {
                        value: text.parse().unwrap_or(u64::MAX),
                        version: stat.version,
                    })
                }),
                Err(e) => Err(e),
            },
            Input::Set(v) => cl
                .set(&path, v.to_string().into_bytes(), None)
                .await
                .map(|s| Outcome::Written(s.version)),
            Input::Cas { expected, value } => cl
                .set(&path, value.to_string().into_bytes(), Some(expected))
                .await
                .map(|s| Outcome::Written(s.version)),
        };
        let ret = clock.fetch_add(1, Ordering::SeqCst);
        let outcome = match result {
            Ok(o) => o,
            Err(Error::BadVersion(_)) if matches!(input, Input::Cas { .. }) => Outcome::BadVersion,
            Err(e) => {
                let kind = match input {
                    Input::Get => "get",
                    Input::Set(_) => "set",
                    Input::Cas { .. } => "cas",
                };
                let n = errors.entry(format!("{kind}:{}", e.name())).or_default();
                *n += 1;
                if *n == 1 && matches!(e, Error::Internal(_) | Error::Io(_) | Error::Unknown(_)) {
                    eprintln!("lincheck: client {me}: first {kind} failing with {e:?}");
                }
                if matches!(e, Error::SessionExpired(_) | Error::Closed(_)) {
                    // A new session; its old one's writes may still land.
                    if let Ok(fresh) = tokio::time::timeout(
                        Duration::from_secs(5),
                        Client::builder()
                            .servers(servers.clone())
                            .session_timeout(Duration::from_secs(4))
                            .request_timeout(Duration::from_secs(1))
                            .connect(),
                    )
                    .await
                    .unwrap_or_else(|_| Err(Error::OperationTimeout("reconnect".into())))
                    {
                        cl = fresh;
                    }
                }
                // Back off: every unknown outcome widens the search.
                tokio::time::sleep(Duration::from_millis(rng.gen_range(100..300))).await;
                Outcome::Unknown
            }
        };
        match outcome {
            Outcome::Read(r) => seen_version[key] = r.version,
            Outcome::Written(v) => seen_version[key] = v,
            _ => {}
        }
        history.push(lincheck::Op {
            client: me,
            key,
            input,
            outcome,
            invoke,
            ret,
        });
    }
    drop(cl);
    (history, errors)
}

/// One fault at a time from `rng`, then a recovery, until `until`.
async fn fault_schedule(c: &mut TestCluster, rng: &mut StdRng, until: Instant) -> Vec<String> {
    let mut log = Vec::new();
    let members = c.members();
    while Instant::now() < until {
        let leader = members
            .iter()
            .copied()
            .find(|id| c.server(*id).is_some_and(|s| s.is_leader()));
        let any = members[rng.gen_range(0..members.len())];
        let target = match (rng.gen_bool(0.5), leader) {
            (true, Some(l)) => l,
            _ => any,
        };
        let fault = rng.gen_range(0..5);
        match fault {
            0 => {
                c.partition(target);
                log.push(format!("partition {target}"));
            }
            1 => {
                // Half the time the port closes with the process, so that
                // the followers campaign at once (`campaign_if_gone`).
                if rng.gen_bool(0.5) {
                    c.kill_and_close_port(target).await;
                    log.push(format!("kill {target} (port closed)"));
                } else {
                    c.kill(target).await;
                    log.push(format!("kill {target}"));
                }
            }
            2 => {
                let to = members[rng.gen_range(0..members.len())];
                if to != target {
                    c.cut_link(target, to);
                    c.cut_link(to, target);
                    log.push(format!("cut {target}<->{to}"));
                }
            }
            3 => {
                let to = members[rng.gen_range(0..members.len())];
                if to != target {
                    c.cut_link(target, to);
                    log.push(format!("cut {target}->{to}"));
                }
            }
            _ => {
                // Two at once: the cluster loses its majority for a while.
                c.kill(target).await;
                let other = members
                    .iter()
                    .copied()
                    .find(|id| *id != target)
                    .unwrap_or(target);
                c.partition(other);
                log.push(format!("kill {target} + partition {other}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..2000))).await;
        c.heal();
        for id in members.iter().copied() {
            if c.server(id).is_none() {
                c.restart(id).await.expect("restart");
            }
        }
        for (id, e) in c.failed_members() {
            eprintln!("lincheck: member {id} failed: {e:?}");
            log.push(format!("member {id} FAILED: {e}"));
        }
        log.push("heal + restart".into());
        tracing::info!(fault = ?log[log.len() - 2], "fault schedule: healed");
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1200))).await;
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_set_cas_histories_stay_linearizable_under_partitions_and_kills() {
    let seed = seed();
    let secs = fault_secs();
    let size: u64 = std::env::var("COORD_FAULT_MEMBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    eprintln!(
        "lincheck: seed {seed}, {secs} s, {size} members \
         (replay: COORD_FAULT_SEED={seed} COORD_FAULT_MEMBERS={size})"
    );
    let (mut c, _) = cluster(size).await;
    let setup = client(&c.servers(), Duration::from_secs(3)).await;
    for k in 0..KEYS {
        setup
            .create(&format!("/k{k}"), b"0".to_vec(), CreateMode::Persistent)
            .await
            .expect("key");
    }
    let clock = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    let members = c.members();
    for me in 0..6 {
        let home = members[me % members.len()];
        let servers = servers_from(&c, home);
        let cl = client(&servers, Duration::from_secs(1)).await;
        clients.push(tokio::spawn(register_client(
            cl,
            servers,
            me,
            seed,
            clock.clone(),
            stop.clone(),
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let until = Instant::now() + Duration::from_secs(secs);
    let faults = fault_schedule(&mut c, &mut rng, until).await;
    eprintln!("lincheck: faults done: {faults:?}");
    stop.store(true, Ordering::SeqCst);
    let mut history = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for t in clients {
        let (h, e) = tokio::time::timeout(PATIENCE, t)
            .await
            .expect("a client stops")
            .expect("client task");
        history.extend(h);
        for (k, n) in e {
            *errors.entry(k).or_default() += n;
        }
    }
    eprintln!("lincheck: clients done");
    // Final reads on every member, after everything healed.
    c.wait_for_leader(PATIENCE)
        .await
        .expect("a leader at the end");
    for id in c.members() {
        let cl = client(&c.addr(id), Duration::from_secs(5)).await;
        for key in 0..KEYS {
            let path = format!("/k{key}");
            let invoke = clock.fetch_add(1, Ordering::SeqCst);
            cl.sync(&path).await.expect("final sync");
            let (data, stat) = cl.get(&path).await.expect("final get");
            let ret = clock.fetch_add(1, Ordering::SeqCst);
            history.push(lincheck::Op {
                client: 100 + id as usize,
                key,
                input: Input::Get,
                outcome: Outcome::Read(Reg {
                    value: String::from_utf8_lossy(&data).parse().unwrap_or(u64::MAX),
                    version: stat.version,
                }),
                invoke,
                ret,
            });
        }
        let _ = cl.close().await;
    }
    eprintln!("lincheck: checking");
    if let Ok(path) = std::env::var("COORD_FAULT_DUMP") {
        let text: String = history.iter().map(|o| o.to_line() + "\n").collect();
        std::fs::write(&path, text).expect("dump the history");
    }
    let known = history
        .iter()
        .filter(|o| o.outcome != Outcome::Unknown)
        .count();
    let started = Instant::now();
    let report = lincheck::check(&history, Reg::default(), lincheck::DEFAULT_BUDGET);
    eprintln!(
        "lincheck: seed {seed} secs {secs} ops {} known {known} checked {} keys {} \
         violations {} gave_up {} check_ms {} errors {errors:?} faults {}",
        history.len(),
        report.ops,
        report.keys,
        report.violations.len(),
        report.gave_up.len(),
        started.elapsed().as_millis(),
        faults.len(),
    );
    let failed: Vec<&String> = faults.iter().filter(|f| f.contains("FAILED")).collect();
    assert!(
        failed.is_empty(),
        "seed {seed}: members failed (fail-stop) during the run: {failed:?}"
    );
    assert!(
        faults.len() >= 4,
        "seed {seed}: the run was too short for any fault: {faults:?}"
    );
    assert!(
        known > 200,
        "seed {seed}: too few ops completed ({known}) to check anything; errors {errors:?}"
    );
    assert!(
        report.ok(),
        "seed {seed}: not linearizable (replay with COORD_FAULT_SEED={seed}): {:?}\nfaults: {faults:?}",
        report
    );
    drop(setup);
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_lock_never_lets_two_holders_writes_interleave_across_failovers() {
    let (mut c, _) = cluster(3).await;
    let setup = client(&c.servers(), Duration::from_secs(3)).await;
    create_surely(&setup, "/res").await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut lockers = Vec::new();
    for me in 0..3u64 {
        let cl = client(&servers_from(&c, me + 1), Duration::from_secs(2)).await;
        let stop = stop.clone();
        lockers.push(tokio::spawn(async move {
            let lock = Lock::new(&cl, "/lock");
            let mut tokens = Vec::new();
            let mut accepted = Vec::new();
            for _ in 0..10_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let token = match lock.acquire_timeout(Duration::from_secs(3)).await {
                    Ok(t) => t,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                tokens.push(token);
                for _ in 0..3 {
                    let write = Op::Create {
                        acl: Vec::new(),
                        path: "/res/w-".into(),
                        data: format!("{me}:{token}").into_bytes().into(),
                        mode: CreateMode::PersistentSequential,
                    };
                    match lock.guarded(vec![write]).await {
                        Ok(_) => accepted.push(token),
                        Err(Error::LockLost(_)) => break,
                        Err(_) => {}
                    }
                }
                let _ = lock.release().await;
            }
            drop(lock);
            drop(cl);
            (me, tokens, accepted)
        }));
    }
    kill_leaders_then_stop(&mut c, 3, &stop).await;
    let (accepted_by, acked) = gather(lockers, "locker").await;
    c.wait_for_leader(PATIENCE)
        .await
        .expect("a leader at the end");
    let writes = fenced_writes(&c, "/res").await;
    assert!(
        writes.len() >= acked,
        "acknowledged guarded writes are missing"
    );
    assert_fenced(&writes, &accepted_by, 5);
    drop(setup);
    c.stop().await.expect("stop");
}

/// Kills the leader `rounds` times while the workers run (each killed
/// member restarted 0.8 s later), then lets them run 0.5 s more and tells
/// them to stop.
async fn kill_leaders_then_stop(c: &mut TestCluster, rounds: usize, stop: &AtomicBool) {
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
        c.kill(leader).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        c.restart(leader).await.expect("restart");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
}

/// What a fenced worker returns: its id, the tokens it was granted in
/// order, and the tokens of its writes the resource accepted.
type Worked = (u64, Vec<u64>, Vec<u64>);

/// Joins the `what` workers; checks that each one's tokens never went back
/// (equal only when a release failed on a lost connection and the next
/// acquire found the same node: the same hold). Returns who wrote under
/// each accepted token and how many writes were accepted.
async fn gather(
    workers: Vec<tokio::task::JoinHandle<Worked>>,
    what: &str,
) -> (BTreeMap<u64, u64>, usize) {
    let mut accepted_by = BTreeMap::new();
    let mut acked = 0;
    for w in workers {
        let (me, tokens, accepted) = tokio::time::timeout(PATIENCE, w)
            .await
            .unwrap_or_else(|_| panic!("a {what} stops"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            tokens.windows(2).all(|w| w[0] <= w[1]),
            "{what} {me} got tokens that go back: {tokens:?}"
        );
        acked += accepted.len();
        for t in accepted {
            accepted_by.insert(t, me);
        }
    }
    (accepted_by, acked)
}

/// The `who:token` writes under `parent`, in commit order (their sequence
/// numbers), read on the leader.
async fn fenced_writes(c: &TestCluster, parent: &str) -> Vec<(u64, u64)> {
    let leader = c.wait_for_leader(PATIENCE).await.expect("a leader");
    let names = children_on(c, leader, parent).await;
    let reader = client(&c.addr(leader), Duration::from_secs(5)).await;
    let mut writes = Vec::new();
    for name in &names {
        let (data, _) = reader
            .get(&format!("{parent}/{name}"))
            .await
            .expect("a resource write");
        let text = String::from_utf8_lossy(&data).to_string();
        let (who, token) = text.split_once(':').expect("who:token");
        writes.push((who.parse().expect("who"), token.parse().expect("token")));
    }
    let _ = reader.close().await;
    writes
}

/// Writes fenced by tokens never interleave: in commit order the tokens
/// never go down, a token is one writer's, every accepted write's token is
/// there, and there were at least `min_holds` holds.
fn assert_fenced(writes: &[(u64, u64)], accepted_by: &BTreeMap<u64, u64>, min_holds: usize) {
    let mut holder_of: BTreeMap<u64, u64> = BTreeMap::new();
    for (i, (who, token)) in writes.iter().enumerate() {
        if i > 0 {
            let (prev_who, prev) = writes[i - 1];
            assert!(
                *token >= prev,
                "write #{i} by {who} with token {token} follows token {prev} of {prev_who}: \
                 two holders' writes interleave"
            );
        }
        let first = *holder_of.entry(*token).or_insert(*who);
        assert_eq!(first, *who, "token {token} used by two holders");
    }
    for (token, who) in accepted_by {
        assert_eq!(holder_of.get(token), Some(who), "accepted write lost");
    }
    assert!(
        holder_of.len() >= min_holds,
        "too few holds to tell anything: {}",
        holder_of.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elected_leaders_fenced_writes_never_interleave_across_failovers() {
    let (mut c, _) = cluster(3).await;
    let setup = client(&c.servers(), Duration::from_secs(3)).await;
    create_surely(&setup, "/eres").await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut candidates = Vec::new();
    for me in 0..3u64 {
        let cl = client(&servers_from(&c, me + 1), Duration::from_secs(2)).await;
        let stop = stop.clone();
        candidates.push(tokio::spawn(async move {
            let election = Election::new(&cl, "/election", me.to_string());
            let mut terms = Vec::new();
            let mut accepted = Vec::new();
            for _ in 0..10_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let term = match election.campaign_timeout(Duration::from_secs(3)).await {
                    Ok(t) => t,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                terms.push(term.token);
                for _ in 0..3 {
                    // Fenced by hand: only while our candidate node exists.
                    let ops = vec![
                        Op::Check {
                            path: term.node.clone(),
                            version: -1,
                        },
                        Op::Create {
                            acl: Vec::new(),
                            path: "/eres/w-".into(),
                            data: format!("{me}:{}", term.token).into_bytes().into(),
                            mode: CreateMode::PersistentSequential,
                        },
                    ];
                    match cl.multi(ops).await {
                        Ok(_) => accepted.push(term.token),
                        Err(Error::NoNode(_)) => break,
                        Err(_) => {}
                    }
                }
                let _ = election.resign().await;
            }
            drop(election);
            drop(cl);
            (me, terms, accepted)
        }));
    }
    kill_leaders_then_stop(&mut c, 3, &stop).await;
    let (accepted_by, _) = gather(candidates, "candidate").await;
    c.wait_for_leader(PATIENCE)
        .await
        .expect("a leader at the end");
    let writes = fenced_writes(&c, "/eres").await;
    assert_fenced(&writes, &accepted_by, 5);
    drop(setup);
    c.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_cut_from_the_leader_to_a_follower_does_not_stop_writes() {
    let (mut c, leader) = cluster(3).await;
    let follower = c.other_than(leader);
    let third = c
        .members()
        .into_iter()
        .find(|id| *id != leader && *id != follower)
        .expect("a third member");
    let cl = client(&servers_from(&c, third), Duration::from_secs(2)).await;
    create_surely(&cl, "/o").await;
    // The leader can no longer reach the follower; the follower still
    // reaches the leader (and may campaign there).
    c.cut_link(leader, follower);
    let until = Instant::now() + Duration::from_secs(3);
    let (mut ok, mut failed) = (0u32, 0u32);
    let mut longest_gap = Duration::ZERO;
    let mut last_ok = Instant::now();
    for i in 0..100_000u32 {
        if Instant::now() >= until {
            break;
        }
        match cl
            .create(&format!("/o/n-{i}"), Vec::new(), CreateMode::Persistent)
            .await
        {
            Ok(_) => {
                ok += 1;
                longest_gap = longest_gap.max(last_ok.elapsed());
                last_ok = Instant::now();
            }
            Err(_) => failed += 1,
        }
    }
    longest_gap = longest_gap.max(last_ok.elapsed());
    eprintln!("one-way cut: {ok} ok, {failed} failed, longest gap {longest_gap:?}");
    assert!(
        longest_gap < Duration::from_millis(2500),
        "writes stalled for {longest_gap:?} ({ok} ok, {failed} failed)"
    );
    c.heal();
    let _ = cl.close().await;
    c.stop().await.expect("stop");
}
