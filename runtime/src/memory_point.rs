//! Memory points: the process's resident set recorded at a moment, under a label.
//!
//! Each point is a node `memory points` → `<label>` of the calling thread's call tree holding the
//! non-additive metric `memory_point` (bytes), so every writer (JSON, text, HDF5, Caliper) shows
//! the points and the cross-rank merge gives each label's value per rank, min and max with their
//! rank, and mean, with no code of their own.

use crate::collectors::{self, Availability, Collector};
use crate::registry::{self, MetricId};
use crate::storage;

/// The node every memory point is recorded under (a child of the root).
pub const GROUP: &str = "memory points";

/// The collector whose reading is a point's value (`/proc/self/statm`, shared with `page_rss`).
const COLLECTOR: &str = "memory_point";

fn collector() -> &'static dyn Collector {
    collectors::find(COLLECTOR).expect("memory_point is a built-in collector")
}

/// Why the resident set cannot be read here, or `None` when it can.
pub fn unavailable() -> Option<String> {
    match collector().probe() {
        Availability::Available => None,
        Availability::Unavailable(why) => Some(why),
    }
}

/// The resident set size in bytes now, without recording anything; `None` when it cannot be
/// read here (see [`unavailable`]).
pub fn resident() -> Option<i64> {
    let c = collector();
    if unavailable().is_some() {
        return None;
    }
    let mut raw = vec![0; c.raw_len()];
    c.sample(&mut raw);
    Some(raw[0])
}

/// Records the point `label`: the resident set now, plus `others` (a collector with one metric
/// and the value the caller measured for it, e.g. the Python heap). Returns the resident set
/// recorded, or `None` when it cannot be read (then only `others` are recorded).
pub fn record(label: &str, others: &[(&'static dyn Collector, i64)]) -> Option<i64> {
    let rss = resident();
    let mut metrics: Vec<MetricId> = Vec::with_capacity(1 + others.len());
    let mut values = Vec::with_capacity(1 + others.len());
    if let Some(v) = rss {
        metrics.push(registry::first_metric(collector()));
        values.push(v);
    }
    for &(c, v) in others {
        metrics.push(registry::first_metric(c));
        values.push(v);
    }
    if !metrics.is_empty() {
        let path = [storage::intern(GROUP), storage::intern(label)];
        storage::record_at(&path, &metrics, &values);
    }
    rss
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::RankInfo;

    #[test]
    fn points_are_nodes_under_the_group_with_their_value() {
        let inside =
            crate::region::Region::with_components("memory-point-test-region", &["wall_clock"])
                .expect("wall_clock exists");
        let token = inside.start();
        let first = record("memory-point-test-a", &[]).expect("statm reads here");
        inside.stop(token);
        record("memory-point-test-b", &[]);
        assert!(first > 1 << 20, "resident set {first}");
        let p = storage::profile(true, RankInfo::default());
        let group = p
            .nodes
            .iter()
            .find(|n| n.name == GROUP)
            .expect("group node");
        // At the root whatever region was running, labels in the order they were recorded.
        assert_eq!((group.parent, group.depth), (None, 0));
        let labels: Vec<_> = p
            .nodes
            .iter()
            .filter(|n| n.parent == Some(group.id))
            .map(|n| (n.name.as_str(), n.stats["memory_point"]))
            .collect();
        assert_eq!(labels[0].0, "memory-point-test-a");
        assert_eq!(labels[1].0, "memory-point-test-b");
        assert_eq!((labels[0].1.laps, labels[0].1.sum), (1, first as i128));
        let desc = p.metric("memory_point").expect("metric described");
        assert!(!desc.additive);
    }
}
