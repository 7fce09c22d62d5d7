//! Latency recording and summaries, shared by `coord bench` and the peer
//! benchmark (`tests/bench`), so that both report percentiles the same way.
//!
//! A [`Recorder`] collects per-operation latencies (nanoseconds, HDR histogram
//! with three significant digits, clamped at 60 s); a [`Summary`] is what one
//! workload measured (ops, wall time of the measured window, ops/s, p50, p99),
//! whatever the system; a [`Measurement`] is one row of `coord bench`'s table:
//! a summary with what was measured and with how many clients. This module is
//! pure: it performs no I/O and reads no clock, so the formatting is
//! unit-tested alone.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use coord_client::error::Error;

/// Highest latency the histograms track (60 s); longer samples are clamped.
const MAX_TRACKED_NANOS: u64 = 60_000_000_000;

/// What a row of the report measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Loopback TCP ping-pong of a 64-byte frame against an in-process echo server.
    TcpEcho,
    /// Write 128 bytes at the end of a file, then `sync_data`.
    FsyncAppend,
    /// Overwrite 128 bytes of a preallocated file at increasing offsets, then `sync_data`.
    FsyncPrealloc,
    /// coord `create` of a persistent node at a distinct path (100-byte value).
    Create,
    /// coord `set` of a 100-byte value on an existing node (durable server).
    Set,
    /// coord `get` of an existing node holding 100 bytes.
    Get,
    /// coord lock: uncontended acquire + release.
    LockCycle,
    /// coord lock: handoff among contenders, release start -> next acquire.
    LockHandoff,
}

impl Kind {
    /// The label shown in the report's table.
    pub fn label(self) -> &'static str {
        match self {
            Kind::TcpEcho => "floor: loopback TCP echo, 64 B round trip",
            Kind::FsyncAppend => "floor: fsync, append 128 B + sync_data",
            Kind::FsyncPrealloc => {
                "floor: fsync, overwrite 128 B in preallocated 64 MiB + sync_data"
            }
            Kind::Create => "coord: create (persistent, distinct paths, 100 B)",
            Kind::Set => "coord: set 100 B (durable)",
            Kind::Get => "coord: get (existing node, 100 B)",
            Kind::LockCycle => "coord lock: uncontended acquire + release",
            Kind::LockHandoff => "coord lock: handoff (release -> next holder acquires)",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Collects the latencies of one client (or one sequential loop, or the
/// merged clients of one workload).
#[derive(Debug, Clone)]
pub struct Recorder {
    hist: Histogram<u64>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Result<Self, Error> {
        let hist = Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, 3)
            .map_err(|e| Error::Internal(format!("histogram bounds: {e}")))?;
        Ok(Recorder { hist })
    }

    /// Records one operation's latency; values over 60 s are clamped.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(nanos);
    }

    /// Adds another recorder's samples to this one.
    pub fn merge(&mut self, other: &Recorder) -> Result<(), Error> {
        self.hist
            .add(&other.hist)
            .map_err(|e| Error::Internal(format!("merging histograms: {e}")))
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The latency at quantile `q` (0..=1) in microseconds, 0 when empty.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1_000.0
    }

    /// Summarises the samples, given the wall time of the measured window.
    pub fn summary(&self, elapsed: Duration) -> Summary {
        Summary {
            ops: self.len(),
            elapsed,
            p50_us: self.quantile_us(0.50),
            p99_us: self.quantile_us(0.99),
        }
    }

    /// Turns the samples into a row of `coord bench`'s table.
    pub fn finish(&self, kind: Kind, clients: usize, elapsed: Duration) -> Measurement {
        Measurement {
            kind,
            clients,
            summary: self.summary(elapsed),
        }
    }
}

/// What one workload measured, on any system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Operations completed inside the measured window (warm-up excluded).
    pub ops: u64,
    /// Wall time of the measured window.
    pub elapsed: Duration,
    /// Median latency in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency in microseconds.
    pub p99_us: f64,
}

impl Summary {
    /// Operations per second over the measured window (0 when nothing ran).
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.ops as f64 / secs
        }
    }
}

/// One row of `coord bench`'s report.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// What was measured.
    pub kind: Kind,
    /// Concurrent clients (1 for the sequential fsync loops).
    pub clients: usize,
    /// Ops, wall time and latencies.
    pub summary: Summary,
}

/// Formats the rows as a markdown table: measurement, clients, ops, ops/s, p50, p99.
pub(crate) fn format_table(rows: &[Measurement]) -> String {
    let mut out = String::from(
        "| measurement | clients | ops | ops/s | p50 (us) | p99 (us) |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} |\n",
            row.kind,
            row.clients,
            row.summary.ops,
            row.summary.ops_per_sec(),
            row.summary.p50_us,
            row.summary.p99_us
        ));
    }
    out
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn format_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recorded_latencies_in_microseconds() {
        let mut r = Recorder::new().unwrap();
        for us in 1..=100u64 {
            r.record(Duration::from_micros(us));
        }
        let m = r.finish(Kind::Get, 32, Duration::from_secs(2)).summary;
        assert_eq!(m.ops, 100);
        assert!((m.p50_us - 50.0).abs() < 0.1, "p50 {}", m.p50_us);
        assert!((m.p99_us - 99.0).abs() < 0.1, "p99 {}", m.p99_us);
        assert!((m.ops_per_sec() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn merged_recorders_count_every_sample() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_micros(20));
        b.record(Duration::from_secs(3600)); // clamped, still counted
        a.merge(&b).unwrap();
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn empty_measurement_reports_zero_instead_of_dividing_by_zero() {
        let r = Recorder::new().unwrap();
        let m = r.summary(Duration::ZERO);
        assert!(r.is_empty());
        assert_eq!(m.ops_per_sec(), 0.0);
        assert_eq!(m.p50_us, 0.0);
    }

    #[test]
    fn table_has_one_row_per_measurement_with_rounded_numbers() {
        let rows = vec![Measurement {
            kind: Kind::TcpEcho,
            clients: 32,
            summary: Summary {
                ops: 300_000,
                elapsed: Duration::from_secs(3),
                p50_us: 123.456,
                p99_us: 999.94,
            },
        }];
        let table = format_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("| measurement | clients | ops | ops/s |"));
        assert_eq!(
            lines[2],
            "| floor: loopback TCP echo, 64 B round trip | 32 | 300000 | 100000 | 123.5 | 999.9 |"
        );
    }

    #[test]
    fn utc_dates_are_formatted_from_unix_seconds() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
    }
}
