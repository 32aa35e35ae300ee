//! Turning copied thread-tree nodes into the profile's [`NodeRecord`]s and [`MetricDesc`]s.
//!
//! Region and metric names are resolved once per distinct id (not once per node), and this is
//! the only place storage builds a `NodeRecord`, so a new field is added here alone.

use super::names::{self, NameId};
use super::tree::TreeCopy;
use crate::profile::{MetricDesc, NodeRecord, Stats};
use crate::registry::{self, MetricId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A node's name: an interned region name, or the synthetic node holding one thread's tree.
#[derive(Clone, Copy)]
pub enum Name {
    /// A region.
    Region(NameId),
    /// `thread-N`.
    Thread(u32),
}

/// Builds a profile's node table in order, with the names it needs resolved once.
#[derive(Default)]
pub struct Records {
    nodes: Vec<NodeRecord>,
    names: Vec<Option<Arc<str>>>,
    metric_names: Vec<Option<String>>,
    /// One node's statistics folded per metric, reused from node to node.
    folded: Vec<(MetricId, Stats)>,
}

impl Records {
    /// An empty table with room for `nodes` records.
    pub fn with_capacity(nodes: usize) -> Records {
        Records {
            nodes: Vec::with_capacity(nodes),
            ..Default::default()
        }
    }

    /// How many records were pushed so far (the id of the next one).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Appends a node of this process (its only rank column). `stats` are its values per
    /// metric; several values of one metric (the same node on several threads) are merged in
    /// the order given.
    pub fn push(
        &mut self,
        parent: Option<usize>,
        depth: u32,
        name: Name,
        thread: Option<u32>,
        start_ns: Option<i64>,
        stats: impl IntoIterator<Item = (MetricId, Stats)>,
    ) {
        self.folded.clear();
        for (m, s) in stats {
            match self.folded.iter_mut().find(|(have, _)| *have == m) {
                Some((_, into)) => into.merge(&s),
                None => self.folded.push((m, s)),
            }
        }
        let mut by_name = BTreeMap::new();
        let mut per_rank = BTreeMap::new();
        for i in 0..self.folded.len() {
            let (m, s) = self.folded[i];
            let key = self.metric_name(m);
            per_rank.insert(key.clone(), vec![Some(s)]);
            by_name.insert(key, s);
        }
        let name = match name {
            Name::Region(id) => self.region_name(id).to_string(),
            Name::Thread(t) => format!("thread-{t}"),
        };
        self.nodes.push(NodeRecord {
            id: self.nodes.len(),
            parent,
            depth,
            name,
            thread,
            start_ns,
            stats: by_name,
            per_rank,
            across_ranks: BTreeMap::new(),
        });
    }

    /// The finished table.
    pub fn into_nodes(self) -> Vec<NodeRecord> {
        self.nodes
    }

    fn region_name(&mut self, id: NameId) -> &str {
        let at = id.0 as usize;
        if at >= self.names.len() {
            self.names.resize(at + 1, None);
        }
        self.names[at].get_or_insert_with(|| names::resolve(id))
    }

    fn metric_name(&mut self, m: MetricId) -> String {
        let at = m as usize;
        if at >= self.metric_names.len() {
            self.metric_names.resize(at + 1, None);
        }
        self.metric_names[at]
            .get_or_insert_with(|| registry::metric(m).info.name.to_string())
            .clone()
    }
}

/// Statistics that hold a value: a cell exists from a region's first start but has none until
/// a stop.
pub fn stopped(stats: &[(MetricId, Stats)]) -> impl Iterator<Item = (MetricId, Stats)> + '_ {
    stats.iter().copied().filter(|(_, s)| s.laps > 0)
}

/// Adds the metrics a thread's tree holds values of, in metric id order, after those already
/// in `metrics` (a metric is listed once, where it first appears).
pub fn add_metrics(metrics: &mut Vec<MetricDesc>, copy: &TreeCopy) {
    let mut seen: Vec<bool> = Vec::new();
    for (m, _) in stopped(&copy.stats) {
        let at = m as usize;
        if at >= seen.len() {
            seen.resize(at + 1, false);
        }
        seen[at] = true;
    }
    for (m, _) in seen.iter().enumerate().filter(|(_, &s)| s) {
        let entry = registry::metric(m as MetricId);
        if metrics.iter().all(|d| d.name != entry.info.name) {
            metrics.push(MetricDesc::from_info(entry.collector.name(), entry.info));
        }
    }
}
