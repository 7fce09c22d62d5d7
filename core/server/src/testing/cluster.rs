//! [`TestCluster`]: several in-process servers on loopback forming one
//! cluster, each with its own temp data dir, client port and peer port.
//! Every member's peer port is bound before any member starts (so each knows
//! the others'), and kept across a member's kill and restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coord_proto::{Error, Result};

use super::temp_data_dir;
use crate::server::{Server, ServerConfig};

/// One member: its settings, data dir and (while it runs) its server.
#[derive(Debug)]
struct Slot {
    cfg: ServerConfig,
    dir: tempfile::TempDir,
    server: Option<Server>,
}

/// See the module docs.
#[derive(Debug)]
pub struct TestCluster {
    slots: BTreeMap<u64, Slot>,
}

impl TestCluster {
    /// Starts members 1..=`n` at once with test settings (see
    /// [`ServerConfig::for_test`]); returns without waiting for a leader.
    pub async fn start(n: u64) -> Result<TestCluster> {
        Self::start_with(n, |_| {}).await
    }

    /// Like [`TestCluster::start`], with `adjust` applied to each member's
    /// settings.
    pub async fn start_with(n: u64, adjust: impl Fn(&mut ServerConfig)) -> Result<TestCluster> {
        let mut peers = BTreeMap::new();
        for id in 1..=n {
            let l = std::net::TcpListener::bind("127.0.0.1:0")
                .map_err(|e| Error::Io(format!("binding a peer port: {e}")))?;
            peers.insert(id, Arc::new(l));
        }
        let founders: BTreeMap<u64, SocketAddr> = peers
            .iter()
            .map(|(id, l)| Ok((*id, l.local_addr()?)))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::Io(e.to_string()))?;
        let mut slots = BTreeMap::new();
        let mut starting = Vec::new();
        for (id, socket) in peers {
            let dir = temp_data_dir()?;
            let mut cfg = ServerConfig::for_test(dir.path());
            cfg.node_id = id;
            cfg.cluster = Some(founders.clone());
            cfg.peer_listen = Some(founders[&id]);
            cfg.peer_socket = Some(socket);
            cfg.heartbeat = Duration::from_millis(50);
            cfg.election_timeout = Duration::from_millis(300);
            adjust(&mut cfg);
            starting.push((id, tokio::spawn(Server::start(cfg.clone()))));
            slots.insert(
                id,
                Slot {
                    cfg,
                    dir,
                    server: None,
                },
            );
        }
        for (id, task) in starting {
            let server = task
                .await
                .map_err(|e| Error::Internal(format!("member {id} start: {e}")))??;
            let slot = slots.get_mut(&id).expect("slot");
            // A restart takes the same client port.
            slot.cfg.listen = server.local_addr();
            slot.server = Some(server);
        }
        Ok(TestCluster { slots })
    }

    /// Every member's client address, `h:p,h:p,...` (for `servers(...)`).
    pub fn servers(&self) -> String {
        self.slots
            .values()
            .map(|s| s.cfg.listen.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Member `id`'s client address.
    pub fn addr(&self, id: u64) -> String {
        self.slots[&id].cfg.listen.to_string()
    }

    /// Member `id`'s server, if it runs.
    pub fn server(&self, id: u64) -> Option<&Server> {
        self.slots.get(&id).and_then(|s| s.server.as_ref())
    }

    /// Ids of the members that run.
    pub fn running(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| s.server.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Waits (at most `limit`) until one running member leads and every
    /// running member knows it; returns its id.
    pub async fn wait_for_leader(&self, limit: Duration) -> Result<u64> {
        let deadline = Instant::now() + limit;
        loop {
            let leaders: Vec<u64> = self
                .slots
                .values()
                .filter_map(|s| s.server.as_ref())
                .filter(|s| s.is_leader())
                .map(Server::node_id)
                .collect();
            if let [leader] = leaders[..]
                && self
                    .slots
                    .values()
                    .filter_map(|s| s.server.as_ref())
                    .all(|s| s.leader() == Some(leader))
            {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                return Err(Error::OperationTimeout(format!(
                    "no leader agreed on within {limit:?} (leading: {leaders:?})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A running member other than `not`.
    pub fn other_than(&self, not: u64) -> u64 {
        self.running()
            .into_iter()
            .find(|id| *id != not)
            .expect("another running member")
    }

    /// Stops member `id` as if its process died (no goodbye to anyone).
    pub async fn kill(&mut self, id: u64) {
        if let Some(server) = self.slots.get_mut(&id).and_then(|s| s.server.take()) {
            server.abort().await;
        }
    }

    /// Starts member `id` again on its data dir and ports.
    pub async fn restart(&mut self, id: u64) -> Result<()> {
        let slot = self
            .slots
            .get_mut(&id)
            .ok_or_else(|| Error::BadArguments(format!("no member {id}")))?;
        if slot.server.is_none() {
            slot.server = Some(Server::start(slot.cfg.clone()).await?);
        }
        Ok(())
    }

    /// Member `id`'s data dir.
    pub fn data_dir(&self, id: u64) -> &std::path::Path {
        self.slots[&id].dir.path()
    }

    /// Stops every member gracefully.
    pub async fn stop(mut self) -> Result<()> {
        for slot in self.slots.values_mut() {
            if let Some(s) = slot.server.take() {
                s.shutdown().await?;
            }
        }
        Ok(())
    }
}
