//! The CLI's identity and ACL verbs: `coord acl get PATH`, `coord acl set
//! PATH SCHEME:ID:PERMS... [--version V]`, `coord whoami`, and the
//! credentials every verb may present (`--token`, `--digest user:password`).
//!
//! ACL entries are written as ZooKeeper's tools write them
//! (`world:anyone:r`, `digest:alice:<hash>:cdrwa`; a digest id holds a colon,
//! so the permissions are read from the right). Parsing is `coord_proto::acl`.

use std::io::Write;

use clap::{Args, Subcommand};
use coord_client::Error;
use coord_client::client::Client;
use coord_proto::acl::perms_to_string;
use coord_proto::{Acl, Identity};

/// Credentials for any verb.
#[derive(Args, Debug)]
pub(crate) struct Credentials {
    /// A bearer token from the server's tokens file (the session is
    /// token:USER). Never printed.
    #[arg(long, global = true, env = "COORD_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// ZooKeeper digest credentials, `user:password` (the session is
    /// digest:USER:BASE64-SHA1). Never printed.
    #[arg(long, global = true, env = "COORD_DIGEST", hide_env_values = true)]
    pub(crate) digest: Option<String>,
}

impl Credentials {
    /// Adds the digest identity to a connected session (the token goes in
    /// at connect, see `ClientBuilder::token`).
    pub(crate) async fn add_to(&self, client: &Client) -> Result<(), Error> {
        if let Some(d) = &self.digest {
            client.add_auth("digest", d.as_bytes()).await?;
        }
        Ok(())
    }
}

/// `coord acl ...`
#[derive(Subcommand, Debug)]
pub(crate) enum AclCmd {
    /// Print a node's ACL, one SCHEME:ID:PERMS entry per line, then its
    /// aversion (the version `acl set --version` checks), e.g.
    /// `coord acl get /cfg`.
    Get { path: String },
    /// Replace a node's ACL (needs ADMIN on it), e.g.
    /// `coord acl set /cfg world:anyone:r token:alice:cdrwa --version 0`.
    Set {
        path: String,
        /// Entries `SCHEME:ID:PERMS`, perms from `cdrwa`
        /// (e.g. `world:anyone:r digest:alice:<hash>:cdrwa`).
        #[arg(required = true, value_parser = acl_entry)]
        acl: Vec<Acl>,
        /// Only if the node's ACL version (aversion) is this.
        #[arg(long)]
        version: Option<i32>,
    },
}

/// Parses one `SCHEME:ID:PERMS` entry (for clap).
pub(crate) fn acl_entry(text: &str) -> Result<Acl, String> {
    Acl::parse(text).map_err(|e| e.to_string())
}

/// Runs `coord acl ...`.
pub(crate) async fn run(client: &Client, cmd: AclCmd) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match cmd {
        AclCmd::Get { path } => {
            let (acl, stat) = client.get_acl(&path).await?;
            for entry in &acl {
                writeln!(out, "{}:{}", entry.identity, perms_to_string(entry.perms))?;
            }
            writeln!(out, "aversion {}", stat.aversion)?;
        }
        AclCmd::Set { path, acl, version } => {
            let stat = client.set_acl(&path, &acl, version).await?;
            writeln!(out, "aversion {}", stat.aversion)?;
        }
    }
    Ok(())
}

/// `coord whoami`: the session's identities, one `SCHEME:ID` per line.
pub(crate) async fn whoami(client: &Client) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    let ids: Vec<Identity> = client.whoami().await?;
    for id in ids {
        writeln!(out, "{id}")?;
    }
    Ok(())
}
