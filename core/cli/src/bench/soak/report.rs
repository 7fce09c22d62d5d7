//! What a soak run measured ([`SoakReport`], one [`PhaseReport`] per phase)
//! and its markdown: the phase table, the abusers' counters and the RSS bound
//! with its terms. Pure: no I/O, no clock; the formatting is unit-tested.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::abusers::Abuser;
use super::bound::{Bound, Load};
use crate::bench::MachineInfo;

/// One phase: what the lockers, the memory and the durability check showed.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseReport {
    /// `baseline` or `abused`.
    pub name: &'static str,
    /// How long the lockers ran.
    pub duration: Duration,
    /// Completed lock cycles, all lockers.
    pub cycles: u64,
    /// Cycle latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest cycle, milliseconds.
    pub max_ms: f64,
    /// Failed cycles by error name.
    pub locker_errors: BTreeMap<String, u64>,
    /// RSS of the fresh server before any load, bytes.
    pub idle_rss: u64,
    /// Peak RSS (`VmHWM`) at the phase's end, bytes.
    pub peak_rss: u64,
    /// Highest `VmRSS` sampled during the phase, bytes.
    pub sampled_rss: u64,
    /// What the harness held and wrote (the bound's workload terms).
    pub load: Load,
    /// The documented bound for this phase.
    pub bound: Bound,
    /// Writes the server acknowledged to the writer.
    pub acked: u64,
    /// Acknowledged writes missing after `kill -9` and restart.
    pub lost: u64,
    /// The writer's failures by error name.
    pub writer_errors: BTreeMap<String, u64>,
    /// Every abuser's counters (empty in the baseline).
    pub abusers: Vec<(Abuser, BTreeMap<String, u64>)>,
    /// Set when the server exited by itself during the phase.
    pub server_exit: Option<String>,
}

impl PhaseReport {
    /// Whether the peak RSS stayed within the bound.
    pub fn within_bound(&self) -> bool {
        self.bound.holds(self.peak_rss)
    }
}

/// A whole soak run.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakReport {
    /// When the run started, `YYYY-MM-DD HH:MM:SS UTC`.
    pub date_utc: String,
    /// The machine it ran on.
    pub machine: MachineInfo,
    /// The command line.
    pub command: String,
    /// The seed of the abusers' random choices.
    pub seed: u64,
    /// Extra `coord serve` flags of the server children.
    pub serve_args: Vec<String>,
    /// Whether the abusers ran at nice 19.
    pub nice_abusers: bool,
    /// Baseline first, then abused.
    pub phases: Vec<PhaseReport>,
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn counters(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl SoakReport {
    /// The abused phase's p99 over the baseline's, when both ran cycles.
    pub fn p99_ratio(&self) -> Option<f64> {
        let find = |n: &str| self.phases.iter().find(|p| p.name == n && p.cycles > 0);
        let (base, abused) = (find("baseline")?, find("abused")?);
        (base.p99_ms > 0.0).then(|| abused.p99_ms / base.p99_ms)
    }

    /// Acknowledged writes lost over all phases.
    pub fn lost(&self) -> u64 {
        self.phases.iter().map(|p| p.lost).sum()
    }

    /// The report as a markdown section.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "## Soak: lock cycles with and without abusive clients\n");
        let _ = writeln!(
            s,
            "{}; {} CPUs ({}), kernel {}, data on {}.  ",
            self.date_utc, m.nproc, m.cpu_model, m.kernel, m.data_fs
        );
        let _ = writeln!(s, "Command: `{}` (seed {}).  ", self.command, self.seed);
        let settings = if self.serve_args.is_empty() {
            "default settings".to_string()
        } else {
            format!("default settings + `{}`", self.serve_args.join(" "))
        };
        let _ = writeln!(
            s,
            "Server: a `coord serve` child process per phase, fresh data dir, {settings}; \
             RSS from `/proc/<pid>/status`. Lockers and writer on a runtime thread of \
             their own; abusers on another ({}).\n",
            if self.nice_abusers {
                "at nice 19: their client-side CPU yields to the server's"
            } else {
                "at normal priority: on this machine their client-side CPU competes with the server's"
            }
        );
        let ratio = self.p99_ratio();
        let _ = writeln!(
            s,
            "| phase | duration (s) | locker cycles | p50 ms | p99 ms | max ms | \
             p99 ratio abused/baseline | peak RSS MiB | bound MiB | within bound | \
             acked writes | lost |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
        );
        for p in &self.phases {
            let ratio = match (p.name, ratio) {
                ("abused", Some(r)) => format!("{r:.2}"),
                ("abused", None) => "n/a".into(),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "| {} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {ratio} | {:.1} | {:.1} | {} | {} | {} |",
                p.name,
                p.duration.as_secs_f64(),
                p.cycles,
                p.p50_ms,
                p.p99_ms,
                p.max_ms,
                mib(p.peak_rss),
                mib(p.bound.total),
                if p.within_bound() { "yes" } else { "no" },
                p.acked,
                p.lost
            );
        }
        let _ = writeln!(
            s,
            "\nA cycle is acquire -> guarded write of the fencing token -> release, 4 lockers \
             on 2 lock paths. Peak RSS is `VmHWM` just before the phase's `kill -9`; lost \
             counts acknowledged sequential creates missing after the restart on the same \
             data dir."
        );
        for p in &self.phases {
            let _ = writeln!(
                s,
                "- {}: idle RSS {:.1} MiB, highest sampled RSS {:.1} MiB; locker errors: {}; \
                 writer errors: {}{}",
                p.name,
                mib(p.idle_rss),
                mib(p.sampled_rss),
                counters(&p.locker_errors),
                counters(&p.writer_errors),
                p.server_exit
                    .as_deref()
                    .map(|e| format!("; **the server exited by itself**: {e}"))
                    .unwrap_or_default()
            );
        }
        for p in self.phases.iter().filter(|p| !p.abusers.is_empty()) {
            let _ = writeln!(s, "\n### Abusers ({} phase)\n", p.name);
            let _ = writeln!(s, "| abuser | ops | closed by server | counters |");
            let _ = writeln!(s, "|---|---:|---:|---|");
            for (abuser, counts) in &p.abusers {
                let closed: u64 = counts
                    .iter()
                    .filter(|(k, _)| k.contains("closed: "))
                    .map(|(_, v)| v)
                    .sum();
                let others: BTreeMap<String, u64> = counts
                    .iter()
                    .filter(|(k, _)| k.as_str() != super::control::OPS)
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                let _ = writeln!(
                    s,
                    "| {} | {} | {closed} | {} |",
                    abuser.label(),
                    counts.get(super::control::OPS).copied().unwrap_or(0),
                    counters(&others)
                );
            }
        }
        for p in &self.phases {
            let _ = writeln!(s, "\n### RSS bound ({} phase)\n", p.name);
            let _ = write!(s, "{}", p.bound);
        }
        let _ = writeln!(
            s,
            "\n(workload) terms are the data the harness stored (tree and the snapshot \
             being encoded); every other term is capped by a server setting."
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::soak::bound::rss_bound;
    use coord_server::server::ServerConfig;

    fn phase(name: &'static str, p99_ms: f64, abusers: bool) -> PhaseReport {
        let bound = rss_bound(&ServerConfig::new("/x"), &Load::default(), 10 << 20);
        let mut counts = BTreeMap::new();
        counts.insert("ops".to_string(), 7);
        counts.insert("closed: TOO_LARGE".to_string(), 3);
        counts.insert("huge length prefix: closed: eof".to_string(), 2);
        PhaseReport {
            name,
            duration: Duration::from_secs(5),
            cycles: 100,
            p50_ms: 1.0,
            p99_ms,
            max_ms: 9.0,
            locker_errors: BTreeMap::new(),
            idle_rss: 10 << 20,
            peak_rss: 20 << 20,
            sampled_rss: 19 << 20,
            load: Load::default(),
            bound,
            acked: 50,
            lost: 0,
            writer_errors: BTreeMap::new(),
            abusers: if abusers {
                vec![(Abuser::Garbage, counts)]
            } else {
                Vec::new()
            },
            server_exit: None,
        }
    }

    fn report() -> SoakReport {
        SoakReport {
            date_utc: "2026-12-02 10:00:00 UTC".into(),
            machine: MachineInfo {
                nproc: 2,
                kernel: "6.1".into(),
                cpu_model: "cpu".into(),
                data_fs: "ext4 on /dev/vda".into(),
            },
            command: "coord bench --soak 10s".into(),
            seed: 1,
            serve_args: Vec::new(),
            nice_abusers: false,
            phases: vec![phase("baseline", 2.0, false), phase("abused", 5.0, true)],
        }
    }

    #[test]
    fn phase_rows_carry_the_ratio_the_bound_verdict_and_the_lost_count() {
        let r = report();
        assert_eq!(r.p99_ratio(), Some(2.5));
        assert_eq!(r.lost(), 0);
        let md = r.to_markdown();
        assert!(md.contains("| baseline | 5.0 | 100 | 1.00 | 2.00 | 9.00 |  | 20.0 |"));
        assert!(md.contains("| abused | 5.0 | 100 | 1.00 | 5.00 | 9.00 | 2.50 | 20.0 |"));
        assert!(md.contains("| yes | 50 | 0 |"));
    }

    #[test]
    fn abuser_rows_sum_every_close_by_the_server() {
        let md = report().to_markdown();
        let row = md
            .lines()
            .find(|l| l.starts_with("| b. garbage churn |"))
            .unwrap();
        assert!(row.starts_with("| b. garbage churn | 7 | 5 |"), "{row}");
        assert!(row.contains("closed: TOO_LARGE 3"));
        assert!(!row.contains("ops 7"));
    }

    #[test]
    fn no_ratio_without_baseline_cycles() {
        let mut r = report();
        r.phases[0].cycles = 0;
        assert_eq!(r.p99_ratio(), None);
        assert!(r.to_markdown().contains("| n/a |"));
    }
}
