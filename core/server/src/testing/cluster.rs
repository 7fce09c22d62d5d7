//! [`TestCluster`]: several in-process servers on loopback forming one
//! cluster, each with its own temp data dir, client port and peer port.
//! Every member's peer port is bound before any member starts (so each knows
//! the others'), and kept across a member's kill and restart.
//!
//! Faults: every member dials every other through its own [`Proxy`] (one per
//! ordered link `i -> j`, through [`ServerConfig::peer_dial`]), so a test can
//! cut one link one way ([`TestCluster::cut_link`]: `i` can no longer reach
//! `j`; requests and replies of connections `i` opened to `j` are lost, those
//! `j` opened to `i` still flow), partition members ([`TestCluster::partition`],
//! [`TestCluster::isolate_many`]) and [`TestCluster::heal`]. A killed member's
//! links are cut too: its pre-bound peer socket would otherwise go on
//! accepting connections that nobody answers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use coord_proto::proto::{self, client_message, request, server_message};
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame};
use coord_proto::{Error, Result};
use prost::Message;
use tokio::io::AsyncWriteExt;

use super::proxy::Proxy;
use super::temp_data_dir;
use crate::replication::peer::PeerDial;
use crate::server::{Server, ServerConfig};

/// How long a membership change may take (the leader waits for a new member
/// to catch up before promoting it).
const CHANGE_PATIENCE: Duration = Duration::from_secs(60);

/// One member: its settings, data dir and (while it runs) its server.
#[derive(Debug)]
struct Slot {
    cfg: ServerConfig,
    dir: tempfile::TempDir,
    server: Option<Server>,
}

/// Where member `i` dials member `j`: the proxy of link `i -> j`.
type Routes = Arc<Mutex<BTreeMap<(u64, u64), String>>>;

/// See the module docs.
#[derive(Debug)]
pub struct TestCluster {
    slots: BTreeMap<u64, Slot>,
    /// Settings new members start from (the founders' after `adjust`).
    template: ServerConfig,
    /// One proxy per ordered link.
    links: BTreeMap<(u64, u64), Proxy>,
    routes: Routes,
    /// Links cut by the test (one way each).
    cut: BTreeSet<(u64, u64)>,
}

impl TestCluster {
    /// Starts members 1..=`n` at once with test settings (see
    /// [`ServerConfig::for_test`]); returns without waiting for a leader.
    pub async fn start(n: u64) -> Result<TestCluster> {
        Self::start_with(n, |_| {}).await
    }

    /// Like [`TestCluster::start`], with `adjust` applied to each member's
    /// settings (and to the settings of members added later).
    pub async fn start_with(n: u64, adjust: impl Fn(&mut ServerConfig)) -> Result<TestCluster> {
        let mut peers = BTreeMap::new();
        for id in 1..=n {
            peers.insert(id, Arc::new(bind_peer_port()?));
        }
        let founders: BTreeMap<u64, SocketAddr> = peers
            .iter()
            .map(|(id, l)| Ok((*id, l.local_addr()?)))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::Io(e.to_string()))?;
        let template_dir = temp_data_dir()?;
        let mut template = ServerConfig::for_test(template_dir.path());
        template.heartbeat = Duration::from_millis(50);
        template.election_timeout = Duration::from_millis(300);
        adjust(&mut template);
        let mut c = TestCluster {
            slots: BTreeMap::new(),
            template,
            links: BTreeMap::new(),
            routes: Routes::default(),
            cut: BTreeSet::new(),
        };
        for from in founders.keys() {
            for (to, addr) in &founders {
                if from != to {
                    c.add_link(*from, *to, &addr.to_string()).await?;
                }
            }
        }
        let mut starting = Vec::new();
        for (id, socket) in peers {
            let dir = temp_data_dir()?;
            let mut cfg = c.member_config(id, dir.path(), &socket)?;
            cfg.cluster = Some(founders.clone());
            adjust(&mut cfg);
            starting.push((id, tokio::spawn(Server::start(cfg.clone()))));
            c.slots.insert(
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
            let slot = c.slots.get_mut(&id).expect("slot");
            // A restart takes the same client port.
            slot.cfg.listen = server.local_addr();
            slot.server = Some(server);
        }
        Ok(c)
    }

    /// Settings of member `id` on `dir`, serving peers on `socket` and
    /// dialing them through its links' proxies.
    fn member_config(
        &self,
        id: u64,
        dir: &std::path::Path,
        socket: &Arc<std::net::TcpListener>,
    ) -> Result<ServerConfig> {
        let mut cfg = self.template.clone();
        cfg.data_dir = dir.to_path_buf();
        cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.node_id = id;
        cfg.cluster = None;
        cfg.peer_listen = Some(
            socket
                .local_addr()
                .map_err(|e| Error::Io(format!("peer socket: {e}")))?,
        );
        cfg.peer_socket = Some(socket.clone());
        let routes = self.routes.clone();
        cfg.peer_dial = Some(PeerDial(Arc::new(move |to| {
            routes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(id, to))
                .cloned()
        })));
        Ok(cfg)
    }

    /// Starts the proxy of link `from -> to` (to `to`'s peer address).
    async fn add_link(&mut self, from: u64, to: u64, to_peer_addr: &str) -> Result<()> {
        let proxy = Proxy::start(to_peer_addr)
            .await
            .map_err(|e| Error::Io(format!("link proxy {from}->{to}: {e}")))?;
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((from, to), proxy.addr());
        self.links.insert((from, to), proxy);
        Ok(())
    }

    /// Blocks or unblocks every link as the cuts and the dead members say.
    fn apply_links(&self) {
        for ((from, to), proxy) in &self.links {
            let down = |id: &u64| self.slots.get(id).is_none_or(|s| s.server.is_none());
            if self.cut.contains(&(*from, *to)) || down(from) || down(to) {
                proxy.block();
            } else {
                proxy.unblock();
            }
        }
    }

    /// Cuts link `from -> to` one way: `from` can no longer reach `to`
    /// (connections `to` opened to `from` keep working).
    pub fn cut_link(&mut self, from: u64, to: u64) {
        self.cut.insert((from, to));
        self.apply_links();
    }

    /// Cuts every link to and from member `id`, both ways.
    pub fn partition(&mut self, id: u64) {
        self.isolate_many(&[id]);
    }

    /// Splits `ids` from the other members: every link between a member of
    /// `ids` and one outside is cut both ways (links inside either side stay).
    pub fn isolate_many(&mut self, ids: &[u64]) {
        let inside: BTreeSet<u64> = ids.iter().copied().collect();
        let pairs: Vec<(u64, u64)> = self
            .links
            .keys()
            .filter(|(a, b)| inside.contains(a) != inside.contains(b))
            .copied()
            .collect();
        self.cut.extend(pairs);
        self.apply_links();
    }

    /// Restores every cut link (dead members stay cut off until restarted).
    pub fn heal(&mut self) {
        self.cut.clear();
        self.apply_links();
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

    /// Ids of every member, running or not.
    pub fn members(&self) -> Vec<u64> {
        self.slots.keys().copied().collect()
    }

    /// Ids of the members that run.
    pub fn running(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| s.server.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Running members that failed (fail-stop: a storage error or a panic in
    /// the raft core) with why; `coord serve` would have exited.
    pub fn failed_members(&self) -> Vec<(u64, Error)> {
        use futures::FutureExt;
        self.slots
            .iter()
            .filter_map(|(id, s)| s.server.as_ref().map(|srv| (*id, srv)))
            .filter_map(|(id, srv)| srv.failed().now_or_never().map(|e| (id, e)))
            .collect()
    }

    /// Waits (at most `limit`) until one running member leads and every
    /// running member knows it; returns its id.
    pub async fn wait_for_leader(&self, limit: Duration) -> Result<u64> {
        self.wait_for_leader_among(&self.running(), limit).await
    }

    /// Waits (at most `limit`) until one of `ids` leads and every running
    /// member of `ids` knows it (the others, cut off, may think otherwise);
    /// returns its id.
    pub async fn wait_for_leader_among(&self, ids: &[u64], limit: Duration) -> Result<u64> {
        let deadline = Instant::now() + limit;
        loop {
            let servers: Vec<&Server> = ids.iter().filter_map(|id| self.server(*id)).collect();
            let leaders: Vec<u64> = servers
                .iter()
                .filter(|s| s.is_leader())
                .map(|s| s.node_id())
                .collect();
            if let [leader] = leaders[..]
                && servers.iter().all(|s| s.leader() == Some(leader))
            {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                return Err(Error::OperationTimeout(format!(
                    "no leader among {ids:?} agreed on within {limit:?} (leading: {leaders:?})"
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

    /// Stops member `id` as if its process died (no goodbye to anyone); its
    /// links are cut so that peers see it gone. Its pre-bound peer port stays
    /// bound (and accepts connections nobody answers) for its restart.
    pub async fn kill(&mut self, id: u64) {
        if let Some(server) = self.slots.get_mut(&id).and_then(|s| s.server.take()) {
            self.apply_links();
            server.abort().await;
        }
    }

    /// Like [`TestCluster::kill`], but the peer port closes too, before the
    /// links are cut, as a dead process's sockets close together: a peer
    /// that sees its connection end finds the port refusing. A restart
    /// binds the port's address again.
    pub async fn kill_and_close_port(&mut self, id: u64) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.cfg.peer_socket = None;
        if let Some(server) = slot.server.take() {
            server.abort().await;
            self.apply_links();
        }
    }

    /// Starts member `id` again on its data dir and ports; its links are
    /// restored (except those the test cut).
    pub async fn restart(&mut self, id: u64) -> Result<()> {
        let slot = self
            .slots
            .get_mut(&id)
            .ok_or_else(|| Error::BadArguments(format!("no member {id}")))?;
        if slot.server.is_none() {
            // A killed member's store may still hold the data dir for a
            // moment after `Server::abort` returned (a dead process would
            // have let go at once): retry while it says so, within a bound.
            let deadline = Instant::now() + Duration::from_secs(10);
            let server = loop {
                match Server::start(slot.cfg.clone()).await {
                    Err(Error::Io(e)) if e.contains("in use") && Instant::now() < deadline => {
                        tracing::warn!(id, error = %e, "restart: the data dir is still held");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => break other?,
                }
            };
            slot.server = Some(server);
        }
        self.apply_links();
        Ok(())
    }

    /// Starts member `id` with an empty data dir and no founders (it waits to
    /// be added), with links to and from every member, and has the leader
    /// add it: as a learner only if `learner`, else as a voter once it
    /// caught up. Returns once the leader made the change.
    pub async fn add_member(&mut self, id: u64, learner: bool) -> Result<()> {
        if self.slots.contains_key(&id) {
            return Err(Error::BadArguments(format!("member {id} exists")));
        }
        let socket = Arc::new(bind_peer_port()?);
        let peer_addr = socket
            .local_addr()
            .map_err(|e| Error::Io(format!("peer socket: {e}")))?
            .to_string();
        let others: Vec<(u64, String)> = self
            .slots
            .iter()
            .map(|(o, s)| {
                let addr = s.cfg.peer_listen.map(|a| a.to_string()).unwrap_or_default();
                (*o, addr)
            })
            .collect();
        for (other, other_peer) in &others {
            self.add_link(id, *other, other_peer).await?;
            self.add_link(*other, id, &peer_addr).await?;
        }
        let dir = temp_data_dir()?;
        let mut cfg = self.member_config(id, dir.path(), &socket)?;
        let server = Server::start(cfg.clone()).await?;
        cfg.listen = server.local_addr();
        let client_addr = cfg.listen.to_string();
        self.slots.insert(
            id,
            Slot {
                cfg,
                dir,
                server: Some(server),
            },
        );
        self.apply_links();
        self.change(proto::cluster_change_request::Change::Add(
            proto::AddMember {
                id,
                peer_addr,
                client_addr,
                learner,
            },
        ))
        .await
    }

    /// Makes learner `id` a voter (through the leader).
    pub async fn promote(&mut self, id: u64) -> Result<()> {
        let slot = self
            .slots
            .get(&id)
            .ok_or_else(|| Error::BadArguments(format!("no member {id}")))?;
        let peer_addr = slot
            .cfg
            .peer_listen
            .map(|a| a.to_string())
            .unwrap_or_default();
        let client_addr = slot.cfg.listen.to_string();
        self.change(proto::cluster_change_request::Change::Add(
            proto::AddMember {
                id,
                peer_addr,
                client_addr,
                learner: false,
            },
        ))
        .await
    }

    /// Has the leader remove member `id` from the cluster, waits (within
    /// [`CHANGE_PATIENCE`]) until the member, if running, learned of its
    /// removal, then stops it and forgets it (its data dir is deleted).
    pub async fn remove_member(&mut self, id: u64) -> Result<()> {
        self.change(proto::cluster_change_request::Change::Remove(id))
            .await?;
        // The slot (and with it the data dir) goes only after the server.
        let mut slot = self.slots.remove(&id);
        if let Some(server) = slot.as_mut().and_then(|s| s.server.take()) {
            let learned = tokio::time::timeout(CHANGE_PATIENCE, server.removed()).await;
            server.abort().await;
            if learned.is_err() {
                return Err(Error::OperationTimeout(format!(
                    "member {id} did not learn of its removal within {CHANGE_PATIENCE:?}"
                )));
            }
        }
        self.links.retain(|(a, b), _| *a != id && *b != id);
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(a, b), _| *a != id && *b != id);
        self.cut.retain(|(a, b)| *a != id && *b != id);
        Ok(())
    }

    /// Sends `change` to the current leader over the client protocol,
    /// retrying on another leader or a lost connection, within
    /// [`CHANGE_PATIENCE`].
    async fn change(&self, change: proto::cluster_change_request::Change) -> Result<()> {
        let deadline = Instant::now() + CHANGE_PATIENCE;
        let mut attempt = 0usize;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            // Whoever says it leads (a cut-off old leader may still think
            // so: it answers NotLeader or times out, and the next try goes on).
            let leaders: Vec<SocketAddr> = self
                .slots
                .values()
                .filter_map(|s| s.server.as_ref().map(|srv| (srv, s.cfg.listen)))
                .filter(|(srv, _)| srv.is_leader())
                .map(|(_, addr)| addr)
                .collect();
            let leader = (!leaders.is_empty()).then(|| leaders[attempt % leaders.len()]);
            let outcome = match leader {
                Some(addr) => tokio::time::timeout(
                    left.min(Duration::from_secs(10)),
                    cluster_change(addr, change.clone()),
                )
                .await
                .unwrap_or_else(|_| Err(Error::OperationTimeout("membership change".into()))),
                None => Err(Error::NotLeader("no member leads".into())),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(
                    e @ (Error::NotLeader(_)
                    | Error::ConnectionLoss(_)
                    | Error::Io(_)
                    | Error::OperationTimeout(_)
                    | Error::ShuttingDown(_)),
                ) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "membership change: retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
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

fn bind_peer_port() -> Result<std::net::TcpListener> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Io(format!("binding a peer port: {e}")))
}

/// One `ClusterChange` on a fresh session at `addr` (a bare protocol
/// connection: this crate does not depend on the client).
async fn cluster_change(
    addr: SocketAddr,
    change: proto::cluster_change_request::Change,
) -> Result<()> {
    let io = |e: std::io::Error| Error::ConnectionLoss(format!("{addr}: {e}"));
    let (rd, mut wr) = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(io)?
        .into_split();
    let mut rd = FrameReader::new(rd, 64 << 20);
    let send = |body: client_message::Body| {
        let mut buf = BytesMut::new();
        encode_frame(&proto::ClientMessage { body: Some(body) }, &mut buf);
        buf
    };
    let mut next = async || -> Result<server_message::Body> {
        let frame = rd
            .next_frame()
            .await
            .map_err(|e| Error::ConnectionLoss(format!("{addr}: {e:?}")))?
            .ok_or_else(|| Error::ConnectionLoss(format!("{addr} closed")))?;
        proto::ServerMessage::decode(frame)
            .map_err(|e| Error::Protocol(e.to_string()))?
            .body
            .ok_or_else(|| Error::Protocol("an empty server message".into()))
    };
    wr.write_all(&send(client_message::Body::Connect(proto::Connect {
        protocol_version: PROTOCOL_VERSION,
        requested_timeout_ms: 10_000,
        ..Default::default()
    })))
    .await
    .map_err(io)?;
    match next().await? {
        server_message::Body::Connected(_) => {}
        server_message::Body::Closing(e) => return Err((&e).into()),
        other => return Err(Error::Protocol(format!("expected Connected: {other:?}"))),
    }
    let call = |xid: u64, op: request::Op| {
        send(client_message::Body::Request(proto::Request {
            xid,
            min_zxid: 0,
            op: Some(op),
        }))
    };
    let op = request::Op::ClusterChange(proto::ClusterChangeRequest {
        change: Some(change),
    });
    wr.write_all(&call(1, op)).await.map_err(io)?;
    let outcome = loop {
        match next().await? {
            server_message::Body::Response(r) if r.xid == 1 => {
                break match r.error.as_ref() {
                    Some(e) => Err(e.into()),
                    None => Ok(()),
                };
            }
            server_message::Body::Closing(e) => return Err((&e).into()),
            _ => continue,
        }
    };
    let close = request::Op::CloseSession(proto::CloseSessionRequest {});
    let _ = wr.write_all(&call(2, close)).await;
    outcome
}
