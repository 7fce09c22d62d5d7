//! Reconnect delays: exponential from `min`, capped at `max`, with full jitter
//! between `min` and the current cap so that many clients do not reconnect in
//! step. Pure apart from the random draw; owns no timer.

use std::time::Duration;

use rand::Rng;

/// Delay generator for one run of failed attempts; [`Backoff::reset`] after a
/// success.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A generator with `0 < min <= max` (checked by the builder).
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The cap for the current attempt: `min * 2^attempt`, at most `max`.
    fn cap(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The next delay, uniformly drawn in `[min, cap]`; the cap then doubles.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let cap = self.cap();
        self.attempt = self.attempt.saturating_add(1);
        let (lo, hi) = (self.min.as_micros() as u64, cap.as_micros() as u64);
        if hi <= lo {
            return cap;
        }
        Duration::from_micros(rand::thread_rng().gen_range(lo..=hi))
    }

    /// Starts over from `min` (after a successful connection).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_min_and_max_and_grow() {
        let (min, max) = (Duration::from_millis(50), Duration::from_secs(2));
        let mut b = Backoff::new(min, max);
        for attempt in 0..40u32 {
            let d = b.next_delay();
            assert!(d >= min && d <= max, "attempt {attempt}: {d:?}");
            let cap = min.saturating_mul(1 << attempt.min(20)).min(max);
            assert!(d <= cap, "attempt {attempt}: {d:?} over cap {cap:?}");
        }
        // Once capped, the cap is max.
        assert_eq!(b.cap(), max);
    }

    #[test]
    fn reset_starts_again_from_min() {
        let min = Duration::from_millis(10);
        let mut b = Backoff::new(min, Duration::from_secs(1));
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert_eq!(b.next_delay(), min);
    }

    #[test]
    fn equal_bounds_give_a_constant_delay() {
        let d = Duration::from_millis(100);
        let mut b = Backoff::new(d, d);
        for _ in 0..5 {
            assert_eq!(b.next_delay(), d);
        }
    }
}
