//! `coord-peer-bench`: coord side by side with ZooKeeper, etcd and Redis,
//! every system driven by the same workload code from one process, each
//! server its own process (started by `tests/bench/run.sh`). Prints the
//! results section and, with `--out`, rewrites it in BENCHMARKS.md between
//! the `bench:peers` markers. Given coord's ZooKeeper port (`--coord-zk`),
//! the ZooKeeper workloads also run against it and the `bench:zkport`
//! section compares it with ZooKeeper and coord native; `--only zk-protocol`
//! runs just that comparison.
//!
//! Every workload is bounded in time and count, and any one failing is written
//! in the table as failed instead of stopping the run.
//!
//! Measuring is `coord bench`'s own code (`coord_cli::bench`): the same
//! recorder and percentiles, closed-loop driver, fsync and loopback floor,
//! machine facts and `BENCHMARKS.md` section writer; this crate adds the
//! peers' clients and the workloads only they run.

mod cluster;
mod cluster_bench;
mod cluster_report;
mod fanout;
mod locks;
mod report;
mod rounds;
mod scale;
mod systems;
mod tasks;
mod zkport;
mod zkwire;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use coord_cli::bench::MachineInfo;
use coord_cli::bench::driver::{self, BackgroundServer, Bounds};
use coord_cli::bench::floor;
use coord_cli::bench::stats::Summary;

use report::{HerdRow, Meta, Results, Row, Workload};
use systems::{System, Target};
use tasks::Res;

#[derive(Parser, Debug)]
#[command(about = "coord vs ZooKeeper, etcd and Redis, side by side")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs every workload against the given servers.
    Run(Box<RunArgs>),
    /// Starts a 3-member cluster of coord, ZooKeeper and etcd, runs the
    /// cluster workloads (throughput, CPU per op, locks, failover) and
    /// stops them.
    Cluster(Box<ClusterArgs>),
    /// Internal: holds sessions with ephemeral nodes until killed.
    Hold {
        #[arg(long)]
        system: String,
        #[arg(long)]
        addr: String,
        #[arg(long)]
        dir: String,
        #[arg(long)]
        count: u64,
        #[arg(long)]
        timeout_ms: u64,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// coord server address (required: coord is what is measured).
    #[arg(long)]
    coord: String,
    #[arg(long)]
    coord_pid: Option<u32>,
    /// coord's ZooKeeper port (`coord serve --zk-listen`, same server as
    /// `--coord`): the ZooKeeper workloads run against it too.
    #[arg(long)]
    coord_zk: Option<String>,
    #[arg(long)]
    zk: Option<String>,
    #[arg(long)]
    zk_pid: Option<u32>,
    #[arg(long)]
    etcd: Option<String>,
    #[arg(long)]
    etcd_pid: Option<u32>,
    /// Redis with appendonly yes + appendfsync always.
    #[arg(long)]
    redis_aof: Option<String>,
    /// Redis with persistence off.
    #[arg(long)]
    redis_mem: Option<String>,
    /// Directory on the servers' data disk, for the fsync floor.
    #[arg(long)]
    data_dir: PathBuf,
    /// Measured window of each throughput workload, ms.
    #[arg(long, default_value_t = 3000)]
    duration_ms: u64,
    /// Warm-up before each throughput workload, ms.
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Most measured operations per workload.
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: u64,
    /// Watchers in the fan-out workload.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Most nodes in the scale workload.
    #[arg(long, default_value_t = 1_000_000)]
    nodes: u64,
    /// Time budget of the scale workload per system, s.
    #[arg(long, default_value_t = 60)]
    scale_secs: u64,
    /// Sessions in the ephemeral workload.
    #[arg(long, default_value_t = 10_000)]
    sessions: u64,
    /// Session timeout in the ephemeral workload, ms (ZooKeeper's minimum with tickTime 2000 is 4000).
    #[arg(long, default_value_t = 4000)]
    session_timeout_ms: u64,
    /// Workload groups to skip (write,read,lock,herd,fanout,scale,sessions).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Runs one comparison only and rewrites only its section.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Rounds of the write and read workloads: each round runs every system
    /// once per workload, interleaved; the report keeps each row's median
    /// round, lists every round's ops/s and judges the ZooKeeper-port
    /// targets on the median of the per-round ratios.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=15))]
    rounds: u32,
    /// Where the servers and this harness ran, for the ZooKeeper-port
    /// section: its markers and its notes (the script does the pinning).
    #[arg(long, value_enum, default_value_t = zkport::Placement::Shared)]
    placement: zkport::Placement,
    #[command(flatten)]
    report: ReportArgs,
}

/// A comparison `run --only` runs by itself.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Only {
    /// coord's ZooKeeper port vs ZooKeeper and coord native (issue 14): writes
    /// and reads with 1 and 32 clients and the lock handoff, on those three
    /// systems only (needs `--coord-zk` and `--zk`); no floor, no etcd or Redis.
    ZkProtocol,
}

#[derive(clap::Args, Debug)]
struct ClusterArgs {
    /// The `coord` binary (release build).
    #[arg(long)]
    coord_bin: PathBuf,
    /// ZooKeeper's zkServer.sh.
    #[arg(long, default_value = "/usr/share/zookeeper/bin/zkServer.sh")]
    zk_server: PathBuf,
    /// The etcd binary.
    #[arg(long, default_value = "etcd")]
    etcd_bin: PathBuf,
    /// Fresh directory for the members' data and logs.
    #[arg(long)]
    work: PathBuf,
    /// Systems to run (coord is always run).
    #[arg(long, value_delimiter = ',', default_value = "coord,zk,etcd")]
    systems: Vec<String>,
    /// Measured window of each throughput workload, ms.
    #[arg(long, default_value_t = 3000)]
    duration_ms: u64,
    /// Warm-up before each throughput workload, ms.
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Most measured operations per workload.
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: u64,
    /// Unmeasured 32-client writes, then reads, on every cluster before the
    /// measured workloads (JIT, caches, connections), ms each; 0: none.
    #[arg(long, default_value_t = 2000)]
    prewarm_ms: u64,
    /// Leader kills per system in the failover workload.
    #[arg(long, default_value_t = 5)]
    kills: usize,
    /// Writes flow this long before each kill, ms.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Workload groups to skip (write,read,lock,failover).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    #[command(flatten)]
    report: ReportArgs,
}

/// Where a run's report goes and what its header says (both subcommands).
#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// The file whose section (bench:peers or bench:cluster) is rewritten.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Shown in the report.
    #[arg(long, default_value = "")]
    date: String,
    #[arg(long, default_value = "")]
    command: String,
    #[arg(long, default_value = "")]
    versions: String,
    #[arg(long, default_value = "")]
    settings: String,
}

fn main() -> Res<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Cmd::Hold {
            system,
            addr,
            dir,
            count,
            timeout_ms,
        } => runtime.block_on(scale::hold(
            &system,
            &addr,
            &dir,
            count,
            Duration::from_millis(timeout_ms),
        )),
        Cmd::Run(args) => {
            let r = runtime.block_on(run(*args));
            runtime.shutdown_timeout(Duration::from_secs(5));
            r
        }
        Cmd::Cluster(args) => {
            let r = runtime.block_on(run_cluster(*args));
            runtime.shutdown_timeout(Duration::from_secs(5));
            r
        }
    }
}

/// Longest any one workload on one system may take.
const WORKLOAD_BOUND: Duration = Duration::from_secs(300);

/// Runs `fut` within [`WORKLOAD_BOUND`], turning any error into its message.
async fn guarded<T>(what: &str, fut: impl Future<Output = Res<T>>) -> Result<T, String> {
    let started = Instant::now();
    eprintln!("peer-bench: {what} ...");
    let r = match tokio::time::timeout(WORKLOAD_BOUND, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("did not finish within {WORKLOAD_BOUND:?}")),
    };
    match &r {
        Ok(_) => eprintln!(
            "peer-bench: {what}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!("peer-bench: {what}: FAILED: {e}"),
    }
    r
}

/// The first three fields of `/proc/loadavg` ("unknown" if unreadable).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The floor, measured by `coord bench`'s code: fsync on the data disk
/// (append; overwrite in a preallocated file) and the loopback round trip of
/// one tokio client against an echo server on its own thread and runtime.
async fn measure_floor(data_dir: &Path, bounds: &Bounds, res: &mut Results) {
    let summary = |m: Result<coord_cli::bench::Measurement, coord_client::Error>| {
        m.map(|m| m.summary).map_err(|e| e.to_string())
    };
    tokio::task::block_in_place(|| {
        res.fsync = Some(summary(floor::fsync_append(data_dir, bounds)));
        res.fsync_prealloc = Some(summary(floor::fsync_prealloc(data_dir, bounds)));
    });
    res.rtt = Some(loopback_rtt(bounds).await.map_err(|e| e.to_string()));
}

async fn loopback_rtt(bounds: &Bounds) -> Result<Summary, coord_client::Error> {
    let echo = tokio::task::block_in_place(|| {
        BackgroundServer::start("peer-bench-echo", floor::serve_echo)
    })?;
    let measured = floor::echo(echo.addr(), 1, bounds).await;
    tokio::task::block_in_place(|| echo.stop())?;
    Ok(measured?.summary)
}

async fn run(args: RunArgs) -> Res<()> {
    let started = Instant::now();
    let load_start = loadavg();
    let zk_only = args.only == Some(Only::ZkProtocol);
    if zk_only && (args.coord_zk.is_none() || args.zk.is_none()) {
        return Err("--only zk-protocol needs --coord-zk and --zk".into());
    }
    let skip = |g: &str| {
        args.skip.iter().any(|s| s == g) || (zk_only && !matches!(g, "write" | "read" | "lock"))
    };
    let mut targets = vec![Target {
        system: System::Coord,
        addr: args.coord.clone(),
        pid: args.coord_pid,
    }];
    // coord's ZooKeeper port right after coord native, so that the two see
    // the machine's load as alike as one run allows.
    for (system, addr, pid) in [
        (System::CoordZk, &args.coord_zk, args.coord_pid),
        (System::CoordZkWire, &args.coord_zk, args.coord_pid),
        (System::Zk, &args.zk, args.zk_pid),
        (System::ZkWire, &args.zk, args.zk_pid),
        (System::Etcd, &args.etcd, args.etcd_pid),
        (System::RedisAof, &args.redis_aof, None),
        (System::RedisMem, &args.redis_mem, None),
    ] {
        if zk_only && !zkport::SYSTEMS.contains(&system) {
            continue;
        }
        if let Some(addr) = addr {
            targets.push(Target {
                system,
                addr: addr.clone(),
                pid,
            });
        }
    }
    let bounds = Bounds {
        warmup: Duration::from_millis(args.warmup_ms),
        duration: Duration::from_millis(args.duration_ms),
        max_ops: args.max_ops,
    };
    let mut res = Results::default();

    // Root node for every tree system.
    for t in &targets {
        if matches!(t.system, System::Coord | System::CoordZk | System::Zk) {
            let mut c = systems::Conn::connect(t.system, &t.addr).await?;
            c.ensure_node(systems::ROOT, &[]).await?;
            c.close().await;
        }
    }

    let floor_bounds = Bounds {
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(2),
        max_ops: 100_000,
    };
    if !zk_only {
        eprintln!("peer-bench: floor");
        measure_floor(&args.data_dir, &floor_bounds, &mut res).await;
    }

    let rounds = args.rounds as usize;
    let mut measured_rounds = Vec::new();
    for (group, workload, write) in [
        ("write", Workload::Write, true),
        ("read", Workload::Read, false),
    ] {
        if skip(group) {
            continue;
        }
        for clients in [1, 32] {
            for (round, t) in (0..rounds).flat_map(|r| targets.iter().map(move |t| (r, t))) {
                let what = if rounds > 1 {
                    format!(
                        "{group} {clients} clients on {} (round {} of {rounds})",
                        t.system.name(),
                        round + 1
                    )
                } else {
                    format!("{group} {clients} clients on {}", t.system.name())
                };
                // The ZooKeeper-port comparison also takes the CPU time of
                // the server and of this process (the clients) per operation.
                let cpu_of = match t.pid {
                    Some(pid) if args.coord_zk.is_some() && zkport::SYSTEMS.contains(&t.system) => {
                        vec![pid, std::process::id()]
                    }
                    _ => Vec::new(),
                };
                let measured = guarded(&what, systems::kv(t, clients, write, bounds, cpu_of)).await;
                let mut cpu_row = None;
                let result = measured.map(|(summary, cpu)| {
                    if let [server, harness] = cpu[..] {
                        cpu_row = Some(report::CpuRow {
                            workload,
                            system: t.system,
                            clients,
                            server_us: server * 1e6 / summary.ops.max(1) as f64,
                            client_us: harness * 1e6 / summary.ops.max(1) as f64,
                        });
                    }
                    summary
                });
                measured_rounds.push(rounds::RoundRow {
                    round,
                    row: Row {
                        workload,
                        system: t.system,
                        clients,
                        result,
                    },
                    cpu: cpu_row,
                });
            }
        }
    }
    rounds::fold(rounds, measured_rounds, &mut res);

    if !skip("lock") {
        // coord's ZooKeeper port runs the handoff only (its section's workloads).
        for t in targets
            .iter()
            .filter(|t| !zk_only && t.system != System::CoordZk && !t.system.minimal_client())
        {
            let what = format!("lock cycle on {}", t.system.name());
            let result = guarded(&what, locks::cycle(t, bounds)).await;
            res.rows.push(Row {
                workload: Workload::LockCycle,
                system: t.system,
                clients: 1,
                result,
            });
        }
        // The minimal client has no watches: no lock rows for it.
        for t in targets.iter().filter(|t| !t.system.minimal_client()) {
            let what = format!(
                "lock handoff, {} contenders, on {}",
                locks::CONTENDERS,
                t.system.name()
            );
            let result = guarded(&what, locks::handoff(t, locks::CONTENDERS, bounds)).await;
            res.rows.push(Row {
                workload: Workload::Handoff,
                system: t.system,
                clients: locks::CONTENDERS,
                result,
            });
        }
    }

    let trees: Vec<&Target> = targets
        .iter()
        .filter(|t| matches!(t.system, System::Coord | System::Zk))
        .collect();
    if !skip("herd") {
        for t in &trees {
            for waiters in [16, 256] {
                for naive in [false, true] {
                    let what = format!(
                        "herd {waiters} waiters naive={naive} on {}",
                        t.system.name()
                    );
                    let result = guarded(&what, locks::notifications(t, waiters, naive)).await;
                    res.herd.push(HerdRow {
                        system: t.system,
                        naive,
                        waiters,
                        result,
                    });
                }
            }
        }
    }

    if !skip("fanout") {
        for t in targets
            .iter()
            .filter(|t| matches!(t.system, System::Coord | System::Zk | System::Etcd))
        {
            let what = format!(
                "fan-out to {} watchers on {}",
                args.watchers,
                t.system.name()
            );
            let result = guarded(
                &what,
                fanout::fan_out(t, args.watchers, 30, Duration::from_secs(20)),
            )
            .await;
            res.fanout.push((t.system, result));
        }
    }

    if !skip("sessions") {
        for t in &trees {
            let what = format!("{} sessions on {}", args.sessions, t.system.name());
            let timeout = Duration::from_millis(args.session_timeout_ms);
            let result = guarded(&what, scale::sessions(t, args.sessions, timeout)).await;
            res.sessions.push((t.system, result));
        }
    }

    if !skip("scale") {
        for t in targets
            .iter()
            .filter(|t| matches!(t.system, System::Coord | System::Zk | System::Etcd))
        {
            let what = format!("scale to {} nodes on {}", args.nodes, t.system.name());
            let result = guarded(
                &what,
                scale::nodes(t, args.nodes, Duration::from_secs(args.scale_secs)),
            )
            .await;
            res.scale.push((t.system, result));
        }
    }

    let meta = Meta {
        date: args.report.date.clone(),
        command: args.report.command.clone(),
        versions: args.report.versions.clone(),
        settings: args.report.settings.clone(),
        machine: MachineInfo::probe(&args.data_dir),
        bounds: format!(
            "warm-up {} ms + {} ms per throughput workload (at most {} ops){}, every op bounded by {:?}",
            args.warmup_ms,
            args.duration_ms,
            args.max_ops,
            if args.rounds > 1 {
                format!(
                    ", writes and reads in {} interleaved rounds (each round runs every system once per workload)",
                    args.rounds
                )
            } else {
                String::new()
            },
            driver::OP_TIMEOUT
        ),
        wall_secs: started.elapsed().as_secs_f64(),
        load: (load_start, loadavg()),
    };
    let mut sections = Vec::new();
    if !zk_only {
        sections.push((report::START, report::END, res.to_markdown(&meta)));
    }
    if args.coord_zk.is_some() {
        let (start, end) = args.placement.markers();
        sections.push((start, end, zkport::to_markdown(&res, &meta, args.placement)));
    }
    for (start, end, md) in &sections {
        println!("{md}");
        if let Some(out) = &args.report.out {
            coord_cli::bench::update_section(out, start, end, md)?;
            eprintln!("peer-bench: wrote {start} in {}", out.display());
        }
    }
    Ok(())
}

/// The cluster benchmark: every cluster started, every workload run on each
/// (interleaved per workload, coord first, so that a change in the machine's
/// load hits every system alike), failover last, every member stopped.
async fn run_cluster(args: ClusterArgs) -> Res<()> {
    use cluster::{Cluster, Programs};
    use cluster_report::{Meta as CMeta, Results as CResults, Row as CRow, Workload as CW};

    let started = Instant::now();
    let load_start = loadavg();
    let skip = |g: &str| args.skip.iter().any(|s| s == g);
    let programs = Programs {
        coord: args.coord_bin.clone(),
        zk_server: args.zk_server.clone(),
        etcd: args.etcd_bin.clone(),
    };
    let bounds = Bounds {
        warmup: Duration::from_millis(args.warmup_ms),
        duration: Duration::from_millis(args.duration_ms),
        max_ops: args.max_ops,
    };
    let tck = cluster::clk_tck();
    let mut res = CResults::default();
    let mut clusters: Vec<Cluster> = Vec::new();
    for (name, system) in [
        ("coord", System::Coord),
        ("zk", System::Zk),
        ("etcd", System::Etcd),
    ] {
        if system != System::Coord && !args.systems.iter().any(|s| s == name) {
            continue;
        }
        let what = format!("start a 3-member {} cluster", system.name());
        match guarded(
            &what,
            Cluster::start(system, &programs, &args.work, Duration::from_secs(120)),
        )
        .await
        {
            Ok(c) => {
                eprintln!(
                    "peer-bench: {} members at {} (pids {:?})",
                    system.name(),
                    c.addrs().join(","),
                    c.pids()
                );
                clusters.push(c);
            }
            Err(e) => res.not_started.push((system, e)),
        }
    }
    // Root node, and the member order (followers first) of every cluster.
    let mut orders = Vec::new();
    for c in &mut clusters {
        let leader = c.wait_leader(Duration::from_secs(30)).await?;
        if matches!(c.system, System::Coord | System::Zk) {
            let mut conn = systems::Conn::connect(c.system, &c.addrs()[leader]).await?;
            conn.ensure_node(systems::ROOT, &[]).await?;
            conn.close().await;
        }
        eprintln!(
            "peer-bench: {} leader: member {}",
            c.system.name(),
            leader + 1
        );
        orders.push(cluster_bench::spread_order(leader));
    }

    if args.prewarm_ms > 0 {
        let warm = Bounds {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(args.prewarm_ms),
            max_ops: args.max_ops,
        };
        for write in [true, false] {
            for (c, order) in clusters.iter().zip(&orders) {
                let what = format!(
                    "pre-warm (not measured): 32-client {} on {}",
                    if write { "writes" } else { "reads" },
                    c.system.name()
                );
                let _ = guarded(&what, cluster_bench::kv(c, order, 32, write, warm, tck)).await;
            }
        }
    }
    let mut kv_runs: Vec<(CW, usize, bool)> = Vec::new();
    if !skip("write") {
        kv_runs.push((CW::Write, 1, true));
        kv_runs.push((CW::Write, 32, true));
    }
    if !skip("read") {
        kv_runs.push((CW::Read, 32, false));
    }
    for (workload, clients, write) in kv_runs {
        for (c, order) in clusters.iter().zip(&orders) {
            let what = format!(
                "cluster {} {clients} clients on {}",
                if write { "write" } else { "read" },
                c.system.name()
            );
            let result = guarded(
                &what,
                cluster_bench::kv(c, order, clients, write, bounds, tck),
            )
            .await;
            res.rows.push(CRow {
                workload,
                system: c.system,
                clients,
                result,
            });
        }
    }
    if !skip("lock") {
        for (c, order) in clusters.iter().zip(&orders) {
            let what = format!("cluster lock cycle on {}", c.system.name());
            let result = guarded(&what, cluster_bench::lock_cycle(c, order[0], bounds, tck)).await;
            res.rows.push(CRow {
                workload: CW::LockCycle,
                system: c.system,
                clients: 1,
                result,
            });
        }
        for (c, order) in clusters.iter().zip(&orders) {
            let what = format!("cluster lock handoff on {}", c.system.name());
            let result = guarded(
                &what,
                cluster_bench::lock_handoff(c, order, locks::CONTENDERS, bounds, tck),
            )
            .await;
            res.rows.push(CRow {
                workload: CW::Handoff,
                system: c.system,
                clients: locks::CONTENDERS,
                result,
            });
        }
    }
    if !skip("failover") {
        let settle = Duration::from_millis(args.settle_ms);
        for c in &mut clusters {
            let what = format!(
                "failover, {} kills of the leader, on {}",
                args.kills,
                c.system.name()
            );
            // Bounded by the kills: each waits at most 60 s for the gap, 90 s
            // for the restart and 30 s for writes to flow again.
            let bound = Duration::from_secs(60 + 200 * args.kills as u64);
            let system = c.system;
            let result =
                match tokio::time::timeout(bound, cluster_bench::failover(c, args.kills, settle))
                    .await
                {
                    Ok(Ok(f)) => Ok(f),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("did not finish within {bound:?}")),
                };
            match &result {
                Ok(f) => eprintln!(
                    "peer-bench: {what}: done, {} acknowledged, {} lost",
                    f.acked, f.lost
                ),
                Err(e) => eprintln!("peer-bench: {what}: FAILED: {e}"),
            }
            res.failover.push((system, result));
        }
    }
    for c in clusters {
        c.stop().await;
    }

    let meta = CMeta {
        date: args.report.date.clone(),
        command: args.report.command.clone(),
        versions: args.report.versions.clone(),
        settings: args.report.settings.clone(),
        machine: MachineInfo::probe(&args.work),
        bounds: format!(
            "warm-up {} ms + {} ms per throughput workload (at most {} ops), every op bounded by {:?}; \
             before them an unmeasured pre-warm of {} ms of 32-client writes and {} ms of reads per system; \
             failover: {} kills per system, {} ms of writes before each",
            args.warmup_ms,
            args.duration_ms,
            args.max_ops,
            driver::OP_TIMEOUT,
            args.prewarm_ms,
            args.prewarm_ms,
            args.kills,
            args.settle_ms
        ),
        wall_secs: started.elapsed().as_secs_f64(),
        load: (load_start, loadavg()),
    };
    let md = res.to_markdown(&meta);
    println!("{md}");
    if let Some(out) = &args.report.out {
        coord_cli::bench::update_section(out, cluster_report::START, cluster_report::END, &md)?;
        eprintln!("peer-bench: wrote {}", out.display());
    }
    Ok(())
}
