//! Workloads against three-member clusters: throughput with the clients
//! spread over the members, lock cycle and handoff, the servers' CPU time per
//! operation summed over every member, and failover under kill -9 of the
//! leader with a check that no acknowledged write was lost.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use coord_client::client::CreateMode;
use zookeeper_client as zk;

use coord_cli::bench::driver::{self, Bounds, OP_TIMEOUT, bounded};
use coord_cli::bench::stats::Summary;

use crate::cluster::{self, Cluster, MEMBERS};
use crate::locks::{self, LockHandle};
use crate::systems::{self, Conn, KvWorker, SESSION_TIMEOUT, System, Target, VALUE_BYTES};
use crate::tasks::Res;

/// A measured workload plus the servers' CPU time over its measured window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub(crate) summary: Summary,
    /// utime + stime summed over every member during the measured window, s.
    pub(crate) cpu_secs: f64,
}

impl Measured {
    /// Server CPU per operation, microseconds.
    pub(crate) fn cpu_us_per_op(&self) -> f64 {
        if self.summary.ops == 0 {
            0.0
        } else {
            self.cpu_secs * 1e6 / self.summary.ops as f64
        }
    }
}

/// Runs `fut` (a driver call whose measured window starts `warmup` from
/// now) and samples the members' CPU time at the window's start and after it.
async fn with_cpu<F>(pids: Vec<u32>, tck: f64, warmup: Duration, fut: F) -> Res<Measured>
where
    F: Future<Output = Res<Summary>>,
{
    let (summary, each) = with_cpu_each(pids, tck, warmup, fut).await?;
    Ok(Measured {
        summary,
        cpu_secs: each.iter().sum(),
    })
}

/// [`with_cpu`] with the CPU seconds of each process of `pids` apart (in
/// their order).
pub(crate) async fn with_cpu_each<F>(
    pids: Vec<u32>,
    tck: f64,
    warmup: Duration,
    fut: F,
) -> Res<(Summary, Vec<f64>)>
where
    F: Future<Output = Res<Summary>>,
{
    let each = move |pids: &[u32]| -> Res<Vec<f64>> {
        pids.iter().map(|p| cluster::cpu_secs(&[*p], tck)).collect()
    };
    let sample_pids = pids.clone();
    let sampler = tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        each(&sample_pids).map_err(|e| e.to_string())
    });
    let summary = match fut.await {
        Ok(s) => s,
        Err(e) => {
            sampler.abort();
            return Err(e);
        }
    };
    let before = sampler.await??;
    let after = each(&pids)?;
    Ok((
        summary,
        after.iter().zip(&before).map(|(a, b)| a - b).collect(),
    ))
}

/// The member order the clients are spread in: followers first, so that a
/// single client talks to a follower (writes forwarded to the leader), as
/// most clients of a three-member cluster do.
pub(crate) fn spread_order(leader: usize) -> Vec<usize> {
    (0..MEMBERS)
        .filter(|i| *i != leader)
        .chain(std::iter::once(leader))
        .collect()
}

fn target_of(c: &Cluster, member: usize) -> Target {
    Target {
        system: c.system,
        addr: c.addrs()[member].clone(),
        pid: None,
    }
}

/// Writes (or reads) of 100 B with `clients` connections, client `i` on
/// member `order[i % 3]` and its own key.
pub(crate) async fn kv(
    c: &Cluster,
    order: &[usize],
    clients: usize,
    write: bool,
    bounds: Bounds,
    tck: f64,
) -> Res<Measured> {
    let value = vec![b'v'; VALUE_BYTES];
    let mut workers = Vec::with_capacity(clients);
    for i in 0..clients {
        let member = order[i % order.len()];
        let mut conn = Conn::connect(c.system, &c.addrs()[member]).await?;
        let key = format!(
            "{}/c{}-{clients}-{i}",
            systems::ROOT,
            if write { "w" } else { "r" }
        );
        conn.ensure_node(&key, &value).await?;
        conn.write(&key, &value).await?;
        workers.push(KvWorker {
            conn,
            key,
            write,
            value: value.clone(),
        });
    }
    let pids = c.pids();
    let measured = with_cpu(pids, tck, bounds.warmup, async {
        let outcome = driver::drive(workers, &bounds).await?;
        let summary = outcome.summary();
        for w in outcome.workers {
            w.conn.close().await;
        }
        Ok(summary)
    })
    .await?;
    Ok(measured)
}

/// Uncontended lock acquire + release by one client on member `member`.
pub(crate) async fn lock_cycle(
    c: &Cluster,
    member: usize,
    bounds: Bounds,
    tck: f64,
) -> Res<Measured> {
    let handle = LockHandle::open(
        &target_of(c, member),
        "cl-lock-cycle",
        false,
        &Arc::default(),
    )
    .await?;
    with_cpu(c.pids(), tck, bounds.warmup, async {
        let outcome = driver::drive(vec![locks::Cycle(handle)], &bounds).await?;
        let summary = outcome.summary();
        for w in outcome.workers {
            w.0.close().await;
        }
        Ok(summary)
    })
    .await
}

/// `contenders` clients, spread over the members, hand one lock around.
pub(crate) async fn lock_handoff(
    c: &Cluster,
    order: &[usize],
    contenders: usize,
    bounds: Bounds,
    tck: f64,
) -> Res<Measured> {
    let mut handles = Vec::new();
    for i in 0..contenders {
        let t = target_of(c, order[i % order.len()]);
        handles.push(locks::Handoff(
            LockHandle::open(&t, "cl-lock-handoff", false, &Arc::default()).await?,
        ));
    }
    with_cpu(c.pids(), tck, bounds.warmup, async {
        let outcome = driver::handoff(handles, &bounds).await?;
        let summary = outcome.summary();
        for h in outcome.workers {
            h.0.close().await;
        }
        Ok(summary)
    })
    .await
}

/// One kill -9 of the leader.
#[derive(Debug, Clone)]
pub(crate) struct Kill {
    /// Member id killed.
    pub(crate) member: u64,
    /// Kill -> first acknowledged write issued after the kill.
    pub(crate) gap: Option<Duration>,
    /// Kill -> a surviving member names a new leader.
    pub(crate) new_leader: Option<Duration>,
    /// Restart -> the restarted member healthy again.
    pub(crate) back: Option<Duration>,
    /// Writes that failed (error or over the op bound) between this kill and the next.
    pub(crate) failed: u64,
    /// coord only: whether the writing client was connected to the killed member.
    pub(crate) client_on_killed: Option<bool>,
}

/// What the failover workload measured on one system.
#[derive(Debug, Clone)]
pub(crate) struct Failover {
    pub(crate) kills: Vec<Kill>,
    /// Writes acknowledged over the whole loop.
    pub(crate) acked: u64,
    /// Acknowledged writes missing afterwards, the largest over the members
    /// (each checked through a client of that member alone after a sync).
    pub(crate) lost: u64,
    /// Which member missed what, if anything.
    pub(crate) lost_detail: String,
    /// Distinct error messages the writer saw (a few).
    pub(crate) errors: Vec<String>,
    /// Whole workload, s.
    pub(crate) secs: f64,
}

struct Ack {
    key: String,
    start: Instant,
    end: Instant,
}

#[derive(Default)]
struct Shared {
    acks: Mutex<Vec<Ack>>,
    round: AtomicU64,
    stop: AtomicBool,
    failed: AtomicU64,
    errors: Mutex<Vec<String>>,
}

/// Seconds since the epoch (to match kills with the servers' logs).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// HH:MM:SS.mmm of a unix time, UTC.
fn utc_hms(t: f64) -> String {
    let ms = (t * 1000.0) as u64 % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Directory (coord, ZooKeeper) or key prefix (etcd) of failover round `r`.
fn round_dir(r: u64) -> String {
    format!("{}/fo/r{r}", systems::ROOT)
}

/// A connection that knows every member (the client's own failover).
async fn connect_all(system: System, addrs: &[String]) -> Res<Conn> {
    Ok(match system {
        System::Coord => {
            Conn::Coord(systems::coord_connect(&addrs.join(","), SESSION_TIMEOUT).await?)
        }
        System::Zk => Conn::Zk(systems::zk_connect(&addrs.join(","), SESSION_TIMEOUT).await?),
        System::Etcd => Conn::Etcd(Box::new(etcd_client::Client::connect(addrs, None).await?)),
        _ => return Err("not a cluster system".into()),
    })
}

/// Creates `key` with `value`: a new persistent node, or a new etcd key.
async fn create(conn: &mut Conn, key: &str, value: &[u8]) -> Res<()> {
    match conn {
        Conn::Coord(c) => {
            c.create(key, Bytes::copy_from_slice(value), CreateMode::Persistent)
                .await?;
        }
        Conn::Zk(c) => {
            c.create(key, value, &systems::zk_opts(zk::CreateMode::Persistent))
                .await?;
        }
        Conn::Etcd(c) => {
            c.put(key, value, None).await?;
        }
        Conn::Redis(_) => return Err("Redis is not measured as a cluster".into()),
        Conn::ZkWire(_) => return Err("the minimal client is not used for clusters".into()),
    }
    Ok(())
}

/// The keys under round directory `dir`, read through `conn` after a sync.
async fn list_round(conn: &mut Conn, dir: &str) -> Res<HashSet<String>> {
    Ok(match conn {
        Conn::Coord(c) => c
            .children(dir)
            .await?
            .into_iter()
            .map(|n| format!("{dir}/{n}"))
            .collect(),
        Conn::Zk(c) => c
            .list_children(dir)
            .await?
            .into_iter()
            .map(|n| format!("{dir}/{n}"))
            .collect(),
        Conn::Etcd(c) => {
            let opts = etcd_client::GetOptions::new()
                .with_prefix()
                .with_keys_only();
            c.get(format!("{dir}/"), Some(opts))
                .await?
                .kvs()
                .iter()
                .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
                .collect()
        }
        Conn::Redis(_) => return Err("Redis is not measured as a cluster".into()),
        Conn::ZkWire(_) => return Err("the minimal client is not used for clusters".into()),
    })
}

/// One client writes new 100-byte keys in a loop (each op bounded by
/// OP_TIMEOUT; a failed write is counted and the loop goes on with the next
/// key after 2 ms). `kills` times: find the leader, kill -9 it, time the
/// first acknowledged write issued after the kill and the first survivor
/// naming a new leader, restart the killed member and wait until it is
/// healthy, let writes flow for `settle`. Then every acknowledged key is
/// looked up through each member.
pub(crate) async fn failover(c: &mut Cluster, kills: usize, settle: Duration) -> Res<Failover> {
    let started = Instant::now();
    let addrs = c.addrs();
    let value = vec![b'f'; VALUE_BYTES];
    // Directories of every round (a kill starts a new one, so no listing is huge).
    {
        let mut setup = connect_all(c.system, &addrs).await?;
        setup.ensure_node(systems::ROOT, &[]).await?;
        setup
            .ensure_node(&format!("{}/fo", systems::ROOT), &[])
            .await?;
        for r in 0..=kills as u64 {
            setup.ensure_node(&round_dir(r), &[]).await?;
        }
        setup.close().await;
    }
    let shared = Arc::new(Shared::default());
    let mut conn = connect_all(c.system, &addrs).await?;
    let coord_client = match &conn {
        Conn::Coord(cc) => Some(cc.clone()),
        _ => None,
    };
    let writer = {
        let shared = Arc::clone(&shared);
        let value = value.clone();
        tokio::spawn(async move {
            let mut seq = 0u64;
            while !shared.stop.load(Ordering::Relaxed) {
                seq += 1;
                let r = shared.round.load(Ordering::Relaxed);
                let key = format!("{}/k{seq:08}", round_dir(r));
                let start = Instant::now();
                match bounded(create(&mut conn, &key, &value)).await {
                    Ok(()) => lock(&shared.acks).push(Ack {
                        key,
                        start,
                        end: Instant::now(),
                    }),
                    Err(e) => {
                        shared.failed.fetch_add(1, Ordering::Relaxed);
                        let msg = e.to_string();
                        {
                            let mut errs = lock(&shared.errors);
                            if errs.len() < 8 && !errs.contains(&msg) {
                                errs.push(msg);
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
            conn
        })
    };
    let acks_after = |t: Instant| lock(&shared.acks).iter().filter(|a| a.start >= t).count();
    // Writes flowing before the first kill.
    let warm = Instant::now();
    let deadline = warm + Duration::from_secs(30);
    while acks_after(warm) < 10 || warm.elapsed() < settle {
        if Instant::now() > deadline {
            shared.stop.store(true, Ordering::Relaxed);
            return Err("the failover writer made no progress before the first kill".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut out = Vec::new();
    for k in 0..kills {
        let leader = c.wait_leader(Duration::from_secs(30)).await?;
        let client_on_killed = match &coord_client {
            Some(cc) => Cluster::coord_member_of(cc).await.map(|m| m == leader),
            None => None,
        };
        let failed_before = shared.failed.load(Ordering::Relaxed);
        let killed_at = c.kill9(leader).await?;
        eprintln!(
            "peer-bench: {}: kill {} of {kills}: member {} (leader) at {} UTC",
            c.system.name(),
            k + 1,
            Cluster::id_of(leader),
            utc_hms(unix_now() - killed_at.elapsed().as_secs_f64())
        );
        let bound = killed_at + Duration::from_secs(60);
        let (mut gap, mut new_leader) = (None, None);
        while (gap.is_none() || new_leader.is_none()) && Instant::now() < bound {
            if gap.is_none() {
                gap = lock(&shared.acks)
                    .iter()
                    .rev()
                    .take_while(|a| a.start >= killed_at)
                    .last()
                    .map(|a| a.end - killed_at);
            }
            if new_leader.is_none() && c.new_leader_visible(leader).await {
                new_leader = Some(killed_at.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shared.round.store(k as u64 + 1, Ordering::Relaxed);
        c.restart(leader)?;
        let back = c.wait_healthy(leader, Duration::from_secs(90)).await.ok();
        let healthy_at = Instant::now();
        let flow_bound = healthy_at + Duration::from_secs(30);
        while (acks_after(healthy_at) < 10 || healthy_at.elapsed() < settle)
            && Instant::now() < flow_bound
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let kill = Kill {
            member: Cluster::id_of(leader),
            gap,
            new_leader,
            back,
            failed: shared.failed.load(Ordering::Relaxed) - failed_before,
            client_on_killed,
        };
        eprintln!(
            "peer-bench: {}: kill {}: gap {:?}, new leader {:?}, back {:?}, failed writes {}",
            c.system.name(),
            k + 1,
            kill.gap,
            kill.new_leader,
            kill.back,
            kill.failed
        );
        out.push(kill);
        if back.is_none() {
            break;
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let conn = tokio::time::timeout(OP_TIMEOUT + Duration::from_secs(5), writer)
        .await
        .map_err(|_| "the failover writer did not stop")??;
    conn.close().await;
    // Every member healthy again, then every acknowledged key through each.
    for i in 0..MEMBERS {
        c.wait_healthy(i, Duration::from_secs(60)).await?;
    }
    let acked: Vec<String> = lock(&shared.acks).iter().map(|a| a.key.clone()).collect();
    let rounds = out.len() as u64;
    let mut lost = 0u64;
    let mut lost_detail = String::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut conn = Conn::connect(c.system, addr).await?;
        match &conn {
            Conn::Coord(cc) => {
                bounded(async { Ok::<_, crate::tasks::BoxError>(cc.sync("/").await?) }).await?
            }
            Conn::Zk(zc) => {
                bounded(async { Ok::<_, crate::tasks::BoxError>(zc.sync("/").await?) }).await?
            }
            _ => {} // etcd reads are linearizable
        }
        let mut present = HashSet::new();
        for r in 0..=rounds {
            present.extend(bounded(list_round(&mut conn, &round_dir(r))).await?);
        }
        conn.close().await;
        let missing: Vec<&String> = acked.iter().filter(|k| !present.contains(*k)).collect();
        if !missing.is_empty() {
            use std::fmt::Write as _;
            let _ = write!(
                lost_detail,
                "member {}: {} missing (first {}); ",
                i + 1,
                missing.len(),
                missing[0]
            );
        }
        lost = lost.max(missing.len() as u64);
    }
    let errors = lock(&shared.errors).clone();
    Ok(Failover {
        kills: out,
        acked: acked.len() as u64,
        lost,
        lost_detail,
        errors,
        secs: started.elapsed().as_secs_f64(),
    })
}
