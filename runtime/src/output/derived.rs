//! Values people read, derived from a profile's integer statistics: display units, exclusive
//! values, percentages and cross-rank statistics. The JSON "display" objects and the text
//! report both come from here, so they always agree.

use crate::profile::{MetricDesc, Profile};
use serde::Serialize;

/// One metric at one node, in the metric's display unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Shown {
    /// Laps over every rank.
    #[serde(skip)]
    pub laps: u64,
    /// Inclusive sum over every lap of every rank.
    pub sum: f64,
    /// Mean per lap.
    pub mean: f64,
    /// Smallest lap.
    pub min: f64,
    /// Largest lap.
    pub max: f64,
    /// Population standard deviation of the laps.
    pub stddev: f64,
    /// Sum minus the children's sums; additive metrics only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<f64>,
    /// Sum as a percentage of the parent's sum (of the run's total for top-level nodes);
    /// additive metrics only, absent when the reference is zero or missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_of_parent: Option<f64>,
    /// Sum as a percentage of the run's total (the sum of the top-level nodes); additive only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_of_total: Option<f64>,
    /// Spread over ranks, when the profile holds several ranks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranks: Option<AcrossRanks>,
}

/// How the per-rank totals of one node spread over ranks, in display units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct AcrossRanks {
    /// Ranks that entered the node.
    pub ranks: u32,
    /// Smallest per-rank total.
    pub min: f64,
    /// MPI rank holding the smallest total.
    pub min_rank: u32,
    /// Largest per-rank total.
    pub max: f64,
    /// MPI rank holding the largest total.
    pub max_rank: u32,
    /// Mean per-rank total over the ranks that entered.
    pub mean: f64,
    /// Population standard deviation of the per-rank totals.
    pub stddev: f64,
    /// `max / mean - 1`, a fraction (0 when balanced).
    pub imbalance: f64,
}

/// `x` (base unit) in the display unit. Units whose scale is the inverse of a whole number
/// (1e-9 for ns to s, 2^-20 for B to MiB) divide by that number instead of multiplying: IEEE
/// division rounds once, so 30e9 ns shows as 30 s rather than 30.000000000000004 s.
pub(crate) fn to_display(x: f64, scale: f64) -> f64 {
    let inverse = 1.0 / scale;
    let whole = inverse.round();
    if scale < 1.0 && whole >= 1.0 && (inverse - whole).abs() <= 1e-9 * whole {
        x / whole
    } else {
        x * scale
    }
}

/// Tree shape and per-metric totals computed once per profile, shared by every node's view.
pub(crate) struct Deriver<'a> {
    profile: &'a Profile,
    /// Children by node id.
    pub kids: Vec<Vec<usize>>,
    /// Top-level node ids in table order.
    pub top: Vec<usize>,
}

impl<'a> Deriver<'a> {
    /// Prepares derivation for one profile.
    pub fn new(profile: &'a Profile) -> Self {
        let (top, kids) = profile.children();
        Deriver { profile, kids, top }
    }

    /// The run's total of a metric: the sum of its top-level nodes' sums. Saturates, like
    /// [`crate::profile::Stats::merge`], so that absurd totals from a damaged file cannot panic.
    pub fn total(&self, metric: &str) -> i128 {
        self.top
            .iter()
            .filter_map(|&t| self.profile.nodes[t].stats.get(metric))
            .fold(0i128, |acc, s| acc.saturating_add(s.sum))
    }

    /// The view of `metric` at node `id`; `None` when the node has no such statistics.
    /// `total` is [`Deriver::total`] of the metric (passed in so callers compute it once).
    pub fn shown(&self, id: usize, m: &MetricDesc, total: i128) -> Option<Shown> {
        let p = self.profile;
        let node = &p.nodes[id];
        let s = node.stats.get(&m.name)?;
        let k = |x: f64| to_display(x, m.scale);
        let reference = match node.parent {
            Some(parent) => p.nodes[parent].stats.get(&m.name).map(|ps| ps.sum),
            None => Some(total),
        };
        let percent = |of: Option<i128>| match of {
            Some(r) if m.additive && r != 0 => Some(s.sum as f64 / r as f64 * 100.0),
            _ => None,
        };
        let (min, max) = if s.laps == 0 { (0, 0) } else { (s.min, s.max) };
        Some(Shown {
            laps: s.laps,
            sum: k(s.sum as f64),
            mean: k(s.mean()),
            min: k(min as f64),
            max: k(max as f64),
            stddev: k(s.stddev()),
            exclusive: p.exclusive(id, &m.name, &self.kids).map(|e| k(e as f64)),
            percent_of_parent: percent(reference),
            percent_of_total: percent(Some(total)),
            ranks: self.across_ranks(id, m),
        })
    }

    fn across_ranks(&self, id: usize, m: &MetricDesc) -> Option<AcrossRanks> {
        let p = self.profile;
        if p.rank_count() < 2 {
            return None;
        }
        let r = p.spread(id, &m.name)?;
        let k = |x: f64| to_display(x, m.scale);
        Some(AcrossRanks {
            ranks: r.ranks,
            min: k(r.min.stats.sum as f64),
            min_rank: r.min.rank,
            max: k(r.max.stats.sum as f64),
            max_rank: r.max.rank,
            mean: k(r.mean()),
            stddev: k(r.stddev()),
            imbalance: r.imbalance(),
        })
    }

    /// Node names from the top level down to `id`.
    pub fn path(&self, id: usize) -> Vec<&'a str> {
        let mut names = Vec::new();
        let mut cur = Some(id);
        while let Some(i) = cur {
            names.push(self.profile.nodes[i].name.as_str());
            cur = self.profile.nodes[i].parent;
        }
        names.reverse();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_scaling_rounds_once() {
        assert_eq!(to_display(30e9, 1e-9), 30.0);
        assert_eq!(to_display(1.75e9, 1e-9), 1.75);
        assert_eq!(to_display(3.0 * 1048576.0, 1.0 / 1048576.0), 3.0);
        assert_eq!(to_display(123.0, 1.0), 123.0);
        assert_eq!(to_display(5e5, 1e-4), 50.0);
        assert_eq!(to_display(10.0, 2.5), 25.0);
        assert_eq!(to_display(10.0, 0.4), 4.0);
    }
}
