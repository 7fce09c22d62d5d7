//! The results of one run, the targets of issue 7 judged from them, and the
//! markdown section of BENCHMARKS.md between the `bench:peers` markers.
//! Pure: no I/O (the section is written by `coord_cli::bench::update_section`).

use std::fmt::Write as _;

use coord_cli::bench::MachineInfo;
use coord_cli::bench::floor::PREALLOC_BYTES;
use coord_cli::bench::stats::Summary;

use crate::fanout::FanOut;
use crate::locks::{CONTENDERS, REDIS_POLL};
use crate::scale::{NodeScale, Sessions};
use crate::systems::System;

pub(crate) const START: &str = "<!-- bench:peers:start -->";
pub(crate) const END: &str = "<!-- bench:peers:end -->";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    Write,
    Read,
    LockCycle,
    Handoff,
}

impl Workload {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Workload::Write => "durable write, 100 B",
            Workload::Read => "read, 100 B",
            Workload::LockCycle => "lock: uncontended acquire+release",
            Workload::Handoff => {
                "lock: handoff (ops/s = handoffs/s; latency = release -> next acquire)"
            }
        }
    }
}

pub(crate) struct Row {
    pub(crate) workload: Workload,
    pub(crate) system: System,
    pub(crate) clients: usize,
    pub(crate) result: Result<Summary, String>,
}

impl Row {
    /// The leading cells of a measured row, `| workload | clients | system |
    /// ops | ops/s | p50 | p99 |`; sections append their own columns.
    pub(crate) fn summary_cells(&self, x: &Summary) -> String {
        format!(
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} |",
            self.workload.label(),
            self.clients,
            self.system.name(),
            x.ops,
            x.ops_per_sec(),
            x.p50_us,
            x.p99_us
        )
    }

    /// A row whose workload failed: the error in the ops column, then
    /// `blank` empty cells.
    pub(crate) fn failed_cells(&self, e: &str, blank: usize) -> String {
        format!(
            "| {} | {} | {} | failed: {} |{}",
            self.workload.label(),
            self.clients,
            self.system.name(),
            one_line(e, 160),
            " |".repeat(blank)
        )
    }
}

pub(crate) struct HerdRow {
    pub(crate) system: System,
    pub(crate) naive: bool,
    pub(crate) waiters: usize,
    pub(crate) result: Result<u64, String>,
}

/// CPU time per operation of a throughput row's measured window: the
/// server process and the harness process (every client of the row).
pub(crate) struct CpuRow {
    pub(crate) workload: Workload,
    pub(crate) system: System,
    pub(crate) clients: usize,
    pub(crate) server_us: f64,
    pub(crate) client_us: f64,
}

/// Everything one run measured.
#[derive(Default)]
pub(crate) struct Results {
    pub(crate) fsync: Option<Result<Summary, String>>,
    pub(crate) fsync_prealloc: Option<Result<Summary, String>>,
    pub(crate) rtt: Option<Result<Summary, String>>,
    pub(crate) rows: Vec<Row>,
    /// Only for the rows of the ZooKeeper-port comparison.
    pub(crate) cpu: Vec<CpuRow>,
    /// Every round's ops/s of the write and read rows (`run --rounds N`,
    /// N > 1); `rows` and `cpu` then hold each row's median round.
    pub(crate) per_round: Vec<crate::rounds::PerRound>,
    pub(crate) herd: Vec<HerdRow>,
    pub(crate) fanout: Vec<(System, Result<FanOut, String>)>,
    pub(crate) scale: Vec<(System, Result<NodeScale, String>)>,
    pub(crate) sessions: Vec<(System, Result<Sessions, String>)>,
}

/// Facts about the run printed above the tables.
pub(crate) struct Meta {
    pub(crate) date: String,
    pub(crate) command: String,
    pub(crate) versions: String,
    pub(crate) settings: String,
    pub(crate) machine: MachineInfo,
    pub(crate) bounds: String,
    pub(crate) wall_secs: f64,
    /// `/proc/loadavg` when the workloads started and when they ended.
    pub(crate) load: (String, String),
}

impl Meta {
    /// The lines every section of the harness starts with: its title, then
    /// date, machine, versions, command, bounds, load and servers.
    /// `data_dirs` names where data lived ("data dir", "data dirs"),
    /// `machine_note` and `load_note` add to those two lines.
    pub(crate) fn write_header(
        &self,
        s: &mut String,
        title: &str,
        data_dirs: &str,
        machine_note: &str,
        load_note: &str,
    ) {
        let m = &self.machine;
        let _ = writeln!(s, "## {title}\n");
        let _ = writeln!(s, "- date: {}", self.date);
        let _ = writeln!(
            s,
            "- machine: {} CPUs ({}), kernel {}, {data_dirs} on {}{machine_note}",
            m.nproc, m.cpu_model, m.kernel, m.data_fs
        );
        let _ = writeln!(s, "- versions: {}", self.versions);
        let _ = writeln!(s, "- command: `{}`", self.command);
        let _ = writeln!(
            s,
            "- bounds: {}; whole harness run {:.0} s",
            self.bounds, self.wall_secs
        );
        let _ = writeln!(
            s,
            "- machine load (`/proc/loadavg` 1/5/15 min) at start: {}; at end: {} ({load_note})",
            self.load.0, self.load.1
        );
        let _ = writeln!(s, "- servers: {}", self.settings);
    }
}

impl Results {
    pub(crate) fn find(&self, w: Workload, s: System, clients: usize) -> Option<&Summary> {
        self.rows
            .iter()
            .find(|r| r.workload == w && r.system == s && r.clients == clients)
            .and_then(|r| r.result.as_ref().ok())
    }

    fn herd_of(&self, s: System, naive: bool, waiters: usize) -> Option<u64> {
        self.herd
            .iter()
            .find(|h| h.system == s && h.naive == naive && h.waiters == waiters)
            .and_then(|h| h.result.as_ref().ok().copied())
    }

    fn ok<T>(v: &[(System, Result<T, String>)], s: System) -> Option<&T> {
        v.iter()
            .find(|(x, _)| *x == s)
            .and_then(|(_, r)| r.as_ref().ok())
    }

    /// The targets of issue 7, each PASS, MISS, or n/a (a side not measured).
    pub(crate) fn targets(&self) -> Vec<(String, Option<bool>, String)> {
        use System::*;
        use Workload::*;
        let mut out = Vec::new();
        let mut ops_ratio = |name: &str, w, clients, peer, min: f64| {
            let v = match (self.find(w, Coord, clients), self.find(w, peer, clients)) {
                (Some(c), Some(p)) if p.ops_per_sec() > 0.0 => {
                    let r = c.ops_per_sec() / p.ops_per_sec();
                    (
                        Some(r >= min),
                        format!(
                            "{r:.2}x (coord {:.0}/s vs {:.0}/s)",
                            c.ops_per_sec(),
                            p.ops_per_sec()
                        ),
                    )
                }
                _ => (None, "not measured".to_string()),
            };
            out.push((name.to_string(), v.0, v.1));
        };
        ops_ratio(
            "durable writes, 32 clients: >= 2x ZooKeeper ops/s",
            Write,
            32,
            Zk,
            2.0,
        );
        ops_ratio(
            "durable writes, 32 clients: >= 4x etcd ops/s",
            Write,
            32,
            Etcd,
            4.0,
        );
        ops_ratio(
            "reads, 32 clients: >= 2x ZooKeeper ops/s",
            Read,
            32,
            Zk,
            2.0,
        );
        // One durable write costs at least one fsync of a preallocated log
        // plus a loopback round trip: a target below that cannot be reached.
        let floor_us = match (&self.fsync_prealloc, &self.rtt) {
            (Some(Ok(f)), Some(Ok(r))) => Some(f.p50_us + r.p50_us),
            _ => None,
        };
        let mut p50_ratio = |name: &str, w, clients, peer, max: f64, strict: bool| {
            let v = match (self.find(w, Coord, clients), self.find(w, peer, clients)) {
                (Some(c), Some(p)) if p.p50_us > 0.0 => {
                    let r = c.p50_us / p.p50_us;
                    let pass = if strict { r < max } else { r <= max };
                    let mut detail = format!(
                        "{r:.2} (coord p50 {:.0} us vs {:.0} us)",
                        c.p50_us, p.p50_us
                    );
                    if let Some(f) = floor_us
                        && !pass
                    {
                        let needed = p.p50_us * max;
                        let _ = write!(detail, "; needs coord p50 <= {needed:.0} us");
                        if needed < f {
                            let _ = write!(
                                detail,
                                ", below the floor of one fsync + one round trip ({f:.0} us p50)"
                            );
                        }
                    }
                    (Some(pass), detail)
                }
                _ => (None, "not measured".to_string()),
            };
            out.push((name.to_string(), v.0, v.1));
        };
        p50_ratio(
            "durable write, 1 client: p50 below ZooKeeper's",
            Write,
            1,
            Zk,
            1.0,
            true,
        );
        p50_ratio(
            "lock uncontended cycle: p50 <= 1/2 ZooKeeper's",
            LockCycle,
            1,
            Zk,
            0.5,
            false,
        );
        p50_ratio(
            "lock handoff, 16 contenders: p50 <= 1/2 ZooKeeper's",
            Handoff,
            CONTENDERS,
            Zk,
            0.5,
            false,
        );
        p50_ratio(
            "lock handoff, 16 contenders: p50 <= 1/10 etcd's",
            Handoff,
            CONTENDERS,
            Etcd,
            0.1,
            false,
        );
        for peer in [RedisAof, RedisMem] {
            let v = match (
                self.find(Handoff, Coord, CONTENDERS),
                self.find(Handoff, peer, CONTENDERS),
            ) {
                (Some(c), Some(p)) => (
                    Some(c.ops_per_sec() > p.ops_per_sec()),
                    format!("coord {:.0}/s vs {:.0}/s", c.ops_per_sec(), p.ops_per_sec()),
                ),
                _ => (None, "not measured".to_string()),
            };
            out.push((
                format!(
                    "lock handoffs/s above {} with a {} ms poll",
                    peer.name(),
                    REDIS_POLL.as_millis()
                ),
                v.0,
                v.1,
            ));
        }
        let v = match (Self::ok(&self.fanout, Coord), Self::ok(&self.fanout, Zk)) {
            (Some(c), Some(z)) => (
                Some(c.each_p99_us < z.each_p99_us && c.missed == 0),
                format!(
                    "coord p99 {:.0} us vs {:.0} us (all-delivered p99 {:.0} vs {:.0} us; coord missed {})",
                    c.each_p99_us, z.each_p99_us, c.all_p99_us, z.all_p99_us, c.missed
                ),
            ),
            _ => (None, "not measured".to_string()),
        };
        out.push((
            "watch fan-out to 1,000 watchers: p99 below ZooKeeper's".into(),
            v.0,
            v.1,
        ));
        for waiters in [16, 256] {
            let v = match self.herd_of(Coord, false, waiters) {
                Some(n) => (Some(n == 1), format!("{n}")),
                None => (None, "not measured".to_string()),
            };
            out.push((
                format!("notifications per handoff, {waiters} waiters: exactly 1"),
                v.0,
                v.1,
            ));
        }
        let v = match (Self::ok(&self.scale, Coord), Self::ok(&self.scale, Zk)) {
            (Some(c), Some(z)) if z.bytes_per_node() > 0.0 => {
                let r = c.bytes_per_node() / z.bytes_per_node();
                let full = c.created >= 1_000_000 && z.created >= 1_000_000;
                (
                    Some(r <= 0.5),
                    format!(
                        "{r:.2} (coord {:.0} B/node at {} nodes vs {:.0} B/node at {} nodes{})",
                        c.bytes_per_node(),
                        c.created,
                        z.bytes_per_node(),
                        z.created,
                        if full {
                            ""
                        } else {
                            "; fewer than 1M nodes in the time budget"
                        }
                    ),
                )
            }
            _ => (None, "not measured".to_string()),
        };
        out.push(("memory per node: <= 1/2 ZooKeeper's".into(), v.0, v.1));
        out
    }

    pub(crate) fn to_markdown(&self, meta: &Meta) -> String {
        let mut s = String::new();
        meta.write_header(
            &mut s,
            "Side by side: coord vs ZooKeeper, etcd, Redis",
            "data dir",
            "",
            "other work on the machine shares its CPUs with every server and client here",
        );
        let _ = writeln!(
            s,
            "- recipes: coord `recipes::Lock` (ephemeral-sequential, watch the predecessor; \
             create returns the predecessor, one round trip when free); ZooKeeper the same \
             herd-free recipe written here on `zookeeper-client` (create ephemeral-sequential, \
             list children, `exists`-watch the predecessor; decision by coord's own \
             `recipes::sequence::decide_lock`); etcd its v3 lock API (`Lock`/`Unlock`, server-side \
             wait on the predecessor key, one lease per client); Redis `SET key token NX PX 30000` \
             + compare-and-delete Lua script, waiters poll every {} ms (tokio timer, so >= 1 ms). \
             Naive (herd) recipe: every waiter watches the parent's children.",
            REDIS_POLL.as_millis()
        );
        let _ = writeln!(
            s,
            "- semantics of the numbers: writes are `set`/`setData`/`put`/`SET` of 100 B on an \
             existing node/key, each client its own key and connection; reads are `get`/`getData` \
             (served locally) and etcd `Range` (linearizable, etcd's default) and Redis `GET`. \
             Ratios are coord / system (ops/s: higher is better for coord; p50: lower is better for coord).\n"
        );

        let _ = writeln!(s, "### Floor (measured by the harness)\n");
        let _ = writeln!(
            s,
            "| measurement | ops | p50 (us) | p99 (us) |\n|---|---:|---:|---:|"
        );
        let prealloc = format!(
            "fsync: overwrite 128 B in a preallocated {} MiB file + sync_data",
            PREALLOC_BYTES / (1024 * 1024)
        );
        for (label, r) in [
            ("fsync: append 128 B + sync_data, data dir", &self.fsync),
            (prealloc.as_str(), &self.fsync_prealloc),
            ("loopback TCP round trip, 64 B", &self.rtt),
        ] {
            match r {
                Some(Ok(x)) => {
                    let _ = writeln!(
                        s,
                        "| {label} | {} | {:.1} | {:.1} |",
                        x.ops, x.p50_us, x.p99_us
                    );
                }
                Some(Err(e)) => {
                    let _ = writeln!(s, "| {label} | failed: {} | | |", one_line(e, 160));
                }
                None => {
                    let _ = writeln!(s, "| {label} | not run | | |");
                }
            }
        }

        let _ = writeln!(s, "\n### Throughput and latency\n");
        let _ = writeln!(
            s,
            "| workload | clients | system | ops | ops/s | p50 (us) | p99 (us) | coord/system ops/s | coord/system p50 |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|"
        );
        // coord's ZooKeeper port has its own section (`zkport`).
        for row in self
            .rows
            .iter()
            .filter(|r| r.system != System::CoordZk && !r.system.minimal_client())
        {
            let coord = self.find(row.workload, System::Coord, row.clients);
            match &row.result {
                Ok(x) => {
                    let (ro, rp) = match coord {
                        Some(c) if row.system != System::Coord => (
                            ratio(c.ops_per_sec(), x.ops_per_sec()),
                            ratio(c.p50_us, x.p50_us),
                        ),
                        _ => ("—".into(), "—".into()),
                    };
                    let _ = writeln!(s, "{} {ro} | {rp} |", row.summary_cells(x));
                }
                Err(e) => {
                    let _ = writeln!(s, "{}", row.failed_cells(e, 5));
                }
            }
        }

        let _ = writeln!(
            s,
            "\n### Herd: watch notifications delivered by one lock release\n"
        );
        let _ = writeln!(
            s,
            "| system | recipe | waiters | notifications |\n|---|---|---:|---:|"
        );
        for h in &self.herd {
            let recipe = if h.naive {
                "naive (watch parent's children)"
            } else {
                "herd-free (watch predecessor)"
            };
            let n = match &h.result {
                Ok(n) => n.to_string(),
                Err(e) => format!("failed: {}", one_line(e, 160)),
            };
            let _ = writeln!(
                s,
                "| {} | {recipe} | {} | {n} |",
                h.system.name(),
                h.waiters
            );
        }
        let _ = writeln!(
            s,
            "\netcd's lock waits server-side (no client notifications to count); Redis waiters poll \
             (no notifications; each waiter sends ~1 `SET NX` per ms instead). coord's herd-free lock \
             is counted by its client's `watchers_woken`; the recipes written here count the watches that fired."
        );

        let _ = writeln!(
            s,
            "\n### Watch fan-out: 1 writer, watchers of one node (persistent watches)\n"
        );
        let _ = writeln!(
            s,
            "| system | watchers | rounds | per-watcher p50 (us) | per-watcher p99 (us) | all delivered p50 (us) | all delivered p99 (us) | missed |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (sys, r) in &self.fanout {
            match r {
                Ok(f) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
                        sys.name(),
                        f.watchers,
                        f.rounds,
                        f.each_p50_us,
                        f.each_p99_us,
                        f.all_p50_us,
                        f.all_p99_us,
                        f.missed
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "| {} | failed: {} | | | | | | |",
                        sys.name(),
                        one_line(e, 160)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "\nLatency runs from just before the durable write to the event's arrival (it includes the write)."
        );

        let _ = writeln!(s, "\n### Scale and memory: 100-byte nodes\n");
        let _ = writeln!(
            s,
            "| system | nodes created | seconds | creates/s (batches of 100) | RSS before (MiB) | RSS after (MiB) | bytes/node |\n\
             |---|---:|---:|---:|---:|---:|---:|"
        );
        for (sys, r) in &self.scale {
            match r {
                Ok(n) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.0} |",
                        sys.name(),
                        n.created,
                        n.secs,
                        n.created as f64 / n.secs.max(1e-9),
                        mib(n.rss_before),
                        mib(n.rss_after),
                        n.bytes_per_node()
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "| {} | failed: {} | | | | | |",
                        sys.name(),
                        one_line(e, 160)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "\nbytes/node = (RSS after - RSS before) / nodes, RSS from `/proc/PID/status`; the JVM's RSS \
             includes heap it has not collected or returned."
        );

        let _ = writeln!(s, "\n### Sessions, each holding an ephemeral node\n");
        let _ = writeln!(
            s,
            "| system | sessions | session timeout (ms) | open + create (s) | RSS before (MiB) | RSS held (MiB) | bytes/session | all expired after kill -9 (s) |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (sys, r) in &self.sessions {
            match r {
                Ok(x) => {
                    let expired = x
                        .expire_secs
                        .map_or("not within 90 s".to_string(), |t| format!("{t:.2}"));
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {expired} |",
                        sys.name(),
                        x.sessions,
                        x.timeout.as_millis(),
                        x.connect_secs,
                        mib(x.rss_before),
                        mib(x.rss_held),
                        x.bytes_per_session()
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "| {} | failed: {} | | | | | | |",
                        sys.name(),
                        one_line(e, 160)
                    );
                }
            }
        }

        write_targets(&mut s, "issue 7", self.targets());
        s
    }
}

/// The `### Targets (TITLE)` list: one PASS / MISS / n/a line per target.
pub(crate) fn write_targets(
    s: &mut String,
    title: &str,
    targets: Vec<(String, Option<bool>, String)>,
) {
    let _ = writeln!(s, "\n### Targets ({title})\n");
    for (name, verdict, detail) in targets {
        let v = match verdict {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a",
        };
        let _ = writeln!(s, "- **{v}** {name}: {detail}");
    }
}

/// `a / b` with two decimals, or a dash when `b` is not positive.
pub(crate) fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "—".into()
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `e` on one table-safe line, at most `max` bytes (cut at a character
/// boundary).
pub(crate) fn one_line(e: &str, max: usize) -> String {
    let mut s: String = e.replace(['\n', '|'], " ");
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_flattens_and_cuts_at_a_character_boundary() {
        assert_eq!(one_line("a|b\nc", 100), "a b c");
        // "—" is three bytes: a cut inside it must step back, not panic.
        let text = format!("ab{}", "—".repeat(10));
        let cut = one_line(&text, 4);
        assert_eq!(cut, "ab");
        assert_eq!(one_line(&text, 5), "ab—");
    }
}
