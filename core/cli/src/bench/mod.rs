//! `coord bench`: a harness that measures the machine's floor and coord's own
//! operations in one run and prints a table (ops/s, p50, p99 in microseconds).
//! It is a benchmark, never a timed test: nothing here passes or fails a build.
//!
//! One run measures, in this order:
//! 1. the floor — fsync latency of the data disk (append; overwrite inside a
//!    preallocated file) and loopback TCP ping-pong against an in-process echo
//!    server with each client count (`floor`);
//! 2. coord — `create`, durable `set` and `get` through the real async
//!    [`Client`](coord_client::client::Client), each client with its own connection,
//!    against `--servers` or an embedded single-node server with a fresh data
//!    directory (`coord_ops`).
//!
//! Servers (echo and coord) run on their own tokio runtime in their own OS
//! thread; the clients run on another runtime (`driver`). Every workload is
//! bounded by time and by op count, and every operation by a timeout.
//! The [`Report`] judges the targets (set and get throughput against the echo
//! floor, single-client set latency against fsync + RTT) from the run's own
//! numbers, and [`update_benchmarks_md`] keeps its section of `BENCHMARKS.md`.
//!
//! This module only uses the public client and server APIs; it owns nothing but
//! its own scratch directory, which it removes.
//!
//! The pieces that do not know coord are public so that the peer benchmark
//! (`tests/bench`, coord against ZooKeeper, etcd and Redis) measures with the
//! same code: [`stats`] (recorder, summary, percentiles), [`driver`] (the
//! closed-loop driver, generic over the system, and the background server),
//! [`floor`] (fsync append and preallocated overwrite, loopback echo RTT),
//! [`MachineInfo`] and [`update_section`] (a harness's own section of
//! `BENCHMARKS.md`).

mod coord_ops;
pub mod driver;
pub mod floor;
mod locks;
mod machine;
mod markdown_file;
mod report;
pub mod soak;
pub mod stats;
pub mod workloads;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use locks::{HERD_FREE, NAIVE, NotificationRow};
pub use machine::MachineInfo;
pub use markdown_file::{SECTION_END, SECTION_START, update_benchmarks_md, update_section};
pub use report::{Report, TargetCheck, Verdict, check_targets};
pub use stats::{Kind, Measurement, Summary};
pub use workloads::Workload;

use coord_client::error::Error;
use driver::{BackgroundServer, Bounds};

/// What to measure and where. `BenchOptions::default()` is `coord bench` with no flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Servers to measure (`host:port,...`); `None` starts an embedded
    /// single-node server with a fresh data directory, removed afterwards.
    pub servers: Option<String>,
    /// Directory in which the fsync floor is measured and the embedded server
    /// keeps its data (inside a fresh sub-directory, removed afterwards);
    /// `None` uses the system temp dir.
    pub data_dir: Option<PathBuf>,
    /// Measured window of each workload (default 3 s).
    pub duration: Duration,
    /// Unrecorded warm-up before each workload (default 300 ms).
    pub warmup: Duration,
    /// Most measured operations per workload, over all its clients (default 1,000,000).
    pub max_ops: u64,
    /// Concurrent client counts; each workload runs once per count (default `[1, 32]`).
    pub clients: Vec<usize>,
    /// Where to write the report's section of `BENCHMARKS.md`, if anywhere.
    pub markdown_out: Option<PathBuf>,
    /// The command line to print in the report; `None` uses this process's arguments.
    pub command: Option<String>,
    /// TLS to speak to `servers` (`coord bench --against ... --tls-ca ...`);
    /// needs `servers` (the embedded server speaks plain TCP).
    pub tls: Option<coord_client::TlsOptions>,
    /// Entries of the ACL every measured node gets (0: the server's
    /// default ACL): `entries - 1` digest users no bench client is, then
    /// `world:anyone:cdrwa`, so every check walks the whole list; at most
    /// [`MAX_NODE_ACL_ENTRIES`].
    pub node_acl_entries: usize,
    /// The parts that run (default: all of [`workloads::ALL`]).
    pub workloads: Vec<Workload>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            servers: None,
            data_dir: None,
            duration: Duration::from_millis(3_000),
            warmup: Duration::from_millis(300),
            max_ops: 1_000_000,
            clients: vec![1, 32],
            markdown_out: None,
            command: None,
            tls: None,
            node_acl_entries: 0,
            workloads: workloads::ALL.to_vec(),
        }
    }
}

/// Most entries `--node-acl-entries` takes.
pub const MAX_NODE_ACL_ENTRIES: usize = 64;

/// Most clients one workload may open, to keep a typo from exhausting file descriptors.
pub const MAX_CLIENTS: usize = 1024;

/// Runs the whole benchmark and returns its report (also written to
/// `opts.markdown_out` when set). The harness runs on its own OS thread with its
/// own runtimes, so this may be awaited from any runtime without the caller's
/// scheduler taking part in the measurement.
pub async fn run(opts: BenchOptions) -> Result<Report, Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("coord-bench".into())
        .spawn(move || {
            let _ = tx.send(run_blocking(opts));
        })?;
    rx.await
        .map_err(|_| Error::Internal("the benchmark thread ended without a report".into()))?
}

/// [`run`] for callers without a runtime. Must not be called from inside a
/// tokio runtime (it builds and blocks on its own).
pub fn run_blocking(opts: BenchOptions) -> Result<Report, Error> {
    validate(&opts)?;
    let started = SystemTime::now();
    let bounds = Bounds {
        warmup: opts.warmup,
        duration: opts.duration,
        max_ops: opts.max_ops,
    };
    let scratch = ScratchDir::create(opts.data_dir.as_deref())?;
    let mut rows = Vec::new();

    let runs = |w: Workload| opts.workloads.contains(&w);
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("coord-bench-client")
        .build()?;

    if runs(Workload::Floor) {
        tracing::info!(dir = %scratch.path().display(), "bench: fsync floor");
        rows.push(floor::fsync_append(scratch.path(), &bounds)?);
        rows.push(floor::fsync_prealloc(scratch.path(), &bounds)?);
        tracing::info!("bench: loopback TCP floor");
        let echo = BackgroundServer::start("coord-bench-echo", floor::serve_echo)?;
        for &clients in &opts.clients {
            rows.push(client_rt.block_on(floor::echo(echo.addr(), clients, &bounds))?);
        }
        echo.stop()?;
    }
    let kinds: Vec<Kind> = [
        (Workload::Create, Kind::Create),
        (Workload::Set, Kind::Set),
        (Workload::Get, Kind::Get),
    ]
    .into_iter()
    .filter(|(w, _)| runs(*w))
    .map(|(_, k)| k)
    .collect();

    let (server, embedded) = match &opts.servers {
        Some(servers) => (format!("external `{servers}`"), None),
        None => {
            let server = coord_ops::start_embedded(scratch.path().join("server"))?;
            (
                "embedded single-node server (durable: fsync before ack)".to_string(),
                Some(server),
            )
        }
    };
    let servers = match (&opts.servers, &embedded) {
        (Some(servers), _) => servers.clone(),
        (None, Some(server)) => server.addr().to_string(),
        (None, None) => return Err(Error::Internal("no server to measure".into())),
    };
    tracing::info!(%servers, tls = opts.tls.is_some(), "bench: coord operations");
    let target = coord_ops::Target {
        servers,
        tls: opts.tls.clone(),
        node_acl: coord_ops::bench_acl(opts.node_acl_entries),
    };
    let run = run_id();
    let measured = client_rt.block_on(async {
        let mut rows = coord_ops::measure(&target, &opts.clients, &kinds, &bounds, &run).await?;
        let mut herd = Vec::new();
        if !runs(Workload::Locks) {
            return Ok::<_, Error>((rows, herd));
        }
        let root = format!("/coord-bench-{run}/locks");
        tracing::info!("bench: lock cycle and handoff");
        rows.push(locks::uncontended(&target, &root, &bounds).await?);
        rows.push(locks::handoff(&target, &root, locks::HANDOFF_CONTENDERS, &bounds).await?);
        for waiters in locks::HERD_SIZES {
            for naive in [false, true] {
                tracing::info!(waiters, naive, "bench: notifications per handoff");
                herd.push(locks::notifications(&target, &root, waiters, naive).await?);
            }
        }
        Ok::<_, Error>((rows, herd))
    });
    let stopped = embedded.map_or(Ok(()), BackgroundServer::stop);
    let (measured, notifications) = measured?;
    rows.extend(measured);
    stopped?;
    client_rt.shutdown_timeout(Duration::from_secs(5));

    let report = Report {
        date_utc: utc_date(started),
        machine: MachineInfo::probe(scratch.path()),
        command: command_line(opts.command.as_deref()),
        server,
        data_dir: scratch.path().display().to_string(),
        duration: opts.duration,
        warmup: opts.warmup,
        max_ops: opts.max_ops,
        targets: check_targets(&rows, &notifications),
        rows,
        notifications,
    };
    if let Some(path) = &opts.markdown_out {
        update_benchmarks_md(path, &report.to_markdown())?;
    }
    Ok(report)
}

fn validate(opts: &BenchOptions) -> Result<(), Error> {
    if opts.node_acl_entries > MAX_NODE_ACL_ENTRIES {
        return Err(Error::BadArguments(format!(
            "--node-acl-entries {} is over the limit of {MAX_NODE_ACL_ENTRIES}",
            opts.node_acl_entries
        )));
    }
    if opts.workloads.is_empty() {
        return Err(Error::BadArguments(
            "--workloads: name at least one workload".into(),
        ));
    }
    if opts.tls.is_some() && opts.servers.is_none() {
        return Err(Error::BadArguments(
            "TLS options need --against (the embedded server speaks plain TCP)".into(),
        ));
    }
    if opts.clients.is_empty() || opts.clients.iter().any(|&c| c == 0 || c > MAX_CLIENTS) {
        return Err(Error::BadArguments(format!(
            "clients: each count must be 1..={MAX_CLIENTS}, got {:?}",
            opts.clients
        )));
    }
    if opts.duration.is_zero() || opts.max_ops == 0 {
        return Err(Error::BadArguments(
            "duration and max_ops must be greater than zero".into(),
        ));
    }
    Ok(())
}

/// A name unique to this run: process id and start time.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}

/// A fresh directory for this run, removed (with everything in it) on drop.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn create(parent: Option<&Path>) -> Result<Self, Error> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        std::fs::create_dir_all(&parent)?;
        let path = parent.join(format!("coord-bench-{}", run_id()));
        std::fs::create_dir(&path)?;
        Ok(ScratchDir { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), error = %e, "bench: could not remove scratch dir");
        }
    }
}

/// A run's start as a UTC date and time, for a report's header.
pub(crate) fn utc_date(started: SystemTime) -> String {
    stats::format_utc(
        started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// The command line a report prints: `given`, or this process's arguments.
pub(crate) fn command_line(given: Option<&str>) -> String {
    given.map_or_else(
        || std::env::args().collect::<Vec<_>>().join(" "),
        str::to_string,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_outside_their_bounds_are_refused_before_anything_runs() {
        for clients in [vec![], vec![0], vec![1, MAX_CLIENTS + 1]] {
            let opts = BenchOptions {
                clients,
                ..BenchOptions::default()
            };
            assert!(matches!(validate(&opts), Err(Error::BadArguments(_))));
        }
        let opts = BenchOptions {
            duration: Duration::ZERO,
            ..BenchOptions::default()
        };
        assert!(matches!(validate(&opts), Err(Error::BadArguments(_))));
        let opts = BenchOptions {
            workloads: Vec::new(),
            ..BenchOptions::default()
        };
        assert!(matches!(validate(&opts), Err(Error::BadArguments(_))));
        assert!(validate(&BenchOptions::default()).is_ok());
        // TLS is for servers given with --against.
        let tls = Some(coord_client::TlsOptions::ca_file("ca.pem"));
        let opts = BenchOptions {
            tls: tls.clone(),
            ..BenchOptions::default()
        };
        assert!(matches!(validate(&opts), Err(Error::BadArguments(_))));
        let opts = BenchOptions {
            tls,
            servers: Some("127.0.0.1:2281".into()),
            ..BenchOptions::default()
        };
        assert!(validate(&opts).is_ok());
        let opts = BenchOptions {
            node_acl_entries: MAX_NODE_ACL_ENTRIES + 1,
            ..BenchOptions::default()
        };
        assert!(
            matches!(validate(&opts), Err(Error::BadArguments(m)) if m.contains("--node-acl-entries"))
        );
    }

    #[test]
    fn the_bench_acl_is_passed_only_at_its_last_entry() {
        assert!(coord_ops::bench_acl(0).is_empty());
        let acl = coord_ops::bench_acl(10);
        assert_eq!(acl.len(), 10);
        assert!(acl[..9].iter().all(|a| a.identity.scheme == "digest"));
        let last = &acl[9].identity;
        assert_eq!(
            (last.scheme.as_str(), last.id.as_str()),
            ("world", "anyone")
        );
    }

    #[test]
    fn scratch_dir_is_fresh_and_removed_with_its_contents() {
        let parent = tempfile::tempdir().unwrap();
        let path = {
            let scratch = ScratchDir::create(Some(parent.path())).unwrap();
            std::fs::write(scratch.path().join("f"), b"x").unwrap();
            scratch.path().to_path_buf()
        };
        assert!(!path.exists());
        assert!(parent.path().exists());
    }
}
