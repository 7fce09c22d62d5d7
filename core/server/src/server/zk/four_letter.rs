//! ZooKeeper's four-letter words: a connection whose first four bytes are
//! one of them gets a text answer and is closed, as monitoring scripts
//! expect (`echo ruok | nc host 2181`). The words served are those such
//! scripts poll: `ruok`, `srvr`, `stat`, `mntr`, `conf`, `isro`, `envi`.
//! Figures come from the server's own state and the ZooKeeper port's
//! counters (`ZkStats`); latencies are in milliseconds, as ZooKeeper writes
//! them.

use std::fmt::Write as _;

use crate::server::Shared;

/// A recognised four-letter word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    Ruok,
    Srvr,
    Stat,
    Mntr,
    Conf,
    Isro,
    Envi,
}

/// The word a connection's first four bytes spell, if any.
pub(crate) fn parse(head: [u8; 4]) -> Option<Word> {
    Some(match &head {
        b"ruok" => Word::Ruok,
        b"srvr" => Word::Srvr,
        b"stat" => Word::Stat,
        b"mntr" => Word::Mntr,
        b"conf" => Word::Conf,
        b"isro" => Word::Isro,
        b"envi" => Word::Envi,
        _ => return None,
    })
}

/// The version line every answer starts from.
fn version() -> String {
    format!(
        "coord {} (ZooKeeper protocol 3.5-3.9)",
        env!("CARGO_PKG_VERSION")
    )
}

/// What ZooKeeper calls the server's mode.
fn mode(shared: &Shared) -> &'static str {
    if shared.peer_cfg.is_none() {
        "standalone"
    } else if shared.replica.is_leader() {
        "leader"
    } else {
        "follower"
    }
}

struct Figures {
    zxid: u64,
    nodes: usize,
    min_ms: f64,
    avg_ms: f64,
    max_ms: f64,
    received: u64,
    sent: u64,
    connections: usize,
    outstanding: usize,
    watches: usize,
    ephemerals: usize,
}

fn figures(shared: &Shared) -> Figures {
    let stats = &shared.zk_stats;
    let totals = stats.totals();
    let count = totals.latency_count;
    let ms = |us: u64| us as f64 / 1000.0;
    let conns = stats.connections();
    let (nodes, ephemerals) = {
        let sm = shared.read_sm();
        let ephemerals = sm
            .tree()
            .ephemeral_owners()
            .map(|o| sm.tree().ephemerals_of(o).len())
            .sum();
        (sm.node_count(), ephemerals)
    };
    Figures {
        zxid: *shared.applied.borrow(),
        nodes,
        min_ms: ms(totals.latency_min_us),
        avg_ms: if count == 0 {
            0.0
        } else {
            ms(totals.latency_sum_us) / count as f64
        },
        max_ms: ms(totals.latency_max_us),
        received: totals.received,
        sent: totals.sent,
        connections: conns.len(),
        outstanding: conns.iter().map(|c| c.outstanding()).sum(),
        watches: shared.watches.len(),
        ephemerals,
    }
}

/// The text answer to `word`.
pub(crate) fn answer(shared: &Shared, word: Word) -> String {
    let mut out = String::new();
    match word {
        Word::Ruok => out.push_str("imok"),
        Word::Isro => out.push_str("rw"),
        Word::Srvr | Word::Stat => {
            let f = figures(shared);
            let _ = writeln!(out, "Zookeeper version: {}", version());
            if word == Word::Stat {
                out.push_str("Clients:\n");
                for c in shared.zk_stats.connections() {
                    let t = c.timing();
                    let _ = writeln!(
                        out,
                        " /{}[1](queued={},recved={},sent={})",
                        c.peer,
                        c.outstanding(),
                        t.received,
                        t.sent
                    );
                }
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "Latency min/avg/max: {:.3}/{:.4}/{:.3}",
                f.min_ms, f.avg_ms, f.max_ms
            );
            let _ = writeln!(out, "Received: {}", f.received);
            let _ = writeln!(out, "Sent: {}", f.sent);
            let _ = writeln!(out, "Connections: {}", f.connections);
            let _ = writeln!(out, "Outstanding: {}", f.outstanding);
            let _ = writeln!(out, "Zxid: {:#x}", f.zxid);
            let _ = writeln!(out, "Mode: {}", mode(shared));
            let _ = writeln!(out, "Node count: {}", f.nodes);
        }
        Word::Mntr => {
            let f = figures(shared);
            let mut line = |k: &str, v: &dyn std::fmt::Display| {
                let _ = writeln!(out, "{k}\t{v}");
            };
            line("zk_version", &version());
            line("zk_server_state", &mode(shared));
            line("zk_avg_latency", &format_args!("{:.4}", f.avg_ms));
            line("zk_max_latency", &format_args!("{:.3}", f.max_ms));
            line("zk_min_latency", &format_args!("{:.3}", f.min_ms));
            line("zk_packets_received", &f.received);
            line("zk_packets_sent", &f.sent);
            line("zk_num_alive_connections", &f.connections);
            line("zk_outstanding_requests", &f.outstanding);
            line("zk_znode_count", &f.nodes);
            line("zk_watch_count", &f.watches);
            line("zk_ephemerals_count", &f.ephemerals);
            line("zk_zxid", &format_args!("{:#x}", f.zxid));
        }
        Word::Conf => {
            let cfg = &shared.cfg;
            let zk = shared.zk_addr.unwrap_or(cfg.listen);
            let _ = writeln!(out, "clientPort={}", zk.port());
            let _ = writeln!(out, "clientPortAddress={}", zk.ip());
            let _ = writeln!(out, "dataDir={}", cfg.data_dir.display());
            let _ = writeln!(out, "tickTime={}", cfg.tick.as_millis());
            let _ = writeln!(out, "maxClientCnxns={}", cfg.max_connections);
            let _ = writeln!(
                out,
                "minSessionTimeout={}",
                cfg.session_limits.min_timeout.as_millis()
            );
            let _ = writeln!(
                out,
                "maxSessionTimeout={}",
                cfg.session_limits.max_timeout.as_millis()
            );
            let _ = writeln!(out, "jute.maxbuffer={}", cfg.zk_max_packet_bytes);
            let _ = writeln!(out, "serverId={}", cfg.node_id);
        }
        Word::Envi => {
            out.push_str("Environment:\n");
            let _ = writeln!(out, "zookeeper.version={}", version());
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(out, "user.dir={}", shared.cfg.data_dir.display());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_words_are_recognised() {
        assert_eq!(parse(*b"ruok"), Some(Word::Ruok));
        assert_eq!(parse(*b"mntr"), Some(Word::Mntr));
        assert_eq!(parse(*b"kill"), None);
        // A ConnectRequest's length prefix is never a word.
        assert_eq!(parse(45i32.to_be_bytes()), None);
    }
}
