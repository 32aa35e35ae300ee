//! Statistics across ranks of one node's per-rank values.

use super::Stats;
use serde::{Deserialize, Serialize};

/// How one metric at one node spreads over the ranks that entered it. Each rank contributes
/// its inclusive total (the `sum` of its [`Stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankStats {
    /// Ranks that entered the node.
    pub ranks: u32,
    /// Smallest per-rank total, base unit.
    pub min: f64,
    /// Position in the rank list (column) of the smallest total.
    pub min_rank: u32,
    /// Largest per-rank total, base unit.
    pub max: f64,
    /// Position in the rank list (column) of the largest total.
    pub max_rank: u32,
    /// Mean over the ranks that entered, base unit.
    pub mean: f64,
    /// Population standard deviation over the ranks that entered, base unit.
    pub stddev: f64,
    /// `max / mean - 1`: 0 when perfectly balanced (0 as well when the mean is 0).
    pub imbalance: f64,
}

impl RankStats {
    /// Computes the statistics; `None` when no rank entered the node. Ties for min and max go
    /// to the lowest column.
    pub fn of(per_rank: &[Option<Stats>]) -> Option<RankStats> {
        let mut vals = per_rank
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i as u32, s.sum as f64)));
        let (first_rank, first) = vals.next()?;
        let mut r = RankStats {
            ranks: 1,
            min: first,
            min_rank: first_rank,
            max: first,
            max_rank: first_rank,
            mean: 0.0,
            stddev: 0.0,
            imbalance: 0.0,
        };
        let (mut sum, mut sumsq) = (first, first * first);
        for (rank, v) in vals {
            r.ranks += 1;
            sum += v;
            sumsq += v * v;
            if v < r.min {
                (r.min, r.min_rank) = (v, rank);
            }
            if v > r.max {
                (r.max, r.max_rank) = (v, rank);
            }
        }
        let n = r.ranks as f64;
        r.mean = sum / n;
        r.stddev = (sumsq / n - r.mean * r.mean).max(0.0).sqrt();
        r.imbalance = if r.mean != 0.0 {
            r.max / r.mean - 1.0
        } else {
            0.0
        };
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(v: i64) -> Option<Stats> {
        let mut s = Stats::EMPTY;
        s.record(v);
        Some(s)
    }

    #[test]
    fn statistics_skip_absent_ranks() {
        let r = RankStats::of(&[total(4), None, total(2), total(6)]).unwrap();
        assert_eq!(r.ranks, 3);
        assert_eq!((r.min, r.min_rank, r.max, r.max_rank), (2.0, 2, 6.0, 3));
        assert_eq!(r.mean, 4.0);
        assert!((r.stddev - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r.imbalance - 0.5).abs() < 1e-12);
        assert_eq!(RankStats::of(&[None, None]), None);
    }
}
