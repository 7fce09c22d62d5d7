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
use coord_server::server::{DEFAULT_LISTEN, Server, ServerConfig};
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
    /// List children, one per line.
    Ls { path: String },
    /// Print a node's metadata.
    Stat { path: String },
    /// Measure the machine's floor and coord's create/set/get; print a table.
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
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to accept clients on.
    #[arg(long, env = "COORD_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Directory for the log, vote and snapshots.
    #[arg(long, env = "COORD_DATA_DIR", default_value = "./coord-data")]
    data_dir: PathBuf,
    /// Largest node data in bytes. Limits are replicated: a changed value is
    /// proposed through the log at start and applies to later writes only.
    #[arg(long, env = "COORD_MAX_DATA_BYTES", default_value_t = 1024 * 1024)]
    max_data_bytes: usize,
    /// Longest path in bytes (replicated, like --max-data-bytes).
    #[arg(long, env = "COORD_MAX_PATH_BYTES", default_value_t = 4096)]
    max_path_bytes: usize,
    /// Most ops in one multi (replicated, like --max-data-bytes).
    #[arg(long, env = "COORD_MAX_MULTI_OPS", default_value_t = 1000)]
    max_multi_ops: usize,
    /// Shortest session timeout granted, ms.
    #[arg(long, env = "COORD_MIN_SESSION_TIMEOUT_MS", default_value_t = 1000)]
    min_session_timeout_ms: u64,
    /// Longest session timeout granted, ms.
    #[arg(long, env = "COORD_MAX_SESSION_TIMEOUT_MS", default_value_t = 60_000)]
    max_session_timeout_ms: u64,
    /// Largest frame accepted from a client, bytes.
    #[arg(long, env = "COORD_MAX_FRAME_BYTES", default_value_t = coord_proto::wire::DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
    /// Most concurrent client connections.
    #[arg(long, env = "COORD_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Most in-flight requests per connection before the server stops reading it.
    #[arg(
        long,
        env = "COORD_MAX_INFLIGHT_PER_CONNECTION",
        default_value_t = 1024
    )]
    max_inflight_per_connection: usize,
    /// Most bytes queued for a slow client before its connection is closed.
    #[arg(long, env = "COORD_MAX_OUTBOUND_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_outbound_bytes: usize,
    /// Time a new connection has to send its handshake, ms.
    #[arg(long, env = "COORD_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    handshake_timeout_ms: u64,
    /// How often session deadlines are checked, ms.
    #[arg(long, env = "COORD_TICK_MS", default_value_t = 100)]
    tick_ms: u64,
    /// How often empty containers and expired TTL nodes are looked for, ms.
    #[arg(long, env = "COORD_REAP_INTERVAL_MS", default_value_t = 1000)]
    reap_interval_ms: u64,
    /// Take a snapshot (and compact the log) after this many entries.
    #[arg(long, env = "COORD_SNAPSHOT_EVERY", default_value_t = 10_000)]
    snapshot_every: u64,
    /// Bytes of recent watch events kept so reconnecting clients miss none;
    /// older clients get an events-lost event and re-read.
    #[arg(long, env = "COORD_WATCH_HISTORY_BYTES", default_value_t = coord_server::watch::DEFAULT_WATCH_HISTORY_BYTES)]
    watch_history_bytes: usize,
    #[command(flatten)]
    hardening: HardeningArgs,
}

/// Limits against abusive and slow clients (checked at start; see README).
#[derive(Args, Debug)]
struct HardeningArgs {
    /// Largest frame accepted before the handshake, bytes (64 ..= --max-frame-bytes).
    #[arg(long, env = "COORD_MAX_HANDSHAKE_FRAME_BYTES", default_value_t = coord_proto::wire::DEFAULT_MAX_HANDSHAKE_FRAME_BYTES)]
    max_handshake_frame_bytes: usize,
    /// Most bytes queued for all clients together; the largest backlog is cut first.
    #[arg(long, env = "COORD_MAX_TOTAL_OUTBOUND_BYTES", default_value_t = 256 * 1024 * 1024)]
    max_total_outbound_bytes: usize,
    /// Close a connection whose writes make no progress for this long, ms.
    #[arg(long, env = "COORD_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    write_timeout_ms: u64,
    /// How long a graceful stop waits for connections before dropping them, ms.
    #[arg(long, env = "COORD_SHUTDOWN_GRACE_MS", default_value_t = 5_000)]
    shutdown_grace_ms: u64,
    /// Most watches one session may hold (every kind counted).
    #[arg(long, env = "COORD_MAX_WATCHES_PER_SESSION", default_value_t = 65_536)]
    max_watches_per_session: usize,
    /// Most bytes of writes queued in front of the log; past it clients wait.
    #[arg(long, env = "COORD_MAX_PENDING_PROPOSAL_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_pending_proposal_bytes: usize,
}

impl HardeningArgs {
    fn apply(self, cfg: &mut ServerConfig) {
        cfg.max_handshake_frame_bytes = self.max_handshake_frame_bytes;
        cfg.max_total_outbound_bytes = self.max_total_outbound_bytes;
        cfg.write_timeout = Duration::from_millis(self.write_timeout_ms);
        cfg.shutdown_grace = Duration::from_millis(self.shutdown_grace_ms);
        cfg.max_watches_per_session = self.max_watches_per_session;
        cfg.max_pending_proposal_bytes = self.max_pending_proposal_bytes;
    }
}

impl ServeArgs {
    fn into_config(self) -> ServerConfig {
        let mut cfg = ServerConfig::new(self.data_dir);
        cfg.listen = self.listen;
        cfg.limits.max_data_bytes = self.max_data_bytes;
        cfg.limits.max_path_bytes = self.max_path_bytes;
        cfg.limits.max_multi_ops = self.max_multi_ops;
        cfg.session_limits.min_timeout = Duration::from_millis(self.min_session_timeout_ms);
        cfg.session_limits.max_timeout = Duration::from_millis(self.max_session_timeout_ms);
        cfg.max_frame_bytes = self.max_frame_bytes;
        cfg.max_connections = self.max_connections;
        cfg.max_inflight_per_connection = self.max_inflight_per_connection;
        cfg.max_outbound_bytes = self.max_outbound_bytes;
        cfg.handshake_timeout = Duration::from_millis(self.handshake_timeout_ms);
        cfg.tick = Duration::from_millis(self.tick_ms);
        cfg.reap_interval = Duration::from_millis(self.reap_interval_ms);
        cfg.snapshot_logs_since_last = self.snapshot_every;
        cfg.watch_history_bytes = self.watch_history_bytes;
        self.hardening.apply(&mut cfg);
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
            for child in client.children(&path).await? {
                writeln!(out, "{child}")?;
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

async fn serve(cfg: ServerConfig) -> Result<(), Error> {
    let server = Server::start(cfg).await?;
    eprintln!("coord: serving on {}", server.local_addr());
    wait_for_signal().await;
    tracing::info!("signal received; shutting down");
    server.shutdown().await
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
