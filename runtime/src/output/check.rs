//! Structural checks of a profile read from a file, so that a damaged or hand-edited file gives
//! a sentence instead of an index panic deep inside a writer.

use crate::profile::{MetricDesc, Profile, RankInfo};
use std::collections::BTreeSet;

/// Checks what writers rely on: node ids equal their position, parents come first, depths
/// follow parents, every metric at a node is described, and every per-rank column list has
/// one entry per rank; and what [`check_units`] checks. Returns the first problem found.
pub fn check(p: &Profile) -> Result<(), String> {
    check_units(&p.metrics, &p.ranks)?;
    let described: BTreeSet<&str> = p.metrics.iter().map(|m| m.name.as_str()).collect();
    for (i, n) in p.nodes.iter().enumerate() {
        let at = || format!("node {i} ({:?})", n.name);
        if n.id != i {
            return Err(format!(
                "{} has id {}, expected its position {i}",
                at(),
                n.id
            ));
        }
        let expected_depth = match n.parent {
            Some(parent) if parent >= i => {
                return Err(format!(
                    "{} has parent {parent}, which does not come before it",
                    at()
                ))
            }
            Some(parent) => p.nodes[parent].depth.checked_add(1),
            None => Some(0),
        };
        if Some(n.depth) != expected_depth {
            return Err(format!(
                "{} has depth {}, inconsistent with its parent",
                at(),
                n.depth
            ));
        }
        for name in n.stats.keys().chain(n.per_rank.keys()) {
            if !described.contains(name.as_str()) {
                return Err(format!(
                    "{} has metric {name:?}, missing from \"metrics\"",
                    at()
                ));
            }
        }
        for (name, cols) in &n.per_rank {
            if cols.len() != p.ranks.len() {
                return Err(format!(
                    "{} has {} per-rank values of {name:?} for {} ranks",
                    at(),
                    cols.len(),
                    p.ranks.len()
                ));
            }
        }
    }
    Ok(())
}

/// Checks the descriptions that come before any node (and, on the wire, in the header): every
/// unit scale (metrics', sampler series') is a finite positive number, so no writer produces a
/// NaN that JSON cannot hold; every sampler series has one value per point in time.
pub fn check_units(metrics: &[MetricDesc], ranks: &[RankInfo]) -> Result<(), String> {
    let bad_scale = |scale: f64| !(scale.is_finite() && scale > 0.0);
    if let Some(m) = metrics.iter().find(|m| bad_scale(m.scale)) {
        return Err(format!(
            "metric {:?} has scale {}, expected a finite number above 0",
            m.name, m.scale
        ));
    }
    for r in ranks {
        let Some(s) = &r.samples else { continue };
        if let Some(d) = s.series.iter().find(|d| bad_scale(d.scale)) {
            return Err(format!(
                "rank {}: series {:?} has scale {}, expected a finite number above 0",
                r.rank, d.name, d.scale
            ));
        }
        if s.columns.len() != s.series.len() || s.columns.iter().any(|c| c.len() != s.t_ns.len()) {
            return Err(format!(
                "rank {}: the sampler's series do not have one value per point in time",
                r.rank
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    #[test]
    fn accepts_samples_and_rejects_damage() {
        check(&sample::single()).unwrap();
        check(&sample::multi()).unwrap();

        let mut p = sample::single();
        p.nodes[2].parent = Some(3);
        assert!(check(&p).unwrap_err().contains("does not come before"));

        let mut p = sample::single();
        p.nodes[3].depth = 1;
        assert!(check(&p).unwrap_err().contains("depth"));

        let mut p = sample::multi();
        p.nodes[1].per_rank.get_mut("wall_clock").unwrap().pop();
        assert!(check(&p).unwrap_err().contains("per-rank"));

        let mut p = sample::single();
        p.metrics[0].scale = f64::NAN;
        assert!(check(&p).unwrap_err().contains("finite number above 0"));

        let mut p = sample::single();
        p.metrics.pop();
        assert!(check(&p).unwrap_err().contains("missing from"));

        let mut p = sample::single();
        p.nodes[1].id = 7;
        assert!(check(&p).unwrap_err().contains("position"));
    }
}
