//! Serializable profile: run metadata, metric descriptions and a flat node table.
//!
//! Nodes are stored flat (id, parent, depth) rather than nested so that deep trees neither
//! overflow a reader's recursion limit nor differ in shape from the HDF5 node table.

use super::{Spread, Stats};
use crate::sampler::Samples;
use rankscope_collectors::topology::Binding;
use rankscope_collectors::{MetricInfo, Unit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema tag written into every native JSON profile.
pub const SCHEMA: &str = "rankscope-profile/1";

/// One process's measurements.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Always [`SCHEMA`] for files this version writes.
    pub schema: String,
    /// Run metadata: start time, command line, hostname, pid, version, settings, ...
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Every metric that appears in `nodes`.
    pub metrics: Vec<MetricDesc>,
    /// The processes whose values are kept, in column order of [`NodeRecord::per_rank`]. One
    /// entry for a single process; rank 0's merged result holds every rank up to setting
    /// `per_rank_max`, above it only the ranks of `rank_filter`.
    #[serde(default)]
    pub ranks: Vec<RankInfo>,
    /// How many ranks' measurements the node statistics hold ([`Profile::rank_count`]): more
    /// than `ranks` when some ranks' values were reduced to statistics only. 0 (left out of
    /// the JSON) means `ranks.len()`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub merged_ranks: u32,
    /// Nodes in pre-order: a parent always comes before its children.
    pub nodes: Vec<NodeRecord>,
    /// Problems met while measuring (unmatched stops, unavailable collectors), for people.
    #[serde(default)]
    pub diagnostics: Vec<String>,
}

/// How to read one metric's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricDesc {
    /// Metric name (`wall_clock`, `page_faults.major`).
    pub name: String,
    /// Collector that produced it.
    pub collector: String,
    /// Base unit of the integer statistics (`ns`, `B`, `count`, `ppm`).
    pub unit: String,
    /// Unit people read (`s`, `MiB`, ``, `%`).
    pub display_unit: String,
    /// Factor from `unit` to `display_unit`.
    pub scale: f64,
    /// Whether exclusive values (self minus children) make sense.
    pub additive: bool,
    /// One line for people.
    pub description: String,
}

impl MetricDesc {
    /// Describes a collector metric.
    pub fn from_info(collector: &str, info: &MetricInfo) -> Self {
        MetricDesc {
            name: info.name.to_string(),
            collector: collector.to_string(),
            unit: info.unit.base().to_string(),
            display_unit: info.unit.display().to_string(),
            scale: info.unit.scale(),
            additive: info.additive,
            description: info.description.to_string(),
        }
    }

    /// The base unit, when it is one this version knows.
    pub fn base_unit(&self) -> Option<Unit> {
        Unit::from_base(&self.unit)
    }
}

/// One node of the call tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Index of this node in [`Profile::nodes`].
    pub id: usize,
    /// Parent's id; `None` for top-level nodes.
    pub parent: Option<usize>,
    /// 0 for top-level nodes.
    pub depth: u32,
    /// Region name.
    pub name: String,
    /// Thread index when threads are kept apart (set on the synthetic `thread-N` node and below),
    /// and on every timeline entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<u32>,
    /// Start time in ns on the CLOCK_MONOTONIC timeline, for timeline entries only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<i64>,
    /// Statistics per metric name over every lap of every rank (inclusive, base units).
    pub stats: BTreeMap<String, Stats>,
    /// Per metric, one entry per rank of [`Profile::ranks`]: that rank's statistics, or `None`
    /// where the rank never entered this node.
    #[serde(default)]
    pub per_rank: BTreeMap<String, Vec<Option<Stats>>>,
    /// Per metric, how the ranks' totals spread over every rank merged (also those without a
    /// column). Empty in a one-process profile and in files from before: then it is computed
    /// from `per_rank` ([`Profile::spread`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub across_ranks: BTreeMap<String, Spread>,
}

/// The MPI rank of column `c` of a rank list (its position when the list is shorter).
fn rank_of_column(ranks: &[RankInfo], c: usize) -> u32 {
    ranks.get(c).map_or(c as u32, |r| r.rank)
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Identity of one process in a profile, and what was sampled of it over time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankInfo {
    /// MPI rank in MPI_COMM_WORLD (0 without MPI).
    pub rank: u32,
    /// Host the rank ran on.
    pub hostname: String,
    /// Process id.
    pub pid: u32,
    /// Where the rank was bound to run (hwloc; OS indices), `None` in files written before
    /// rankscope recorded it and in profiles built by hand.
    #[serde(default)]
    pub binding: Option<Binding>,
    /// The rank's memory and CPU over time from the sampler (setting `sampler`), `None` when it
    /// did not run.
    #[serde(default)]
    pub samples: Option<Samples>,
    /// This rank's realtime clock minus its monotonic clock, ns, read with the binding: adding
    /// it to a timeline entry's `start_ns` gives Unix time, so ranks of different hosts line up
    /// in trace.json. `None` in files written before rankscope recorded it.
    #[serde(default)]
    pub clock_offset_ns: Option<i64>,
}

impl Profile {
    /// An empty profile with the current schema tag.
    pub fn new() -> Self {
        Profile {
            schema: SCHEMA.to_string(),
            ..Default::default()
        }
    }

    /// The description of a metric by name.
    pub fn metric(&self, name: &str) -> Option<&MetricDesc> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// How many ranks' measurements the node statistics hold: every rank merged, whether or
    /// not its values are kept as a column.
    pub fn rank_count(&self) -> u32 {
        if self.merged_ranks == 0 {
            self.ranks.len() as u32
        } else {
            self.merged_ranks
        }
    }

    /// Whether every merged rank's values are kept as a column.
    pub fn has_every_rank(&self) -> bool {
        self.ranks.len() as u32 >= self.rank_count()
    }

    /// How `metric`'s per-rank totals at node `id` spread over the ranks: the stored statistics,
    /// or those of the node's per-rank column. `None` when no rank entered the node.
    pub fn spread(&self, id: usize, metric: &str) -> Option<Spread> {
        let node = &self.nodes[id];
        match node.across_ranks.get(metric) {
            Some(s) => Some(*s),
            None => Spread::of_column(node.per_rank.get(metric)?, |c| self.column_rank(c)),
        }
    }

    /// The MPI rank of column `c` (its position when the rank list is shorter).
    pub fn column_rank(&self, c: usize) -> u32 {
        rank_of_column(&self.ranks, c)
    }

    /// Stores in every node the spreads it does not have yet, computed from its columns, so
    /// that readers of the JSON find them whatever the number of ranks.
    pub fn store_spreads(&mut self) {
        let ranks = &self.ranks;
        let rank = |c: usize| rank_of_column(ranks, c);
        for node in &mut self.nodes {
            for (m, col) in &node.per_rank {
                if !node.across_ranks.contains_key(m) {
                    if let Some(s) = Spread::of_column(col, rank) {
                        node.across_ranks.insert(m.clone(), s);
                    }
                }
            }
        }
    }

    /// Keeps the values of the ranks `keep` accepts and reduces the others to statistics:
    /// every node's spread is stored first (so nothing of theirs is lost from it), then the
    /// other ranks' columns and rank entries are dropped.
    pub fn keep_ranks(&mut self, keep: impl Fn(u32) -> bool) {
        let kept: Vec<bool> = self.ranks.iter().map(|r| keep(r.rank)).collect();
        if kept.iter().all(|&k| k) {
            return;
        }
        self.merged_ranks = self.rank_count();
        self.store_spreads();
        for node in &mut self.nodes {
            for col in node.per_rank.values_mut() {
                let mut k = kept.iter();
                col.retain(|_| *k.next().unwrap_or(&false));
            }
            node.per_rank
                .retain(|_, col| col.iter().any(Option::is_some));
        }
        let mut k = kept.iter();
        self.ranks.retain(|_| *k.next().unwrap_or(&false));
    }

    /// Children of each node, by id (top-level nodes are the children of `None`, returned apart).
    pub fn children(&self) -> (Vec<usize>, Vec<Vec<usize>>) {
        let mut top = Vec::new();
        let mut kids = vec![Vec::new(); self.nodes.len()];
        for n in &self.nodes {
            match n.parent {
                Some(p) => kids[p].push(n.id),
                None => top.push(n.id),
            }
        }
        (top, kids)
    }

    /// One rank's own tree: the nodes that rank entered (with their ancestors), its statistics
    /// as the node statistics, and only its column. `col` indexes [`Profile::ranks`].
    pub fn rank_view(&self, col: usize) -> Profile {
        let entered = |n: &NodeRecord| {
            n.per_rank
                .values()
                .any(|v| v.get(col).is_some_and(Option::is_some))
        };
        // Keep a node when it or a descendant was entered: walk children before parents.
        let mut keep: Vec<bool> = self.nodes.iter().map(entered).collect();
        for n in self.nodes.iter().rev() {
            if let (true, Some(p)) = (keep[n.id], n.parent) {
                keep[p] = true;
            }
        }
        let mut new_id = vec![usize::MAX; self.nodes.len()];
        let mut out = Profile {
            schema: self.schema.clone(),
            metadata: self.metadata.clone(),
            metrics: self.metrics.clone(),
            ranks: self.ranks.get(col).cloned().into_iter().collect(),
            merged_ranks: 0,
            nodes: Vec::new(),
            diagnostics: self.diagnostics.clone(),
        };
        for n in self.nodes.iter().filter(|n| keep[n.id]) {
            new_id[n.id] = out.nodes.len();
            let own: BTreeMap<String, Stats> = n
                .per_rank
                .iter()
                .filter_map(|(m, v)| Some((m.clone(), (*v.get(col)?)?)))
                .collect();
            out.nodes.push(NodeRecord {
                id: out.nodes.len(),
                parent: n.parent.map(|p| new_id[p]),
                depth: n.depth,
                name: n.name.clone(),
                thread: n.thread,
                start_ns: n.start_ns,
                per_rank: own
                    .iter()
                    .map(|(m, s)| (m.clone(), vec![Some(*s)]))
                    .collect(),
                stats: own,
                across_ranks: BTreeMap::new(),
            });
        }
        out
    }

    /// Exclusive value of `metric` at node `id`: its sum minus its children's sums.
    /// `None` when the metric is absent there or not additive.
    pub fn exclusive(&self, id: usize, metric: &str, kids: &[Vec<usize>]) -> Option<i128> {
        if !self.metric(metric)?.additive {
            return None;
        }
        let own = self.nodes[id].stats.get(metric)?.sum;
        let children: i128 = kids[id]
            .iter()
            .filter_map(|&c| self.nodes[c].stats.get(metric))
            .map(|s| s.sum)
            .sum();
        Some(own - children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-rank profile with the given (path, wall-clock sum) nodes, paths as "a/b".
    fn one_rank(rank: u32, nodes: &[(&str, i64)]) -> Profile {
        let mut p = Profile::new();
        p.ranks = vec![RankInfo {
            rank,
            ..Default::default()
        }];
        for (path, v) in nodes {
            let names: Vec<&str> = path.split('/').collect();
            let parent = (names.len() > 1).then(|| {
                let want = names[..names.len() - 1].join("/");
                nodes.iter().position(|(q, _)| *q == want).unwrap()
            });
            let mut s = Stats::EMPTY;
            s.record(*v);
            p.nodes.push(NodeRecord {
                id: p.nodes.len(),
                parent,
                depth: names.len() as u32 - 1,
                name: names.last().unwrap().to_string(),
                thread: None,
                start_ns: None,
                stats: [("wall_clock".to_string(), s)].into(),
                per_rank: [("wall_clock".to_string(), vec![Some(s)])].into(),
                across_ranks: BTreeMap::new(),
            });
        }
        p
    }

    #[test]
    fn rank_view_recovers_each_rank_from_the_merged_profile() {
        let r0 = one_rank(0, &[("main", 10), ("main/a", 4)]);
        let r1 = one_rank(1, &[("main", 20), ("main/b", 7), ("main/b/c", 1)]);
        let mut merged = r0.clone();
        merged.concat_ranks(r1.clone());
        for (col, original) in [(0, &r0), (1, &r1)] {
            let view = merged.rank_view(col);
            assert_eq!(view.ranks, original.ranks);
            assert_eq!(view.nodes, original.nodes, "rank {col}");
        }
    }
}
