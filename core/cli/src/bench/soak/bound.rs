//! The documented upper bound of a soak server's resident memory: one
//! function of the server's settings ([`ServerConfig`]) and of the load the
//! harness put on it ([`Load`]). It is a model, not a measurement: every
//! constant below is an estimate of a structure's size, written next to what
//! it covers.
//!
//! ```text
//! bound = base + (connections + outbound + decode + watches + history
//!                 + tree + snapshot + log + pending) × (1 + SLACK)
//!
//! base        = idle RSS of a fresh server (measured) + BASE_MARGIN
//! connections = pre-handshake conns × (max_handshake_frame_bytes + CONN_FIXED)
//!             + handshaken conns × (max_frame_bytes       read buffer
//!                                   + WRITE_BATCH + reply_max   write batch
//!                                   + CONN_FIXED)
//!   conns = min(max_connections, connections the harness holds)
//!   reply_max = max(max_data_bytes, max_listing_bytes) + 1 KiB
//! outbound    = min(stalled conns × (max_outbound_bytes + reply_max),
//!                   max_total_outbound_bytes + reply_max)
//! decode      = big-frame senders × max_frame_bytes × 2
//!   (the frame and its decoded form; multi and SetWatches counts are
//!   checked before decoding, so no frame decodes into millions of elements)
//! watches     = min(peak live watches, sessions × max_watches_per_session)
//!             × WATCH_BYTES
//! history     = watch_history_bytes
//! tree        = nodes × NODE_BYTES + node bytes            (workload)
//! snapshot    = nodes × SNAPSHOT_NODE_BYTES + node bytes   (a snapshot being encoded)
//! log         = log_cache_bytes
//!             + min(writes, snapshot_every + LOGS_KEPT) × LOG_INDEX_BYTES
//! pending     = max_pending_proposal_bytes
//! ```
//!
//! Only the tree and the snapshot being encoded are sized by the workload
//! ("workload" terms): they are the users' own data. Every other term is
//! capped by a setting, so the bound holds for any client behaviour, given
//! the data stored.

use std::fmt;

use coord_server::server::ServerConfig;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Runtime threads' stacks, openraft's tasks and the allocator's arenas
/// beyond what an idle server has touched.
pub(crate) const BASE_MARGIN: u64 = 32 * MIB;
/// A connection's task, channels, session and socket bookkeeping.
const CONN_FIXED: u64 = 16 * KIB;
/// The writer's batch is cut once it holds this much (server `write_loop`).
const WRITE_BATCH: u64 = 256 * KIB;
/// One watch: its path twice (path table and the connection's own set) and
/// the entries of two hash tables at worst-case load.
pub(crate) const WATCH_BYTES: u64 = 448;
/// One tree node besides its path and data: the node, its map slot (at
/// worst-case load), the shared path and its parent's child entry.
pub(crate) const NODE_BYTES: u64 = 320;
/// One node in an encoded snapshot besides its path and data (the stat).
const SNAPSHOT_NODE_BYTES: u64 = 96;
/// One log entry's index slot (log id, offset, length) in the log store.
pub(crate) const LOG_INDEX_BYTES: u64 = 64;
/// Entries kept behind a snapshot (the replica's `logs_to_keep_after_snapshot`).
const LOGS_KEPT: u64 = 1000;
/// A decoded frame next to the frame itself.
const DECODE_FACTOR: u64 = 2;
/// Allocator slack (fragmentation, size-class rounding) on the dynamic terms, in percent.
pub(crate) const SLACK_PERCENT: u64 = 25;

/// What the harness held and wrote during a phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Load {
    /// Connections held open without a handshake (at most, at once).
    pub pre_handshake_connections: u64,
    /// Handshaken connections (at most, at once).
    pub handshaken_connections: u64,
    /// Handshaken connections that stop reading.
    pub stalled_connections: u64,
    /// Connections that send frames near `max_frame_bytes` (one at a time each).
    pub big_frame_senders: u64,
    /// Peak watches registered on live connections.
    pub watches: u64,
    /// Nodes alive at the end.
    pub nodes: u64,
    /// Path plus data bytes of those nodes.
    pub node_bytes: u64,
    /// Acknowledged writes.
    pub writes: u64,
    /// Path plus data bytes of those writes.
    pub written_bytes: u64,
    /// Bytes of the writes in flight at once (each writer has one).
    pub in_flight_write_bytes: u64,
}

/// One term of the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// What it covers.
    pub name: &'static str,
    /// Its value.
    pub bytes: u64,
    /// How it was computed, with the numbers.
    pub basis: String,
    /// Whether a workload tally (not a setting) sizes it.
    pub workload: bool,
}

/// The bound and its terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// Every term, base first, slack last.
    pub terms: Vec<Term>,
    /// Their sum.
    pub total: u64,
}

impl Bound {
    /// Whether a peak RSS is within the bound.
    pub fn holds(&self, peak_rss: u64) -> bool {
        peak_rss <= self.total
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / MIB as f64)
}

fn us(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The bound for a server running `cfg` under `load`, whose idle RSS was
/// `idle_rss` (see the module docs for the formula).
pub fn rss_bound(cfg: &ServerConfig, load: &Load, idle_rss: u64) -> Bound {
    let max_frame = us(cfg.max_frame_bytes);
    let conns_cap = us(cfg.max_connections);
    let reply_max = us(cfg.limits.max_data_bytes).max(us(cfg.max_listing_bytes)) + KIB;
    let handshake_frame = us(cfg.max_handshake_frame_bytes);
    let pre = load.pre_handshake_connections.min(conns_cap);
    let shaken = load
        .handshaken_connections
        .min(conns_cap.saturating_sub(pre));
    let per_shaken = max_frame + WRITE_BATCH + reply_max + CONN_FIXED;
    let stalled = load.stalled_connections.min(shaken);
    let per_stalled = us(cfg.max_outbound_bytes) + reply_max;
    let outbound_cap = us(cfg.max_total_outbound_bytes) + reply_max;
    let watch_cap = shaken.saturating_mul(us(cfg.max_watches_per_session));
    let watches = load.watches.min(watch_cap);
    let indexed = load
        .writes
        .min(cfg.snapshot_logs_since_last.saturating_add(LOGS_KEPT));

    let mut dynamic = vec![
        term(
            "pre-handshake connections",
            pre * (handshake_frame + CONN_FIXED),
            format!("{pre} × ({} frame + 16 KiB)", mib(handshake_frame)),
            false,
        ),
        term(
            "handshaken connections",
            shaken * per_shaken,
            format!(
                "{shaken} × ({} read + 256 KiB + {} write batch + 16 KiB)",
                mib(max_frame),
                mib(reply_max)
            ),
            false,
        ),
        term(
            "outbound queues of stalled readers",
            (stalled * per_stalled).min(outbound_cap),
            format!(
                "min({stalled} × ({} max_outbound_bytes + {} reply), {} max_total_outbound_bytes + reply)",
                mib(us(cfg.max_outbound_bytes)),
                mib(reply_max),
                mib(us(cfg.max_total_outbound_bytes))
            ),
            false,
        ),
        term(
            "decoded big frames",
            load.big_frame_senders * max_frame * DECODE_FACTOR,
            format!(
                "{} × {} × {DECODE_FACTOR} (frame + decoded)",
                load.big_frame_senders,
                mib(max_frame)
            ),
            false,
        ),
        term(
            "watches",
            watches * WATCH_BYTES,
            format!(
                "min({} held, {shaken} sessions × {} max_watches_per_session) × {WATCH_BYTES} B",
                load.watches, cfg.max_watches_per_session
            ),
            false,
        ),
        term(
            "watch history",
            us(cfg.watch_history_bytes),
            "watch_history_bytes".into(),
            false,
        ),
        term(
            "tree",
            load.nodes * NODE_BYTES + load.node_bytes,
            format!("{} × {NODE_BYTES} B + {}", load.nodes, mib(load.node_bytes)),
            true,
        ),
        term(
            "snapshot being encoded",
            load.nodes * SNAPSHOT_NODE_BYTES + load.node_bytes,
            format!(
                "{} × {SNAPSHOT_NODE_BYTES} B + {}",
                load.nodes,
                mib(load.node_bytes)
            ),
            true,
        ),
        term(
            "log in memory",
            cfg.log_cache_bytes + indexed * LOG_INDEX_BYTES,
            format!(
                "{} log_cache_bytes + min({} writes, snapshot_every + {LOGS_KEPT}) × {LOG_INDEX_BYTES} B",
                mib(cfg.log_cache_bytes),
                load.writes
            ),
            false,
        ),
        term(
            "pending proposals",
            us(cfg.max_pending_proposal_bytes),
            "max_pending_proposal_bytes".into(),
            false,
        ),
    ];
    let dynamic_sum: u64 = dynamic.iter().map(|t| t.bytes).sum();
    let mut terms = vec![term(
        "base",
        idle_rss + BASE_MARGIN,
        format!("idle RSS {} + 32 MiB", mib(idle_rss)),
        false,
    )];
    terms.append(&mut dynamic);
    terms.push(term(
        "allocator slack",
        dynamic_sum * SLACK_PERCENT / 100,
        format!("{SLACK_PERCENT}% of {}", mib(dynamic_sum)),
        false,
    ));
    let total = terms.iter().map(|t| t.bytes).sum();
    Bound { terms, total }
}

fn term(name: &'static str, bytes: u64, basis: String, workload: bool) -> Term {
    Term {
        name,
        bytes,
        basis,
        workload,
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| term | MiB | basis |")?;
        writeln!(f, "|---|---:|---|")?;
        for t in &self.terms {
            writeln!(
                f,
                "| {}{} | {:.1} | {} |",
                t.name,
                if t.workload { " (workload)" } else { "" },
                t.bytes as f64 / MIB as f64,
                t.basis
            )?;
        }
        writeln!(f, "| **total** | {:.1} | |", self.total as f64 / MIB as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ServerConfig {
        ServerConfig::new("/nonexistent")
    }

    #[test]
    fn an_idle_load_is_bounded_by_base_and_history() {
        let b = rss_bound(&cfg(), &Load::default(), 10 * MIB);
        let c = cfg();
        let fixed =
            us(c.watch_history_bytes) + c.log_cache_bytes + us(c.max_pending_proposal_bytes);
        let expected = 10 * MIB + BASE_MARGIN + fixed + fixed * SLACK_PERCENT / 100;
        assert_eq!(b.total, expected);
        assert!(b.holds(expected) && !b.holds(expected + 1));
    }

    #[test]
    fn each_term_grows_with_its_own_quantity_and_settings() {
        let base = rss_bound(&cfg(), &Load::default(), 0).total;
        let one = |load: Load| rss_bound(&cfg(), &load, 0).total - base;
        let stalled = one(Load {
            handshaken_connections: 1,
            stalled_connections: 1,
            ..Load::default()
        });
        let reader = one(Load {
            handshaken_connections: 1,
            ..Load::default()
        });
        // A stalled reader costs its whole outbound limit more than a reader.
        assert!(stalled - reader >= us(cfg().max_outbound_bytes));
        let mut small = cfg();
        small.max_outbound_bytes = 64 * 1024;
        let capped = rss_bound(
            &small,
            &Load {
                handshaken_connections: 1,
                stalled_connections: 1,
                ..Load::default()
            },
            0,
        );
        assert!(capped.total < base + stalled);
        let watches = one(Load {
            handshaken_connections: 1,
            watches: 1000,
            ..Load::default()
        }) - reader;
        assert_eq!(watches, 1000 * WATCH_BYTES * (100 + SLACK_PERCENT) / 100);
        // No session holds more than max_watches_per_session.
        let mut few = cfg();
        few.max_watches_per_session = 10;
        let capped = rss_bound(
            &few,
            &Load {
                handshaken_connections: 1,
                watches: 1000,
                ..Load::default()
            },
            0,
        );
        let t = capped.terms.iter().find(|t| t.name == "watches").unwrap();
        assert_eq!(t.bytes, 10 * WATCH_BYTES);
    }

    #[test]
    fn connections_never_count_beyond_max_connections() {
        let mut c = cfg();
        c.max_connections = 2;
        let many = rss_bound(
            &c,
            &Load {
                pre_handshake_connections: 500,
                handshaken_connections: 500,
                ..Load::default()
            },
            0,
        );
        let two = rss_bound(
            &c,
            &Load {
                pre_handshake_connections: 2,
                ..Load::default()
            },
            0,
        );
        assert_eq!(many.total, two.total);
    }

    #[test]
    fn decoding_a_big_frame_is_charged_more_than_the_frame() {
        let b = rss_bound(
            &cfg(),
            &Load {
                big_frame_senders: 1,
                ..Load::default()
            },
            0,
        );
        let decode = b.terms.iter().find(|t| t.name == "decoded big frames");
        assert!(decode.is_some_and(|t| t.bytes == DECODE_FACTOR * us(cfg().max_frame_bytes)));
        assert!(b.to_string().contains("| **total** |"));
    }
}
