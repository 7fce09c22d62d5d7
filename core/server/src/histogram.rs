//! A histogram for the hot path whose `observe` takes no lock: a few relaxed
//! atomic adds on fixed buckets. `prometheus-client`'s own `Histogram`
//! takes a write lock on every observation, which measurably slowed reads
//! with 32 clients (bench:overhead); this one is encoded by the same crate
//! (no exposition format written here), as a Prometheus histogram.
//!
//! Owns only its counters. The count a scrape reports is the sum of the
//! buckets read in that scrape, so `+Inf` always equals `_count`; the sum
//! may run ahead of or behind the buckets by the observations made while a
//! scrape reads them, as with any lock-free exporter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Buckets doubling from `start`, `count` of them (upper bounds).
pub(crate) fn doubling(start: f64, count: usize) -> Vec<f64> {
    (0..count).map(|i| start * 2f64.powi(i as i32)).collect()
}

/// A histogram of non-negative values with fixed upper bounds. Cheap to
/// clone: clones share the counters.
#[derive(Debug, Clone)]
pub(crate) struct AtomicHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Upper bounds (inclusive, as Prometheus' `le`), ascending.
    bounds: Box<[f64]>,
    /// One counter per bound, then one for values above the last (`+Inf`).
    counts: Box<[AtomicU64]>,
    /// Sum of the observed values, in units of `1 / scale` (each value is
    /// rounded to a unit).
    sum: AtomicU64,
    /// How many sum units make one observed unit (1e9 for seconds kept as
    /// nanoseconds; 1 for counts).
    scale: f64,
}

impl AtomicHistogram {
    /// A histogram with `bounds` (ascending) whose sum is kept in units of
    /// `1 / scale`.
    pub(crate) fn new(bounds: Vec<f64>, scale: f64) -> AtomicHistogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram {
            inner: Arc::new(Inner {
                bounds: bounds.into_boxed_slice(),
                counts,
                sum: AtomicU64::new(0),
                scale,
            }),
        }
    }

    /// Seconds, 20 us to ~5 s in doubling buckets, the sum in nanoseconds.
    pub(crate) fn seconds() -> AtomicHistogram {
        AtomicHistogram::new(doubling(20e-6, 19), 1e9)
    }

    /// Records `value`.
    pub(crate) fn observe(&self, value: f64) {
        let i = &self.inner;
        // The first bound the value does not exceed; past the last: +Inf.
        let bucket = i.bounds.partition_point(|b| *b < value);
        i.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let units = (value.max(0.0) * i.scale).round() as u64;
        i.sum.fetch_add(units, Ordering::Relaxed);
    }

    /// (sum, count): what a rate and a mean latency need, without the
    /// buckets.
    pub(crate) fn sum_and_count(&self) -> (f64, u64) {
        let i = &self.inner;
        let count = i.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        (i.sum.load(Ordering::Relaxed) as f64 / i.scale, count)
    }

    /// (sum, count, per-bucket counts with their upper bounds, `+Inf` last as
    /// `f64::MAX`, which is how the encoder knows it).
    pub(crate) fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let i = &self.inner;
        let buckets: Vec<(f64, u64)> = i
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(i.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = i.sum.load(Ordering::Relaxed) as f64 / i.scale;
        (sum, count, buckets)
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_they_do_not_exceed() {
        let h = AtomicHistogram::new(vec![1.0, 2.0, 4.0], 1e3);
        for v in [0.5, 1.0, 1.5, 4.0, 9.0] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 5);
        assert_eq!(sum, 16.0);
        let counts: Vec<u64> = buckets.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, [2, 1, 1, 1]);
        assert_eq!(buckets[3].0, f64::MAX);
    }

    #[test]
    fn seconds_keep_their_sum_to_the_nanosecond() {
        let h = AtomicHistogram::seconds();
        h.observe(0.000_123_456);
        h.observe(0.5);
        let (sum, count, _) = h.snapshot();
        assert_eq!(count, 2);
        assert!((sum - 0.500_123_456).abs() < 1e-12, "{sum}");
    }

    #[test]
    fn it_encodes_as_a_prometheus_histogram_with_cumulative_buckets() {
        let mut registry = prometheus_client::registry::Registry::default();
        let h = AtomicHistogram::new(vec![1.0, 2.0], 1e3);
        registry.register("x", "test", h.clone());
        h.observe(0.5);
        h.observe(1.5);
        h.observe(3.0);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("# TYPE x histogram"), "{out}");
        assert!(out.contains("x_bucket{le=\"1.0\"} 1"), "{out}");
        assert!(out.contains("x_bucket{le=\"2.0\"} 2"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3"), "{out}");
        assert!(out.contains("x_count 3"), "{out}");
        assert!(out.contains("x_sum 5.0"), "{out}");
    }

    #[test]
    fn concurrent_observers_lose_no_observation() {
        let h = AtomicHistogram::seconds();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        h.observe(0.001);
                    }
                });
            }
        });
        let (_, count, _) = h.snapshot();
        assert_eq!(count, 40_000);
    }
}
