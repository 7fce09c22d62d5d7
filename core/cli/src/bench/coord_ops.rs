//! coord's own operations, measured through the public async client: `create`
//! (persistent, a distinct path per op), durable `set` and `get`, each client
//! with its own [`Client`] and connection. Also hosts the embedded server.
//!
//! Everything is written under `/coord-bench-<run id>`; on an external server
//! those nodes are left in place (the client API has no recursive delete and
//! deleting them would take as long as creating them).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::driver::{self, BackgroundServer, Bounds, Ready, Worker};
use super::stats::{Kind, Measurement};
use coord_client::CreateMode;
use coord_client::client::Client;
use coord_client::error::Error;
use coord_proto::Acl;
use coord_proto::acl::perms;
use coord_server::server::{Server, ServerConfig};

/// Size of every value written.
pub(crate) const VALUE_BYTES: usize = 100;

/// Session timeout of the benchmark's clients: long enough that a busy 2-core
/// machine never expires one mid-run.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a server's graceful shutdown may take before the run moves on.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts an in-process single-node server with its data under `data_dir`,
/// on its own thread and runtime.
pub(crate) fn start_embedded(data_dir: PathBuf) -> Result<BackgroundServer, Error> {
    BackgroundServer::start("coord-bench-server", move |ready, stop| {
        serve(data_dir, ready, stop)
    })
}

async fn serve(data_dir: PathBuf, ready: Ready, stop: oneshot::Receiver<()>) -> Result<(), Error> {
    let server = Server::start(ServerConfig::for_test(&data_dir)).await?;
    if ready.send(server.local_addr()).is_ok() {
        // Either a stop request or the harness going away ends the server.
        let _ = stop.await;
    }
    match tokio::time::timeout(SHUTDOWN_TIMEOUT, server.shutdown()).await {
        Ok(result) => result,
        Err(_) => Err(Error::OperationTimeout(format!(
            "embedded server did not shut down within {SHUTDOWN_TIMEOUT:?}"
        ))),
    }
}

/// Runs create, set and get once per client count against `servers`.
pub(crate) async fn measure(
    servers: &Target,
    client_counts: &[usize],
    kinds: &[Kind],
    bounds: &Bounds,
    run_id: &str,
) -> Result<Vec<Measurement>, Error> {
    let root = format!("/coord-bench-{run_id}");
    let admin = connect(servers).await?;
    create(&admin, servers, &root, Bytes::new()).await?;
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    let mut rows = Vec::new();
    for &kind in kinds {
        for &count in client_counts {
            let base = format!("{root}/{}-{count}", slug(kind));
            create(&admin, servers, &base, Bytes::new()).await?;
            let mut workers = Vec::with_capacity(count);
            for i in 0..count {
                let client = connect(servers).await?;
                let path = format!("{base}/c{i}");
                // Create: the client's parent; set and get: the node they use.
                create(&client, servers, &path, value.clone()).await?;
                workers.push(CoordClient {
                    client,
                    kind,
                    path,
                    value: value.clone(),
                    acl: servers.node_acl.clone(),
                });
            }
            tracing::info!(op = slug(kind), clients = count, "bench: measuring");
            let outcome = driver::drive(workers, bounds).await?;
            rows.push(outcome.recorder.finish(kind, count, outcome.elapsed));
            for worker in outcome.workers {
                close(worker.client).await;
            }
        }
    }
    close(admin).await;
    Ok(rows)
}

fn slug(kind: Kind) -> &'static str {
    match kind {
        Kind::Create => "create",
        Kind::Set => "set",
        Kind::Get => "get",
        _ => "other",
    }
}

/// The servers measured and how to reach them.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port,...`
    pub(crate) servers: String,
    /// TLS to speak (`None`: plain TCP).
    pub(crate) tls: Option<coord_client::TlsOptions>,
    /// The ACL the measured nodes get (empty: the server's default), to
    /// measure what checking a long ACL costs.
    pub(crate) node_acl: Vec<Acl>,
}

/// An ACL of `entries` entries that everyone passes only at its last one:
/// `entries - 1` digest users that no bench client is, then
/// `world:anyone:cdrwa`, so every check walks the whole list. Empty for 0.
pub(crate) fn bench_acl(entries: usize) -> Vec<Acl> {
    if entries == 0 {
        return Vec::new();
    }
    let mut acl: Vec<Acl> = (1..entries)
        .map(|i| {
            Acl::new(
                coord_proto::acl::DIGEST,
                format!("bench-user-{i}:c29tZS1wYXNzd29yZC1oYXNoLW9mLTI4LWI="),
                perms::ALL,
            )
        })
        .collect();
    acl.push(Acl::new(coord_proto::acl::WORLD, "anyone", perms::ALL));
    acl
}

/// Creates a persistent node with the target's node ACL.
async fn create(client: &Client, target: &Target, path: &str, data: Bytes) -> Result<(), Error> {
    if target.node_acl.is_empty() {
        client.create(path, data, CreateMode::Persistent).await?;
    } else {
        client
            .create_with_acl(path, data, CreateMode::Persistent, &target.node_acl)
            .await?;
    }
    Ok(())
}

pub(crate) async fn connect(target: &Target) -> Result<Client, Error> {
    let mut builder = Client::builder()
        .servers(target.servers.clone())
        .session_timeout(SESSION_TIMEOUT);
    if let Some(tls) = &target.tls {
        builder = builder.tls(tls.clone());
    }
    builder.connect().await
}

/// Closing is best effort: the numbers are already taken.
pub(crate) async fn close(client: Client) {
    match tokio::time::timeout(driver::OP_TIMEOUT, client.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "bench: client close failed"),
        Err(_) => tracing::debug!("bench: client close timed out"),
    }
}

/// One closed-loop coord client.
struct CoordClient {
    client: Client,
    kind: Kind,
    /// Create: parent of the created nodes; set and get: the node itself.
    path: String,
    value: Bytes,
    /// The ACL created nodes get (empty: the default).
    acl: Vec<Acl>,
}

impl Worker for CoordClient {
    type Error = Error;

    async fn op(&mut self, seq: u64) -> Result<(), Error> {
        match self.kind {
            Kind::Create => {
                let path = format!("{}/n{seq}", self.path);
                if self.acl.is_empty() {
                    self.client
                        .create(&path, self.value.clone(), CreateMode::Persistent)
                        .await?;
                } else {
                    self.client
                        .create_with_acl(
                            &path,
                            self.value.clone(),
                            CreateMode::Persistent,
                            &self.acl,
                        )
                        .await?;
                }
            }
            Kind::Set => {
                self.client
                    .set(&self.path, self.value.clone(), None)
                    .await?;
            }
            Kind::Get => {
                let (data, _stat) = self.client.get(&self.path).await?;
                if data.len() != VALUE_BYTES {
                    return Err(Error::Internal(format!(
                        "get returned {} bytes, expected {VALUE_BYTES}",
                        data.len()
                    )));
                }
            }
            other => {
                return Err(Error::Internal(format!("{other} is not a coord operation")));
            }
        }
        Ok(())
    }
}
