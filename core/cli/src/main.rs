//! The `coord` command: `coord serve` runs a server; the other verbs are a
//! scriptable client (`create`, `get`, `set`, `delete`, `ls`, `stat`, `watch`).
//!
//! Exit codes: 0 success; 2 bad usage; otherwise the error's kind (see
//! `exit_code`), so scripts can tell "no such node" from "server down".

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use coord_client::Error;
use coord_client::client::{Client, WatchMode};
use coord_client::{CreateMode, Stat};
use coord_server::server::{Server, ServerConfig};
use futures::StreamExt;

mod cluster_cmd;
mod serve_args;
mod wrap_cmd;
use serve_args::ServeArgs;

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
    /// Run a server: the durable single-node default, or a cluster member
    /// (--id, --peer-listen, --cluster).
    Serve(Box<ServeArgs>),
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
    /// Cluster membership: status, add, remove.
    Cluster {
        #[command(subcommand)]
        action: cluster_cmd::ClusterCmd,
    },
    /// Run a command while holding the lock at PATH, e.g.
    /// `coord lock /locks/backup -- ./backup.sh`: waits for the lock, runs the
    /// command with COORD_LOCK_TOKEN (the fencing token) and COORD_LOCK_PATH
    /// in its environment, releases when it exits and exits with its code;
    /// if the lock is lost meanwhile, stops the command (SIGTERM, then
    /// SIGKILL after --kill-after) and exits 40.
    Lock {
        path: String,
        /// Give up waiting for the lock after this long (e.g. 500ms, 10s,
        /// 2m): exit 22.
        #[arg(long, value_parser = wrap_cmd::parse_wait)]
        timeout: Option<Duration>,
        /// SIGTERM to SIGKILL, when the command must stop.
        #[arg(long, value_parser = wrap_cmd::parse_wait, default_value = wrap_cmd::DEFAULT_KILL_AFTER)]
        kill_after: Duration,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Run a command only while leading the election at PATH, e.g.
    /// `coord elect /services/mailer --identity host1 -- ./mailer`: campaigns,
    /// runs the command once leader (COORD_LEADER_TOKEN,
    /// COORD_LEADER_IDENTITY, COORD_ELECTION_PATH in its environment),
    /// resigns when it exits and exits with its code; stops it and exits 40
    /// if leadership is lost. `--observe` prints `IDENTITY TOKEN` per leader
    /// change (`-`: no leader) instead.
    Elect {
        path: String,
        /// What the other candidates and observers see as this leader.
        #[arg(long, required_unless_present = "observe")]
        identity: Option<String>,
        /// Print leader changes instead of campaigning.
        #[arg(long, conflicts_with_all = ["identity", "timeout"])]
        observe: bool,
        /// With --observe: stop after this many lines.
        #[arg(long, requires = "observe")]
        count: Option<u64>,
        /// Give up campaigning after this long: exit 22.
        #[arg(long, value_parser = wrap_cmd::parse_wait)]
        timeout: Option<Duration>,
        /// SIGTERM to SIGKILL, when the command must stop.
        #[arg(long, value_parser = wrap_cmd::parse_wait, default_value = wrap_cmd::DEFAULT_KILL_AFTER)]
        kill_after: Duration,
        /// The command and its arguments, after `--` (not with --observe).
        #[arg(last = true, required_unless_present = "observe", value_name = "CMD")]
        command: Vec<String>,
    },
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
    /// Run the soak's abusers at nice 19, as if their client-side work ran on
    /// other machines (the report says which).
    #[arg(long, requires = "soak")]
    soak_nice_abusers: bool,
    /// Only these abusers in the abused phase, by letter (a silent, b
    /// garbage, c stalled readers, d watch flood, e SetWatches, f empty
    /// multi, g 1 MiB writes, h wide directory, i session churn), e.g. `h`.
    #[arg(long, requires = "soak", value_parser = abuser_letters)]
    soak_abusers: Option<String>,
}

/// The soak's `--serve-arg`s read as `coord serve` reads them, so that the
/// RSS bound sees the settings the children run with.
#[derive(Parser, Debug)]
struct SoakServeFlags {
    #[command(flatten)]
    serve: ServeArgs,
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
        Error::LockTimeout(_) => 22,
        Error::Cancelled(_) => 130,
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
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("coord: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Runs the command; the exit code on success (0, or a wrapped command's).
async fn run(cli: Cli) -> Result<u8, Error> {
    let command = match cli.command {
        Command::Serve(args) => return serve(args.into_config()).await.map(|()| 0),
        Command::Bench(args) => return bench(args).await.map(|()| 0),
        other => other,
    };
    let client = Client::builder()
        .servers(cli.servers.clone())
        .session_timeout(Duration::from_millis(cli.session_timeout_ms))
        .connect()
        .await?;
    let result = match command {
        Command::Cluster { action } => cluster_cmd::run(
            &client,
            action,
            Duration::from_millis(cli.session_timeout_ms),
        )
        .await
        .map(|()| 0),
        Command::Lock {
            path,
            timeout,
            kill_after,
            command,
        } => wrap_cmd::lock(&client, &path, timeout, kill_after, &command).await,
        Command::Elect {
            path,
            observe: true,
            count,
            ..
        } => wrap_cmd::observe(&client, &path, count).await,
        Command::Elect {
            path,
            identity,
            timeout,
            kill_after,
            command,
            ..
        } => {
            let identity = identity.unwrap_or_default();
            wrap_cmd::elect(&client, &path, &identity, timeout, kill_after, &command).await
        }
        command => verb(&client, command).await.map(|()| 0),
    };
    let closed = client.close().await;
    let code = result?;
    closed.map(|()| code)
}

async fn verb(client: &Client, command: Command) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Serve(_)
        | Command::Bench(_)
        | Command::Cluster { .. }
        | Command::Lock { .. }
        | Command::Elect { .. } => {
            unreachable!("handled in run")
        }
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

/// `--soak-abusers`: checked while parsing, read in [`soak`].
fn abuser_letters(s: &str) -> Result<String, String> {
    coord_cli::bench::soak::parse_abusers(s).map(|_| s.to_string())
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
        nice_abusers: args.soak_nice_abusers,
        abusers: match &args.soak_abusers {
            Some(letters) => {
                coord_cli::bench::soak::parse_abusers(letters).map_err(Error::BadArguments)?
            }
            None => Vec::new(),
        },
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
    // Past a file-size limit (`ulimit -f`, systemd's LimitFSIZE) the kernel
    // kills the process with SIGXFSZ unless it is handled; handled, the write
    // fails with EFBIG and the server stops the fail-stop way, saying why.
    #[cfg(unix)]
    let _xfsz = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
        rustix::process::Signal::XFSZ.as_raw(),
    ))
    .map_err(|e| tracing::warn!(error = %e, "cannot handle SIGXFSZ"))
    .ok();
    let server = Server::start(cfg).await?;
    if let Some(zk) = server.zk_addr() {
        // Before the "serving on" line, which scripts wait for.
        eprintln!("coord: zookeeper protocol on {zk}");
    }
    eprintln!("coord: serving on {}", server.local_addr());
    let failure = tokio::select! {
        _ = wait_for_signal() => None,
        () = server.removed() => {
            // An orderly end: exit 0, so that a supervisor restarting on
            // failure leaves a removed member stopped.
            eprintln!(
                "coord: this member was removed from the cluster; stopping (its data dir \
                 will not serve again)"
            );
            None
        }
        e = server.failed() => Some(e),
    };
    match failure {
        None => {
            tracing::info!("shutting down");
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
