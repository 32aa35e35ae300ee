//! One thread's call tree: an arena of nodes with interned names and per-metric statistics.
//!
//! Structure changes (new nodes, new metric slots) need `&mut Tree` and happen under the owning
//! [`ThreadStore`](super::thread::ThreadStore)'s lock. Recording a lap needs only `&Tree`: the
//! owner updates atomic cells inside the node's sequence counter, so readers on other threads can
//! copy a consistent node without ever blocking the owner's hot path.

use super::cell::{Seq, StatsCell};
use super::names::NameId;
use crate::profile::Stats;
use crate::registry::MetricId;
use std::ops::Range;

/// Index of a node in its tree's arena.
pub type NodeId = u32;

/// The root of every tree: holds no statistics, parents the top-level regions.
pub const ROOT: NodeId = 0;

/// Where a node keeps the values of a bundle's metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slots {
    /// The bundle's metrics occupy consecutive cells from this index, in bundle order.
    Run(u32),
    /// Mixed bundles at one node: each metric is looked up by id when recording.
    Scattered,
}

/// One region in the tree.
pub struct Node {
    /// Region name.
    pub name: NameId,
    /// 0 for the root, 1 for top-level regions.
    pub depth: u32,
    /// Start time of a timeline entry, ns on the CLOCK_MONOTONIC timeline.
    pub start_ns: Option<i64>,
    children: Vec<NodeId>,
    metrics: Vec<MetricId>,
    cells: Vec<StatsCell>,
    seq: Seq,
}

/// A copy of a whole tree taken by a reader: nodes in pre-order and their statistics in one
/// flat list, so that copying costs no allocation per node.
#[derive(Default)]
pub struct TreeCopy {
    /// Every node but the root, parents before children.
    pub nodes: Vec<NodeCopy>,
    /// Statistics per metric of every node, in node order; each node names its range.
    pub stats: Vec<(MetricId, Stats)>,
}

/// A copy of one node taken by a reader.
pub struct NodeCopy {
    /// Position of the parent in [`TreeCopy::nodes`], `None` for top-level regions.
    pub parent: Option<u32>,
    /// Region name.
    pub name: NameId,
    /// Depth (1 for top-level regions).
    pub depth: u32,
    /// Timeline start, when this is a timeline entry.
    pub start_ns: Option<i64>,
    /// Where this node's statistics are in [`TreeCopy::stats`].
    pub stats: Range<usize>,
}

impl TreeCopy {
    /// The statistics of one node, per metric.
    pub fn stats_of(&self, node: &NodeCopy) -> &[(MetricId, Stats)] {
        &self.stats[node.stats.clone()]
    }
}

/// The arena.
pub struct Tree {
    nodes: Vec<Node>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree holding only the root.
    pub fn new() -> Self {
        let mut t = Tree { nodes: Vec::new() };
        t.push(NameId(u32::MAX), 0, None);
        t
    }

    fn push(&mut self, name: NameId, depth: u32, start_ns: Option<i64>) -> NodeId {
        let id = self.nodes.len() as NodeId;
        self.nodes.push(Node {
            name,
            depth,
            start_ns,
            children: Vec::new(),
            metrics: Vec::new(),
            cells: Vec::new(),
            seq: Seq::default(),
        });
        id
    }

    /// The child of `parent` called `name` (timeline entries never match).
    #[inline]
    pub fn child(&self, parent: NodeId, name: NameId) -> Option<NodeId> {
        self.nodes[parent as usize]
            .children
            .iter()
            .copied()
            .find(|&c| {
                let n = &self.nodes[c as usize];
                n.name == name && n.start_ns.is_none()
            })
    }

    /// Adds a child of `parent`; `start_ns` makes it a timeline entry.
    pub fn add_child(&mut self, parent: NodeId, name: NameId, start_ns: Option<i64>) -> NodeId {
        let depth = self.nodes[parent as usize].depth + 1;
        let id = self.push(name, depth, start_ns);
        self.nodes[parent as usize].children.push(id);
        id
    }

    /// Where `node` keeps `metrics`, or `None` when some are missing (see [`Tree::add_slots`]).
    #[inline]
    pub fn slots(&self, node: NodeId, metrics: &[MetricId]) -> Option<Slots> {
        let have = &self.nodes[node as usize].metrics;
        let first = metrics.first()?;
        let at = have.iter().position(|m| m == first)?;
        if have[at..].starts_with(metrics) {
            Some(Slots::Run(at as u32))
        } else if metrics.iter().all(|m| have.contains(m)) {
            Some(Slots::Scattered)
        } else {
            None
        }
    }

    /// Adds the cells `node` lacks for `metrics` and says where they are.
    pub fn add_slots(&mut self, node: NodeId, metrics: &[MetricId]) -> Slots {
        let n = &mut self.nodes[node as usize];
        for m in metrics {
            if !n.metrics.contains(m) {
                n.metrics.push(*m);
                n.cells.push(StatsCell::new());
            }
        }
        self.slots(node, metrics)
            .expect("all slots were just added")
    }

    /// Records one lap of `values` (in `metrics` order) at `node`. Owner thread only.
    #[inline]
    pub fn record(&self, node: NodeId, slots: Slots, metrics: &[MetricId], values: &[i64]) {
        let n = &self.nodes[node as usize];
        let _write = n.seq.write();
        match slots {
            Slots::Run(at) => {
                for (cell, &v) in n.cells[at as usize..].iter().zip(values) {
                    cell.record(v);
                }
            }
            Slots::Scattered => {
                for (m, &v) in metrics.iter().zip(values) {
                    if let Some(i) = n.metrics.iter().position(|x| x == m) {
                        n.cells[i].record(v);
                    }
                }
            }
        }
    }

    /// Records one lap of one metric whose cell is `at` (its bundle's `Slots::Run(at)`) at
    /// `node`: the wall clock alone, most regions. Owner thread only.
    #[inline]
    pub fn record_one(&self, node: NodeId, at: u32, value: i64) {
        let n = &self.nodes[node as usize];
        let _write = n.seq.write();
        n.cells[at as usize].record(value);
    }

    /// Copies every node but the root in pre-order (parents first). Safe to call while the
    /// owner records.
    pub fn copy(&self) -> TreeCopy {
        let mut out = TreeCopy {
            nodes: Vec::with_capacity(self.nodes.len().saturating_sub(1)),
            stats: Vec::with_capacity(self.nodes.len()),
        };
        let mut stack: Vec<(NodeId, Option<u32>)> = self.nodes[ROOT as usize]
            .children
            .iter()
            .rev()
            .map(|&c| (c, None))
            .collect();
        while let Some((id, parent)) = stack.pop() {
            let n = &self.nodes[id as usize];
            let from = out.stats.len();
            n.seq.read(|| {
                // A retried read starts over from this node's first cell.
                out.stats.truncate(from);
                out.stats
                    .extend(n.metrics.iter().zip(&n.cells).map(|(&m, c)| (m, c.load())));
            });
            let at = out.nodes.len() as u32;
            out.nodes.push(NodeCopy {
                parent,
                name: n.name,
                depth: n.depth,
                start_ns: n.start_ns,
                stats: from..out.stats.len(),
            });
            stack.extend(n.children.iter().rev().map(|&c| (c, Some(at))));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::names::intern;

    #[test]
    fn builds_and_copies_in_preorder() {
        let mut t = Tree::new();
        let (a, b, c) = (intern("tree-a"), intern("tree-b"), intern("tree-c"));
        let na = t.add_child(ROOT, a, None);
        let nb = t.add_child(na, b, None);
        let nc = t.add_child(ROOT, c, None);
        assert_eq!(t.child(ROOT, a), Some(na));
        assert_eq!(t.child(na, b), Some(nb));
        assert_eq!(t.child(ROOT, b), None);
        let metrics = [0 as MetricId, 1];
        let s = t.add_slots(nb, &metrics);
        assert_eq!(s, Slots::Run(0));
        t.record(nb, s, &metrics, &[10, 20]);
        t.record(nb, s, &metrics, &[30, 40]);
        let copy = t.copy();
        let names: Vec<_> = copy.nodes.iter().map(|n| (n.parent, n.name)).collect();
        assert_eq!(names, [(None, a), (Some(0), b), (None, c)]);
        let stats = copy.stats_of(&copy.nodes[1]);
        assert_eq!((stats[0].1.sum, stats[1].1.sum), (40, 60));
        assert!(copy.stats_of(&copy.nodes[0]).is_empty());
        assert_eq!(copy.nodes[2].depth, 1);
        let _ = nc;
    }

    #[test]
    fn mixed_bundles_share_cells() {
        let mut t = Tree::new();
        let n = t.add_child(ROOT, intern("tree-mixed"), None);
        assert_eq!(t.slots(n, &[0]), None);
        assert_eq!(t.add_slots(n, &[0]), Slots::Run(0));
        assert_eq!(t.add_slots(n, &[0, 5]), Slots::Run(0));
        assert_eq!(t.add_slots(n, &[5]), Slots::Run(1));
        assert_eq!(t.add_slots(n, &[0, 7]), Slots::Scattered);
        t.record(n, Slots::Scattered, &[0, 7], &[1, 2]);
        t.record(n, Slots::Run(1), &[5], &[3]);
        let copy = t.copy();
        let got: Vec<_> = copy
            .stats_of(&copy.nodes[0])
            .iter()
            .map(|(m, s)| (*m, s.sum))
            .collect();
        assert_eq!(got, [(0, 1), (5, 3), (7, 2)]);
    }

    #[test]
    fn timeline_entries_are_distinct() {
        let mut t = Tree::new();
        let a = intern("tree-tl");
        let x = t.add_child(ROOT, a, Some(1));
        let y = t.add_child(ROOT, a, Some(2));
        assert_ne!(x, y);
        assert_eq!(t.child(ROOT, a), None);
    }
}
