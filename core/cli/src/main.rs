//! The `coord` command: `coord serve` runs a server; the other verbs are a
//! scriptable client (`create`, `get`, `set`, `delete`, `ls`, `stat`, `watch`,
//! `acl`, `whoami`, `dump`, `restore`; credentials through `--token` /
//! `--digest`).
//!
//! Exit codes: 0 success; 2 bad usage; otherwise the error's kind (see
//! `exit_code`), so scripts can tell "no such node" from "server down".

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use coord_client::CreateMode;
use coord_client::Error;
use coord_client::client::Client;

mod acl_cmd;
mod bench_cmd;
mod cluster_cmd;
mod dump_cmd;
mod dump_format;
mod locks_cmd;
mod quota_cmd;
mod serve_args;
mod serve_cmd;
mod tls_args;
mod verbs;
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
    /// Most bytes `create`/`set` read from --file or standard input (the
    /// server's --max-data-bytes still applies).
    #[arg(
        long,
        global = true,
        env = "COORD_MAX_VALUE_BYTES",
        default_value_t = verbs::DEFAULT_MAX_VALUE_BYTES
    )]
    max_value_bytes: u64,
    /// Log lines on stderr as `text` (for people) or `json` (one object per
    /// line, for log shippers).
    #[arg(long, global = true, env = "COORD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    tls: tls_args::TlsArgs,
    #[command(flatten)]
    credentials: acl_cmd::Credentials,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a server: the durable single-node default, or a cluster member
    /// (--id, --peer-listen, --cluster), e.g.
    /// `coord serve --data-dir ./coord-data --http-listen 127.0.0.1:2291`.
    Serve(Box<ServeArgs>),
    /// Create a node; prints the created path. The value is an argument, a
    /// file (`--file F`) or standard input (`--file -`), e.g.
    /// `coord create /config/app --file app.json --parents`.
    Create {
        /// Path (for --sequential, the prefix).
        path: String,
        /// Data (UTF-8), default empty.
        data: Option<String>,
        /// Read the data from this file (`-`: standard input), any bytes.
        #[arg(long, conflicts_with = "data")]
        file: Option<PathBuf>,
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
        /// The node's ACL, entries `SCHEME:ID:PERMS` (e.g. `world:anyone:r
        /// digest:alice:HASH:cdrwa`); default world:anyone:cdrwa.
        #[arg(long, num_args = 1.., value_parser = acl_cmd::acl_entry)]
        acl: Vec<coord_proto::Acl>,
    },
    /// Print a node's data: the raw bytes (a newline is added only on a
    /// terminal), `--hex`, or `--json` with the stat, e.g.
    /// `coord get /config/app > app.json`.
    Get {
        path: String,
        /// Print the data as lowercase hex.
        #[arg(long, conflicts_with = "json")]
        hex: bool,
        /// Print `{"path", "data" (text, or null if not UTF-8), "data_hex", "stat"}`.
        #[arg(long)]
        json: bool,
    },
    /// Replace a node's data, from an argument, a file or standard input,
    /// e.g. `coord set /config/app --file app.json --version 3`.
    Set {
        path: String,
        /// Data (UTF-8).
        data: Option<String>,
        /// Read the data from this file (`-`: standard input), any bytes.
        #[arg(long, conflicts_with = "data")]
        file: Option<PathBuf>,
        /// Only if the node is at this version.
        #[arg(long)]
        version: Option<i32>,
    },
    /// Delete a node, e.g. `coord delete /config/app --version 3`.
    Delete {
        path: String,
        /// Only if the node is at this version.
        #[arg(long)]
        version: Option<i32>,
    },
    /// List children in name order, one per line (read in pages, so a
    /// directory of any size is listed), e.g. `coord ls / --recursive`.
    Ls {
        path: String,
        /// Every descendant's full path, depth first.
        #[arg(long)]
        recursive: bool,
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Print the subtree under a path, indented by depth, e.g. `coord tree /config`.
    Tree { path: String },
    /// Print a node's metadata (times in ISO 8601, UTC), e.g. `coord stat /config --json`.
    Stat {
        path: String,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Measure the machine's floor and coord's create/set/get; print a table
    /// (with --soak: the soak under abusive clients instead), e.g.
    /// `coord bench --against 127.0.0.1:2281 --clients 1,32`.
    Bench(Box<bench_cmd::BenchArgs>),
    /// Cluster membership: status, add, remove, e.g. `coord cluster status`.
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
    ///
    /// `coord lock break PATH [--yes]` instead removes the holder's node:
    /// its lost signal fires, its guarded writes fail, and the next waiter
    /// gets the lock with a higher token (asks first unless --yes).
    Lock {
        /// The lock's path (or `break`, then the path).
        #[arg(value_name = "PATH")]
        path: String,
        /// With `break`: the lock's path.
        #[arg(value_name = "BREAK_PATH")]
        break_path: Option<String>,
        /// With `break`: do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Give up waiting for the lock after this long (e.g. 500ms, 10s,
        /// 2m): exit 22.
        #[arg(long, value_parser = wrap_cmd::parse_wait)]
        timeout: Option<Duration>,
        /// SIGTERM to SIGKILL, when the command must stop.
        #[arg(long, value_parser = wrap_cmd::parse_wait, default_value = wrap_cmd::DEFAULT_KILL_AFTER)]
        kill_after: Duration,
        /// The command and its arguments, after `--`.
        #[arg(
            last = true,
            required_unless_present = "break_path",
            value_name = "CMD"
        )]
        command: Vec<String>,
    },
    /// List every lock (and read-write lock) under PATH: holders, then
    /// waiters in line, with session, fencing token and how long, e.g.
    /// `coord locks /locks --json`.
    Locks {
        #[arg(default_value = "/")]
        path: String,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show the election at PATH (or every one under it): the leader's
    /// identity, since when, its token, and the candidates in line, e.g.
    /// `coord elections /services/mailer`.
    Elections {
        #[arg(default_value = "/")]
        path: String,
        /// One JSON array.
        #[arg(long)]
        json: bool,
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
    /// Write a consistent backup of the subtree at PATH (one server state,
    /// read in pages) as JSON Lines: a header, then one line per node with
    /// its data (base64), ACL, kind and quota, e.g.
    /// `coord dump /app -o app.dump`. Ephemeral nodes are left out unless
    /// --ephemerals. Fails with NoAuth naming the node if this session may
    /// not READ every node.
    Dump(dump_cmd::DumpArgs),
    /// Load a dump made by `coord dump`, e.g.
    /// `coord restore app.dump --at /app-copy`: creates the nodes with their
    /// data, ACLs and quotas under --at (default: the dump's root) in
    /// batches; refuses if --at exists unless --overwrite. The whole file is
    /// checked first: a bad file creates nothing (exit 17). Progress on
    /// stderr when it is a terminal; a summary line on stdout.
    Restore(dump_cmd::RestoreArgs),
    /// Hard quotas on subtrees: set, get, clear, e.g.
    /// `coord quota set /tenants/a --nodes 10000 --bytes 50000000`.
    Quota {
        #[command(subcommand)]
        action: quota_cmd::QuotaCmd,
    },
    /// A node's ACL: get, set, e.g.
    /// `coord acl set /cfg world:anyone:r token:alice:cdrwa`.
    Acl {
        #[command(subcommand)]
        action: acl_cmd::AclCmd,
    },
    /// Print the identities this command's session holds (from --token,
    /// --digest and the connection), one SCHEME:ID per line, e.g.
    /// `coord --digest alice:secret whoami`.
    Whoami,
    /// Print events on a node (or its subtree), one per line, until
    /// interrupted, e.g. `coord watch /config --recursive --count 10`.
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
        Error::QuotaExceeded(_) => 18,
        Error::ConnectionLoss(_) | Error::OperationTimeout(_) => 20,
        Error::SessionExpired(_) => 21,
        Error::LockTimeout(_) => 22,
        Error::Cancelled(_) => 130,
        Error::NoAuth(_) => 19,
        Error::AuthFailed(_) => 23,
        Error::InvalidAcl(_) => 17,
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
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().with_current_span(true).init(),
        // Colour codes only on a terminal: log files and shippers get plain text.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
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
        Command::Serve(mut args) => {
            let tls = std::mem::take(&mut args.tls);
            let mut cfg = args.into_config();
            tls.apply(&cli.tls, &mut cfg)?;
            return serve_cmd::serve(cfg).await.map(|()| 0);
        }
        Command::Bench(args) => {
            return bench_cmd::bench(*args, cli.tls.client_options()?)
                .await
                .map(|()| 0);
        }
        other => other,
    };
    let mut builder = Client::builder()
        .servers(cli.servers.clone())
        .session_timeout(Duration::from_millis(cli.session_timeout_ms));
    if let Some(tls) = cli.tls.client_options()? {
        builder = builder.tls(tls);
    }
    if let Some(token) = &cli.credentials.token {
        builder = builder.token(token.clone());
    }
    let client = builder.connect().await?;
    if let Err(e) = cli.credentials.add_to(&client).await {
        let _ = client.close().await;
        return Err(e);
    }
    let result = match command {
        Command::Acl { action } => acl_cmd::run(&client, action).await.map(|()| 0),
        Command::Whoami => acl_cmd::whoami(&client).await.map(|()| 0),
        Command::Cluster { action } => cluster_cmd::run(
            &client,
            action,
            Duration::from_millis(cli.session_timeout_ms),
        )
        .await
        .map(|()| 0),
        Command::Lock {
            path,
            break_path: Some(target),
            yes,
            ..
        } if path == "break" => locks_cmd::break_lock(&client, &target, yes)
            .await
            .map(|()| 0),
        Command::Lock {
            break_path: Some(extra),
            ..
        } => Err(Error::BadArguments(format!(
            "lock: unexpected argument `{extra}` (the command goes after `--`; \
             `coord lock break PATH` breaks a lock)"
        ))),
        Command::Lock {
            path,
            timeout,
            kill_after,
            command,
            ..
        } => wrap_cmd::lock(&client, &path, timeout, kill_after, &command).await,
        Command::Locks { path, json } => locks_cmd::locks(&client, &path, json).await.map(|()| 0),
        Command::Elections { path, json } => {
            locks_cmd::elections(&client, &path, json).await.map(|()| 0)
        }
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
        Command::Quota { action } => quota_cmd::run(&client, action).await.map(|()| 0),
        Command::Dump(args) => dump_cmd::dump(&client, args).await.map(|()| 0),
        Command::Restore(args) => dump_cmd::restore(&client, args).await.map(|()| 0),
        command => verb(&client, command, cli.max_value_bytes)
            .await
            .map(|()| 0),
    };
    let closed = client.close().await;
    let code = result?;
    closed.map(|()| code)
}

async fn verb(client: &Client, command: Command, max_value: u64) -> Result<(), Error> {
    match command {
        Command::Serve(_)
        | Command::Bench(_)
        | Command::Cluster { .. }
        | Command::Lock { .. }
        | Command::Locks { .. }
        | Command::Elections { .. }
        | Command::Elect { .. }
        | Command::Quota { .. }
        | Command::Dump(_)
        | Command::Restore(_)
        | Command::Acl { .. }
        | Command::Whoami => {
            unreachable!("handled in run")
        }
        Command::Create {
            path,
            data,
            file,
            ephemeral,
            sequential,
            container,
            ttl_ms,
            parents,
            acl,
        } => {
            let create = verbs::Create {
                path,
                value: verbs::ValueSource { data, file },
                mode: CreateMode::from_flags(ephemeral, sequential, container, ttl_ms)?,
                parents,
                acl,
            };
            verbs::create(client, create, max_value).await
        }
        Command::Get { path, hex, json } => {
            let format = match (hex, json) {
                (true, _) => verbs::DataFormat::Hex,
                (_, true) => verbs::DataFormat::Json,
                _ => verbs::DataFormat::Raw,
            };
            verbs::get(client, &path, format).await
        }
        Command::Set {
            path,
            data,
            file,
            version,
        } => {
            verbs::set(
                client,
                &path,
                verbs::ValueSource { data, file },
                version,
                max_value,
            )
            .await
        }
        Command::Delete { path, version } => client.delete(&path, version).await,
        Command::Ls {
            path,
            recursive,
            json,
        } => verbs::ls(client, &path, recursive, json).await,
        Command::Tree { path } => verbs::tree(client, &path).await,
        Command::Stat { path, json } => verbs::stat(client, &path, json).await,
        Command::Watch {
            path,
            recursive,
            count,
        } => verbs::watch(client, &path, recursive, count).await,
    }
}
