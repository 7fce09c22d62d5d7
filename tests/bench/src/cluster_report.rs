//! The cluster benchmark's results, its targets, and the markdown section of
//! BENCHMARKS.md between the `bench:cluster` markers. Pure: no I/O.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cluster_bench::{Failover, Measured};
use crate::locks::CONTENDERS;
pub(crate) use crate::report::{Meta, Workload};
use crate::report::{one_line, ratio, write_targets};
use crate::systems::System;

pub(crate) const START: &str = "<!-- bench:cluster:start -->";
pub(crate) const END: &str = "<!-- bench:cluster:end -->";

/// The table's label of `w`: the peers report's, except the handoff row,
/// which keeps the cluster table's shorter label.
fn label(w: Workload) -> &'static str {
    match w {
        Workload::Handoff => "lock: handoff (ops = handoffs)",
        other => other.label(),
    }
}

pub(crate) struct Row {
    pub(crate) workload: Workload,
    pub(crate) system: System,
    pub(crate) clients: usize,
    pub(crate) result: Result<Measured, String>,
}

#[derive(Default)]
pub(crate) struct Results {
    pub(crate) rows: Vec<Row>,
    pub(crate) failover: Vec<(System, Result<Failover, String>)>,
    /// Clusters that did not start, with why.
    pub(crate) not_started: Vec<(System, String)>,
}

/// Median (upper median for an even count) and max of `v`, seconds.
fn median_max(v: &[Duration]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    Some((s[s.len() / 2], s[s.len() - 1]))
}

/// Gaps (or new-leader times) of every kill; None if any kill never got one.
fn all_of(
    f: &Failover,
    pick: impl Fn(&crate::cluster_bench::Kill) -> Option<Duration>,
) -> Option<Vec<Duration>> {
    f.kills.iter().map(pick).collect()
}

impl Results {
    fn find(&self, w: Workload, s: System, clients: usize) -> Option<&Measured> {
        self.rows
            .iter()
            .find(|r| r.workload == w && r.system == s && r.clients == clients)
            .and_then(|r| r.result.as_ref().ok())
    }

    fn failover_of(&self, s: System) -> Option<&Failover> {
        self.failover
            .iter()
            .find(|(x, _)| *x == s)
            .and_then(|(_, r)| r.as_ref().ok())
    }

    /// The cluster targets, each PASS, MISS or n/a.
    pub(crate) fn targets(&self) -> Vec<(String, Option<bool>, String)> {
        use System::{Coord, Zk};
        let mut out = Vec::new();
        for (name, w) in [
            (
                "durable writes, 32 clients spread: >= 2x ZooKeeper ensemble ops/s",
                Workload::Write,
            ),
            (
                "reads, 32 clients spread: >= 2x ZooKeeper ensemble ops/s",
                Workload::Read,
            ),
        ] {
            let v = match (self.find(w, Coord, 32), self.find(w, Zk, 32)) {
                (Some(c), Some(z)) if z.summary.ops_per_sec() > 0.0 => {
                    let r = c.summary.ops_per_sec() / z.summary.ops_per_sec();
                    (
                        Some(r >= 2.0),
                        format!(
                            "{r:.2}x (coord {:.0}/s vs {:.0}/s)",
                            c.summary.ops_per_sec(),
                            z.summary.ops_per_sec()
                        ),
                    )
                }
                _ => (None, "not measured".into()),
            };
            out.push((name.to_string(), v.0, v.1));
        }
        for (name, w) in [
            (
                "server CPU per write (32 clients, all members): <= 0.5x ZooKeeper's",
                Workload::Write,
            ),
            (
                "server CPU per read (32 clients, all members): <= 0.5x ZooKeeper's",
                Workload::Read,
            ),
        ] {
            let v = match (self.find(w, Coord, 32), self.find(w, Zk, 32)) {
                (Some(c), Some(z)) if z.cpu_us_per_op() > 0.0 => {
                    let r = c.cpu_us_per_op() / z.cpu_us_per_op();
                    (
                        Some(r <= 0.5),
                        format!(
                            "{r:.2}x (coord {:.1} us/op vs {:.1} us/op)",
                            c.cpu_us_per_op(),
                            z.cpu_us_per_op()
                        ),
                    )
                }
                _ => (None, "not measured".into()),
            };
            out.push((name.to_string(), v.0, v.1));
        }
        let coord_fo = self.failover_of(Coord);
        let gaps = coord_fo.and_then(|f| all_of(f, |k| k.gap));
        let (med, max) = match (&gaps, coord_fo) {
            (Some(g), Some(f)) if f.kills.len() >= 5 => {
                let (m, x) = median_max(g).unwrap_or((f64::NAN, f64::NAN));
                (
                    (Some(m <= 0.5), format!("{m:.3} s over {} kills", g.len())),
                    (Some(x <= 1.0), format!("{x:.3} s over {} kills", g.len())),
                )
            }
            (None, Some(f)) => (
                (
                    Some(false),
                    format!(
                        "{} kills, some with no acknowledged write within 60 s",
                        f.kills.len()
                    ),
                ),
                (
                    Some(false),
                    "some kill had no acknowledged write within 60 s".into(),
                ),
            ),
            (_, Some(f)) => (
                (None, format!("only {} kills completed", f.kills.len())),
                (None, format!("only {} kills completed", f.kills.len())),
            ),
            _ => ((None, "not measured".into()), (None, "not measured".into())),
        };
        out.push((
            "failover gap (kill -9 of the leader -> next acknowledged write): median <= 0.5 s"
                .into(),
            med.0,
            med.1,
        ));
        out.push(("failover gap: max <= 1 s".into(), max.0, max.1));
        let v = match coord_fo {
            Some(f) => (
                Some(f.lost == 0),
                format!("{} lost of {} acknowledged", f.lost, f.acked),
            ),
            None => (None, "not measured".into()),
        };
        out.push((
            "acknowledged writes lost across the kills: 0".into(),
            v.0,
            v.1,
        ));
        out
    }

    pub(crate) fn to_markdown(&self, meta: &Meta) -> String {
        let mut s = String::new();
        meta.write_header(
            &mut s,
            "Replicated: 3-member coord cluster vs ZooKeeper ensemble and etcd cluster",
            "data dirs",
            "; all nine servers and the clients share it",
            "other work on the machine shares its 2 CPUs with every server and client here: \
             single figures are noisy",
        );
        let _ = writeln!(
            s,
            "- clients: spread over the members, followers first: the 1-client rows and the lock cycle \
             talk to a follower (writes forwarded to the leader), 32 clients are 11/11/10 over \
             follower/follower/leader, the 16 handoff contenders 6/5/5. Writes are `set`/`setData`/`put` of \
             100 B on an existing node/key, each client its own key and connection; reads are \
             `get`/`getData` (served by the member the client is on) and etcd `Range` (linearizable, \
             etcd's default: a ReadIndex round through the leader). Lock recipes are those of the \
             side-by-side section (coord `recipes::Lock`; ZooKeeper ephemeral-sequential + watch the \
             predecessor; etcd v3 `Lock`/`Unlock` with a lease)."
        );
        let _ = writeln!(
            s,
            "- server CPU: utime + stime from `/proc/PID/stat` of every member process, summed, read at \
             the start and the end of each measured window (warm-up excluded), divided by the operations \
             in it. Ratios are coord / system.\n"
        );
        for (sys, why) in &self.not_started {
            let _ = writeln!(
                s,
                "- **{} cluster did not start**: {}",
                sys.name(),
                one_line(why, 200)
            );
        }

        let _ = writeln!(
            s,
            "### Throughput, latency and server CPU (3 members each)\n"
        );
        let _ = writeln!(
            s,
            "| workload | clients | system | ops | ops/s | p50 (us) | p99 (us) | server CPU per op (us, 3 members) | coord/system ops/s | coord/system CPU per op |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in &self.rows {
            match &row.result {
                Ok(x) => {
                    let coord = self.find(row.workload, System::Coord, row.clients);
                    let (ro, rc) = match coord {
                        Some(c) if row.system != System::Coord => (
                            ratio(c.summary.ops_per_sec(), x.summary.ops_per_sec()),
                            ratio(c.cpu_us_per_op(), x.cpu_us_per_op()),
                        ),
                        _ => ("—".into(), "—".into()),
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {ro} | {rc} |",
                        label(row.workload),
                        row.clients,
                        row.system.name(),
                        x.summary.ops,
                        x.summary.ops_per_sec(),
                        x.summary.p50_us,
                        x.summary.p99_us,
                        x.cpu_us_per_op()
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | failed: {} | | | | | | |",
                        label(row.workload),
                        row.clients,
                        row.system.name(),
                        one_line(e, 200)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "\nHandoff latency runs from the holder's release start to the next holder's acquire \
             returning ({CONTENDERS} contenders)."
        );

        let _ = writeln!(
            s,
            "\n### Failover: kill -9 of the leader under a 1-client write loop\n"
        );
        let _ = writeln!(
            s,
            "| system | kills | gap to next acknowledged write: median / max (s) | new leader visible: median / max (s) | gap per kill (s) | new leader per kill (s) | killed member healthy after restart: median / max (s) | failed writes | acknowledged | lost |\n\
             |---|---:|---:|---:|---|---|---:|---:|---:|---:|"
        );
        for (sys, r) in &self.failover {
            match r {
                Ok(f) => {
                    let mm = |v: Vec<Option<Duration>>| {
                        let got: Vec<Duration> = v.iter().flatten().copied().collect();
                        let missing = v.len() - got.len();
                        match median_max(&got) {
                            Some((a, b)) if missing == 0 => format!("{a:.3} / {b:.3}"),
                            Some((a, b)) => format!("{a:.3} / {b:.3} ({missing} never)"),
                            None => "never".into(),
                        }
                    };
                    let list = |v: Vec<Option<Duration>>| {
                        v.iter()
                            .map(|d| {
                                d.map_or("none in 60 s".into(), |d| {
                                    format!("{:.3}", d.as_secs_f64())
                                })
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let gaps: Vec<_> = f.kills.iter().map(|k| k.gap).collect();
                    let leaders: Vec<_> = f.kills.iter().map(|k| k.new_leader).collect();
                    let backs: Vec<_> = f.kills.iter().map(|k| k.back).collect();
                    let failed: u64 = f.kills.iter().map(|k| k.failed).sum();
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {failed} | {} | {} |",
                        sys.name(),
                        f.kills.len(),
                        mm(gaps.clone()),
                        mm(leaders.clone()),
                        list(gaps),
                        list(leaders),
                        mm(backs),
                        f.acked,
                        f.lost
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "| {} | failed: {} | | | | | | | | |",
                        sys.name(),
                        one_line(e, 200)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "\nThe writer creates a new 100-byte node/key per write through a client given all three \
             members (coord and ZooKeeper: the client's own failover, keeping the session; etcd: \
             etcd-client's balanced channel), each write bounded by 10 s, a failed write counted and \
             followed 2 ms later by the next. Gap = kill -> acknowledgement of the first write issued \
             after the kill. New leader = kill -> a surviving member names a leader other than the \
             killed one (coord: `cluster status`; ZooKeeper: `srvr` says `Mode: leader`; etcd: \
             Maintenance `Status`, as `etcdctl endpoint status`), polled about every 5-10 ms. After \
             each kill the member is restarted on its data and waited for (coord: names a leader and a \
             `sync` through it succeeds; ZooKeeper: `srvr` says leader or follower; etcd: names a \
             leader and a linearizable read through it succeeds), then writes flow for 1 s before the \
             next kill. Lost = acknowledged keys missing afterwards, checked through each member \
             alone after a `sync` (etcd: a linearizable read), the largest count over the members."
        );
        for (sys, r) in &self.failover {
            if let Ok(f) = r {
                let mut notes = vec![format!(
                    "killed members in order: {}",
                    f.kills
                        .iter()
                        .map(|k| k.member.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )];
                let on: Vec<bool> = f.kills.iter().filter_map(|k| k.client_on_killed).collect();
                if !on.is_empty() {
                    notes.push(format!(
                        "the writing client was on the killed member in {} of {} kills",
                        on.iter().filter(|b| **b).count(),
                        on.len()
                    ));
                }
                if !f.lost_detail.is_empty() {
                    notes.push(format!("lost: {}", f.lost_detail.trim_end_matches("; ")));
                }
                if !f.errors.is_empty() {
                    notes.push(format!(
                        "write errors seen: {}",
                        f.errors
                            .iter()
                            .map(|e| format!("`{}`", one_line(e, 200)))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                notes.push(format!("workload took {:.0} s", f.secs));
                let _ = writeln!(s, "\n- {}: {}.", sys.name(), notes.join("; "));
            }
        }

        write_targets(&mut s, "cluster", self.targets());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_middle_and_max_the_largest() {
        let v: Vec<Duration> = [3, 1, 2, 5, 4]
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        assert_eq!(median_max(&v), Some((0.003, 0.005)));
        assert_eq!(median_max(&[]), None);
    }
}
