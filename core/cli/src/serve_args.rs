//! `coord serve`'s flags: each a `ServerConfig` field with a `COORD_*`
//! environment twin, and each numeric one checked against its range in
//! `coord_server::server::bounds` while parsing, so a bad value is refused
//! naming the flag before anything starts.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use coord_server::server::{DEFAULT_LISTEN, ServerConfig, bounds};

/// A numeric `coord serve` flag: `-1` reaches the range check (and is
/// refused with the flag's name) instead of being taken for an option.
macro_rules! ranged {
    ($range:expr) => {
        clap::value_parser!(u64).range($range)
    };
}

/// `coord serve` settings. Each numeric flag has a valid range (in `--help`,
/// the README, and `coord_server::server::bounds`); a value outside it is
/// refused at start, naming the flag.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to accept clients on.
    #[arg(long, env = "COORD_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Directory for the log, vote and snapshots.
    #[arg(long, env = "COORD_DATA_DIR", default_value = "./coord-data")]
    data_dir: PathBuf,
    /// Largest node data in bytes [0, 256 MiB]. Limits are replicated: a
    /// changed value is proposed through the log at start and applies to
    /// later writes only.
    #[arg(long, env = "COORD_MAX_DATA_BYTES", default_value_t = 1024 * 1024,
          value_parser = ranged!(bounds::MAX_DATA_BYTES), allow_negative_numbers = true)]
    max_data_bytes: u64,
    /// Longest path in bytes [2, 1 MiB] (replicated, like --max-data-bytes).
    #[arg(long, env = "COORD_MAX_PATH_BYTES", default_value_t = 4096,
          value_parser = ranged!(bounds::MAX_PATH_BYTES), allow_negative_numbers = true)]
    max_path_bytes: u64,
    /// Most ops in one multi [1, 1000000] (replicated, like --max-data-bytes).
    #[arg(long, env = "COORD_MAX_MULTI_OPS", default_value_t = 1000,
          value_parser = ranged!(bounds::MAX_MULTI_OPS), allow_negative_numbers = true)]
    max_multi_ops: u64,
    /// Shortest session timeout granted, ms [10, 1 day].
    #[arg(long, env = "COORD_MIN_SESSION_TIMEOUT_MS", default_value_t = 1000,
          value_parser = ranged!(bounds::SESSION_TIMEOUT_MS), allow_negative_numbers = true)]
    min_session_timeout_ms: u64,
    /// Longest session timeout granted, ms [10, 1 day].
    #[arg(long, env = "COORD_MAX_SESSION_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = ranged!(bounds::SESSION_TIMEOUT_MS), allow_negative_numbers = true)]
    max_session_timeout_ms: u64,
    /// Largest frame accepted from a client, bytes [4 KiB, 1 GiB].
    #[arg(long, env = "COORD_MAX_FRAME_BYTES",
          default_value_t = coord_proto::wire::DEFAULT_MAX_FRAME_BYTES as u64,
          value_parser = ranged!(bounds::MAX_FRAME_BYTES), allow_negative_numbers = true)]
    max_frame_bytes: u64,
    /// Most concurrent client connections [1, 10000000]; capped at start to
    /// the descriptor limit minus --fd-reserve.
    #[arg(long, env = "COORD_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = ranged!(bounds::MAX_CONNECTIONS), allow_negative_numbers = true)]
    max_connections: u64,
    /// Most in-flight requests per connection before the server stops
    /// reading it [1, 1000000].
    #[arg(long, env = "COORD_MAX_INFLIGHT_PER_CONNECTION", default_value_t = 1024,
          value_parser = ranged!(bounds::MAX_INFLIGHT_PER_CONNECTION), allow_negative_numbers = true)]
    max_inflight_per_connection: u64,
    /// Most bytes queued for a slow client before its connection is closed
    /// [64 KiB, 64 GiB].
    #[arg(long, env = "COORD_MAX_OUTBOUND_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = ranged!(bounds::MAX_OUTBOUND_BYTES), allow_negative_numbers = true)]
    max_outbound_bytes: u64,
    /// Time a new connection has to send its handshake, ms [1, 1 hour].
    #[arg(long, env = "COORD_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = ranged!(bounds::HANDSHAKE_TIMEOUT_MS), allow_negative_numbers = true)]
    handshake_timeout_ms: u64,
    /// How often session deadlines are checked, ms [1, 60000]; below the
    /// shortest session timeout.
    #[arg(long, env = "COORD_TICK_MS", default_value_t = 100,
          value_parser = ranged!(bounds::TICK_MS), allow_negative_numbers = true)]
    tick_ms: u64,
    /// How often empty containers and expired TTL nodes are looked for, ms
    /// [1, 1 day].
    #[arg(long, env = "COORD_REAP_INTERVAL_MS", default_value_t = 1000,
          value_parser = ranged!(bounds::REAP_INTERVAL_MS), allow_negative_numbers = true)]
    reap_interval_ms: u64,
    /// Take a snapshot (and compact the log) after this many entries
    /// [1, 1000000000].
    #[arg(long, env = "COORD_SNAPSHOT_EVERY", default_value_t = 10_000,
          value_parser = ranged!(bounds::SNAPSHOT_EVERY), allow_negative_numbers = true)]
    snapshot_every: u64,
    /// Take a snapshot once the log since the last one holds this many
    /// bytes, whichever of this and --snapshot-every comes first; 0: entries
    /// only [0, 16 TiB].
    #[arg(long, env = "COORD_SNAPSHOT_LOG_BYTES",
          default_value_t = coord_server::replication::DEFAULT_SNAPSHOT_LOG_BYTES,
          value_parser = ranged!(bounds::SNAPSHOT_LOG_BYTES), allow_negative_numbers = true)]
    snapshot_log_bytes: u64,
    /// Wait after a failed snapshot (e.g. disk full) before retrying, ms;
    /// writes go on [0, 1 day].
    #[arg(long, env = "COORD_SNAPSHOT_RETRY_MS", default_value_t = 10_000,
          value_parser = ranged!(bounds::SNAPSHOT_RETRY_MS), allow_negative_numbers = true)]
    snapshot_retry_ms: u64,
    /// Bytes of recent log entries kept in memory; older ones are read from
    /// disk [0, 64 GiB].
    #[arg(long, env = "COORD_LOG_CACHE_BYTES",
          default_value_t = coord_server::replication::DEFAULT_LOG_CACHE_BYTES,
          value_parser = ranged!(bounds::LOG_CACHE_BYTES), allow_negative_numbers = true)]
    log_cache_bytes: u64,
    /// Bytes of recent watch events kept so reconnecting clients miss none;
    /// older clients get an events-lost event and re-read [0, 64 GiB].
    #[arg(long, env = "COORD_WATCH_HISTORY_BYTES",
          default_value_t = coord_server::watch::DEFAULT_WATCH_HISTORY_BYTES as u64,
          value_parser = ranged!(bounds::WATCH_HISTORY_BYTES), allow_negative_numbers = true)]
    watch_history_bytes: u64,
    /// File descriptors kept back from connections for the log, snapshots,
    /// peers and the runtime [16, 1000000].
    #[arg(long, env = "COORD_FD_RESERVE", default_value_t = 128,
          value_parser = ranged!(bounds::FD_RESERVE), allow_negative_numbers = true)]
    fd_reserve: u64,
    /// Free bytes the data dir's file system must have to start
    /// [0 (no check), 1 PiB].
    #[arg(long, env = "COORD_MIN_FREE_DISK_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = ranged!(bounds::MIN_FREE_DISK_BYTES), allow_negative_numbers = true)]
    min_free_disk_bytes: u64,
    /// Largest children listing in one reply, bytes of names: pages are cut
    /// there and an unpaged listing over it fails with TooLarge (never a reply
    /// over a client's default 4 MiB frame) [1024, 4 MiB - 1 KiB].
    #[arg(long, env = "COORD_MAX_LISTING_BYTES",
          default_value_t = coord_proto::children::DEFAULT_MAX_LISTING_BYTES as u64,
          value_parser = ranged!(bounds::MAX_LISTING_BYTES), allow_negative_numbers = true)]
    max_listing_bytes: u64,
    #[command(flatten)]
    hardening: HardeningArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    zookeeper: ZkArgs,
    /// Serve /metrics (Prometheus text), /health, /ready and the dashboard
    /// (/ and /api/) on this address (HTTP); off unless set.
    #[arg(long, env = "COORD_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// Let the dashboard break locks (POST /api/locks/break); the caller
    /// still needs DELETE on the lock's directory. Off by default.
    #[arg(long, env = "COORD_HTTP_ADMIN")]
    http_admin: bool,
    /// Most children the dashboard lists for one node (/api/node).
    #[arg(long, env = "COORD_HTTP_MAX_CHILDREN",
          default_value_t = coord_server::server::DEFAULT_HTTP_MAX_CHILDREN as u64,
          value_parser = ranged!(bounds::HTTP_MAX_CHILDREN), allow_negative_numbers = true)]
    http_max_children: u64,
    /// Most nodes the dashboard visits looking for locks and elections
    /// under a path (/api/locks, /api/elections).
    #[arg(long, env = "COORD_HTTP_MAX_WALK_NODES",
          default_value_t = coord_server::server::DEFAULT_HTTP_MAX_WALK_NODES as u64,
          value_parser = ranged!(bounds::HTTP_MAX_WALK_NODES), allow_negative_numbers = true)]
    http_max_walk_nodes: u64,
    /// TLS flags of `serve` (applied with the global ones, see `tls_args`).
    #[command(flatten)]
    pub(crate) tls: crate::tls_args::ServeTlsArgs,
    #[command(flatten)]
    security: SecurityArgs,
}

/// Identities and ACL settings.
#[derive(Args, Debug)]
struct SecurityArgs {
    /// Bearer tokens for the `token` identity scheme: a file of `USER TOKEN`
    /// lines (`#` comments); read at start, never logged. Unset: every token
    /// is refused.
    #[arg(long, env = "COORD_TOKENS_FILE", value_parser = tokens_file)]
    tokens_file: Option<std::sync::Arc<coord_server::server::Tokens>>,
    /// Serve a session only once it holds an identity besides its address
    /// (a token or client certificate at connect, or a digest added after
    /// connecting); otherwise such sessions are world:anyone.
    #[arg(long, env = "COORD_AUTH_REQUIRED")]
    auth_required: bool,
    /// An identity that bypasses every ACL, SCHEME:ID (e.g. `token:admin` or
    /// `digest:admin:<base64 sha1>`); repeat or separate with commas.
    /// Replicated, like the limits.
    #[arg(long, env = "COORD_SUPERUSER", value_delimiter = ',', value_parser = identity)]
    superuser: Vec<coord_proto::Identity>,
}

fn tokens_file(path: &str) -> Result<std::sync::Arc<coord_server::server::Tokens>, String> {
    coord_server::server::Tokens::load(std::path::Path::new(path))
        .map(std::sync::Arc::new)
        .map_err(|e| e.to_string())
}

fn identity(text: &str) -> Result<coord_proto::Identity, String> {
    coord_proto::Identity::parse(text).map_err(|e| e.to_string())
}

impl SecurityArgs {
    fn apply(self, cfg: &mut ServerConfig) {
        cfg.tokens = self.tokens_file;
        cfg.auth_required = self.auth_required;
        cfg.limits.superusers = self.superuser;
    }
}

/// Membership of a cluster and the peer network (see README).
#[derive(Args, Debug)]
struct ClusterArgs {
    /// This member's id in its cluster [1, 2^63 - 1]; recorded in the data
    /// dir on first start, and a later start with another id is refused.
    #[arg(long, env = "COORD_ID", default_value_t = 1,
          value_parser = ranged!(bounds::NODE_ID), allow_negative_numbers = true)]
    id: u64,
    /// Address to accept the other members on (required with --cluster;
    /// not the client address).
    #[arg(long, env = "COORD_PEER_LISTEN")]
    peer_listen: Option<SocketAddr>,
    /// The founding members, id=host:port of each one's peer address, e.g.
    /// 1=10.0.0.1:2381,2=10.0.0.2:2381,3=10.0.0.3:2381. Read only on a
    /// first start (an empty data dir); without it the server is a single
    /// node.
    #[arg(long, env = "COORD_CLUSTER", value_parser = parse_cluster)]
    cluster: Option<Cluster>,
    /// Largest message to or from a peer, bytes [1 MiB, 1 GiB] (and at
    /// least --max-frame-bytes + 64 KiB with peers).
    #[arg(long, env = "COORD_MAX_PEER_FRAME_BYTES",
          default_value_t = coord_server::replication::peer::DEFAULT_MAX_PEER_FRAME_BYTES as u64,
          value_parser = ranged!(bounds::MAX_PEER_FRAME_BYTES), allow_negative_numbers = true)]
    max_peer_frame_bytes: u64,
    /// Most peer connections served at once [1, 65536].
    #[arg(long, env = "COORD_MAX_PEER_CONNECTIONS", default_value_t = 1024,
          value_parser = ranged!(bounds::MAX_PEER_CONNECTIONS), allow_negative_numbers = true)]
    max_peer_connections: u64,
    /// Leader heartbeat interval, ms [10, 10000] (and below half of
    /// --election-timeout-ms).
    #[arg(long, env = "COORD_HEARTBEAT_MS", default_value_t = 50,
          value_parser = ranged!(bounds::HEARTBEAT_MS), allow_negative_numbers = true)]
    heartbeat_ms: u64,
    /// Election timeout, ms [50, 60000]: a follower that stops hearing its
    /// leader waits out the leader's lease (1.5 times this) plus a random
    /// time between this and 1.5 times this, then starts an election.
    #[arg(long, env = "COORD_ELECTION_TIMEOUT_MS", default_value_t = 150,
          value_parser = ranged!(bounds::ELECTION_TIMEOUT_MS), allow_negative_numbers = true)]
    election_timeout_ms: u64,
}

impl ClusterArgs {
    fn apply(self, cfg: &mut ServerConfig) {
        cfg.node_id = self.id;
        cfg.peer_listen = self.peer_listen;
        cfg.cluster = self.cluster.map(|c| c.0);
        cfg.max_peer_frame_bytes = size(self.max_peer_frame_bytes);
        cfg.max_peer_connections = size(self.max_peer_connections);
        cfg.heartbeat = Duration::from_millis(self.heartbeat_ms);
        cfg.election_timeout = Duration::from_millis(self.election_timeout_ms);
    }
}

/// `--cluster`'s value: member id to peer address. (A newtype: clap would
/// take a bare map type for a list of values.)
#[derive(Debug, Clone)]
struct Cluster(BTreeMap<u64, SocketAddr>);

/// Parses `1=host:port,2=host:port,...`. A host name is resolved now (its
/// first address). Refuses, naming the element, one that is not
/// `id=host:port`, an id outside the valid range, and an id given twice.
fn parse_cluster(text: &str) -> Result<Cluster, String> {
    let mut members = BTreeMap::new();
    for element in text.split(',') {
        let element = element.trim();
        let not_member = || format!("--cluster: `{element}` is not id=host:port");
        let (id, addr) = element.split_once('=').ok_or_else(not_member)?;
        let id: u64 = id.trim().parse().map_err(|_| not_member())?;
        if !bounds::NODE_ID.contains(&id) {
            return Err(format!(
                "--cluster: `{element}`: member id {id} is outside {}..={}",
                bounds::NODE_ID.start(),
                bounds::NODE_ID.end()
            ));
        }
        let addr = resolve(addr.trim()).ok_or_else(not_member)?;
        if members.insert(id, addr).is_some() {
            return Err(format!("--cluster: member id {id} is given twice"));
        }
    }
    Ok(Cluster(members))
}

/// `host:port` (or `ip:port`) to its first socket address.
fn resolve(addr: &str) -> Option<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Some(a);
    }
    // Only a host:port reaches the resolver, never a bare word.
    let (host, port) = addr.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    addr.to_socket_addrs().ok()?.next()
}

/// Limits against abusive and slow clients (checked at start; see README).
#[derive(Args, Debug)]
struct HardeningArgs {
    /// Largest frame accepted before the handshake, bytes [64, 1 MiB] (and
    /// not above --max-frame-bytes).
    #[arg(long, env = "COORD_MAX_HANDSHAKE_FRAME_BYTES",
          default_value_t = coord_proto::wire::DEFAULT_MAX_HANDSHAKE_FRAME_BYTES as u64,
          value_parser = ranged!(bounds::MAX_HANDSHAKE_FRAME_BYTES), allow_negative_numbers = true)]
    max_handshake_frame_bytes: u64,
    /// Most bytes queued for all clients together; the largest backlog is
    /// cut first [64 KiB, 1 TiB] (and not below --max-frame-bytes).
    #[arg(long, env = "COORD_MAX_TOTAL_OUTBOUND_BYTES", default_value_t = 256 * 1024 * 1024,
          value_parser = ranged!(bounds::MAX_TOTAL_OUTBOUND_BYTES), allow_negative_numbers = true)]
    max_total_outbound_bytes: u64,
    /// Close a connection whose writes make no progress for this long, ms
    /// [100, 1 hour].
    #[arg(long, env = "COORD_WRITE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = ranged!(bounds::WRITE_TIMEOUT_MS), allow_negative_numbers = true)]
    write_timeout_ms: u64,
    /// How long a graceful stop waits for connections before dropping them,
    /// ms [0, 10 min].
    #[arg(long, env = "COORD_SHUTDOWN_GRACE_MS", default_value_t = 5_000,
          value_parser = ranged!(bounds::SHUTDOWN_GRACE_MS), allow_negative_numbers = true)]
    shutdown_grace_ms: u64,
    /// Largest page of an export (`coord dump`), bytes of paths, data and
    /// ACLs; a larger node goes alone [1024, 4 MiB - 1 KiB].
    #[arg(long, env = "COORD_MAX_EXPORT_PAGE_BYTES",
          default_value_t = coord_server::server::DEFAULT_MAX_EXPORT_PAGE_BYTES as u64,
          value_parser = ranged!(bounds::MAX_EXPORT_PAGE_BYTES), allow_negative_numbers = true)]
    max_export_page_bytes: u64,
    /// How long an open export keeps its frozen tree without a call for
    /// the next page, ms [1 s, 1 h].
    #[arg(long, env = "COORD_EXPORT_IDLE_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = ranged!(bounds::EXPORT_IDLE_TIMEOUT_MS), allow_negative_numbers = true)]
    export_idle_timeout_ms: u64,
    /// Most watches one session may hold, every kind counted [1, 10^8].
    #[arg(long, env = "COORD_MAX_WATCHES_PER_SESSION", default_value_t = 65_536,
          value_parser = ranged!(bounds::MAX_WATCHES_PER_SESSION), allow_negative_numbers = true)]
    max_watches_per_session: u64,
    /// Most bytes of writes queued in front of the log; past it clients
    /// wait [64 KiB, 64 GiB].
    #[arg(long, env = "COORD_MAX_PENDING_PROPOSAL_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = ranged!(bounds::MAX_PENDING_PROPOSAL_BYTES), allow_negative_numbers = true)]
    max_pending_proposal_bytes: u64,
    /// Build a connection's next reply only while at most this many bytes
    /// wait for it [4 KiB, 1 TiB] (and not above --max-outbound-bytes).
    #[arg(long, env = "COORD_MAX_REPLY_BACKLOG_BYTES", default_value_t = 1024 * 1024,
          value_parser = ranged!(bounds::MAX_REPLY_BACKLOG_BYTES), allow_negative_numbers = true)]
    max_reply_backlog_bytes: u64,
    /// Most ephemeral nodes one session may own [1, 10^8] (replicated,
    /// like --max-data-bytes).
    #[arg(long, env = "COORD_MAX_EPHEMERALS_PER_SESSION", default_value_t = 65_536,
          value_parser = ranged!(bounds::MAX_EPHEMERALS_PER_SESSION), allow_negative_numbers = true)]
    max_ephemerals_per_session: u64,
    /// Most open client connections from one IP address, both ports
    /// together; one more is refused and logged [1, 10^7].
    #[arg(long, env = "COORD_MAX_CONNECTIONS_PER_IP", default_value_t = 10_000,
          value_parser = ranged!(bounds::MAX_CONNECTIONS_PER_IP), allow_negative_numbers = true)]
    max_connections_per_ip: u64,
}

impl HardeningArgs {
    fn apply(self, cfg: &mut ServerConfig) {
        cfg.max_handshake_frame_bytes = size(self.max_handshake_frame_bytes);
        cfg.max_total_outbound_bytes = size(self.max_total_outbound_bytes);
        cfg.write_timeout = Duration::from_millis(self.write_timeout_ms);
        cfg.shutdown_grace = Duration::from_millis(self.shutdown_grace_ms);
        cfg.max_export_page_bytes = size(self.max_export_page_bytes);
        cfg.export_idle_timeout = Duration::from_millis(self.export_idle_timeout_ms);
        cfg.max_watches_per_session = size(self.max_watches_per_session);
        cfg.max_pending_proposal_bytes = size(self.max_pending_proposal_bytes);
        cfg.max_reply_backlog_bytes = size(self.max_reply_backlog_bytes);
        cfg.limits.max_ephemerals_per_session = size(self.max_ephemerals_per_session);
        cfg.max_connections_per_ip = size(self.max_connections_per_ip);
    }
}

/// The ZooKeeper-protocol port (see README, "Using ZooKeeper clients").
#[derive(Args, Debug)]
struct ZkArgs {
    /// Also accept ZooKeeper clients (kazoo, Curator, the C client, zkCli)
    /// on this address, onto the same tree, sessions and watches; off unless
    /// set.
    #[arg(long, env = "COORD_ZK_LISTEN")]
    zk_listen: Option<SocketAddr>,
    /// Largest packet a ZooKeeper client may send, bytes [4 KiB, 1 GiB]
    /// (ZooKeeper's jute.maxbuffer); a larger one closes that connection.
    #[arg(long, env = "COORD_ZK_MAX_PACKET_BYTES",
          default_value_t = coord_server::server::DEFAULT_ZK_MAX_PACKET_BYTES as u64,
          value_parser = ranged!(bounds::ZK_MAX_PACKET_BYTES), allow_negative_numbers = true)]
    zk_max_packet_bytes: u64,
}

impl ZkArgs {
    fn apply(self, cfg: &mut ServerConfig) {
        cfg.zk_listen = self.zk_listen;
        cfg.zk_max_packet_bytes = size(self.zk_max_packet_bytes);
    }
}

/// A flag value already range-checked by clap (all ranges fit `usize` on
/// the 64-bit targets coord builds for).
fn size(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl ServeArgs {
    pub(crate) fn into_config(self) -> ServerConfig {
        let mut cfg = ServerConfig::new(self.data_dir);
        cfg.listen = self.listen;
        cfg.limits.max_data_bytes = size(self.max_data_bytes);
        cfg.limits.max_path_bytes = size(self.max_path_bytes);
        cfg.limits.max_multi_ops = size(self.max_multi_ops);
        cfg.session_limits.min_timeout = Duration::from_millis(self.min_session_timeout_ms);
        cfg.session_limits.max_timeout = Duration::from_millis(self.max_session_timeout_ms);
        cfg.max_frame_bytes = size(self.max_frame_bytes);
        cfg.max_connections = size(self.max_connections);
        cfg.max_inflight_per_connection = size(self.max_inflight_per_connection);
        cfg.max_outbound_bytes = size(self.max_outbound_bytes);
        cfg.handshake_timeout = Duration::from_millis(self.handshake_timeout_ms);
        cfg.tick = Duration::from_millis(self.tick_ms);
        cfg.reap_interval = Duration::from_millis(self.reap_interval_ms);
        cfg.snapshot_logs_since_last = self.snapshot_every;
        cfg.snapshot_log_bytes = self.snapshot_log_bytes;
        cfg.snapshot_retry = Duration::from_millis(self.snapshot_retry_ms);
        cfg.log_cache_bytes = self.log_cache_bytes;
        cfg.watch_history_bytes = size(self.watch_history_bytes);
        cfg.fd_reserve = self.fd_reserve;
        cfg.min_free_disk_bytes = self.min_free_disk_bytes;
        cfg.max_listing_bytes = size(self.max_listing_bytes);
        self.hardening.apply(&mut cfg);
        self.cluster.apply(&mut cfg);
        self.zookeeper.apply(&mut cfg);
        cfg.http_listen = self.http_listen;
        cfg.http_admin = self.http_admin;
        cfg.http_max_children = size(self.http_max_children);
        cfg.http_max_walk_nodes = size(self.http_max_walk_nodes);
        self.security.apply(&mut cfg);
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_lists_members_and_resolves_host_names() {
        let c = parse_cluster("1=127.0.0.1:2381, 2=[::1]:2382,3=localhost:2383").unwrap();
        let ids: Vec<u64> = c.0.keys().copied().collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(c.0[&1], "127.0.0.1:2381".parse().unwrap());
        assert_eq!(c.0[&2], "[::1]:2382".parse().unwrap());
        assert!(c.0[&3].ip().is_loopback() && c.0[&3].port() == 2383);
    }

    #[test]
    fn a_bad_cluster_element_is_refused_naming_it() {
        for (text, want) in [
            ("1=127.0.0.1:1,2=foo", "`2=foo` is not id=host:port"),
            (
                "1=127.0.0.1:1,127.0.0.1:2",
                "`127.0.0.1:2` is not id=host:port",
            ),
            ("x=127.0.0.1:1", "`x=127.0.0.1:1` is not id=host:port"),
            (
                "1=127.0.0.1:99999",
                "`1=127.0.0.1:99999` is not id=host:port",
            ),
            ("1=127.0.0.1:1,", "`` is not id=host:port"),
            ("0=127.0.0.1:1", "member id 0 is outside"),
            ("1=127.0.0.1:1,1=127.0.0.1:2", "member id 1 is given twice"),
        ] {
            let e = parse_cluster(text).unwrap_err();
            assert!(
                e.starts_with("--cluster: ") && e.contains(want),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn cluster_flags_reach_the_config() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "serve",
            "--id=2",
            "--peer-listen=127.0.0.1:2382",
            "--cluster=1=127.0.0.1:2381,2=127.0.0.1:2382",
            "--max-peer-frame-bytes=2097152",
            "--max-peer-connections=7",
            "--heartbeat-ms=20",
            "--election-timeout-ms=90",
        ])
        .unwrap();
        let cfg = cli.serve.into_config();
        assert_eq!(cfg.node_id, 2);
        assert_eq!(cfg.peer_listen, Some("127.0.0.1:2382".parse().unwrap()));
        assert_eq!(cfg.cluster.as_ref().map(BTreeMap::len), Some(2));
        assert_eq!(cfg.max_peer_frame_bytes, 2 * 1024 * 1024);
        assert_eq!(cfg.max_peer_connections, 7);
        assert_eq!(cfg.heartbeat, Duration::from_millis(20));
        assert_eq!(cfg.election_timeout, Duration::from_millis(90));
    }
}
