//! `coord bench --soak DURATION`: a bounded soak that shows what abusive
//! clients cost the well-behaved ones, how much memory they make the server
//! take, and that no acknowledged write is lost meanwhile. It is a
//! benchmark: it prints a table and judges nothing but lost writes.
//!
//! A run has two phases of DURATION/2, each against a fresh `coord serve`
//! child process of this executable (`server_proc`), on `127.0.0.1:0` with a
//! fresh data directory and default settings plus any `--serve-arg`:
//! 1. baseline: the normal lockers (`lockers`) and the acknowledged-writes
//!    writer;
//! 2. abused: the same, plus every abuser (`abusers`, `raw_abusers`) at once:
//!    silent connections, garbage, stalled readers, a watch flooder, ~4 MiB
//!    SetWatches and empty-op multis, 1 MiB writes, a wide directory listed
//!    repeatedly and session churn, their intensity scaled by the phase length
//!    (`control::Intensity`).
//!
//! At a phase's end every task is told to stop, the server's `VmHWM` is read
//! and the server is killed with SIGKILL while writes may be in flight; it is
//! restarted on the same directory and every acknowledged node is looked up.
//! The server's RSS is also sampled every 250 ms. Its peak is compared with a
//! documented bound computed from its settings and the harness's load
//! (`bound`, formula in its docs).
//!
//! The lockers and the writer run on a runtime thread of their own, so the
//! abusers' client-side work cannot delay their tasks: what their latency
//! shows is the server, the loopback and the OS sharing the machine's cores.
//!
//! Every loop is bounded by the phase's end and by a count, every network
//! wait by a timeout; all traffic stays on 127.0.0.1. The run's scratch
//! directory is removed afterwards; the server children are killed when their
//! handles drop.

mod abusers;
mod bound;
mod control;
mod lockers;
mod raw;
mod raw_abusers;
mod report;
mod server_proc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

pub use abusers::{Abuser, parse_abusers};
pub use bound::{Bound, Load, Term, rss_bound};
pub use report::{PhaseReport, SoakReport};

use super::{MachineInfo, ScratchDir, command_line, update_section, utc_date};
use abusers::Ctx;
use control::{Intensity, LoadTally, StopSwitch};
use coord_client::error::Error;
use coord_server::server::ServerConfig;
use server_proc::{ServerCommand, ServerProcess};

/// Opens the soak's section in `BENCHMARKS.md`.
pub const SOAK_SECTION_START: &str = "<!-- bench:soak:start -->";
/// Closes the soak's section in `BENCHMARKS.md`.
pub const SOAK_SECTION_END: &str = "<!-- bench:soak:end -->";

/// Shortest soak (1 s per phase).
pub const MIN_DURATION: Duration = Duration::from_secs(2);
/// Longest soak.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// How long a fresh server idles before its RSS is taken as the base.
const IDLE_SETTLE: Duration = Duration::from_millis(500);
/// How often the server's RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Longest wait for the tasks to end once the phase is over (each group:
/// lockers, writer, all abusers together).
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Both phases together; each gets half.
    pub duration: Duration,
    /// Seed of the abusers' random choices.
    pub seed: u64,
    /// The `coord` executable whose `serve` the children run.
    pub server_exe: PathBuf,
    /// Extra `coord serve` flags for the children.
    pub serve_args: Vec<String>,
    /// The settings those flags amount to (for the RSS bound).
    pub server_config: ServerConfig,
    /// Parent of the run's scratch directory (default: the temp dir).
    pub data_dir: Option<PathBuf>,
    /// Where to write the report's section of `BENCHMARKS.md`, if anywhere.
    pub markdown_out: Option<PathBuf>,
    /// The command line to print; `None` uses this process's arguments.
    pub command: Option<String>,
    /// Run the abusers' client-side work at nice 19 (`--soak-nice-abusers`):
    /// on a small machine they would otherwise take the server's cores, which
    /// abusive clients on other machines would not.
    pub nice_abusers: bool,
    /// The abusers of the abused phase (`--soak-abusers`); empty: all.
    pub abusers: Vec<Abuser>,
}

/// `30s`, `10m`, or a bare number of seconds, within
/// [`MIN_DURATION`]..=[`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.strip_suffix('m') {
        Some(d) => (d, 60),
        None => (s.strip_suffix('s').unwrap_or(s), 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s or 10m"))?;
    let d = Duration::from_secs(n.saturating_mul(unit));
    if d < MIN_DURATION || d > MAX_DURATION {
        return Err(format!(
            "`{s}` is outside {}s..={}s",
            MIN_DURATION.as_secs(),
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

/// Runs both phases and returns the report (also written to
/// `opts.markdown_out` when set).
pub async fn run(opts: SoakOptions) -> Result<SoakReport, Error> {
    if opts.duration < MIN_DURATION || opts.duration > MAX_DURATION {
        return Err(Error::BadArguments(format!(
            "soak duration {:?} is outside {MIN_DURATION:?}..={MAX_DURATION:?}",
            opts.duration
        )));
    }
    if let Some(flag) = opts
        .serve_args
        .iter()
        .find(|a| a.starts_with("--listen") || a.starts_with("--data-dir"))
    {
        return Err(Error::BadArguments(format!(
            "--serve-arg {flag}: the soak chooses each server's address and data dir"
        )));
    }
    let started = SystemTime::now();
    let scratch = ScratchDir::create(opts.data_dir.as_deref())?;
    let phase = opts.duration / 2;
    let mut phases = Vec::new();
    for abused in [false, true] {
        phases.push(run_phase(&opts, scratch.path(), abused, phase).await?);
    }
    let report = SoakReport {
        date_utc: utc_date(started),
        machine: MachineInfo::probe(scratch.path()),
        command: command_line(opts.command.as_deref()),
        seed: opts.seed,
        serve_args: opts.serve_args.clone(),
        nice_abusers: opts.nice_abusers,
        phases,
    };
    if let Some(path) = &opts.markdown_out {
        update_section(
            path,
            SOAK_SECTION_START,
            SOAK_SECTION_END,
            &report.to_markdown(),
        )?;
    }
    Ok(report)
}

/// The runtime the abusers run on: two worker threads, at nice 19 when
/// `niced`.
fn abuser_runtime(niced: bool) -> Result<tokio::runtime::Runtime, Error> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(2).thread_name("soak-abusers").enable_all();
    if niced {
        b.on_thread_start(|| {
            // `None` is the calling thread on Linux; failure only means the
            // abusers keep their priority, which the report states anyway.
            let _ = rustix::process::setpriority_process(None, 19);
        });
    }
    Ok(b.build()?)
}

async fn run_phase(
    opts: &SoakOptions,
    dir: &Path,
    abused: bool,
    phase: Duration,
) -> Result<PhaseReport, Error> {
    let name = if abused { "abused" } else { "baseline" };
    let data_dir = dir.join(name);
    std::fs::create_dir_all(&data_dir)?;
    let cmd = ServerCommand {
        exe: opts.server_exe.clone(),
        serve_args: opts.serve_args.clone(),
    };
    let mut server = ServerProcess::start(&cmd, &data_dir).await?;
    let addr = server.addr();
    tokio::time::sleep(IDLE_SETTLE).await;
    let idle_rss = server.memory().map_or(0, |m| m.rss);
    tracing::info!(phase = name, %addr, idle_rss, "soak: phase starts");

    let load = Arc::new(LoadTally::default());
    let intensity = Arc::new(Intensity::for_phase(phase));
    let admin = lockers::connect(addr).await?;
    lockers::setup(&admin, &load).await?;
    if abused {
        abusers::setup(&admin, &load).await?;
    }
    let (switch, stop) = StopSwitch::new();
    let sampler = tokio::spawn(sample_rss(server.pid(), stop.clone()));
    let started = Instant::now();
    // The well-behaved clients get their own runtime thread: the abusers'
    // client-side work (decoding big replies) must not delay their tasks, or
    // the harness would measure itself instead of the server.
    let well_behaved = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("soak-lockers")
        .enable_all()
        .build()?;
    let locker_tasks = lockers::spawn(well_behaved.handle(), addr, stop.clone(), load.clone());
    let writer = lockers::spawn_writer(well_behaved.handle(), addr, stop.clone(), load.clone());
    // With --soak-abusers-niced the abusers' client-side work runs at the
    // lowest CPU priority: on a machine this small they share the server's
    // cores, which they would not from other machines. Both ways are reported.
    let abuser_rt = abuser_runtime(opts.nice_abusers)?;
    let running = if abused {
        let _in_abuser_rt = abuser_rt.enter();
        abusers::spawn_all(
            &Ctx {
                addr,
                stop: stop.clone(),
                intensity: intensity.clone(),
                load: load.clone(),
                seed: opts.seed,
                max_frame_bytes: opts.server_config.max_frame_bytes,
                phase,
            },
            &opts.abusers,
        )
    } else {
        Vec::new()
    };

    let server_exit = wait_phase(&mut server, phase).await;
    switch.set();
    let duration = started.elapsed();
    let mem = server.memory().unwrap_or_default();
    server.kill9().await?;
    drop(admin);
    tracing::info!(phase = name, peak_rss = mem.hwm, "soak: server killed (-9)");

    let stats = tokio::time::timeout(JOIN_TIMEOUT, lockers::collect(locker_tasks))
        .await
        .map_err(|_| Error::OperationTimeout("the lockers did not stop".into()))??;
    let acked = tokio::time::timeout(JOIN_TIMEOUT, writer)
        .await
        .map_err(|_| Error::OperationTimeout("the writer did not stop".into()))?
        .map_err(|e| Error::Internal(format!("the writer task failed: {e}")))??;
    let mut abusers = Vec::new();
    let deadline = Instant::now() + JOIN_TIMEOUT;
    for r in running {
        for mut task in r.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                r.tally.inc("did not stop in time");
            }
        }
        abusers.push((r.abuser, r.tally.snapshot()));
    }
    well_behaved.shutdown_background();
    abuser_rt.shutdown_background();
    let sampled_rss = sampler.await.unwrap_or(0).max(mem.rss);

    let checker = ServerProcess::start(&cmd, &data_dir).await?;
    let lost = lockers::count_lost(checker.addr(), &acked.paths).await?;
    checker.kill9().await?;
    tracing::info!(
        phase = name,
        acked = acked.paths.len(),
        lost,
        "soak: phase checked"
    );

    let load = phase_load(&load, &intensity, abused);
    let bound = rss_bound(&opts.server_config, &load, idle_rss);
    let ms = |q: f64| stats.recorder.quantile_us(q) / 1_000.0;
    Ok(PhaseReport {
        name,
        duration,
        cycles: stats.recorder.len(),
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        max_ms: ms(1.0),
        locker_errors: stats.errors,
        idle_rss,
        peak_rss: mem.hwm,
        sampled_rss,
        load,
        bound,
        acked: acked.paths.len() as u64,
        lost,
        writer_errors: acked.errors.snapshot(),
        abusers,
        server_exit,
    })
}

/// Waits out the phase; returns early, with what happened, if the server
/// exits by itself.
async fn wait_phase(server: &mut ServerProcess, phase: Duration) -> Option<String> {
    let end = Instant::now() + phase;
    loop {
        let now = Instant::now();
        if now >= end {
            return None;
        }
        tokio::time::sleep((end - now).min(SAMPLE_EVERY)).await;
        if let Some(exit) = server.exited() {
            tracing::warn!(%exit, "soak: the server exited during the phase");
            return Some(exit);
        }
    }
}

/// The highest `VmRSS` of `pid` sampled until the phase ends.
async fn sample_rss(pid: u32, stop: control::Stop) -> u64 {
    let mut peak = 0;
    loop {
        if let Some(m) = server_proc::memory_of(pid) {
            peak = peak.max(m.rss);
        }
        if stop.sleep(SAMPLE_EVERY).await {
            return peak;
        }
    }
}

/// The bound's view of what the phase held and wrote: connection counts
/// from the intensity (the most the harness holds at once), the rest from
/// the tasks' tallies.
fn phase_load(tally: &LoadTally, intensity: &Intensity, abused: bool) -> Load {
    const MIB: u64 = 1024 * 1024;
    // Lockers, writer, admin client.
    let normal = lockers::LOCKERS as u64 + 2;
    let normal_in_flight = (lockers::LOCKERS as u64 + 1) * 256;
    let get = LoadTally::get;
    let mut load = Load {
        pre_handshake_connections: 0,
        handshaken_connections: normal,
        stalled_connections: 0,
        big_frame_senders: 0,
        // Each waiting locker watches its predecessor.
        watches: get(&tally.watches_peak) + lockers::LOCKERS as u64,
        nodes: get(&tally.nodes),
        node_bytes: get(&tally.node_bytes),
        writes: get(&tally.writes),
        written_bytes: get(&tally.log_bytes),
        in_flight_write_bytes: normal_in_flight,
    };
    if abused {
        // Silent ones plus the garbage connection.
        load.pre_handshake_connections = intensity.silent_connections + 1;
        // Stalled readers, event maker, flooder, SetWatches holders, multi,
        // big writes, wide directory, churn.
        load.handshaken_connections +=
            intensity.stalled_clients + 1 + 1 + intensity.set_watches_frames + 1 + 1 + 1 + 1;
        load.stalled_connections = intensity.stalled_clients;
        load.big_frame_senders = 2;
        // A 1 MiB set, a multi of 500 creates, an event write, a churn create.
        load.in_flight_write_bytes += MIB + 500 * 32 + 2 * 256;
    }
    load
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_minutes_within_bounds() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration(" 90 "), Ok(Duration::from_secs(90)));
        for bad in ["1s", "0m", "", "m", "10h", "1.5m", "-3s", "1441m"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_baseline_holds_only_the_normal_clients_and_the_abused_phase_adds_the_abusers() {
        let tally = LoadTally::default();
        tally.wrote(100, 1, 100);
        tally.watches_added(7);
        let intensity = Intensity::for_phase(Duration::from_secs(5));
        let base = phase_load(&tally, &intensity, false);
        assert_eq!(base.pre_handshake_connections, 0);
        assert_eq!(base.stalled_connections, 0);
        assert_eq!((base.nodes, base.writes), (1, 1));
        assert_eq!(base.watches, 7 + lockers::LOCKERS as u64);
        let abused = phase_load(&tally, &intensity, true);
        assert_eq!(
            abused.pre_handshake_connections,
            intensity.silent_connections + 1
        );
        assert_eq!(abused.stalled_connections, intensity.stalled_clients);
        assert!(abused.handshaken_connections > base.handshaken_connections);
        assert!(abused.in_flight_write_bytes > 1024 * 1024);
    }
}
