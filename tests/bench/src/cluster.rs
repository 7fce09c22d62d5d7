//! The replicated side of the benchmark: three members of each system on
//! 127.0.0.1, started, probed, killed with SIGKILL and restarted by this
//! process (`tests/bench/cluster.sh` only installs, builds and cleans up).
//!
//! - coord: `coord serve --id N --listen --peer-listen --cluster --data-dir`,
//!   heartbeat and election timeout at their defaults (`coord serve --help`); the
//!   leader is what `cluster status` says (`Client::cluster_status`, asked of
//!   each member through a client connected to that member alone).
//! - ZooKeeper: `zkServer.sh start-foreground zoo.cfg` per member (it execs the
//!   JVM, so the child's PID is the server's), each with its own zoo.cfg, myid
//!   and data dir; the leader is the member whose `srvr` says `Mode: leader`.
//! - etcd: one `etcd` per member with `--initial-cluster`; the leader is what
//!   each member's Maintenance `Status` says (the call behind `etcdctl
//!   endpoint status`).
//!
//! Every member writes its PID to `DIR/pid` while it runs, so that the shell
//! script can stop what a killed harness left behind.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use coord_client::client::Client as CoordClient;
use coord_proto::proto::ClusterStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::systems::{SESSION_TIMEOUT, System};
use crate::tasks::Res;

/// Members per cluster.
pub(crate) const MEMBERS: usize = 3;

/// Longest one probe (status, `srvr`) may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub(crate) struct Programs {
    pub(crate) coord: PathBuf,
    pub(crate) zk_server: PathBuf,
    pub(crate) etcd: PathBuf,
}

/// Free loopback ports (bound together, noted, released).
pub(crate) fn free_ports(n: usize) -> Res<Vec<u16>> {
    let held = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(held
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()?)
}

/// One member's process.
struct Member {
    client_addr: String,
    dir: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    pid: Option<u32>,
    /// coord: a client connected to this member alone (probes only).
    coord_probe: Option<CoordClient>,
    /// etcd: a client of this member's endpoint alone (probes only).
    etcd_probe: Option<etcd_client::Client>,
}

impl Member {
    fn spawn(&mut self) -> Res<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("out.log"))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("spawned member has no pid")?;
        std::fs::write(self.dir.join("pid"), format!("{pid}\n"))?;
        self.pid = Some(pid);
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL; returns the instant just before the signal was sent.
    async fn kill9(&mut self) -> Res<Instant> {
        let mut child = self.child.take().ok_or("member is not running")?;
        let at = Instant::now();
        child.start_kill()?;
        child.wait().await?;
        self.pid = None;
        let _ = std::fs::remove_file(self.dir.join("pid"));
        // The probes of a dead member are useless; new ones after the restart.
        self.coord_probe = None;
        self.etcd_probe = None;
        Ok(at)
    }
}

/// One three-member cluster of one system.
pub(crate) struct Cluster {
    pub(crate) system: System,
    members: Vec<Member>,
    /// etcd's member id of each member (from its status header).
    etcd_ids: Vec<u64>,
}

impl Cluster {
    /// Writes the members' configuration under `work`, starts them and waits
    /// (at most `ready`) until every member is healthy and they agree on a leader.
    pub(crate) async fn start(
        system: System,
        programs: &Programs,
        work: &Path,
        ready: Duration,
    ) -> Res<Cluster> {
        let ports = free_ports(3 * MEMBERS)?;
        let root = work.join(match system {
            System::Coord => "coord",
            System::Zk => "zk",
            System::Etcd => "etcd",
            _ => return Err("only coord, ZooKeeper and etcd run as clusters here".into()),
        });
        let client = |i: usize| format!("127.0.0.1:{}", ports[i]);
        let peer = |i: usize| format!("127.0.0.1:{}", ports[MEMBERS + i]);
        let mut members = Vec::new();
        for i in 0..MEMBERS {
            let id = i + 1;
            let dir = root.join(id.to_string());
            std::fs::create_dir_all(&dir)?;
            let data = dir.join("data");
            let (program, args, env) = match system {
                System::Coord => {
                    let cluster = (0..MEMBERS)
                        .map(|j| format!("{}={}", j + 1, peer(j)))
                        .collect::<Vec<_>>()
                        .join(",");
                    let args = strings(&[
                        "serve",
                        "--id",
                        &id.to_string(),
                        "--listen",
                        &client(i),
                        "--peer-listen",
                        &peer(i),
                        "--cluster",
                        &cluster,
                        "--data-dir",
                        &data.to_string_lossy(),
                        "--max-connections",
                        "20000",
                    ]);
                    (programs.coord.clone(), args, vec![])
                }
                System::Zk => {
                    std::fs::create_dir_all(&data)?;
                    std::fs::write(data.join("myid"), format!("{id}\n"))?;
                    let mut cfg = format!(
                        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
                         clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n",
                        data.display(),
                        ports[i]
                    );
                    for j in 0..MEMBERS {
                        let _ = writeln!(
                            cfg,
                            "server.{}={}:{}",
                            j + 1,
                            peer(j),
                            ports[2 * MEMBERS + j]
                        );
                    }
                    let cfg_path = dir.join("zoo.cfg");
                    std::fs::write(&cfg_path, cfg)?;
                    let args = vec![
                        "start-foreground".to_string(),
                        cfg_path.to_string_lossy().into_owned(),
                    ];
                    // The member's own log dir (Debian's environment file
                    // points every server at /var/log/zookeeper).
                    let env = vec![(
                        "JVMFLAGS".to_string(),
                        format!("-Dzookeeper.log.dir={}", dir.display()),
                    )];
                    (programs.zk_server.clone(), args, env)
                }
                _ => {
                    let initial = (0..MEMBERS)
                        .map(|j| format!("m{}=http://{}", j + 1, peer(j)))
                        .collect::<Vec<_>>()
                        .join(",");
                    let args = strings(&[
                        "--name",
                        &format!("m{id}"),
                        "--data-dir",
                        &data.to_string_lossy(),
                        "--listen-client-urls",
                        &format!("http://{}", client(i)),
                        "--advertise-client-urls",
                        &format!("http://{}", client(i)),
                        "--listen-peer-urls",
                        &format!("http://{}", peer(i)),
                        "--initial-advertise-peer-urls",
                        &format!("http://{}", peer(i)),
                        "--initial-cluster",
                        &initial,
                        "--initial-cluster-state",
                        "new",
                        "--initial-cluster-token",
                        &format!("coord-bench-{}", std::process::id()),
                    ]);
                    (programs.etcd.clone(), args, vec![])
                }
            };
            members.push(Member {
                client_addr: client(i),
                dir,
                program,
                args,
                env,
                child: None,
                pid: None,
                coord_probe: None,
                etcd_probe: None,
            });
        }
        let mut cluster = Cluster {
            system,
            members,
            etcd_ids: vec![0; MEMBERS],
        };
        for m in &mut cluster.members {
            m.spawn()?;
        }
        let deadline = Instant::now() + ready;
        for i in 0..MEMBERS {
            cluster
                .wait_healthy(i, deadline.saturating_duration_since(Instant::now()))
                .await?;
        }
        cluster
            .wait_leader(deadline.saturating_duration_since(Instant::now()))
            .await?;
        Ok(cluster)
    }

    /// Client address of every member, in member order.
    pub(crate) fn addrs(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_addr.clone()).collect()
    }

    /// PIDs of the running members.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(|m| m.pid).collect()
    }

    /// Member id (1-based) of index `i`.
    pub(crate) fn id_of(i: usize) -> u64 {
        i as u64 + 1
    }

    pub(crate) async fn kill9(&mut self, i: usize) -> Res<Instant> {
        self.members[i].kill9().await
    }

    pub(crate) fn restart(&mut self, i: usize) -> Res<()> {
        if self.members[i].child.is_some() {
            return Err(format!("member {} is already running", i + 1).into());
        }
        self.members[i].spawn()
    }

    /// Stops every member (SIGKILL: the data dirs are thrown away).
    pub(crate) async fn stop(mut self) {
        for m in &mut self.members {
            if let Some(c) = m.coord_probe.take() {
                let _ = tokio::time::timeout(Duration::from_secs(1), c.close()).await;
            }
            if m.child.is_some() {
                let _ = m.kill9().await;
            }
        }
    }

    /// Index of the leader every running member agrees on, waiting at most `wait`.
    pub(crate) async fn wait_leader(&mut self, wait: Duration) -> Res<usize> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(l) = self.agreed_leader().await {
                return Ok(l);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: no leader agreed by the running members within {wait:?}",
                    self.system.name()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The leader's index if every running member names the same one.
    async fn agreed_leader(&mut self) -> Option<usize> {
        let mut seen = None;
        for i in 0..MEMBERS {
            if self.members[i].child.is_none() {
                continue;
            }
            let l = self.leader_seen_by(i).await?;
            if seen.is_some_and(|s| s != l) {
                return None;
            }
            seen = Some(l);
        }
        seen
    }

    /// The leader (index) as member `i` sees it; None if it names none or
    /// does not answer. ZooKeeper: `i` itself if its `srvr` says leader.
    async fn leader_seen_by(&mut self, i: usize) -> Option<usize> {
        match self.system {
            System::Coord => {
                let st = self.coord_status(i).await.ok()?;
                (st.leader != 0).then(|| st.leader as usize - 1)
            }
            System::Zk => {
                let mode = zk_mode(&self.members[i].client_addr).await.ok()?;
                if mode == "leader" {
                    return Some(i);
                }
                // A follower does not name its leader in `srvr`: ask the others.
                for j in 0..MEMBERS {
                    if j != i
                        && self.members[j].child.is_some()
                        && zk_mode(&self.members[j].client_addr).await.ok()? == "leader"
                    {
                        return (mode == "follower").then_some(j);
                    }
                }
                None
            }
            _ => {
                let (_, leader) = self.etcd_status(i).await.ok()?;
                self.etcd_ids
                    .iter()
                    .position(|id| *id == leader && leader != 0)
            }
        }
    }

    /// Whether a running member other than `killed` now names a leader
    /// other than `killed`.
    pub(crate) async fn new_leader_visible(&mut self, killed: usize) -> bool {
        let survivors: Vec<usize> = (0..MEMBERS)
            .filter(|i| *i != killed && self.members[*i].child.is_some())
            .collect();
        // Every survivor is asked at once, so one slow answer does not
        // delay seeing another's.
        match self.system {
            System::Zk => {
                let probes = survivors
                    .iter()
                    .map(|i| zk_mode(&self.members[*i].client_addr))
                    .collect::<Vec<_>>();
                futures::future::join_all(probes)
                    .await
                    .iter()
                    .any(|m| m.as_deref().is_ok_and(|m| m == "leader"))
            }
            System::Coord => {
                let killed_id = Self::id_of(killed);
                let probes: Vec<CoordClient> = survivors
                    .iter()
                    .filter_map(|i| self.members[*i].coord_probe.clone())
                    .collect();
                let answers = futures::future::join_all(
                    probes
                        .iter()
                        .map(|p| tokio::time::timeout(PROBE_TIMEOUT, p.cluster_status())),
                )
                .await;
                answers
                    .into_iter()
                    .any(|a| matches!(a, Ok(Ok(st)) if st.leader != 0 && st.leader != killed_id))
            }
            _ => {
                let killed_id = self.etcd_ids[killed];
                let probes: Vec<etcd_client::Client> = survivors
                    .iter()
                    .filter_map(|i| self.members[*i].etcd_probe.clone())
                    .collect();
                let answers =
                    futures::future::join_all(probes.into_iter().map(|mut p| async move {
                        tokio::time::timeout(PROBE_TIMEOUT, p.status()).await
                    }))
                    .await;
                answers.into_iter().any(
                    |a| matches!(a, Ok(Ok(st)) if st.leader() != 0 && st.leader() != killed_id),
                )
            }
        }
    }

    /// Waits at most `wait` until member `i` serves: coord: it names a
    /// leader and a `sync` through it succeeds; ZooKeeper: `srvr` says leader
    /// or follower; etcd: its status names a leader and a linearizable read
    /// through it succeeds. Returns how long it took.
    pub(crate) async fn wait_healthy(&mut self, i: usize, wait: Duration) -> Res<Duration> {
        let started = Instant::now();
        let deadline = started + wait;
        loop {
            let last_err = match self.healthy(i).await {
                Ok(()) => return Ok(started.elapsed()),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "{} member {} not healthy within {wait:?}: {last_err} (log: {})",
                    self.system.name(),
                    i + 1,
                    self.members[i].dir.join("out.log").display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn healthy(&mut self, i: usize) -> Res<()> {
        if self.members[i].child.is_none() {
            return Err("not running".into());
        }
        match self.system {
            System::Coord => {
                let st = self.coord_status(i).await?;
                if st.leader == 0 || st.members.len() != MEMBERS {
                    return Err(
                        format!("leader {} with {} members", st.leader, st.members.len()).into(),
                    );
                }
                let probe = self.members[i].coord_probe.as_ref().ok_or("no probe")?;
                tokio::time::timeout(Duration::from_secs(5), probe.sync("/")).await??;
                Ok(())
            }
            System::Zk => {
                let mode = zk_mode(&self.members[i].client_addr).await?;
                if mode == "leader" || mode == "follower" {
                    Ok(())
                } else {
                    Err(format!("mode {mode}").into())
                }
            }
            _ => {
                let (id, leader) = self.etcd_status(i).await?;
                self.etcd_ids[i] = id;
                if leader == 0 {
                    return Err("no leader".into());
                }
                let c = self.members[i].etcd_probe.as_mut().ok_or("no probe")?;
                tokio::time::timeout(Duration::from_secs(5), c.get("/health-probe", None))
                    .await??;
                Ok(())
            }
        }
    }

    /// `cluster status` as member `i` answers it.
    async fn coord_status(&mut self, i: usize) -> Res<ClusterStatus> {
        let m = &mut self.members[i];
        if m.coord_probe.is_none() {
            let c = tokio::time::timeout(
                Duration::from_secs(2),
                CoordClient::builder()
                    .servers(m.client_addr.clone())
                    .session_timeout(SESSION_TIMEOUT)
                    .connect_timeout(Duration::from_secs(1))
                    .connect(),
            )
            .await??;
            m.coord_probe = Some(c);
        }
        let probe = m.coord_probe.as_ref().ok_or("no probe")?;
        Ok(tokio::time::timeout(PROBE_TIMEOUT, probe.cluster_status()).await??)
    }

    /// etcd member `i`'s (own member id, leader id).
    async fn etcd_status(&mut self, i: usize) -> Res<(u64, u64)> {
        let m = &mut self.members[i];
        if m.etcd_probe.is_none() {
            let opts = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(1))
                .with_timeout(Duration::from_secs(2));
            let c = tokio::time::timeout(
                Duration::from_secs(2),
                etcd_client::Client::connect([m.client_addr.as_str()], Some(opts)),
            )
            .await??;
            m.etcd_probe = Some(c);
        }
        let c = m.etcd_probe.as_mut().ok_or("no probe")?;
        let st = tokio::time::timeout(PROBE_TIMEOUT, c.status()).await??;
        let id = st.header().map(|h| h.member_id()).unwrap_or_default();
        Ok((id, st.leader()))
    }

    /// Which member the coord client `c` is connected to (index), if it says.
    pub(crate) async fn coord_member_of(c: &CoordClient) -> Option<usize> {
        let st = tokio::time::timeout(PROBE_TIMEOUT, c.cluster_status())
            .await
            .ok()?
            .ok()?;
        (st.this_member != 0).then(|| st.this_member as usize - 1)
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_string()).collect()
}

/// ZooKeeper's `srvr` four-letter word: the `Mode:` line's value.
pub(crate) async fn zk_mode(addr: &str) -> Res<String> {
    let text = tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"srvr").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    })
    .await??;
    text.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(|m| m.trim().to_string())
        .ok_or_else(|| format!("no mode in srvr answer: {}", text.trim()).into())
}

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`, else 100).
pub(crate) fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of process `pid`, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Res<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| format!("cannot parse /proc/{pid}/stat").into())
}

/// utime (field 14) + stime (field 15) of a `/proc/PID/stat` line; the
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted after its last ')'.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is f[n - 3].
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Sum of utime + stime over `pids`, in seconds.
pub(crate) fn cpu_secs(pids: &[u32], tck: f64) -> Res<f64> {
    let mut ticks = 0;
    for pid in pids {
        ticks += cpu_ticks(*pid)?;
    }
    Ok(ticks as f64 / tck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_fields_14_and_15() {
        let line = "1234 (java (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 30 0 100";
        assert_eq!(parse_cpu_ticks(line), Some(300));
        assert!(cpu_ticks(std::process::id()).is_ok());
    }
}
