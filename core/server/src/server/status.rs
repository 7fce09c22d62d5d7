//! What a running [`Server`] reports about itself: its addresses, role and
//! counters, read by `coord serve`, the tests and the benchmarks. Reading
//! only; starting, stopping and reloading stay in the parent module.

use std::net::SocketAddr;

use super::Server;

impl Server {
    /// Whether the client port speaks TLS.
    pub fn tls_enabled(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address ZooKeeper clients connect to, when
    /// [`ServerConfig::zk_listen`] is set.
    pub fn zk_addr(&self) -> Option<SocketAddr> {
        self.zk_addr
    }

    /// Where the HTTP port (`/metrics`, `/health`, `/ready`) listens, if on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Watch registrations currently held by this server (all kinds).
    pub fn watch_count(&self) -> usize {
        self.shared.watches.len()
    }

    /// Watch events delivered to connections since start, one per event per
    /// connection (the herd metric).
    pub fn watch_events_delivered(&self) -> u64 {
        self.shared.watches.delivered()
    }

    /// `fdatasync` calls made on the log since start.
    pub fn log_fsyncs(&self) -> u64 {
        self.shared.replica.log_fsyncs()
    }

    /// Whether this server leads its cluster now (a single node always does).
    pub fn is_leader(&self) -> bool {
        self.shared.replica.is_leader()
    }

    /// The leader this server knows of, if any.
    pub fn leader(&self) -> Option<u64> {
        self.shared.replica.leader()
    }

    /// This server's member id.
    pub fn node_id(&self) -> u64 {
        self.shared.replica.node_id()
    }

    /// The zxid this server has applied up to.
    pub fn applied_zxid(&self) -> u64 {
        *self.shared.applied.borrow()
    }

    /// Sessions the leader currently tracks as live.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.session_count()
    }

    /// Client connections currently attached to a session on this server.
    pub fn connection_count(&self) -> usize {
        self.shared.sessions.connection_count()
    }

    /// Bytes queued for all clients now, framing and per-frame overhead
    /// included (what `max_total_outbound_bytes` bounds).
    pub fn outbound_bytes(&self) -> usize {
        self.shared.outbound.total()
    }

    /// The most bytes of writes that were queued in front of the log (or in
    /// flight) at once since start (what `max_pending_proposal_bytes` bounds).
    pub fn pending_proposal_peak(&self) -> usize {
        self.shared.replica.pending_proposal_peak()
    }

    /// `ExpireSessions` commands applied since start (each one a log entry
    /// and an fsync on the leader).
    pub fn expire_commands(&self) -> u64 {
        self.shared.sessions.expire_commands()
    }
}
