//! How one metric at one node spreads over the ranks: statistics of the ranks' totals that
//! merge exactly, so each hop of the reduction carries one per node and metric whatever the
//! number of ranks behind it.

use super::Stats;
use serde::{Deserialize, Serialize};

/// One rank's own statistics at a node: the smallest or largest total of a [`Spread`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankValue {
    /// MPI rank (world rank) that measured it.
    pub rank: u32,
    /// That rank's statistics (its total is `stats.sum`).
    pub stats: Stats,
}

/// Statistics over ranks of the per-rank totals (each rank's inclusive `sum`) of one metric at
/// one node, for the ranks that entered it.
///
/// Integer fields make [`Spread::merge`] exact, associative and commutative: merged along the
/// binomial tree, merged offline, or computed from every rank's column, the result is the same.
/// Ties for the smallest and largest total go to the lowest rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    /// Ranks that entered the node.
    pub ranks: u32,
    /// Sum of the ranks' totals.
    pub sum: i128,
    /// Sum of the squared totals (saturating).
    pub sumsq: u128,
    /// The rank with the smallest total, and its statistics.
    pub min: RankValue,
    /// The rank with the largest total, and its statistics.
    pub max: RankValue,
}

impl Spread {
    /// One rank's statistics at a node.
    pub fn of_rank(rank: u32, stats: Stats) -> Spread {
        let total = stats.sum;
        let one = RankValue { rank, stats };
        Spread {
            ranks: 1,
            sum: total,
            sumsq: total.saturating_mul(total).unsigned_abs(),
            min: one,
            max: one,
        }
    }

    /// The spread of one node's per-rank column (`None`: the rank never entered), `rank`
    /// giving each column's MPI rank; `None` when no rank entered.
    pub fn of_column(column: &[Option<Stats>], rank: impl Fn(usize) -> u32) -> Option<Spread> {
        column
            .iter()
            .enumerate()
            .filter_map(|(c, s)| Some(Spread::of_rank(rank(c), (*s)?)))
            .reduce(|mut a, b| {
                a.merge(&b);
                a
            })
    }

    /// Adds the ranks of `other` (ranks that are not in this one).
    pub fn merge(&mut self, other: &Spread) {
        self.ranks = self.ranks.saturating_add(other.ranks);
        self.sum = self.sum.saturating_add(other.sum);
        self.sumsq = self.sumsq.saturating_add(other.sumsq);
        let key = |v: &RankValue| (v.stats.sum, v.rank);
        if key(&other.min) < key(&self.min) {
            self.min = other.min;
        }
        // Largest total, lowest rank on ties.
        let (o, s) = (&other.max, &self.max);
        if o.stats.sum > s.stats.sum || (o.stats.sum == s.stats.sum && o.rank < s.rank) {
            self.max = other.max;
        }
    }

    /// Mean total over the ranks that entered, base unit.
    pub fn mean(&self) -> f64 {
        self.sum as f64 / f64::from(self.ranks.max(1))
    }

    /// Population standard deviation of the totals, base unit.
    pub fn stddev(&self) -> f64 {
        let n = f64::from(self.ranks.max(1));
        let mean = self.sum as f64 / n;
        (self.sumsq as f64 / n - mean * mean).max(0.0).sqrt()
    }

    /// `max / mean - 1`: 0 when perfectly balanced (and when the mean is 0).
    pub fn imbalance(&self) -> f64 {
        let mean = self.mean();
        if mean != 0.0 {
            self.max.stats.sum as f64 / mean - 1.0
        } else {
            0.0
        }
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
    fn statistics_skip_absent_ranks_and_name_world_ranks() {
        let r =
            Spread::of_column(&[total(4), None, total(2), total(6)], |c| 10 + c as u32).unwrap();
        assert_eq!(r.ranks, 3);
        assert_eq!((r.min.stats.sum, r.min.rank), (2, 12));
        assert_eq!((r.max.stats.sum, r.max.rank), (6, 13));
        assert_eq!(r.mean(), 4.0);
        assert!((r.stddev() - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r.imbalance() - 0.5).abs() < 1e-12);
        assert_eq!(Spread::of_column(&[None, None], |c| c as u32), None);
    }

    #[test]
    fn ties_go_to_the_lowest_rank_in_any_merge_order() {
        let a = Spread::of_rank(7, total(5).unwrap());
        let b = Spread::of_rank(3, total(5).unwrap());
        let (mut ab, mut ba) = (a, b);
        ab.merge(&b);
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!((ab.min.rank, ab.max.rank), (3, 3));
    }
}
