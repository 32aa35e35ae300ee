//! Running statistics of one metric at one node.

use serde::{Deserialize, Serialize};

/// Laps, sum, sum of squares, min and max of integer samples.
///
/// Integers make [`Stats::merge`] exact, so merging is associative and commutative whatever the
/// order threads or ranks are combined in; mean and standard deviation derive from these fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of samples (laps).
    pub laps: u64,
    /// Sum of samples.
    pub sum: i128,
    /// Sum of squared samples.
    pub sumsq: u128,
    /// Smallest sample (`i64::MAX` when empty).
    pub min: i64,
    /// Largest sample (`i64::MIN` when empty).
    pub max: i64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::EMPTY
    }
}

impl Stats {
    /// No samples.
    pub const EMPTY: Stats = Stats {
        laps: 0,
        sum: 0,
        sumsq: 0,
        min: i64::MAX,
        max: i64::MIN,
    };

    /// Adds one sample. Saturates rather than wraps on absurd totals.
    #[inline]
    pub fn record(&mut self, v: i64) {
        self.laps += 1;
        self.sum = self.sum.saturating_add(v as i128);
        self.sumsq = self
            .sumsq
            .saturating_add((v as i128 * v as i128).unsigned_abs());
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Combines another set of samples into this one.
    pub fn merge(&mut self, o: &Stats) {
        self.laps += o.laps;
        self.sum = self.sum.saturating_add(o.sum);
        self.sumsq = self.sumsq.saturating_add(o.sumsq);
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Mean of the samples, in the base unit (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.laps == 0 {
            0.0
        } else {
            self.sum as f64 / self.laps as f64
        }
    }

    /// Population standard deviation, in the base unit (0 when fewer than two samples).
    pub fn stddev(&self) -> f64 {
        if self.laps < 2 {
            return 0.0;
        }
        let n = self.laps as f64;
        let mean = self.sum as f64 / n;
        (self.sumsq as f64 / n - mean * mean).max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_stddev_match_direct_formula() {
        let xs = [3i64, 7, 7, 19, -4];
        let mut s = Stats::EMPTY;
        xs.iter().for_each(|&x| s.record(x));
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<i64>() as f64 / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert_eq!(s.laps, 5);
        assert_eq!((s.min, s.max), (-4, 19));
        assert!((s.mean() - mean).abs() < 1e-12);
        assert!((s.stddev() - var.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn merge_equals_recording_everything() {
        let (mut a, mut b, mut all) = (Stats::EMPTY, Stats::EMPTY, Stats::EMPTY);
        for x in 0..10 {
            a.record(x);
            all.record(x);
        }
        for x in 100..105 {
            b.record(x);
            all.record(x);
        }
        a.merge(&b);
        assert_eq!(a, all);
        let mut e = Stats::EMPTY;
        e.merge(&all);
        assert_eq!(e, all);
    }
}
