//! `coord bench`: the floor and core workloads against an embedded or a
//! given server, or (`--soak`) the soak under abusive clients against
//! `coord serve` child processes. The measuring is in the library's
//! `bench` module; this is the command line around it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use coord_client::Error;

use crate::serve_args::ServeArgs;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
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
    /// Give every measured node an ACL of N entries that everyone passes only
    /// at the last (N-1 digest users, then world:anyone:cdrwa), to measure
    /// what ACL checks cost; 0: the default ACL. At most 64.
    #[arg(long, value_name = "N", default_value_t = 0)]
    node_acl_entries: usize,
    /// Only these parts, comma-separated: floor, create, set, get, locks
    /// (default: all), e.g. `--workloads get` to measure reads alone.
    #[arg(long, value_delimiter = ',', value_parser = coord_cli::bench::Workload::parse)]
    workloads: Vec<coord_cli::bench::Workload>,
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

pub(crate) async fn bench(
    args: BenchArgs,
    tls: Option<coord_client::TlsOptions>,
) -> Result<(), Error> {
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
        tls,
        node_acl_entries: args.node_acl_entries,
        workloads: if args.workloads.is_empty() {
            coord_cli::bench::workloads::ALL.to_vec()
        } else {
            args.workloads
        },
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
