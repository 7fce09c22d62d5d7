//! Server settings. Every field is a `coord serve` flag and a `COORD_*`
//! environment variable (see `core/cli/src/main.rs`); defaults are the embedded
//! single-node default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tls::TlsFiles;
use crate::config::{Limits, SessionLimits};
use crate::watch::DEFAULT_WATCH_HISTORY_BYTES;
use coord_proto::children::DEFAULT_MAX_LISTING_BYTES;
use coord_proto::wire::{DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_HANDSHAKE_FRAME_BYTES};

/// Default client listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2281";

/// Default of [`ServerConfig::max_export_page_bytes`]: 1 MiB.
pub const DEFAULT_MAX_EXPORT_PAGE_BYTES: usize = 1024 * 1024;

/// Default of [`ServerConfig::export_idle_timeout`]: 60 s.
pub const DEFAULT_EXPORT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `zk_max_packet_bytes`: ZooKeeper's default `jute.maxbuffer`
/// rounded to 1 MiB.
pub const DEFAULT_ZK_MAX_PACKET_BYTES: usize = 1024 * 1024;

/// Default [`ServerConfig::http_max_children`].
pub const DEFAULT_HTTP_MAX_CHILDREN: usize = 1000;
/// Default [`ServerConfig::http_max_walk_nodes`].
pub const DEFAULT_HTTP_MAX_WALK_NODES: usize = 100_000;

/// Everything a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to accept clients on (`--listen`, `COORD_LISTEN`).
    pub listen: SocketAddr,
    /// Directory for the log, vote and snapshots (`--data-dir`, `COORD_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Limits this server asks for (data size, path length, multi size). The
    /// replicated limits decide outcomes; at start the leader proposes these
    /// through the log when they differ (`--max-data-bytes`, `--max-path-bytes`,
    /// `--max-multi-ops`).
    pub limits: Limits,
    /// Session timeout bounds.
    pub session_limits: SessionLimits,
    /// Largest frame accepted from a client (`--max-frame-bytes`).
    pub max_frame_bytes: usize,
    /// Most concurrent client connections (`--max-connections`); more wait in accept.
    pub max_connections: usize,
    /// Most open client connections from one IP address, native and
    /// ZooKeeper ports together (`--max-connections-per-ip`). One more is
    /// refused at once: a native client gets a `TooLarge` closing message
    /// naming the limit, a ZooKeeper client is closed; both are logged.
    pub max_connections_per_ip: usize,
    /// Most requests one connection may have in flight before the server stops
    /// reading from it (`--max-inflight-per-connection`).
    pub max_inflight_per_connection: usize,
    /// Most bytes queued for one slow client before its connection is closed
    /// (`--max-outbound-bytes`). Other clients are not affected.
    pub max_outbound_bytes: usize,
    /// How long a new connection may take to send its handshake (`--handshake-timeout-ms`).
    pub handshake_timeout: Duration,
    /// How often the leader checks session deadlines (`--tick-ms`).
    pub tick: Duration,
    /// How often the leader looks for empty containers and expired TTL nodes (`--reap-interval-ms`).
    pub reap_interval: Duration,
    /// Snapshot after this many log entries (`--snapshot-every`).
    pub snapshot_logs_since_last: u64,
    /// Also snapshot once the log entries since the last snapshot take this
    /// many bytes of log; 0 counts entries only (`--snapshot-log-bytes`,
    /// `COORD_SNAPSHOT_LOG_BYTES`).
    pub snapshot_log_bytes: u64,
    /// After a snapshot fails to build (a full disk, say), wait this long
    /// before trying again; writes go on meanwhile (`--snapshot-retry-ms`,
    /// `COORD_SNAPSHOT_RETRY_MS`).
    pub snapshot_retry: Duration,
    /// Bytes of recent raft log entries kept in memory; older entries are
    /// read from the log file when needed, and one replication read loads at
    /// most this much (`--log-cache-bytes`, `COORD_LOG_CACHE_BYTES`).
    pub log_cache_bytes: u64,
    /// Bytes of recent watch events kept in memory so that a reconnecting
    /// client gets every event it missed (`--watch-history-bytes`); each event
    /// is charged its path plus 64 bytes. A client whose last zxid is older
    /// than what is kept gets `EventsLost` on its watches instead.
    pub watch_history_bytes: usize,
    /// File descriptors kept back from connections for the log, snapshots,
    /// peers and the runtime (`--fd-reserve`, `COORD_FD_RESERVE`). At start
    /// the soft descriptor limit is raised to the hard limit and
    /// `max_connections` is capped to the limit minus this reserve.
    pub fd_reserve: u64,
    /// Free bytes the data dir's file system must have for the server to
    /// start (`--min-free-disk-bytes`, `COORD_MIN_FREE_DISK_BYTES`; 0 turns
    /// the check off).
    pub min_free_disk_bytes: u64,
    /// Largest children listing in one reply, in bytes of names (and stats
    /// when asked) (`--max-listing-bytes`, `COORD_MAX_LISTING_BYTES`): a paged
    /// listing is cut there; an unpaged one that does not fit fails with
    /// `TooLarge` naming the path. A client that announces a smaller frame
    /// gets less. Valid range 1024 ..= 4 MiB - 1 KiB
    /// ([`MAX_LISTING_BYTES`](coord_proto::children::MAX_LISTING_BYTES)), so a
    /// reply always fits the protocol's default frame; the default is that
    /// largest value, so a listing that fitted before paging still does.
    pub max_listing_bytes: usize,
    /// Largest frame accepted before the handshake is done
    /// (`--max-handshake-frame-bytes`, `COORD_MAX_HANDSHAKE_FRAME_BYTES`);
    /// 64 ..= `max_frame_bytes`. A `Connect`, new or resuming, is under 100 bytes.
    pub max_handshake_frame_bytes: usize,
    /// Most bytes queued for all clients together, framing and a per-frame
    /// overhead included (`--max-total-outbound-bytes`,
    /// `COORD_MAX_TOTAL_OUTBOUND_BYTES`); at least 65536. Past it the client
    /// with the largest backlog is disconnected first.
    pub max_total_outbound_bytes: usize,
    /// A connection whose writes make no progress for this long is closed
    /// (`--write-timeout-ms`, `COORD_WRITE_TIMEOUT_MS`); 100 ms ..= 1 h.
    pub write_timeout: Duration,
    /// How long a graceful stop waits for connections to finish; after it the
    /// rest are dropped and the server stops (`--shutdown-grace-ms`,
    /// `COORD_SHUTDOWN_GRACE_MS`); 0 ..= 10 min.
    pub shutdown_grace: Duration,
    /// Most watches one session may hold on this server, every kind counted
    /// (`--max-watches-per-session`, `COORD_MAX_WATCHES_PER_SESSION`); at least 1.
    pub max_watches_per_session: usize,
    /// Largest page of an export (`coord dump`), in bytes of paths, data and
    /// ACLs (`--max-export-page-bytes`, `COORD_MAX_EXPORT_PAGE_BYTES`);
    /// 1024 ..= 4 MiB - 1 KiB so a page fits the protocol's default frame. A
    /// node larger than the budget still goes, alone on its page.
    pub max_export_page_bytes: usize,
    /// How long an open export's frozen tree is kept without a call for its
    /// next page (`--export-idle-timeout-ms`, `COORD_EXPORT_IDLE_TIMEOUT_MS`);
    /// 1 s ..= 1 h. Past it the copy is dropped and the export must restart.
    pub export_idle_timeout: Duration,
    /// Most bytes of proposals queued in front of the log, waiting to be
    /// batched or being applied (`--max-pending-proposal-bytes`,
    /// `COORD_MAX_PENDING_PROPOSAL_BYTES`); at least 65536. Past it submitters
    /// wait (the connection stops reading); a single larger write goes alone.
    pub max_pending_proposal_bytes: usize,
    /// Replies are built for a connection only while at most this many bytes
    /// wait to be written to it (`--max-reply-backlog-bytes`,
    /// `COORD_MAX_REPLY_BACKLOG_BYTES`); 4096 ..= `max_outbound_bytes`. A
    /// client that stops reading then costs this plus one reply, not its
    /// whole outbound cap, and the server stops reading its requests.
    pub max_reply_backlog_bytes: usize,
    /// This member's id in its cluster (`--id`, `COORD_ID`); at least 1.
    /// Written into the data dir on first start; a later start with another
    /// id is refused. A single-node server is member 1.
    pub node_id: u64,
    /// Address to accept peers (the other members) on (`--peer-listen`,
    /// `COORD_PEER_LISTEN`). Required with `cluster`; never the client port.
    pub peer_listen: Option<SocketAddr>,
    /// The founding members, id to peer address (`--cluster
    /// 1=h:p,2=h:p,3=h:p`, `COORD_CLUSTER`). `None`: a single-node server.
    /// Used only on a first start (an empty data dir): a member with data
    /// rejoins with the membership in its log.
    pub cluster: Option<std::collections::BTreeMap<u64, SocketAddr>>,
    /// Largest message sent to or accepted from a peer
    /// (`--max-peer-frame-bytes`, `COORD_MAX_PEER_FRAME_BYTES`); 1 MiB ..= 1 GiB.
    pub max_peer_frame_bytes: usize,
    /// Most peer connections served at once (`--max-peer-connections`,
    /// `COORD_MAX_PEER_CONNECTIONS`); 1 ..= 65536. Each member opens about
    /// two to every other.
    pub max_peer_connections: usize,
    /// Leader heartbeat interval (`--heartbeat-ms`, `COORD_HEARTBEAT_MS`);
    /// 10 ms ..= 10 s, below half the election timeout. Default 50 ms.
    pub heartbeat: Duration,
    /// Election timeout (`--election-timeout-ms`,
    /// `COORD_ELECTION_TIMEOUT_MS`); 50 ms ..= 60 s, default 150 ms. A
    /// follower that stops hearing its leader waits out the leader's lease
    /// (1.5 times this) plus a random time between this and 1.5 times this,
    /// then starts an election.
    pub election_timeout: Duration,
    /// Address to accept ZooKeeper clients on (`--zk-listen`,
    /// `COORD_ZK_LISTEN`); `None` (the default): no ZooKeeper port. Clients
    /// there speak ZooKeeper's protocol (3.5-3.9) onto the same tree,
    /// sessions and watches as the native port.
    pub zk_listen: Option<SocketAddr>,
    /// Address of the HTTP port (`--http-listen`, `COORD_HTTP_LISTEN`):
    /// `/metrics` (Prometheus), `/health`, `/ready`, the dashboard (`/`,
    /// `/api/`); `None` (the default):
    /// no HTTP port, and no request metrics are recorded.
    pub http_listen: Option<SocketAddr>,
    /// Let the HTTP port's dashboard change state: `POST /api/locks/break`
    /// (`--http-admin`, `COORD_HTTP_ADMIN`); default off, and then such a
    /// request is refused with 403 naming this flag. Even on, the caller
    /// needs DELETE on the lock's directory (or a `--superuser` identity).
    pub http_admin: bool,
    /// Most children `/api/node` lists for one node (names, in order); the
    /// answer says how many there are and that it was cut
    /// (`--http-max-children`, `COORD_HTTP_MAX_CHILDREN`); 1 ..= 100000.
    pub http_max_children: usize,
    /// Most nodes `/api/locks` and `/api/elections` visit while looking for
    /// lock lines under a path; the answer says when the walk was cut
    /// (`--http-max-walk-nodes`, `COORD_HTTP_MAX_WALK_NODES`); 1 ..= 10000000.
    pub http_max_walk_nodes: usize,
    /// Largest packet a ZooKeeper client may send, ZooKeeper's
    /// `jute.maxbuffer` (`--zk-max-packet-bytes`, `COORD_ZK_MAX_PACKET_BYTES`);
    /// 4 KiB ..= 1 GiB, default 1 MiB. A larger one closes that connection
    /// only, as ZooKeeper does.
    pub zk_max_packet_bytes: usize,
    /// TLS on the client port and the ZooKeeper port (`--tls-cert`,
    /// `--tls-key`, `--tls-client-ca`, `COORD_TLS_*`); `None` (the default):
    /// plain TCP. With a client CA, clients must present a certificate it
    /// signed (mTLS). Re-read by [`crate::server::Server::reload_tls`] (SIGHUP).
    pub tls: Option<TlsFiles>,
    /// TLS on the peer port (`--peer-tls-cert`, `--peer-tls-key`,
    /// `--peer-tls-ca` as `client_ca`), mutual: both ends present `cert` and
    /// check the other's against `client_ca` (required). `None`: the client
    /// set ([`ServerConfig::tls`]) is used, its client CA as the peers' CA.
    /// Re-read by [`crate::server::Server::reload_tls`] (SIGHUP) too: peer
    /// connections made afterwards use the new files.
    pub peer_tls: Option<TlsFiles>,
    /// Bearer tokens and their users (`--tokens-file`, `COORD_TOKENS_FILE`;
    /// format in `Tokens`); `None`: the token scheme refuses every token.
    pub tokens: Option<std::sync::Arc<super::tokens::Tokens>>,
    /// Refuse sessions that hold no identity but `ip` / `world` at connect
    /// (`--auth-required`, `COORD_AUTH_REQUIRED`); default off: such
    /// sessions are `world:anyone`.
    pub auth_required: bool,
    /// Test hook, not a setting: a peer listener bound beforehand (tests
    /// bind every member's port first so that each knows the others').
    #[doc(hidden)]
    pub peer_socket: Option<std::sync::Arc<std::net::TcpListener>>,
    /// Test hook, not a setting: where to dial each peer instead of its
    /// peer address (tests put a fault-injecting proxy on every link).
    #[doc(hidden)]
    pub peer_dial: Option<crate::replication::peer::PeerDial>,
    /// Test hook, not a setting: how long a read that set a watch pauses
    /// between registering the watch and queueing its reply (0 outside tests).
    #[doc(hidden)]
    pub pause_before_watched_reply: Duration,
}

impl ServerConfig {
    /// The embedded single-node default with data under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 2281)),
            data_dir: data_dir.into(),
            limits: Limits::default(),
            session_limits: SessionLimits::default(),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_connections: 10_000,
            max_connections_per_ip: 10_000,
            max_inflight_per_connection: 1024,
            max_outbound_bytes: 64 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            tick: Duration::from_millis(100),
            reap_interval: Duration::from_secs(1),
            snapshot_logs_since_last: 10_000,
            snapshot_log_bytes: crate::replication::DEFAULT_SNAPSHOT_LOG_BYTES,
            snapshot_retry: crate::replication::DEFAULT_SNAPSHOT_RETRY,
            log_cache_bytes: crate::replication::DEFAULT_LOG_CACHE_BYTES,
            watch_history_bytes: DEFAULT_WATCH_HISTORY_BYTES,
            fd_reserve: 128,
            min_free_disk_bytes: 64 * 1024 * 1024,
            max_listing_bytes: DEFAULT_MAX_LISTING_BYTES,
            max_handshake_frame_bytes: DEFAULT_MAX_HANDSHAKE_FRAME_BYTES,
            max_total_outbound_bytes: 256 * 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            max_watches_per_session: 65_536,
            max_export_page_bytes: DEFAULT_MAX_EXPORT_PAGE_BYTES,
            export_idle_timeout: DEFAULT_EXPORT_IDLE_TIMEOUT,
            max_pending_proposal_bytes: 64 * 1024 * 1024,
            max_reply_backlog_bytes: 1024 * 1024,
            node_id: 1,
            peer_listen: None,
            cluster: None,
            max_peer_frame_bytes: crate::replication::peer::DEFAULT_MAX_PEER_FRAME_BYTES,
            max_peer_connections: 1024,
            heartbeat: Duration::from_millis(50),
            election_timeout: Duration::from_millis(150),
            zk_listen: None,
            http_listen: None,
            http_admin: false,
            http_max_children: DEFAULT_HTTP_MAX_CHILDREN,
            http_max_walk_nodes: DEFAULT_HTTP_MAX_WALK_NODES,
            zk_max_packet_bytes: DEFAULT_ZK_MAX_PACKET_BYTES,
            tls: None,
            peer_tls: None,
            tokens: None,
            auth_required: false,
            peer_socket: None,
            peer_dial: None,
            pause_before_watched_reply: Duration::ZERO,
        }
    }

    /// Settings for tests: port 0 on loopback, short session timeouts and ticks.
    pub fn for_test(data_dir: &Path) -> Self {
        let mut cfg = ServerConfig::new(data_dir);
        cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.session_limits.min_timeout = Duration::from_millis(200);
        cfg.tick = Duration::from_millis(20);
        cfg.reap_interval = Duration::from_millis(50);
        cfg.handshake_timeout = Duration::from_secs(5);
        cfg
    }
}
