//! The valid range of every numeric server setting, and the check that a
//! [`ServerConfig`] respects them and is consistent with itself.
//!
//! `coord serve` gives clap these same ranges, so a bad flag or `COORD_*`
//! variable is refused while parsing with the flag's name; [`validate`] is the
//! same rule for programs that build a `ServerConfig` themselves (an embedded
//! server), run by `Server::start` before anything is opened. The README's
//! settings table lists the ranges.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::ServerConfig;
use crate::error::{Error, Result};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// `--max-data-bytes`: largest node value.
pub const MAX_DATA_BYTES: RangeInclusive<u64> = 0..=256 * MIB;
/// `--max-path-bytes`: longest path.
pub const MAX_PATH_BYTES: RangeInclusive<u64> = 2..=MIB;
/// `--max-multi-ops`: most ops in one multi.
pub const MAX_MULTI_OPS: RangeInclusive<u64> = 1..=1_000_000;
/// `--min-session-timeout-ms` and `--max-session-timeout-ms`.
pub const SESSION_TIMEOUT_MS: RangeInclusive<u64> = 10..=DAY_MS;
/// `--max-frame-bytes`: largest frame a client may send.
pub const MAX_FRAME_BYTES: RangeInclusive<u64> = 4 * KIB..=GIB;
/// `--max-connections`.
pub const MAX_CONNECTIONS: RangeInclusive<u64> = 1..=10_000_000;
/// `--max-inflight-per-connection`.
pub const MAX_INFLIGHT_PER_CONNECTION: RangeInclusive<u64> = 1..=1_000_000;
/// `--max-outbound-bytes`: output queued for one slow client.
pub const MAX_OUTBOUND_BYTES: RangeInclusive<u64> = 64 * KIB..=64 * GIB;
/// `--handshake-timeout-ms`.
pub const HANDSHAKE_TIMEOUT_MS: RangeInclusive<u64> = 1..=HOUR_MS;
/// `--tick-ms`: session expiry check period (also below the shortest
/// session timeout, see [`validate`]).
pub const TICK_MS: RangeInclusive<u64> = 1..=60_000;
/// `--reap-interval-ms`.
pub const REAP_INTERVAL_MS: RangeInclusive<u64> = 1..=DAY_MS;
/// `--snapshot-every`: log entries between snapshots.
pub const SNAPSHOT_EVERY: RangeInclusive<u64> = 1..=1_000_000_000;
/// `--snapshot-log-bytes` (0: by entry count only).
pub const SNAPSHOT_LOG_BYTES: RangeInclusive<u64> = 0..=16 * 1024 * GIB;
/// `--snapshot-retry-ms` (0: retry at the next trigger).
pub const SNAPSHOT_RETRY_MS: RangeInclusive<u64> = 0..=DAY_MS;
/// `--log-cache-bytes` (0: every log read goes to disk).
pub const LOG_CACHE_BYTES: RangeInclusive<u64> = 0..=64 * GIB;
/// `--watch-history-bytes` (0 keeps no history: reconnecting clients whose
/// watches missed events get `EventsLost`).
pub const WATCH_HISTORY_BYTES: RangeInclusive<u64> = 0..=64 * GIB;
/// `--fd-reserve`: descriptors kept back from connections for the log,
/// snapshots, peers and the runtime.
pub const FD_RESERVE: RangeInclusive<u64> = 16..=1_000_000;
/// `--zk-max-packet-bytes`: largest ZooKeeper-protocol packet.
pub const ZK_MAX_PACKET_BYTES: RangeInclusive<u64> = 4 * KIB..=GIB;
/// `--http-max-children`: children `/api/node` lists for one node.
pub const HTTP_MAX_CHILDREN: RangeInclusive<u64> = 1..=100_000;
/// `--http-max-walk-nodes`: nodes `/api/locks` visits looking for locks.
pub const HTTP_MAX_WALK_NODES: RangeInclusive<u64> = 1..=10_000_000;
/// `--min-free-disk-bytes` (0 turns the start-up check off).
pub const MIN_FREE_DISK_BYTES: RangeInclusive<u64> = 0..=1 << 50;

/// `--max-listing-bytes`: largest children listing in one reply (never more
/// than a client's default frame holds).
pub const MAX_LISTING_BYTES: RangeInclusive<u64> = coord_proto::children::MIN_LISTING_BYTES as u64
    ..=coord_proto::children::MAX_LISTING_BYTES as u64;

/// `--max-export-page-bytes`: largest page of an export (`coord dump`),
/// within a client's default frame as listings are.
pub const MAX_EXPORT_PAGE_BYTES: RangeInclusive<u64> = coord_proto::children::MIN_LISTING_BYTES
    as u64
    ..=coord_proto::children::MAX_LISTING_BYTES as u64;
/// `--export-idle-timeout-ms`: how long an export's frozen tree waits for
/// its next page.
pub const EXPORT_IDLE_TIMEOUT_MS: RangeInclusive<u64> = 1_000..=HOUR_MS;

/// `--max-handshake-frame-bytes`: largest frame before the handshake (and
/// not above `--max-frame-bytes`, see [`validate`]).
pub const MAX_HANDSHAKE_FRAME_BYTES: RangeInclusive<u64> = 64..=MIB;
/// `--max-total-outbound-bytes`: output queued for all clients together.
pub const MAX_TOTAL_OUTBOUND_BYTES: RangeInclusive<u64> = 64 * KIB..=1024 * GIB;
/// `--write-timeout-ms`: a connection whose writes make no progress this
/// long is closed.
pub const WRITE_TIMEOUT_MS: RangeInclusive<u64> = 100..=HOUR_MS;
/// `--shutdown-grace-ms`: how long a graceful stop waits for connections.
pub const SHUTDOWN_GRACE_MS: RangeInclusive<u64> = 0..=600_000;
/// `--max-watches-per-session`.
pub const MAX_WATCHES_PER_SESSION: RangeInclusive<u64> = 1..=100_000_000;
/// `--max-ephemerals-per-session`: ephemeral nodes one session may own.
pub const MAX_EPHEMERALS_PER_SESSION: RangeInclusive<u64> = 1..=100_000_000;
/// `--max-connections-per-ip`: open client connections from one IP address
/// (native and ZooKeeper ports together).
pub const MAX_CONNECTIONS_PER_IP: RangeInclusive<u64> = 1..=10_000_000;
/// `--max-pending-proposal-bytes`: writes queued in front of the log.
pub const MAX_PENDING_PROPOSAL_BYTES: RangeInclusive<u64> = 64 * KIB..=64 * GIB;
/// `--max-reply-backlog-bytes`: output a connection may have waiting before
/// its next reply is built (and not above `--max-outbound-bytes`).
pub const MAX_REPLY_BACKLOG_BYTES: RangeInclusive<u64> = 4 * KIB..=1024 * GIB;

/// `--id`: this member's id in its cluster (0 is not an id; the top half of
/// `u64` is kept out so an id always fits an `i64` in logs and tools).
pub const NODE_ID: RangeInclusive<u64> = 1..=u64::MAX >> 1;
/// `--max-peer-frame-bytes`: largest message to or from a peer (and at least
/// `--max-frame-bytes` plus [`PEER_FRAME_OVERHEAD`], see [`validate`]).
pub const MAX_PEER_FRAME_BYTES: RangeInclusive<u64> = MIB..=GIB;
/// `--max-peer-connections`: peer connections served at once.
pub const MAX_PEER_CONNECTIONS: RangeInclusive<u64> = 1..=65_536;
/// `--heartbeat-ms`: leader heartbeat interval (and below half the election
/// timeout, see [`validate`]).
pub const HEARTBEAT_MS: RangeInclusive<u64> = 10..=10_000;
/// `--election-timeout-ms`: the shortest time a follower waits for its
/// leader before it starts an election.
pub const ELECTION_TIMEOUT_MS: RangeInclusive<u64> = 50..=60_000;

/// Room a client write needs in a peer frame besides the client's own frame:
/// the 4-byte length, the append-entries request around it (vote, previous
/// and commit log ids), the log entry's id and the command's session id and
/// time. Those take a few hundred bytes; 64 KiB leaves room for a command
/// that encodes a little larger than the request it came from. A member
/// with peers needs `--max-peer-frame-bytes` of at least `--max-frame-bytes`
/// plus [`LOG_BATCH_BYTES`] plus this: the leader groups writes into log
/// entries of up to that many bytes plus one write, and a log entry must
/// reach the other members in one message.
pub const PEER_FRAME_OVERHEAD: u64 = 64 * KIB;

/// Bytes of writes the leader groups into one log entry before it starts
/// another (a single larger write still goes alone).
pub const LOG_BATCH_BYTES: u64 = crate::replication::MAX_BATCH_BYTES as u64;

/// Room a value needs in a frame besides its data and path (stat, version,
/// flags, framing), used to check that the data limit fits the frame limit.
const FRAME_OVERHEAD: u64 = 4 * KIB;

fn check(field: &str, flag: &str, value: u64, range: &RangeInclusive<u64>) -> Result<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Error::BadArguments(format!(
            "server setting {field} (--{flag}) is {value}, outside its valid range {}..={}",
            range.start(),
            range.end()
        )))
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Checks every numeric setting against its range and the settings against
/// each other. The error names the field, its flag, the value and the range.
pub fn validate(cfg: &ServerConfig) -> Result<()> {
    let l = &cfg.limits;
    check(
        "limits.max_data_bytes",
        "max-data-bytes",
        l.max_data_bytes as u64,
        &MAX_DATA_BYTES,
    )?;
    check(
        "limits.max_path_bytes",
        "max-path-bytes",
        l.max_path_bytes as u64,
        &MAX_PATH_BYTES,
    )?;
    check(
        "limits.max_multi_ops",
        "max-multi-ops",
        l.max_multi_ops as u64,
        &MAX_MULTI_OPS,
    )?;
    let s = &cfg.session_limits;
    let (min_s, max_s) = (ms(s.min_timeout), ms(s.max_timeout));
    check(
        "session_limits.min_timeout",
        "min-session-timeout-ms",
        min_s,
        &SESSION_TIMEOUT_MS,
    )?;
    check(
        "session_limits.max_timeout",
        "max-session-timeout-ms",
        max_s,
        &SESSION_TIMEOUT_MS,
    )?;
    check(
        "max_frame_bytes",
        "max-frame-bytes",
        cfg.max_frame_bytes as u64,
        &MAX_FRAME_BYTES,
    )?;
    check(
        "max_connections",
        "max-connections",
        cfg.max_connections as u64,
        &MAX_CONNECTIONS,
    )?;
    check(
        "max_inflight_per_connection",
        "max-inflight-per-connection",
        cfg.max_inflight_per_connection as u64,
        &MAX_INFLIGHT_PER_CONNECTION,
    )?;
    check(
        "max_outbound_bytes",
        "max-outbound-bytes",
        cfg.max_outbound_bytes as u64,
        &MAX_OUTBOUND_BYTES,
    )?;
    check(
        "handshake_timeout",
        "handshake-timeout-ms",
        ms(cfg.handshake_timeout),
        &HANDSHAKE_TIMEOUT_MS,
    )?;
    check("tick", "tick-ms", ms(cfg.tick), &TICK_MS)?;
    check(
        "reap_interval",
        "reap-interval-ms",
        ms(cfg.reap_interval),
        &REAP_INTERVAL_MS,
    )?;
    check(
        "snapshot_logs_since_last",
        "snapshot-every",
        cfg.snapshot_logs_since_last,
        &SNAPSHOT_EVERY,
    )?;
    check(
        "snapshot_log_bytes",
        "snapshot-log-bytes",
        cfg.snapshot_log_bytes,
        &SNAPSHOT_LOG_BYTES,
    )?;
    check(
        "snapshot_retry",
        "snapshot-retry-ms",
        ms(cfg.snapshot_retry),
        &SNAPSHOT_RETRY_MS,
    )?;
    check(
        "log_cache_bytes",
        "log-cache-bytes",
        cfg.log_cache_bytes,
        &LOG_CACHE_BYTES,
    )?;
    check(
        "watch_history_bytes",
        "watch-history-bytes",
        cfg.watch_history_bytes as u64,
        &WATCH_HISTORY_BYTES,
    )?;
    check("fd_reserve", "fd-reserve", cfg.fd_reserve, &FD_RESERVE)?;
    check(
        "min_free_disk_bytes",
        "min-free-disk-bytes",
        cfg.min_free_disk_bytes,
        &MIN_FREE_DISK_BYTES,
    )?;
    check(
        "max_listing_bytes",
        "max-listing-bytes",
        cfg.max_listing_bytes as u64,
        &MAX_LISTING_BYTES,
    )?;
    check(
        "max_export_page_bytes",
        "max-export-page-bytes",
        cfg.max_export_page_bytes as u64,
        &MAX_EXPORT_PAGE_BYTES,
    )?;
    check(
        "export_idle_timeout",
        "export-idle-timeout-ms",
        ms(cfg.export_idle_timeout),
        &EXPORT_IDLE_TIMEOUT_MS,
    )?;
    check(
        "max_handshake_frame_bytes",
        "max-handshake-frame-bytes",
        cfg.max_handshake_frame_bytes as u64,
        &MAX_HANDSHAKE_FRAME_BYTES,
    )?;
    check(
        "max_total_outbound_bytes",
        "max-total-outbound-bytes",
        cfg.max_total_outbound_bytes as u64,
        &MAX_TOTAL_OUTBOUND_BYTES,
    )?;
    check(
        "write_timeout",
        "write-timeout-ms",
        ms(cfg.write_timeout),
        &WRITE_TIMEOUT_MS,
    )?;
    check(
        "shutdown_grace",
        "shutdown-grace-ms",
        ms(cfg.shutdown_grace),
        &SHUTDOWN_GRACE_MS,
    )?;
    check(
        "max_watches_per_session",
        "max-watches-per-session",
        cfg.max_watches_per_session as u64,
        &MAX_WATCHES_PER_SESSION,
    )?;
    check(
        "limits.max_ephemerals_per_session",
        "max-ephemerals-per-session",
        cfg.limits.max_ephemerals_per_session as u64,
        &MAX_EPHEMERALS_PER_SESSION,
    )?;
    check(
        "max_connections_per_ip",
        "max-connections-per-ip",
        cfg.max_connections_per_ip as u64,
        &MAX_CONNECTIONS_PER_IP,
    )?;
    check(
        "max_pending_proposal_bytes",
        "max-pending-proposal-bytes",
        cfg.max_pending_proposal_bytes as u64,
        &MAX_PENDING_PROPOSAL_BYTES,
    )?;
    check(
        "max_reply_backlog_bytes",
        "max-reply-backlog-bytes",
        cfg.max_reply_backlog_bytes as u64,
        &MAX_REPLY_BACKLOG_BYTES,
    )?;

    check(
        "zk_max_packet_bytes",
        "zk-max-packet-bytes",
        cfg.zk_max_packet_bytes as u64,
        &ZK_MAX_PACKET_BYTES,
    )?;
    check(
        "http_max_children",
        "http-max-children",
        cfg.http_max_children as u64,
        &HTTP_MAX_CHILDREN,
    )?;
    check(
        "http_max_walk_nodes",
        "http-max-walk-nodes",
        cfg.http_max_walk_nodes as u64,
        &HTTP_MAX_WALK_NODES,
    )?;
    check("node_id", "id", cfg.node_id, &NODE_ID)?;
    check(
        "max_peer_frame_bytes",
        "max-peer-frame-bytes",
        cfg.max_peer_frame_bytes as u64,
        &MAX_PEER_FRAME_BYTES,
    )?;
    check(
        "max_peer_connections",
        "max-peer-connections",
        cfg.max_peer_connections as u64,
        &MAX_PEER_CONNECTIONS,
    )?;
    check(
        "heartbeat",
        "heartbeat-ms",
        ms(cfg.heartbeat),
        &HEARTBEAT_MS,
    )?;
    check(
        "election_timeout",
        "election-timeout-ms",
        ms(cfg.election_timeout),
        &ELECTION_TIMEOUT_MS,
    )?;

    if cfg.max_handshake_frame_bytes > cfg.max_frame_bytes {
        return Err(Error::BadArguments(format!(
            "--max-handshake-frame-bytes ({}) is above --max-frame-bytes ({})",
            cfg.max_handshake_frame_bytes, cfg.max_frame_bytes
        )));
    }
    if cfg.max_total_outbound_bytes < cfg.max_frame_bytes {
        return Err(Error::BadArguments(format!(
            "--max-total-outbound-bytes ({}) is below --max-frame-bytes ({}): one reply could never be queued",
            cfg.max_total_outbound_bytes, cfg.max_frame_bytes
        )));
    }
    if min_s > max_s {
        return Err(Error::BadArguments(format!(
            "--min-session-timeout-ms ({min_s}) is above --max-session-timeout-ms ({max_s})"
        )));
    }
    if ms(cfg.tick) >= min_s {
        return Err(Error::BadArguments(format!(
            "--tick-ms ({}) must be below --min-session-timeout-ms ({min_s}): sessions are checked once per tick",
            ms(cfg.tick)
        )));
    }
    let needed = l.max_data_bytes as u64 + l.max_path_bytes as u64 + FRAME_OVERHEAD;
    if needed > cfg.max_frame_bytes as u64 {
        return Err(Error::BadArguments(format!(
            "--max-frame-bytes ({}) cannot carry a value of --max-data-bytes ({}) at a path of \
             --max-path-bytes ({}): it must be at least {needed}",
            cfg.max_frame_bytes, l.max_data_bytes, l.max_path_bytes
        )));
    }
    if (cfg.max_outbound_bytes as u64) < cfg.max_frame_bytes as u64 {
        return Err(Error::BadArguments(format!(
            "--max-outbound-bytes ({}) is below --max-frame-bytes ({}): one reply could never be queued",
            cfg.max_outbound_bytes, cfg.max_frame_bytes
        )));
    }
    if cfg.max_reply_backlog_bytes > cfg.max_outbound_bytes {
        return Err(Error::BadArguments(format!(
            "--max-reply-backlog-bytes ({}) is above --max-outbound-bytes ({}): a client that \
             stops reading would be cut before its replies wait",
            cfg.max_reply_backlog_bytes, cfg.max_outbound_bytes
        )));
    }
    validate_cluster(cfg)
}

/// The cluster settings against each other and the client settings.
fn validate_cluster(cfg: &ServerConfig) -> Result<()> {
    let (heartbeat, election) = (ms(cfg.heartbeat), ms(cfg.election_timeout));
    if heartbeat.saturating_mul(2) >= election {
        return Err(Error::BadArguments(format!(
            "--heartbeat-ms ({heartbeat}) must be below half of --election-timeout-ms \
             ({election}): followers would start elections while the leader is healthy"
        )));
    }
    // The test hook `peer_socket` stands in for `--peer-listen`.
    let has_peer_port = cfg.peer_listen.is_some() || cfg.peer_socket.is_some();
    if let Some(peer) = cfg.peer_listen
        && same_socket(peer, cfg.listen)
    {
        return Err(Error::BadArguments(format!(
            "--peer-listen ({peer}) is the client address --listen ({}): peers need a \
             port of their own",
            cfg.listen
        )));
    }
    if has_peer_port {
        let needed = cfg.max_frame_bytes as u64 + LOG_BATCH_BYTES + PEER_FRAME_OVERHEAD;
        if (cfg.max_peer_frame_bytes as u64) < needed {
            return Err(Error::BadArguments(format!(
                "--max-peer-frame-bytes ({}) cannot carry a log entry of client writes of \
                 --max-frame-bytes ({}) to the other members: it must be at least {needed} \
                 (--max-frame-bytes + {LOG_BATCH_BYTES} of grouped writes + {PEER_FRAME_OVERHEAD})",
                cfg.max_peer_frame_bytes, cfg.max_frame_bytes
            )));
        }
    }
    let Some(cluster) = &cfg.cluster else {
        return Ok(());
    };
    if !has_peer_port {
        return Err(Error::BadArguments(
            "--cluster requires --peer-listen: the other members reach this one there".into(),
        ));
    }
    for &id in cluster.keys() {
        if !NODE_ID.contains(&id) {
            return Err(Error::BadArguments(format!(
                "--cluster: member id {id} is outside the valid id range {}..={}",
                NODE_ID.start(),
                NODE_ID.end()
            )));
        }
    }
    if !cluster.contains_key(&cfg.node_id) {
        let ids: Vec<String> = cluster.keys().map(u64::to_string).collect();
        return Err(Error::BadArguments(format!(
            "--id {} is not a member of --cluster (ids {}): give this member's own id",
            cfg.node_id,
            ids.join(", ")
        )));
    }
    let mut seen = std::collections::HashMap::new();
    for (&id, &addr) in cluster {
        if let Some(other) = seen.insert(addr, id) {
            return Err(Error::BadArguments(format!(
                "--cluster: members {other} and {id} have the same peer address {addr}"
            )));
        }
    }
    Ok(())
}

/// Whether two listen addresses would take the same port: the same port
/// (not 0, which picks a free one) on the same address, or on the wildcard
/// address of the same family.
fn same_socket(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

#[cfg(test)]
mod tests;
