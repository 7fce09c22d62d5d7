//! The systems under test and one connection type over their clients, so that
//! every workload is written once: coord through its native async client,
//! ZooKeeper through `zookeeper-client`, etcd through `etcd-client` (gRPC),
//! Redis through `redis` (one multiplexed connection per client). coord's
//! ZooKeeper port (`coord serve --zk-listen`) is driven by the very same
//! `zookeeper-client` code as ZooKeeper: only the address differs.
//!
//! Keys are the same strings everywhere (`/pb/...`): a node path for coord and
//! ZooKeeper, a plain key for etcd and Redis.

use std::time::Duration;

use bytes::Bytes;
use coord_client::client::{Client as CoordClient, CreateMode};
use zookeeper_client as zk;

use coord_cli::bench::driver::{self, Bounds, Worker};
use coord_cli::bench::stats::Summary;

use crate::tasks::{BoxError, Res};

/// Session timeout of the measuring clients (coord and ZooKeeper): long enough
/// that a busy 2-core machine never expires one mid-run.
pub(crate) const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Size of every value written.
pub(crate) const VALUE_BYTES: usize = 100;

/// Root under which every node or key of a run lives.
pub(crate) const ROOT: &str = "/pb";

/// One system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    Coord,
    /// The same coord server through its ZooKeeper port, driven by the
    /// ZooKeeper client code of this harness.
    CoordZk,
    /// coord's ZooKeeper port through the harness's minimal client
    /// (`zkwire`), writes and reads only.
    CoordZkWire,
    Zk,
    /// ZooKeeper through the minimal client, writes and reads only.
    ZkWire,
    Etcd,
    /// Redis with `appendonly yes`, `appendfsync always`.
    RedisAof,
    /// Redis with persistence off.
    RedisMem,
}

impl System {
    /// Driven by the harness's minimal ZooKeeper client (writes and reads).
    pub(crate) fn minimal_client(self) -> bool {
        matches!(self, System::CoordZkWire | System::ZkWire)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Coord => "coord",
            System::CoordZk => "coord (ZooKeeper protocol)",
            System::CoordZkWire => "coord (ZooKeeper protocol, minimal client)",
            System::Zk => "ZooKeeper",
            System::ZkWire => "ZooKeeper (minimal client)",
            System::Etcd => "etcd",
            System::RedisAof => "Redis (AOF fsync always)",
            System::RedisMem => "Redis (no persistence)",
        }
    }
}

/// Where each system listens; a peer that is not running is `None`.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) system: System,
    pub(crate) addr: String,
    /// Server process, for RSS.
    pub(crate) pid: Option<u32>,
}

/// A client connection of any system.
pub(crate) enum Conn {
    Coord(CoordClient),
    Zk(zk::Client),
    ZkWire(crate::zkwire::Client),
    /// Boxed: the gRPC client is large.
    Etcd(Box<etcd_client::Client>),
    Redis(redis::aio::MultiplexedConnection),
}

/// A coord client with the harness's session timeout.
pub(crate) async fn coord_connect(addr: &str, timeout: Duration) -> Res<CoordClient> {
    Ok(CoordClient::builder()
        .servers(addr)
        .session_timeout(timeout)
        .connect()
        .await?)
}

/// A ZooKeeper client with the given session timeout.
pub(crate) async fn zk_connect(addr: &str, timeout: Duration) -> Res<zk::Client> {
    Ok(zk::Client::connector()
        .with_session_timeout(timeout)
        .connect(addr)
        .await?)
}

/// Options for a node of `mode` readable and writable by anyone.
pub(crate) fn zk_opts(mode: zk::CreateMode) -> zk::CreateOptions<'static> {
    mode.with_acls(zk::Acls::anyone_all())
}

impl Conn {
    pub(crate) async fn connect(system: System, addr: &str) -> Res<Conn> {
        Ok(match system {
            System::Coord => Conn::Coord(coord_connect(addr, SESSION_TIMEOUT).await?),
            System::Zk | System::CoordZk => Conn::Zk(zk_connect(addr, SESSION_TIMEOUT).await?),
            System::ZkWire | System::CoordZkWire => {
                Conn::ZkWire(crate::zkwire::Client::connect(addr, SESSION_TIMEOUT).await?)
            }
            System::Etcd => Conn::Etcd(Box::new(etcd_client::Client::connect([addr], None).await?)),
            System::RedisAof | System::RedisMem => {
                let client = redis::Client::open(format!("redis://{addr}/"))?;
                Conn::Redis(client.get_multiplexed_async_connection().await?)
            }
        })
    }

    /// Creates the persistent node `path` (and nothing for key-value stores);
    /// an existing node is fine.
    pub(crate) async fn ensure_node(&mut self, path: &str, value: &[u8]) -> Res<()> {
        match self {
            Conn::Coord(c) => {
                match c
                    .create(path, Bytes::copy_from_slice(value), CreateMode::Persistent)
                    .await
                {
                    Ok(_) | Err(coord_client::Error::NodeExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Conn::Zk(c) => {
                match c
                    .create(path, value, &zk_opts(zk::CreateMode::Persistent))
                    .await
                {
                    Ok(_) | Err(zk::Error::NodeExists) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Conn::ZkWire(c) => c.create(path, value).await?,
            Conn::Etcd(_) | Conn::Redis(_) => self.write(path, value).await?,
        }
        Ok(())
    }

    /// Durable write of `value` to the existing node/key `key`.
    pub(crate) async fn write(&mut self, key: &str, value: &[u8]) -> Res<()> {
        match self {
            Conn::Coord(c) => {
                c.set(key, Bytes::copy_from_slice(value), None).await?;
            }
            Conn::Zk(c) => {
                c.set_data(key, value, None).await?;
            }
            Conn::ZkWire(c) => c.set(key, value).await?,
            Conn::Etcd(c) => {
                c.put(key, value, None).await?;
            }
            Conn::Redis(c) => {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async::<()>(c)
                    .await?;
            }
        }
        Ok(())
    }

    /// Reads `key`; returns the value's length.
    pub(crate) async fn read(&mut self, key: &str) -> Res<usize> {
        Ok(match self {
            Conn::Coord(c) => c.get(key).await?.0.len(),
            Conn::Zk(c) => c.get_data(key).await?.0.len(),
            Conn::ZkWire(c) => c.get(key).await?,
            Conn::Etcd(c) => {
                let resp = c.get(key, None).await?;
                resp.kvs().first().map_or(0, |kv| kv.value().len())
            }
            Conn::Redis(c) => {
                let v: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(c).await?;
                v.map_or(0, |v| v.len())
            }
        })
    }

    /// Closes the session (best effort: the numbers are already taken).
    pub(crate) async fn close(self) {
        match self {
            Conn::Coord(c) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
            }
            Conn::Zk(c) => drop(c),
            Conn::ZkWire(c) => c.close().await,
            Conn::Etcd(c) => drop(c),
            Conn::Redis(c) => drop(c),
        }
    }
}

/// The durable-write / read worker: one connection, one key.
pub(crate) struct KvWorker {
    pub(crate) conn: Conn,
    pub(crate) key: String,
    pub(crate) write: bool,
    pub(crate) value: Vec<u8>,
}

impl Worker for KvWorker {
    type Error = BoxError;

    async fn op(&mut self, _seq: u64) -> Res<()> {
        if self.write {
            self.conn.write(&self.key, &self.value).await
        } else {
            let n = self.conn.read(&self.key).await?;
            if n == VALUE_BYTES {
                Ok(())
            } else {
                Err(format!("read {n} bytes from {}, expected {VALUE_BYTES}", self.key).into())
            }
        }
    }
}

/// Writes (or reads) with `clients` connections, each on its own key.
/// Returns the measured window's summary and the CPU seconds (utime +
/// stime) each process of `cpu_of` spent in it (empty if `cpu_of` is).
pub(crate) async fn kv(
    target: &Target,
    clients: usize,
    write: bool,
    bounds: Bounds,
    cpu_of: Vec<u32>,
) -> Res<(Summary, Vec<f64>)> {
    let value = vec![b'v'; VALUE_BYTES];
    let mut workers = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut conn = Conn::connect(target.system, &target.addr).await?;
        let key = format!("{ROOT}/{}-{clients}-{i}", if write { "w" } else { "r" });
        conn.ensure_node(&key, &value).await?;
        conn.write(&key, &value).await?;
        workers.push(KvWorker {
            conn,
            key,
            write,
            value: value.clone(),
        });
    }
    let tck = if cpu_of.is_empty() {
        0.0
    } else {
        crate::cluster::clk_tck()
    };
    crate::cluster_bench::with_cpu_each(cpu_of, tck, bounds.warmup, async {
        let outcome = driver::drive(workers, &bounds).await?;
        let summary = outcome.summary();
        for w in outcome.workers {
            w.conn.close().await;
        }
        Ok(summary)
    })
    .await
}
