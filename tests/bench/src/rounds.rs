//! Repeated rounds of the throughput workloads (`run --rounds N`): every
//! round runs each system once per workload, interleaved, so that the
//! systems of one round see the machine's load alike; the report keeps the
//! median round of every row and each round's ops/s, and judges a target on
//! the median of its per-round ratios. Pure: no I/O.

use crate::report::{CpuRow, Results, Row, Workload};
use crate::systems::System;

/// One measured row of one round, with its CPU per op when taken.
pub(crate) struct RoundRow {
    pub(crate) round: usize,
    pub(crate) row: Row,
    pub(crate) cpu: Option<CpuRow>,
}

/// Each round's ops/s of one (workload, system, clients): `None` for a
/// round whose run failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PerRound {
    pub(crate) workload: Workload,
    pub(crate) system: System,
    pub(crate) clients: usize,
    pub(crate) ops_per_sec: Vec<Option<f64>>,
}

/// Folds the rounds into `res`: per (workload, system, clients), in the
/// order first measured, the median round's row (and its CPU row) goes to
/// `res.rows` / `res.cpu`, a failure only when every round failed; with
/// more than one round, `res.per_round` gets every round's ops/s.
pub(crate) fn fold(rounds: usize, measured: Vec<RoundRow>, res: &mut Results) {
    let mut keys: Vec<(Workload, System, usize)> = Vec::new();
    for m in &measured {
        let k = (m.row.workload, m.row.system, m.row.clients);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut measured: Vec<Option<RoundRow>> = measured.into_iter().map(Some).collect();
    for (workload, system, clients) in keys {
        let mut mine: Vec<RoundRow> = measured
            .iter_mut()
            .filter(|m| {
                m.as_ref().is_some_and(|m| {
                    m.row.workload == workload && m.row.system == system && m.row.clients == clients
                })
            })
            .filter_map(Option::take)
            .collect();
        mine.sort_by_key(|m| m.round);
        if rounds > 1 {
            let mut ops = vec![None; rounds];
            for m in &mine {
                if let (Some(slot), Ok(x)) = (ops.get_mut(m.round), &m.row.result) {
                    *slot = Some(x.ops_per_sec());
                }
            }
            res.per_round.push(PerRound {
                workload,
                system,
                clients,
                ops_per_sec: ops,
            });
        }
        let mut ok: Vec<RoundRow> = Vec::new();
        let mut failed: Option<RoundRow> = None;
        for m in mine {
            if m.row.result.is_ok() {
                ok.push(m);
            } else if failed.is_none() {
                failed = Some(m);
            }
        }
        ok.sort_by(|a, b| ops_of(a).total_cmp(&ops_of(b)));
        // The lower middle for an even count: a median that was measured.
        let pick = if ok.is_empty() {
            failed
        } else {
            let mid = (ok.len() - 1) / 2;
            Some(ok.swap_remove(mid))
        };
        if let Some(m) = pick {
            res.rows.push(m.row);
            res.cpu.extend(m.cpu);
        }
    }
}

fn ops_of(m: &RoundRow) -> f64 {
    m.row.result.as_ref().map_or(0.0, |x| x.ops_per_sec())
}

/// The per-round ratios `a / b` (ops/s) of two rows, for the rounds where
/// both were measured; empty without rounds.
pub(crate) fn ratios(res: &Results, w: Workload, a: System, b: System, clients: usize) -> Vec<f64> {
    let find = |s: System| {
        res.per_round
            .iter()
            .find(|p| p.workload == w && p.system == s && p.clients == clients)
    };
    match (find(a), find(b)) {
        (Some(a), Some(b)) => a
            .ops_per_sec
            .iter()
            .zip(&b.ops_per_sec)
            .filter_map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) if *y > 0.0 => Some(x / y),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The median of `v` (mean of the two middle values for an even count).
pub(crate) fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use coord_cli::bench::stats::Summary;
    use std::time::Duration;

    use super::*;

    fn measured(round: usize, system: System, ops_per_sec: Option<f64>) -> RoundRow {
        RoundRow {
            round,
            row: Row {
                workload: Workload::Write,
                system,
                clients: 32,
                result: match ops_per_sec {
                    Some(o) => Ok(Summary {
                        ops: o as u64,
                        elapsed: Duration::from_secs(1),
                        p50_us: 1.0,
                        p99_us: 2.0,
                    }),
                    None => Err("refused".into()),
                },
            },
            cpu: None,
        }
    }

    #[test]
    fn the_median_round_is_kept_and_every_round_is_listed() {
        let mut res = Results::default();
        fold(
            3,
            vec![
                measured(0, System::Coord, Some(300.0)),
                measured(0, System::CoordZk, Some(250.0)),
                measured(1, System::Coord, Some(100.0)),
                measured(1, System::CoordZk, None),
                measured(2, System::Coord, Some(200.0)),
                measured(2, System::CoordZk, Some(210.0)),
            ],
            &mut res,
        );
        let kept: Vec<(System, f64)> = res
            .rows
            .iter()
            .map(|r| (r.system, r.result.as_ref().unwrap().ops_per_sec()))
            .collect();
        // coord: median of 100, 200, 300; coord-ZK: lower middle of 210, 250.
        assert_eq!(kept, [(System::Coord, 200.0), (System::CoordZk, 210.0)]);
        assert_eq!(
            res.per_round[1].ops_per_sec,
            [Some(250.0), None, Some(210.0)]
        );
        let r = ratios(&res, Workload::Write, System::CoordZk, System::Coord, 32);
        assert_eq!(r, [250.0 / 300.0, 210.0 / 200.0]);
        assert_eq!(median(&r), Some((250.0 / 300.0 + 210.0 / 200.0) / 2.0));
    }

    #[test]
    fn one_round_keeps_the_rows_as_measured_and_lists_none() {
        let mut res = Results::default();
        fold(1, vec![measured(0, System::Zk, None)], &mut res);
        assert!(res.rows[0].result.is_err());
        assert!(res.per_round.is_empty());
        assert_eq!(median(&[]), None);
    }
}
