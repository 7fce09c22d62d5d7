//! `coord quota set|get|clear`: the hard quota on a subtree (node count,
//! the subtree's root included, and data bytes, the sum of its nodes' data
//! lengths). The server enforces it; this module only parses and prints.

use std::io::Write;

use clap::Subcommand;
use coord_client::client::QuotaLimits;
use coord_client::{Client, Error};

#[derive(Subcommand, Debug)]
pub(crate) enum QuotaCmd {
    /// Set (or replace) the quota on an existing node: --nodes, --bytes or
    /// both. A subtree already over it keeps its nodes; growth fails with
    /// QuotaExceeded, e.g. `coord quota set /tenants/a --nodes 10000`.
    Set {
        path: String,
        /// Most nodes in the subtree, its root included.
        #[arg(long)]
        nodes: Option<u64>,
        /// Most data bytes in the subtree (sum of the nodes' data lengths).
        #[arg(long)]
        bytes: Option<u64>,
    },
    /// Print the quota on PATH and the subtree's usage, one `name value` per
    /// line (`none` for a limit not set), e.g. `coord quota get /tenants/a`.
    Get { path: String },
    /// Remove the quota on PATH, e.g. `coord quota clear /tenants/a`.
    Clear { path: String },
}

pub(crate) async fn run(client: &Client, cmd: QuotaCmd) -> Result<(), Error> {
    match cmd {
        QuotaCmd::Set { path, nodes, bytes } => {
            if nodes.is_none() && bytes.is_none() {
                return Err(Error::BadArguments(format!(
                    "quota set {path}: give --nodes, --bytes or both"
                )));
            }
            let limits = QuotaLimits {
                max_nodes: nodes,
                max_bytes: bytes,
            };
            client.set_quota(&path, limits).await
        }
        QuotaCmd::Clear { path } => client.clear_quota(&path).await,
        QuotaCmd::Get { path } => {
            let q = client.get_quota(&path).await?;
            let limit = |l: Option<u64>| l.map_or_else(|| "none".to_string(), |v| v.to_string());
            let mut out = std::io::stdout().lock();
            writeln!(out, "max_nodes {}", limit(q.limits.max_nodes))?;
            writeln!(out, "max_bytes {}", limit(q.limits.max_bytes))?;
            writeln!(out, "nodes {}", q.usage.nodes)?;
            writeln!(out, "bytes {}", q.usage.bytes)?;
            Ok(())
        }
    }
}
