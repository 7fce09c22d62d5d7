//! The result of one `coord bench` run and its markdown form, including the
//! performance targets, each judged PASS or MISS from this run's own numbers
//! (never from numbers remembered from another machine).

use std::fmt;
use std::time::Duration;

use super::locks::NotificationRow;
use super::machine::MachineInfo;
use super::stats::{Kind, Measurement, format_table};

/// Everything one run measured, with the facts needed to reproduce it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// When the run started, `YYYY-MM-DD HH:MM:SS UTC`.
    pub date_utc: String,
    /// The machine it ran on.
    pub machine: MachineInfo,
    /// The command line that produced it.
    pub command: String,
    /// Which server was measured (embedded, or the external address).
    pub server: String,
    /// Where the fsync floor (and an embedded server's data) lived.
    pub data_dir: String,
    /// Measured window of each workload.
    pub duration: Duration,
    /// Unrecorded warm-up before each workload.
    pub warmup: Duration,
    /// Cap on measured operations per workload.
    pub max_ops: u64,
    /// Every measurement, floor first.
    pub rows: Vec<Measurement>,
    /// Watchers woken by one lock release, per recipe and queue length.
    pub notifications: Vec<NotificationRow>,
    /// The targets, judged from `rows`.
    pub targets: Vec<TargetCheck>,
}

/// Whether a target was met in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The target holds for this run's numbers.
    Pass,
    /// The target does not hold.
    Miss,
    /// A measurement the target needs was not taken (e.g. `--clients` without 32).
    NotMeasured,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::NotMeasured => "N/A",
        })
    }
}

/// One performance target and how this run fared.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCheck {
    /// The target as a sentence.
    pub target: String,
    /// The numbers that decided it (or what was missing).
    pub evidence: String,
    /// The outcome.
    pub verdict: Verdict,
}

/// Judges the targets of the core harness from `rows` and `notifications`.
pub fn check_targets(rows: &[Measurement], notifications: &[NotificationRow]) -> Vec<TargetCheck> {
    let find = |kind: Kind, clients: usize| {
        rows.iter()
            .find(|m| m.kind == kind && m.clients == clients)
            .map(|m| &m.summary)
    };
    let mut checks = Vec::new();

    for (kind, what, factor) in [(Kind::Set, "durable set", 0.35), (Kind::Get, "get", 0.5)] {
        let target = format!("32-client {what} ops/s >= {factor} x 32-client echo ops/s");
        checks.push(match (find(kind, 32), find(Kind::TcpEcho, 32)) {
            (Some(op), Some(echo)) => {
                let (got, echo) = (op.ops_per_sec(), echo.ops_per_sec());
                let needed = factor * echo;
                let ratio = if echo > 0.0 { got / echo } else { 0.0 };
                TargetCheck {
                    target,
                    evidence: format!(
                        "{got:.0} vs {factor} x {echo:.0} = {needed:.0} (ratio {ratio:.2})"
                    ),
                    verdict: judge(got >= needed),
                }
            }
            _ => not_measured(target),
        });
    }

    let target =
        "1-client durable set p50 <= preallocated-fsync p50 + 1-client RTT p50 + 60 us".to_string();
    checks.push(
        match (
            find(Kind::Set, 1),
            find(Kind::FsyncPrealloc, 1),
            find(Kind::TcpEcho, 1),
        ) {
            (Some(set), Some(fsync), Some(rtt)) => {
                let budget = fsync.p50_us + rtt.p50_us + 60.0;
                TargetCheck {
                    target,
                    evidence: format!(
                        "{:.1} us vs {:.1} + {:.1} + 60 = {budget:.1} us ({:+.1} us)",
                        set.p50_us,
                        fsync.p50_us,
                        rtt.p50_us,
                        set.p50_us - budget
                    ),
                    verdict: judge(set.p50_us <= budget),
                }
            }
            _ => not_measured(target),
        },
    );
    checks.extend(lock_targets(rows, notifications));
    checks
}

fn lock_targets(rows: &[Measurement], notifications: &[NotificationRow]) -> Vec<TargetCheck> {
    let find = |kind: Kind, clients: usize| {
        rows.iter()
            .find(|m| m.kind == kind && m.clients == clients)
            .map(|m| &m.summary)
    };
    let mut checks = Vec::new();
    let target =
        "uncontended lock cycle p50 <= 2 x (preallocated-fsync p50 + 1-client RTT p50) + 100 us"
            .to_string();
    checks.push(
        match (
            find(Kind::LockCycle, 1),
            find(Kind::FsyncPrealloc, 1),
            find(Kind::TcpEcho, 1),
        ) {
            (Some(cycle), Some(fsync), Some(rtt)) => {
                let budget = 2.0 * (fsync.p50_us + rtt.p50_us) + 100.0;
                TargetCheck {
                    target,
                    evidence: format!(
                        "{:.1} us vs 2 x ({:.1} + {:.1}) + 100 = {budget:.1} us",
                        cycle.p50_us, fsync.p50_us, rtt.p50_us
                    ),
                    verdict: judge(cycle.p50_us <= budget),
                }
            }
            _ => not_measured(target),
        },
    );
    let target = "16-way lock handoff p50 <= 250 us".to_string();
    checks.push(match find(Kind::LockHandoff, 16) {
        Some(h) => TargetCheck {
            target,
            evidence: format!("{:.1} us ({:.0} handoffs/s)", h.p50_us, h.ops_per_sec()),
            verdict: judge(h.p50_us <= 250.0),
        },
        None => not_measured(target),
    });
    for row in notifications
        .iter()
        .filter(|n| n.recipe == super::locks::HERD_FREE)
    {
        checks.push(TargetCheck {
            target: format!("one release wakes exactly 1 of {} waiters", row.waiters),
            evidence: format!("{} woken", row.woken),
            verdict: judge(row.woken == 1),
        });
    }
    checks
}

fn judge(holds: bool) -> Verdict {
    if holds { Verdict::Pass } else { Verdict::Miss }
}

fn not_measured(target: String) -> TargetCheck {
    TargetCheck {
        target,
        evidence: "not measured in this run".to_string(),
        verdict: Verdict::NotMeasured,
    }
}

impl Report {
    /// The report as a markdown section (a level-2 heading, facts, the table and
    /// the targets), ready for [`super::update_benchmarks_md`] or a terminal.
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::from("## coord bench (core)\n\n");
        out.push_str(&format!("- Date: {}\n", self.date_utc));
        out.push_str(&format!(
            "- Machine: {} CPUs, {}, Linux {}\n",
            m.nproc, m.cpu_model, m.kernel
        ));
        out.push_str(&format!(
            "- Data dir: `{}` ({})\n",
            self.data_dir, m.data_fs
        ));
        out.push_str(&format!("- Server: {}\n", self.server));
        out.push_str(&format!("- Command: `{}`\n", self.command));
        out.push_str(&format!(
            "- Method: each workload runs {} ms after {} ms of unrecorded warm-up, at most {} \
             measured ops; every client is closed-loop with its own connection; latency is \
             measured per operation at the client; servers run on their own tokio runtime \
             and OS thread.\n\n",
            self.duration.as_millis(),
            self.warmup.as_millis(),
            self.max_ops
        ));
        out.push_str(&format_table(&self.rows));
        if !self.notifications.is_empty() {
            out.push_str(
                "\nWatchers woken by one lock release (summed over every client; the \
                 releasing holder's own lock-loss watch is no longer listened to and wakes \
                 nobody):\n\n| recipe | waiters | woken |\n|---|---:|---:|\n",
            );
            for n in &self.notifications {
                out.push_str(&format!("| {} | {} | {} |\n", n.recipe, n.waiters, n.woken));
            }
        }
        out.push_str("\nTargets (judged from this run's numbers):\n\n");
        for check in &self.targets {
            out.push_str(&format!(
                "- **{}** {}: {}\n",
                check.verdict, check.target, check.evidence
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Summary;

    fn row(kind: Kind, clients: usize, ops_per_sec: u64, p50_us: f64) -> Measurement {
        Measurement {
            kind,
            clients,
            summary: Summary {
                ops: ops_per_sec,
                elapsed: Duration::from_secs(1),
                p50_us,
                p99_us: p50_us * 2.0,
            },
        }
    }

    fn floor() -> Vec<Measurement> {
        vec![
            row(Kind::FsyncPrealloc, 1, 1_000, 1_000.0),
            row(Kind::TcpEcho, 1, 20_000, 40.0),
            row(Kind::TcpEcho, 32, 100_000, 300.0),
        ]
    }

    #[test]
    fn targets_pass_when_the_numbers_meet_them() {
        let mut rows = floor();
        rows.push(row(Kind::Set, 32, 35_000, 900.0));
        rows.push(row(Kind::Get, 32, 50_000, 600.0));
        rows.push(row(Kind::Set, 1, 900, 1_100.0));
        // floor(): prealloc fsync p50 1000 us, RTT p50 40 us -> cycle budget 2180 us.
        rows.push(row(Kind::LockCycle, 1, 500, 2_180.0));
        rows.push(row(Kind::LockHandoff, 16, 4_000, 250.0));
        let herd = [NotificationRow {
            recipe: super::super::locks::HERD_FREE,
            waiters: 16,
            woken: 1,
        }];
        let checks = check_targets(&rows, &herd);
        assert_eq!(checks.len(), 6);
        assert!(
            checks.iter().all(|c| c.verdict == Verdict::Pass),
            "{checks:#?}"
        );
        assert!(
            checks[0].evidence.contains("ratio 0.35"),
            "{}",
            checks[0].evidence
        );
    }

    #[test]
    fn targets_miss_when_coord_is_slower_than_the_floor_allows() {
        let mut rows = floor();
        rows.push(row(Kind::Set, 32, 34_999, 900.0));
        rows.push(row(Kind::Get, 32, 49_000, 600.0));
        rows.push(row(Kind::Set, 1, 900, 1_100.1));
        rows.push(row(Kind::LockCycle, 1, 500, 2_180.1));
        rows.push(row(Kind::LockHandoff, 16, 4_000, 250.1));
        let herd = [NotificationRow {
            recipe: super::super::locks::HERD_FREE,
            waiters: 16,
            woken: 2,
        }];
        let verdicts: Vec<Verdict> = check_targets(&rows, &herd)
            .iter()
            .map(|c| c.verdict)
            .collect();
        assert_eq!(verdicts, vec![Verdict::Miss; 6]);
    }

    #[test]
    fn targets_without_their_measurements_are_not_judged() {
        let rows = vec![row(Kind::TcpEcho, 32, 100_000, 300.0)];
        let checks = check_targets(&rows, &[]);
        assert!(checks.iter().all(|c| c.verdict == Verdict::NotMeasured));
    }

    #[test]
    fn markdown_has_facts_table_and_verdicts() {
        let mut rows = floor();
        rows.push(row(Kind::Set, 1, 900, 1_100.0));
        let report = Report {
            date_utc: "2026-01-02 03:04:05 UTC".into(),
            machine: MachineInfo {
                nproc: 2,
                kernel: "6.1.0".into(),
                cpu_model: "AMD EPYC".into(),
                data_fs: "ext4 on /dev/vda".into(),
            },
            command: "coord bench --duration-ms 3000".into(),
            server: "embedded".into(),
            data_dir: "/tmp/x".into(),
            duration: Duration::from_millis(3000),
            warmup: Duration::from_millis(300),
            max_ops: 1_000_000,
            targets: check_targets(&rows, &[]),
            notifications: Vec::new(),
            rows,
        };
        let md = report.to_markdown();
        assert!(md.starts_with("## coord bench (core)\n"));
        for needle in [
            "2026-01-02 03:04:05 UTC",
            "2 CPUs, AMD EPYC, Linux 6.1.0",
            "`coord bench --duration-ms 3000`",
            "| floor: loopback TCP echo, 64 B round trip | 32 | 100000 | 100000 | 300.0 | 600.0 |",
            "- **PASS** 1-client durable set p50",
            "- **N/A** 32-client get ops/s",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
    }
}
