//! Scale and memory: as many 100-byte nodes as fit in a time budget (up to a
//! count) and the server's RSS growth per node; and many sessions each holding
//! an ephemeral node, held by a child process (`coord-peer-bench hold`) that is
//! then killed with SIGKILL, so the server sees the connections drop and must
//! expire every session itself. RSS is `VmRSS` of `/proc/PID/status`.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use coord_client::client::{CreateMode, Op};
use tokio::io::{AsyncBufReadExt, BufReader};
use zookeeper_client as zk;

use coord_cli::bench::driver::bounded;

use crate::systems::{self, Conn, System, Target, VALUE_BYTES};
use crate::tasks::{self, BoxError, Res};

/// Resident set size of process `pid` in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("no VmRSS for pid {pid}").into())
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What the node-scale run measured.
#[derive(Debug, Clone)]
pub(crate) struct NodeScale {
    pub(crate) created: u64,
    pub(crate) secs: f64,
    pub(crate) rss_before: u64,
    pub(crate) rss_after: u64,
}

impl NodeScale {
    pub(crate) fn bytes_per_node(&self) -> f64 {
        if self.created == 0 {
            0.0
        } else {
            self.rss_after.saturating_sub(self.rss_before) as f64 / self.created as f64
        }
    }
}

/// Connections, in-flight batches per connection, and creates per batch in
/// the node-scale run. Creates are batched (coord `multi`, ZooKeeper `multi`,
/// etcd `Txn` — etcd's default `--max-txn-ops` is 128) so that a million
/// nodes fit in the time budget on an fsync-bound disk: what is measured here
/// is memory per node, not create throughput.
const SCALE_CONNS: usize = 8;
const SCALE_DEPTH: usize = 8;
const SCALE_BATCH: u64 = 100;

/// Creates up to `max_nodes` persistent 100-byte nodes under `/pb/scale`
/// within `budget`.
pub(crate) async fn nodes(target: &Target, max_nodes: u64, budget: Duration) -> Res<NodeScale> {
    let pid = target.pid.ok_or("no server pid to read RSS from")?;
    let dir = format!("{}/scale", systems::ROOT);
    let mut conns = Vec::new();
    for _ in 0..SCALE_CONNS {
        conns.push(Conn::connect(target.system, &target.addr).await?);
    }
    if let Some(first) = conns.first_mut() {
        first.ensure_node(&dir, &[]).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_bytes(pid)?;
    let next = Arc::new(AtomicU64::new(0));
    let created = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + budget;
    let mut tasks = Vec::new();
    for conn in conns {
        // Every task of a connection shares its (pipelined) client.
        let conn = Arc::new(conn);
        for _ in 0..SCALE_DEPTH {
            let (conn, next, created, dir) = (
                Arc::clone(&conn),
                Arc::clone(&next),
                Arc::clone(&created),
                dir.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let value = vec![b's'; VALUE_BYTES];
                while Instant::now() < deadline {
                    let first = next.fetch_add(SCALE_BATCH, Ordering::Relaxed);
                    if first >= max_nodes {
                        break;
                    }
                    let last = (first + SCALE_BATCH).min(max_nodes);
                    let keys: Vec<String> =
                        (first..last).map(|i| format!("{dir}/n{i:07}")).collect();
                    bounded(create_batch(&conn, &keys, &value)).await?;
                    created.fetch_add(last - first, Ordering::Relaxed);
                }
                Ok::<_, BoxError>(())
            }));
        }
    }
    for t in tasks {
        t.await.map_err(|e| format!("create task: {e}"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_bytes(pid)?;
    Ok(NodeScale {
        created: created.load(Ordering::Relaxed),
        secs,
        rss_before,
        rss_after,
    })
}

/// Creates `keys` in one atomic request, through a connection shared by
/// several tasks (all three clients pipeline requests).
async fn create_batch(conn: &Conn, keys: &[String], value: &[u8]) -> Res<()> {
    match conn {
        Conn::Coord(c) => {
            let data = Bytes::copy_from_slice(value);
            let ops = keys
                .iter()
                .map(|k| Op::Create {
                    acl: Vec::new(),
                    path: k.clone(),
                    data: data.clone(),
                    mode: CreateMode::Persistent,
                })
                .collect();
            c.multi(ops).await?;
        }
        Conn::Zk(c) => {
            let opts = systems::zk_opts(zk::CreateMode::Persistent);
            let mut writer = c.new_multi_writer();
            for k in keys {
                writer.add_create(k, value, &opts)?;
            }
            writer.commit().await?;
        }
        Conn::Etcd(c) => {
            let ops: Vec<etcd_client::TxnOp> = keys
                .iter()
                .map(|k| etcd_client::TxnOp::put(k.as_str(), value, None))
                .collect();
            c.as_ref()
                .clone()
                .txn(etcd_client::Txn::new().and_then(ops))
                .await?;
        }
        Conn::Redis(_) | Conn::ZkWire(_) => {
            return Err("the scale workload covers coord, ZooKeeper and etcd".into());
        }
    }
    Ok(())
}

/// What the sessions run measured.
#[derive(Debug, Clone)]
pub(crate) struct Sessions {
    pub(crate) sessions: u64,
    pub(crate) timeout: Duration,
    pub(crate) connect_secs: f64,
    pub(crate) rss_before: u64,
    pub(crate) rss_held: u64,
    /// From SIGKILL of the holder to the last ephemeral gone (None: not within the bound).
    pub(crate) expire_secs: Option<f64>,
}

impl Sessions {
    pub(crate) fn bytes_per_session(&self) -> f64 {
        if self.sessions == 0 {
            0.0
        } else {
            self.rss_held.saturating_sub(self.rss_before) as f64 / self.sessions as f64
        }
    }
}

/// Longest the holder may take to open its sessions.
const HOLD_READY_TIMEOUT: Duration = Duration::from_secs(240);
/// Longest the expiry of all sessions is waited for.
const EXPIRE_BOUND: Duration = Duration::from_secs(90);

/// Spawns `coord-peer-bench hold` with `count` sessions (each with an
/// ephemeral under `/pb/sess`), reads RSS, kills the holder, and times until
/// the server has removed every ephemeral.
pub(crate) async fn sessions(target: &Target, count: u64, timeout: Duration) -> Res<Sessions> {
    let pid = target.pid.ok_or("no server pid to read RSS from")?;
    let dir = format!("{}/sess", systems::ROOT);
    let mut admin = Conn::connect(target.system, &target.addr).await?;
    admin.ensure_node(&dir, &[]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_bytes(pid)?;
    let system = match target.system {
        System::Coord => "coord",
        System::Zk => "zk",
        _ => return Err("sessions are measured on coord and ZooKeeper only".into()),
    };
    let started = Instant::now();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "hold",
            "--system",
            system,
            "--addr",
            &target.addr,
            "--dir",
            &dir,
            "--count",
            &count.to_string(),
            "--timeout-ms",
            &timeout.as_millis().to_string(),
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("holder has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(HOLD_READY_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| "holder did not open its sessions in time")??
        .ok_or("holder exited before it was ready")?;
    let held: u64 = line
        .strip_prefix("ready ")
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("holder said {line:?}"))?;
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_held = rss_bytes(pid)?;
    child.start_kill()?;
    let killed = Instant::now();
    child.wait().await?;
    let mut expire_secs = None;
    while killed.elapsed() < EXPIRE_BOUND {
        if children_count(&mut admin, &dir).await? == 0 {
            expire_secs = Some(killed.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin.close().await;
    Ok(Sessions {
        sessions: held,
        timeout,
        connect_secs,
        rss_before,
        rss_held,
        expire_secs,
    })
}

async fn children_count(conn: &mut Conn, dir: &str) -> Res<u64> {
    Ok(match conn {
        Conn::Coord(c) => c
            .exists(dir)
            .await?
            .map_or(0, |s| u64::from(s.num_children)),
        Conn::Zk(c) => c
            .check_stat(dir)
            .await?
            .map_or(0, |s| u64::try_from(s.num_children).unwrap_or(0)),
        Conn::Etcd(_) | Conn::Redis(_) | Conn::ZkWire(_) => {
            return Err("no ephemerals here".into());
        }
    })
}

/// The holder process: opens `count` sessions with `timeout`, creates one
/// ephemeral node per session under `dir`, prints `ready N`, then waits to be
/// killed (at most 10 minutes).
pub(crate) async fn hold(
    system: &str,
    addr: &str,
    dir: &str,
    count: u64,
    timeout: Duration,
) -> Res<()> {
    let opened = tasks::concurrently(0..count, 64, |i| {
        let (system, addr, dir) = (system.to_string(), addr.to_string(), dir.to_string());
        async move {
            let path = format!("{dir}/s{i:06}");
            let held: Box<dyn std::any::Any + Send> = if system == "coord" {
                let c = systems::coord_connect(&addr, timeout).await?;
                c.create(&path, Bytes::new(), CreateMode::Ephemeral).await?;
                Box::new(c)
            } else {
                let c = systems::zk_connect(&addr, timeout).await?;
                c.create(&path, &[], &systems::zk_opts(zk::CreateMode::Ephemeral))
                    .await?;
                Box::new(c)
            };
            Ok(held)
        }
    })
    .await?;
    println!("ready {}", opened.len());
    tokio::time::sleep(Duration::from_secs(600)).await;
    drop(opened);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_in_bytes_from_proc_status() {
        let status = "Name:\tcoord\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }
}
