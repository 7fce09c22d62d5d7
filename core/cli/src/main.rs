//! The `coord` command: `coord serve` runs a server; the other verbs are a
//! scriptable client (`create`, `get`, `set`, `delete`, `ls`, `stat`, `watch`).
//!
//! Exit codes: 0 success; 2 bad usage; otherwise the error's kind (see
//! `exit_code`), so scripts can tell "no such node" from "server down".

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use coord_client::Error;
use coord_client::client::{Client, WatchMode};
use coord_client::{CreateMode, Stat};
use coord_server::server::{DEFAULT_LISTEN, Server, ServerConfig, bounds};
use futures::StreamExt;

#[derive(Parser, Debug)]
#[command(
    name = "coord",
    version,
    about = "coord: locks, leaders, configuration and membership that programs agree on"
)]
struct Cli {
    /// Servers to talk to, `host:port[,host:port...]`.
    #[arg(
        long,
        global = true,
        env = "COORD_SERVERS",
        default_value = "127.0.0.1:2281"
    )]
    servers: String,
    /// Session timeout for CLI verbs, in milliseconds.
    #[arg(
        long,
        global = true,
        env = "COORD_SESSION_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    session_timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a durable single-node server.
    Serve(ServeArgs),
    /// Create a node; prints the created path.
    Create {
        /// Path (for --sequential, the prefix).
        path: String,
        /// Data (UTF-8), default empty.
        data: Option<String>,
        /// Delete the node when this command's session ends.
        #[arg(long)]
        ephemeral: bool,
        /// Append a 10-digit sequence number to the name.
        #[arg(long)]
        sequential: bool,
        /// Create a container node (removed once its last child goes).
        #[arg(long, conflicts_with = "ephemeral")]
        container: bool,
        /// Remove the node after this many ms without changes or children.
        #[arg(long, conflicts_with_all = ["ephemeral", "container"])]
        ttl_ms: Option<u64>,
        /// Create missing parents as persistent nodes.
        #[arg(long)]
        parents: bool,
    },
    /// Print a node's data.
    Get { path: String },
    /// Replace a node's data.
    Set {
        path: String,
        data: String,
        /// Only if the node is at this version.
        #[arg(long)]
        version: Option<i32>,
    },
    /// Delete a node.
    Delete {
        path: String,
        /// Only if the node is at this version.
        #[arg(long)]
        version: Option<i32>,
    },
    /// List children in name order, one per line (read in pages, so a
    /// directory of any size is listed).
    Ls { path: String },
    /// Print a node's metadata.
    Stat { path: String },
    /// Measure the machine's floor and coord's create/set/get; print a table
    /// (with --soak: the soak under abusive clients instead).
    Bench(BenchArgs),
    /// Print events on a node (or its subtree), one per line, until interrupted.
    Watch {
        path: String,
        /// Also report changes anywhere below the path.
        #[arg(long)]
        recursive: bool,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Measure these servers instead of an embedded one.
    #[arg(long = "against")]
    against: Option<String>,
    /// Where fsync is measured and the embedded server keeps its data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Measured window of each workload, ms.
    #[arg(long, default_value_t = 3000)]
    duration_ms: u64,
    /// Unrecorded warm-up before each workload, ms.
    #[arg(long, default_value_t = 300)]
    warmup_ms: u64,
    /// Most measured operations per workload.
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: u64,
    /// Concurrent client counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    clients: Vec<usize>,
    /// Also write the table into this BENCHMARKS.md (between its markers).
    #[arg(long)]
    markdown_out: Option<PathBuf>,
    /// Run the soak instead, e.g. `30s`, `10m`: a baseline and an abused
    /// phase of half each, against `coord serve` child processes.
    #[arg(long, value_name = "DURATION", value_parser = coord_cli::bench::soak::parse_duration)]
    soak: Option<Duration>,
    /// Seed of the soak's random choices (default: from the clock).
    #[arg(long, requires = "soak")]
    seed: Option<u64>,
    /// A `coord serve` flag for the soak's servers, repeatable, e.g.
    /// `--serve-arg=--max-outbound-bytes=1048576`.
    #[arg(long = "serve-arg", requires = "soak", allow_hyphen_values = true)]
    serve_args: Vec<String>,
}

/// The soak's `--serve-arg`s read as `coord serve` reads them, so that the
/// RSS bound sees the settings the children run with.
#[derive(Parser, Debug)]
struct SoakServeFlags {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A numeric `coord serve` flag: `-1` reaches the range check (and is
/// refused with the flag's name) instead of being taken for an option.
macro_rules! ranged {
    ($range:expr) => {
        clap::value_parser!(u64).range($range)
    };
}

/// `coord serve` settings. Each numeric flag has a valid range (in `--help`,
/// the README, and `coord_server::server::bounds`); a value outside it is
/// refused at start, naming the flag.
#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to accept clients on.
    #[arg(long, env = "COORD_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Directory for the log, vote and snapshots.
    #[arg(long, env = "COORD_DATA_DIR", default_value = "./coord-data")]
    data_dir: PathBuf,
    /// Largest node data in bytes [0, 256 MiB]. Limits are replicated: a
    /// changed value is proposed through the log at start and applies to
    /// later writes only.
    #[arg(long, env = "COORD_MAX_DATA_BYTES", default_value_t = 1024 * 1024,
          value_parser = ranged!(bounds::MAX_DATA_BYTES), allow_negative_numbers = true)]
    max_data_bytes: u64,
    /// Longest path in bytes [2, 1 MiB] (replicated, like --max-data-bytes).
    #[arg(long, env = "COORD_MAX_PATH_BYTES", default_value_t = 4096,
          value_parser = ranged!(bounds::MAX_PATH_BYTES), allow_negative_numbers = true)]
    max_path_bytes: u64,
    /// Most ops in one multi [1, 1000000] (replicated, like --max-data-bytes).
    #[arg(long, env = "COORD_MAX_MULTI_OPS", default_value_t = 1000,
          value_parser = ranged!(bounds::MAX_MULTI_OPS), allow_negative_numbers = true)]
    max_multi_ops: u64,
    /// Shortest session timeout granted, ms [10, 1 day].
    #[arg(long, env = "COORD_MIN_SESSION_TIMEOUT_MS", default_value_t = 1000,
          value_parser = ranged!(bounds::SESSION_TIMEOUT_MS), allow_negative_numbers = true)]
    min_session_timeout_ms: u64,
    /// Longest session timeout granted, ms [10, 1 day].
    #[arg(long, env = "COORD_MAX_SESSION_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = ranged!(bounds::SESSION_TIMEOUT_MS), allow_negative_numbers = true)]
    max_session_timeout_ms: u64,
    /// Largest frame accepted from a client, bytes [4 KiB, 1 GiB].
    #[arg(long, env = "COORD_MAX_FRAME_BYTES",
          default_value_t = coord_proto::wire::DEFAULT_MAX_FRAME_BYTES as u64,
          value_parser = ranged!(bounds::MAX_FRAME_BYTES), allow_negative_numbers = true)]
    max_frame_bytes: u64,
    /// Most concurrent client connections [1, 10000000]; capped at start to
    /// the descriptor limit minus --fd-reserve.
    #[arg(long, env = "COORD_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = ranged!(bounds::MAX_CONNECTIONS), allow_negative_numbers = true)]
    max_connections: u64,
    /// Most in-flight requests per connection before the server stops
    /// reading it [1, 1000000].
    #[arg(long, env = "COORD_MAX_INFLIGHT_PER_CONNECTION", default_value_t = 1024,
          value_parser = ranged!(bounds::MAX_INFLIGHT_PER_CONNECTION), allow_negative_numbers = true)]
    max_inflight_per_connection: u64,
    /// Most bytes queued for a slow client before its connection is closed
    /// [64 KiB, 64 GiB].
    #[arg(long, env = "COORD_MAX_OUTBOUND_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = ranged!(bounds::MAX_OUTBOUND_BYTES), allow_negative_numbers = true)]
    max_outbound_bytes: u64,
    /// Time a new connection has to send its handshake, ms [1, 1 hour].
    #[arg(long, env = "COORD_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = ranged!(bounds::HANDSHAKE_TIMEOUT_MS), allow_negative_numbers = true)]
    handshake_timeout_ms: u64,
    /// How often session deadlines are checked, ms [1, 60000]; below the
    /// shortest session timeout.
    #[arg(long, env = "COORD_TICK_MS", default_value_t = 100,
          value_parser = ranged!(bounds::TICK_MS), allow_negative_numbers = true)]
    tick_ms: u64,
    /// How often empty containers and expired TTL nodes are looked for, ms
    /// [1, 1 day].
    #[arg(long, env = "COORD_REAP_INTERVAL_MS", default_value_t = 1000,
          value_parser = ranged!(bounds::REAP_INTERVAL_MS), allow_negative_numbers = true)]
    reap_interval_ms: u64,
    /// Take a snapshot (and compact the log) after this many entries
    /// [1, 1000000000].
    #[arg(long, env = "COORD_SNAPSHOT_EVERY", default_value_t = 10_000,
          value_parser = ranged!(bounds::SNAPSHOT_EVERY), allow_negative_numbers = true)]
    snapshot_every: u64,
    /// Bytes of recent watch events kept so reconnecting clients miss none;
    /// older clients get an events-lost event and re-read [0, 64 GiB].
    #[arg(long, env = "COORD_WATCH_HISTORY_BYTES",
          default_value_t = coord_server::watch::DEFAULT_WATCH_HISTORY_BYTES as u64,
          value_parser = ranged!(bounds::WATCH_HISTORY_BYTES), allow_negative_numbers = true)]
    watch_history_bytes: u64,
    /// File descriptors kept back from connections for the log, snapshots,
    /// peers and the runtime [16, 1000000].
    #[arg(long, env = "COORD_FD_RESERVE", default_value_t = 128,
          value_parser = ranged!(bounds::FD_RESERVE), allow_negative_numbers = true)]
    fd_reserve: u64,
    /// Free bytes the data dir's file system must have to start
    /// [0 (no check), 1 PiB].
    #[arg(long, env = "COORD_MIN_FREE_DISK_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = ranged!(bounds::MIN_FREE_DISK_BYTES), allow_negative_numbers = true)]
    min_free_disk_bytes: u64,
    /// Largest children listing in one reply, bytes of names: pages are cut
    /// there and an unpaged listing over it fails with TooLarge (never a reply
    /// over a client's default 4 MiB frame) [1024, 4 MiB - 1 KiB].
    #[arg(long, env = "COORD_MAX_LISTING_BYTES",
          default_value_t = coord_proto::children::DEFAULT_MAX_LISTING_BYTES as u64,
          value_parser = ranged!(bounds::MAX_LISTING_BYTES), allow_negative_numbers = true)]
    max_listing_bytes: u64,
}

/// A flag value already range-checked by clap (all ranges fit `usize` on
/// the 64-bit targets coord builds for).
fn size(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl ServeArgs {
    fn into_config(self) -> ServerConfig {
        let mut cfg = ServerConfig::new(self.data_dir);
        cfg.listen = self.listen;
        cfg.limits.max_data_bytes = size(self.max_data_bytes);
        cfg.limits.max_path_bytes = size(self.max_path_bytes);
        cfg.limits.max_multi_ops = size(self.max_multi_ops);
        cfg.session_limits.min_timeout = Duration::from_millis(self.min_session_timeout_ms);
        cfg.session_limits.max_timeout = Duration::from_millis(self.max_session_timeout_ms);
        cfg.max_frame_bytes = size(self.max_frame_bytes);
        cfg.max_connections = size(self.max_connections);
        cfg.max_inflight_per_connection = size(self.max_inflight_per_connection);
        cfg.max_outbound_bytes = size(self.max_outbound_bytes);
        cfg.handshake_timeout = Duration::from_millis(self.handshake_timeout_ms);
        cfg.tick = Duration::from_millis(self.tick_ms);
        cfg.reap_interval = Duration::from_millis(self.reap_interval_ms);
        cfg.snapshot_logs_since_last = self.snapshot_every;
        cfg.watch_history_bytes = size(self.watch_history_bytes);
        cfg.fd_reserve = self.fd_reserve;
        cfg.min_free_disk_bytes = self.min_free_disk_bytes;
        cfg.max_listing_bytes = size(self.max_listing_bytes);
        cfg
    }
}

/// Process exit code for an error kind. Stable: scripts depend on it.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::NoNode(_) => 10,
        Error::NodeExists(_) => 11,
        Error::BadVersion(_) => 12,
        Error::NotEmpty(_) => 13,
        Error::NoChildrenForEphemerals(_) => 14,
        Error::InvalidPath(_) => 15,
        Error::TooLarge(_) => 16,
        Error::BadArguments(_) => 17,
        Error::ConnectionLoss(_) | Error::OperationTimeout(_) => 20,
        Error::SessionExpired(_) => 21,
        Error::Io(_) => 30,
        _ => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its life at info; client verbs stay quiet unless asked.
    let default_filter = match cli.command {
        Command::Serve(_) => "info,openraft=warn",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: log files and shippers get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("coord: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coord: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let command = match cli.command {
        Command::Serve(args) => return serve(args.into_config()).await,
        Command::Bench(args) => return bench(args).await,
        other => other,
    };
    let client = Client::builder()
        .servers(cli.servers.clone())
        .session_timeout(Duration::from_millis(cli.session_timeout_ms))
        .connect()
        .await?;
    let result = verb(&client, command).await;
    let closed = client.close().await;
    result.and(closed)
}

async fn verb(client: &Client, command: Command) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Serve(_) | Command::Bench(_) => unreachable!("handled in run"),
        Command::Create {
            path,
            data,
            ephemeral,
            sequential,
            container,
            ttl_ms,
            parents,
        } => {
            let mode = CreateMode::from_flags(ephemeral, sequential, container, ttl_ms)?;
            let data = data.unwrap_or_default().into_bytes();
            let created = if parents {
                client.create_parents(&path, data, mode).await?
            } else {
                client.create(&path, data, mode).await?
            };
            writeln!(out, "{created}")?;
        }
        Command::Get { path } => {
            let (data, _) = client.get(&path).await?;
            out.write_all(&data)?;
            writeln!(out)?;
        }
        Command::Set {
            path,
            data,
            version,
        } => {
            client.set(&path, data.into_bytes(), version).await?;
        }
        Command::Delete { path, version } => client.delete(&path, version).await?,
        Command::Ls { path } => {
            // Page by page, printed as read: any directory size, little memory.
            // Each page comes from one state; a child created or deleted
            // meanwhile may or may not be printed (see `Client::children`).
            let mut cursor: Option<String> = None;
            loop {
                let page = client.children_page(&path, cursor.as_deref(), None).await?;
                for child in &page.names {
                    writeln!(out, "{child}")?;
                }
                match page.next_start_after() {
                    Some(last) => cursor = Some(last.to_string()),
                    None => break,
                }
            }
        }
        Command::Stat { path } => match client.exists(&path).await? {
            Some(stat) => print_stat(&mut out, &stat)?,
            None => return Err(Error::NoNode(path)),
        },
        Command::Watch {
            path,
            recursive,
            count,
        } => {
            let mode = if recursive {
                WatchMode::PersistentRecursive
            } else {
                WatchMode::Persistent
            };
            let mut events = client.watch(&path, mode).await?;
            let mut seen = 0u64;
            loop {
                let next = tokio::select! {
                    e = events.next() => e,
                    _ = tokio::signal::ctrl_c() => None,
                };
                let Some(event) = next else { break };
                let event = event?;
                writeln!(out, "{:?} {} {}", event.kind, event.path, event.zxid)?;
                out.flush()?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn print_stat(out: &mut impl Write, s: &Stat) -> std::io::Result<()> {
    writeln!(out, "czxid: {}", s.czxid)?;
    writeln!(out, "mzxid: {}", s.mzxid)?;
    writeln!(out, "pzxid: {}", s.pzxid)?;
    writeln!(out, "ctime: {}", s.ctime)?;
    writeln!(out, "mtime: {}", s.mtime)?;
    writeln!(out, "version: {}", s.version)?;
    writeln!(out, "cversion: {}", s.cversion)?;
    writeln!(out, "ephemeral_owner: {:#x}", s.ephemeral_owner)?;
    writeln!(out, "data_length: {}", s.data_length)?;
    writeln!(out, "num_children: {}", s.num_children)
}

async fn bench(args: BenchArgs) -> Result<(), Error> {
    if let Some(duration) = args.soak {
        return soak(args, duration).await;
    }
    let opts = coord_cli::bench::BenchOptions {
        servers: args.against,
        data_dir: args.data_dir,
        duration: Duration::from_millis(args.duration_ms),
        warmup: Duration::from_millis(args.warmup_ms),
        max_ops: args.max_ops,
        clients: args.clients,
        markdown_out: args.markdown_out,
        command: None,
    };
    let report = coord_cli::bench::run(opts).await?;
    println!("{}", report.to_markdown());
    Ok(())
}

async fn soak(args: BenchArgs, duration: Duration) -> Result<(), Error> {
    let flags = std::iter::once("serve".to_string()).chain(args.serve_args.iter().cloned());
    let serve = SoakServeFlags::try_parse_from(flags)
        .map_err(|e| Error::BadArguments(format!("--serve-arg: {e}")))?
        .serve;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let opts = coord_cli::bench::soak::SoakOptions {
        duration,
        seed,
        server_exe: std::env::current_exe()?,
        serve_args: args.serve_args,
        server_config: serve.into_config(),
        data_dir: args.data_dir,
        markdown_out: args.markdown_out,
        command: None,
    };
    let report = coord_cli::bench::soak::run(opts).await?;
    println!("{}", report.to_markdown());
    match report.lost() {
        0 => Ok(()),
        lost => Err(Error::Internal(format!(
            "{lost} acknowledged writes were lost across kill -9"
        ))),
    }
}

/// Longest wait for the shutdown that follows a failure (fail-stop): the
/// process exits non-zero after it even if something hangs.
const FAILED_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

async fn serve(cfg: ServerConfig) -> Result<(), Error> {
    let server = Server::start(cfg).await?;
    eprintln!("coord: serving on {}", server.local_addr());
    let failure = tokio::select! {
        _ = wait_for_signal() => None,
        e = server.failed() => Some(e),
    };
    match failure {
        None => {
            tracing::info!("signal received; shutting down");
            server.shutdown().await
        }
        Some(e) => {
            // Fail-stop: answer what is in flight, close, and exit non-zero so
            // that a supervisor restarts the process or the cluster takes over.
            match tokio::time::timeout(FAILED_SHUTDOWN_GRACE, server.shutdown()).await {
                Ok(Ok(())) => {}
                Ok(Err(stop)) => tracing::warn!(error = %stop, "shutdown after the failure"),
                Err(_) => tracing::warn!("shutdown after the failure did not finish in time"),
            }
            Err(e)
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
