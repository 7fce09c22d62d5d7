//! coord's ZooKeeper port side by side with ZooKeeper and with coord's native
//! protocol (issue 14): the targets judged from one run's rows and the
//! markdown section of BENCHMARKS.md between the `bench:zkport` markers.
//! Pure: no I/O.
//!
//! The rows are the side-by-side run's own ([`Results::rows`]): the
//! ZooKeeper workloads of this harness pointed at coord's `--zk-listen`
//! address ([`System::CoordZk`]), measured in the same run, interleaved with
//! coord native and ZooKeeper per workload.

use std::fmt::Write as _;

use crate::locks::CONTENDERS;
use crate::report::{Meta, Results, Workload, ratio, write_targets};
use crate::rounds;
use crate::systems::System;

/// Where the servers and the harness ran during a run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Everything on all of the machine's CPUs (the `bench:zkport` section).
    Shared,
    /// Each server pinned to CPU 1 and this harness to CPU 0, so that the
    /// clients' CPU does not come out of the server's (the
    /// `bench:zkport-pinned` section; `run.sh --zk-protocol --pin`).
    Pinned,
}

impl Placement {
    /// The markers of this placement's section.
    pub(crate) fn markers(self) -> (&'static str, &'static str) {
        match self {
            Placement::Shared => ("<!-- bench:zkport:start -->", "<!-- bench:zkport:end -->"),
            Placement::Pinned => (
                "<!-- bench:zkport-pinned:start -->",
                "<!-- bench:zkport-pinned:end -->",
            ),
        }
    }
}

/// The workloads of this comparison, in the order they are run.
pub(crate) const WORKLOADS: [Workload; 3] = [Workload::Write, Workload::Read, Workload::Handoff];

/// The systems of this comparison, in the order they are run per workload.
pub(crate) const SYSTEMS: [System; 5] = [
    System::Coord,
    System::CoordZk,
    System::CoordZkWire,
    System::Zk,
    System::ZkWire,
];

/// The two ZooKeeper clients, each driving coord's ZooKeeper port and
/// ZooKeeper: (coord's port, ZooKeeper, the client's name).
const CLIENTS: [(System, System, &str); 2] = [
    (System::CoordZk, System::Zk, "zookeeper-client"),
    (
        System::CoordZkWire,
        System::ZkWire,
        "the harness's minimal client",
    ),
];

/// The coord-ZK row a row is compared with: the one of the same client.
fn zk_port_of(system: System) -> System {
    if system.minimal_client() {
        System::CoordZkWire
    } else {
        System::CoordZk
    }
}

/// coord-ZK over ZooKeeper, ops/s, at least this (32 clients).
const MIN_VS_ZK: f64 = 1.5;
/// coord-ZK over coord native, ops/s, at least this (32 clients).
const MIN_VS_NATIVE: f64 = 0.90;

/// The targets of issue 14, each PASS, MISS or n/a (a side not measured).
pub(crate) fn targets(res: &Results) -> Vec<(String, Option<bool>, String)> {
    let mut out = Vec::new();
    for (port, zookeeper, client) in CLIENTS {
        for (what, w) in [
            ("durable writes", Workload::Write),
            ("reads", Workload::Read),
        ] {
            for (other, min, rule) in [
                (
                    zookeeper,
                    MIN_VS_ZK,
                    format!(">= {MIN_VS_ZK}x ZooKeeper ops/s"),
                ),
                (
                    System::Coord,
                    MIN_VS_NATIVE,
                    format!("within 10% of coord native ops/s (ratio >= {MIN_VS_NATIVE:.2})"),
                ),
            ] {
                let per_round = rounds::ratios(res, w, port, other, 32);
                let v = match (res.find(w, port, 32), res.find(w, other, 32)) {
                    // With rounds: the median of the per-round ratios (the
                    // two sides of one round saw the same machine load).
                    (Some(c), Some(o)) if !per_round.is_empty() => {
                        let r = rounds::median(&per_round).unwrap_or(0.0);
                        let each: Vec<String> =
                            per_round.iter().map(|r| format!("{r:.2}")).collect();
                        (
                            Some(r >= min),
                            format!(
                                "median of {} per-round ratios {r:.2}x (rounds: {}; median rounds: \
                                 coord-ZK {:.0}/s vs {} {:.0}/s)",
                                per_round.len(),
                                each.join(", "),
                                c.ops_per_sec(),
                                other.name(),
                                o.ops_per_sec()
                            ),
                        )
                    }
                    (Some(c), Some(o)) if o.ops_per_sec() > 0.0 => {
                        let r = c.ops_per_sec() / o.ops_per_sec();
                        (
                            Some(r >= min),
                            format!(
                                "{r:.2}x (coord-ZK {:.0}/s vs {} {:.0}/s)",
                                c.ops_per_sec(),
                                other.name(),
                                o.ops_per_sec()
                            ),
                        )
                    }
                    _ => (None, "not measured".to_string()),
                };
                out.push((
                    format!(
                        "{what}, 32 clients, coord through the ZooKeeper protocol ({client}): {rule}"
                    ),
                    v.0,
                    v.1,
                ));
            }
        }
    }
    out
}

/// The `bench:zkport` section.
pub(crate) fn to_markdown(res: &Results, meta: &Meta, placement: Placement) -> String {
    let mut s = String::new();
    match placement {
        Placement::Shared => meta.write_header(
            &mut s,
            "coord's ZooKeeper port vs ZooKeeper and coord native",
            "data dir",
            "",
            "other work on the machine shares its CPUs with every server and client here",
        ),
        Placement::Pinned => meta.write_header(
            &mut s,
            "coord's ZooKeeper port vs ZooKeeper and coord native, server and clients on separate CPUs",
            "data dir",
            "; every server pinned to CPU 1 (`taskset -c 1`: coord's runtime and ZooKeeper's JVM \
             then size themselves for one CPU), this harness and all its clients to CPU 0",
            "other work on the machine still shares both CPUs",
        ),
    }
    let _ = writeln!(
        s,
        "- clients: coord native is `coord_client::client`; \"coord (ZooKeeper protocol)\" and \
         ZooKeeper are driven by the same `zookeeper-client` code of this harness (the workload \
         code of the side-by-side section, only the address differs), against one `coord serve` \
         that has both listeners (one tree, one log). The \"minimal client\" rows drive the same \
         two servers with this harness's own ZooKeeper-protocol client (`zkwire.rs`: one request \
         at a time, one socket write each, no session task; writes and reads only), a client \
         about as lean as `coord_client`, so that those rows compare the servers more than the \
         client libraries. Per workload the systems run one after another, coord native first, \
         then coord's ZooKeeper port, then ZooKeeper (each with both clients), in one process \
         and one run. A ratio compares with the coord-ZK row of the same client (the coord \
         native row: with `zookeeper-client`'s)."
    );
    let _ = writeln!(
        s,
        "- semantics: writes are `set` / `setData` of 100 B on an existing node, each client its \
         own node and connection (session); reads are `get` / `getData`. Lock handoff: \
         {CONTENDERS} contenders, latency from the holder's release start to the next holder's \
         acquire returning; coord native runs its `recipes::Lock` (create returns the \
         predecessor), the ZooKeeper protocol rows the herd-free recipe written here on \
         `zookeeper-client` (create ephemeral-sequential, list children, `exists`-watch the \
         predecessor), so the handoff rows compare recipes as well as protocols and carry no \
         target. Ratios are coord-ZK / that row's system (ops/s: higher is better for coord-ZK; \
         p50: lower is better)."
    );
    let _ = writeln!(
        s,
        "- CPU per op (writes and reads): utime + stime from `/proc/PID/stat` over the measured \
         window (warm-up excluded) divided by its operations, of the server process (coord's one \
         process for both of its rows; ZooKeeper's JVM) and of this harness's process (all the \
         row's clients: `coord_client` for coord native, `zookeeper-client` or the minimal client for the others). \
         {}\n",
        match placement {
            Placement::Shared =>
                "Clients and servers share the machine's CPUs, so client CPU per op is throughput \
                 the server cannot have.",
            Placement::Pinned =>
                "Each server has one CPU to itself and the clients the other, so client CPU per \
                 op does not come out of the server's; a server's CPU per op times its ops/s is \
                 how busy its one CPU was.",
        }
    );

    let _ = writeln!(s, "### Throughput and latency\n");
    let with_rounds = !res.per_round.is_empty();
    if with_rounds {
        let _ = writeln!(
            s,
            "Writes and reads ran in rounds: each row is its median round (by ops/s; its \
             latency and CPU are that round's), and the last column lists every round's ops/s \
             in the order run.\n"
        );
    }
    let _ = writeln!(
        s,
        "| workload | clients | system | ops | ops/s | p50 (us) | p99 (us) | server CPU/op (us) | client CPU/op (us) | coord-ZK/system ops/s | coord-ZK/system p50 |{}\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|{}",
        if with_rounds {
            " ops/s per round |"
        } else {
            ""
        },
        if with_rounds { "---|" } else { "" },
    );
    for row in res
        .rows
        .iter()
        .filter(|r| WORKLOADS.contains(&r.workload) && SYSTEMS.contains(&r.system))
    {
        let port = zk_port_of(row.system);
        let zk_port = res.find(row.workload, port, row.clients);
        match &row.result {
            Ok(x) => {
                let (ro, rp) = match zk_port {
                    Some(c) if row.system != port => (
                        ratio(c.ops_per_sec(), x.ops_per_sec()),
                        ratio(c.p50_us, x.p50_us),
                    ),
                    _ => ("—".into(), "—".into()),
                };
                let (cs, cc) = res
                    .cpu
                    .iter()
                    .find(|c| {
                        c.workload == row.workload
                            && c.system == row.system
                            && c.clients == row.clients
                    })
                    .map_or(("—".into(), "—".into()), |c| {
                        (format!("{:.1}", c.server_us), format!("{:.1}", c.client_us))
                    });
                let _ = writeln!(
                    s,
                    "{} {cs} | {cc} | {ro} | {rp} |{}",
                    row.summary_cells(x),
                    round_cell(res, row, with_rounds)
                );
            }
            Err(e) => {
                let _ = writeln!(
                    s,
                    "{}{}",
                    row.failed_cells(e, 7),
                    round_cell(res, row, with_rounds)
                );
            }
        }
    }

    write_targets(&mut s, "issue 14", targets(res));
    s
}

/// The `ops/s per round` cell (with its trailing `|`), or nothing without
/// rounds; a dash for a row that was not run in rounds (the lock handoff).
fn round_cell(res: &Results, row: &crate::report::Row, with_rounds: bool) -> String {
    if !with_rounds {
        return String::new();
    }
    let cell = res
        .per_round
        .iter()
        .find(|p| p.workload == row.workload && p.system == row.system && p.clients == row.clients)
        .map_or("—".to_string(), |p| {
            p.ops_per_sec
                .iter()
                .map(|o| o.map_or("failed".to_string(), |o| format!("{o:.0}")))
                .collect::<Vec<_>>()
                .join(", ")
        });
    format!(" {cell} |")
}

#[cfg(test)]
mod tests {
    use coord_cli::bench::stats::Summary;

    use super::*;
    use crate::report::Row;

    fn row(workload: Workload, system: System, ops_per_sec: f64) -> Row {
        Row {
            workload,
            system,
            clients: 32,
            result: Ok(Summary {
                ops: (ops_per_sec * 3.0) as u64,
                elapsed: std::time::Duration::from_secs(3),
                p50_us: 1000.0,
                p99_us: 2000.0,
            }),
        }
    }

    #[test]
    fn zk_port_targets_need_one_and_a_half_zookeeper_and_nine_tenths_native() {
        let res = Results {
            rows: vec![
                row(Workload::Write, System::Coord, 1000.0),
                row(Workload::Write, System::CoordZk, 950.0),
                row(Workload::Write, System::Zk, 600.0),
                row(Workload::Read, System::Coord, 1000.0),
                row(Workload::Read, System::CoordZk, 850.0),
                row(Workload::Read, System::Zk, 600.0),
            ],
            ..Results::default()
        };
        let verdicts: Vec<Option<bool>> = targets(&res).into_iter().map(|t| t.1).collect();
        // zookeeper-client: writes 950/600 = 1.58 (pass), 0.95 (pass); reads
        // 1.42 (miss), 0.85 (miss); the minimal client was not measured.
        let none = None;
        assert_eq!(
            verdicts,
            [
                Some(true),
                Some(true),
                Some(false),
                Some(false),
                none,
                none,
                none,
                none
            ]
        );
    }

    #[test]
    fn with_rounds_a_target_is_judged_on_the_median_per_round_ratio() {
        use crate::rounds::PerRound;
        let per = |system, ops: [f64; 3]| PerRound {
            workload: Workload::Write,
            system,
            clients: 32,
            ops_per_sec: ops.iter().copied().map(Some).collect(),
        };
        // The median rows alone give 900/1000 = 0.90 (pass); the rounds'
        // ratios are 0.80, 0.85, 1.00, so the median ratio 0.85 misses.
        let res = Results {
            rows: vec![
                row(Workload::Write, System::Coord, 1000.0),
                row(Workload::Write, System::CoordZk, 900.0),
            ],
            per_round: vec![
                per(System::Coord, [1000.0, 1000.0, 900.0]),
                per(System::CoordZk, [800.0, 850.0, 900.0]),
            ],
            ..Results::default()
        };
        let vs_native = &targets(&res)[1];
        assert_eq!(vs_native.1, Some(false), "{}", vs_native.2);
        assert!(vs_native.2.contains("0.80, 0.85, 1.00"), "{}", vs_native.2);
        let meta = Meta {
            date: String::new(),
            command: String::new(),
            versions: String::new(),
            settings: String::new(),
            machine: coord_cli::bench::MachineInfo {
                nproc: 2,
                kernel: String::new(),
                cpu_model: String::new(),
                data_fs: String::new(),
            },
            bounds: String::new(),
            wall_secs: 0.0,
            load: (String::new(), String::new()),
        };
        let md = to_markdown(&res, &meta, Placement::Shared);
        assert!(md.contains("| 1000, 1000, 900 |"), "{md}");
        assert!(md.contains("share the machine's CPUs"), "{md}");
        let pinned = to_markdown(&res, &meta, Placement::Pinned);
        assert!(
            pinned.contains("server and clients on separate CPUs"),
            "{pinned}"
        );
        assert!(pinned.contains("pinned to CPU 1"), "{pinned}");
        assert_ne!(Placement::Shared.markers(), Placement::Pinned.markers());
    }

    #[test]
    fn zk_port_target_without_a_side_is_not_judged() {
        let res = Results {
            rows: vec![row(Workload::Write, System::CoordZk, 950.0)],
            ..Results::default()
        };
        assert!(targets(&res).iter().all(|t| t.1.is_none()));
    }
}
