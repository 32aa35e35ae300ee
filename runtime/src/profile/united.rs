//! The union of call trees: the one algorithm behind every merge of profiles (threads of one
//! process, ranks of a job offline, and each hop of the MPI reduction).
//!
//! A node is identified by its path from the top, each step being (name, thread, start_ns):
//! timeline entries with different start times stay apart. Each rank's values are a flat list
//! of (node, metric, statistics) entries rather than one dense slot per rank and node, so
//! uniting two trees costs what the incoming side holds, and the dense per-rank lists of a
//! [`NodeRecord`] are built once, by [`United::into_nodes`].
//!
//! Children keep first-seen order (this side's children first, then the other's new ones), so
//! the outcome is deterministic and grouping does not change it: ((a b) c) and (a (b c)) give
//! the same table.

use super::{NodeRecord, Spread, Stats};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault};

/// Marks "no parent" in [`Node::parent`].
pub(crate) const TOP: u32 = u32::MAX;

/// One node of the united tree. Parents always come before their children.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    /// Position of the parent, or [`TOP`].
    pub parent: u32,
    pub name: String,
    pub thread: Option<u32>,
    pub start_ns: Option<i64>,
    /// Over-all statistics by metric key index.
    pub stats: Vec<(u32, Stats)>,
    /// How the ranks' totals spread, by metric key index: over every rank united here, those
    /// with a column and those without.
    pub spread: Vec<(u32, Spread)>,
}

/// One rank's statistics of one metric at one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Entry {
    pub node: u32,
    pub key: u32,
    pub stats: Stats,
}

/// Some ranks' trees, united: the node table and one entry list per rank column.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct United {
    /// Metric names used by nodes and entries, declared metrics first.
    pub keys: Vec<String>,
    pub nodes: Vec<Node>,
    /// One entry list per rank column.
    pub columns: Vec<Vec<Entry>>,
}

/// What happens to the other side's rank columns when two trees are united.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Columns {
    /// They come after this side's (the ranks of a job).
    Append,
    /// Column c is merged into column c (the threads of the same process(es)).
    Merge,
}

impl United {
    /// Takes a node table apart into one column per entry of `ranks` (the columns' MPI ranks;
    /// longer per-rank lists are cut, shorter ones count as absent). A node's spreads are its
    /// stored ones, else computed from its columns. `keys` starts the key list (the declared
    /// metrics, so their order is the wire's). Nodes are expected in pre-order; other orders,
    /// ids that are not positions and parent cycles are repaired.
    pub fn from_nodes(nodes: Vec<NodeRecord>, ranks: &[u32], keys: Vec<String>) -> United {
        let cols = ranks.len();
        let mut keys = keys;
        // A profile has a handful of metrics: a linear scan beats hashing every key string.
        let mut key_of = |k: String| -> u32 {
            if let Some(i) = keys.iter().position(|have| *have == k) {
                return i as u32;
            }
            keys.push(k);
            (keys.len() - 1) as u32
        };
        let parents = parent_positions(&nodes);
        let in_order = parents
            .iter()
            .enumerate()
            .all(|(i, &q)| q == TOP || (q as usize) < i);
        let order: Vec<u32> = if in_order {
            (0..nodes.len() as u32).collect()
        } else {
            preorder(&parents)
        };
        let mut new_pos = vec![0u32; nodes.len()];
        for (new, &old) in order.iter().enumerate() {
            new_pos[old as usize] = new as u32;
        }
        let mut columns: Vec<Vec<Entry>> =
            (0..cols).map(|_| Vec::with_capacity(nodes.len())).collect();
        let mut slots: Vec<Option<NodeRecord>> = nodes.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(slots.len());
        for (new, &old) in order.iter().enumerate() {
            let n = slots[old as usize].take().expect("each node once");
            let parent = match parents[old as usize] {
                TOP => TOP,
                q => new_pos[q as usize],
            };
            let stats = n.stats.into_iter().map(|(k, s)| (key_of(k), s)).collect();
            let mut spread: Vec<(u32, Spread)> = n
                .across_ranks
                .into_iter()
                .map(|(k, s)| (key_of(k), s))
                .collect();
            let stored = !spread.is_empty();
            for (k, col) in n.per_rank {
                let key = key_of(k);
                if !stored {
                    let of = |c: usize| ranks[c];
                    if let Some(s) = Spread::of_column(&col[..col.len().min(cols)], of) {
                        spread.push((key, s));
                    }
                }
                for (c, s) in col.into_iter().take(cols).enumerate() {
                    if let Some(stats) = s {
                        columns[c].push(Entry {
                            node: new as u32,
                            key,
                            stats,
                        });
                    }
                }
            }
            out.push(Node {
                // A parent placed after its child (only on a cycle) would break the invariant.
                parent: if parent != TOP && parent as usize >= new {
                    TOP
                } else {
                    parent
                },
                name: n.name,
                thread: n.thread,
                start_ns: n.start_ns,
                stats,
                spread,
            });
        }
        United {
            keys,
            nodes: out,
            columns,
        }
    }

    /// Unites `other` into this tree: nodes with the same path merge their over-all statistics,
    /// new ones are added; `other`'s rank columns are appended or merged per `columns`. Spreads
    /// merge when ranks are appended; when columns merge (the same ranks) this side's stay, as
    /// a rank counted twice would be wrong (the profile then has every rank's column, and its
    /// spreads are computed from them when it is built).
    pub fn unite(&mut self, other: United, columns: Columns) {
        let United {
            keys,
            nodes,
            columns: their_columns,
        } = other;
        let key_map: Vec<u32> = keys
            .into_iter()
            .map(|k| match self.keys.iter().position(|have| *have == k) {
                Some(i) => i as u32,
                None => {
                    self.keys.push(k);
                    (self.keys.len() - 1) as u32
                }
            })
            .collect();

        let mut index = NodeIndex::of(&self.nodes);
        let mut map: Vec<u32> = Vec::with_capacity(nodes.len());
        for mut n in nodes {
            n.parent = match n.parent {
                TOP => TOP,
                q => map[q as usize],
            };
            for (k, _) in &mut n.stats {
                *k = key_map[*k as usize];
            }
            for (k, _) in &mut n.spread {
                *k = key_map[*k as usize];
            }
            let id = match index.find(&self.nodes, n.parent, &n) {
                Some(id) => {
                    let into = &mut self.nodes[id as usize];
                    merge_by_key(&mut into.stats, n.stats, Stats::merge);
                    if columns == Columns::Append {
                        merge_by_key(&mut into.spread, n.spread, Spread::merge);
                    }
                    id
                }
                None => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(n);
                    index.add(&self.nodes, id);
                    id
                }
            };
            map.push(id);
        }
        for (c, mut col) in their_columns.into_iter().enumerate() {
            for e in &mut col {
                e.node = map[e.node as usize];
                e.key = key_map[e.key as usize];
            }
            match columns {
                Columns::Append => self.columns.push(col),
                // Duplicate (node, key) entries in a column are merged by `into_nodes`.
                Columns::Merge => match self.columns.get_mut(c) {
                    Some(mine) => mine.append(&mut col),
                    None => self.columns.push(col),
                },
            }
        }
    }

    /// Builds the node table: pre-order with fresh ids, depths, and dense per-rank lists of
    /// `cols` columns (entries of one column for the same node and metric are merged). Each
    /// column's entries are released as soon as they are placed, to keep the peak low. Spreads
    /// are stored in the nodes only with `store_spreads` (when some ranks have no column:
    /// otherwise they follow from the columns).
    pub fn into_nodes(self, cols: usize, store_spreads: bool) -> Vec<NodeRecord> {
        let United {
            keys,
            nodes,
            columns,
        } = self;
        let parents: Vec<u32> = nodes.iter().map(|n| n.parent).collect();
        let order = preorder(&parents);
        let mut new_id = vec![0usize; nodes.len()];
        for (new, &old) in order.iter().enumerate() {
            new_id[old as usize] = new;
        }
        // Dense lists per (old node position, key), filled column by column.
        let mut dense: Vec<Vec<(u32, Vec<Option<Stats>>)>> = vec![Vec::new(); nodes.len()];
        for (c, col) in columns.into_iter().enumerate().take(cols) {
            for e in col {
                let lists = &mut dense[e.node as usize];
                let list = match lists.iter().position(|(k, _)| *k == e.key) {
                    Some(i) => &mut lists[i].1,
                    None => {
                        lists.push((e.key, vec![None; cols]));
                        &mut lists.last_mut().expect("just pushed").1
                    }
                };
                match &mut list[c] {
                    Some(have) => have.merge(&e.stats),
                    slot => *slot = Some(e.stats),
                }
            }
        }
        let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
        let mut out: Vec<NodeRecord> = Vec::with_capacity(slots.len());
        for (new, &old) in order.iter().enumerate() {
            let n = slots[old as usize].take().expect("each node once");
            let parent = (n.parent != TOP).then(|| new_id[n.parent as usize]);
            let depth = parent.map_or(0, |q: usize| out[q].depth + 1);
            out.push(NodeRecord {
                id: new,
                parent,
                depth,
                name: n.name,
                thread: n.thread,
                start_ns: n.start_ns,
                stats: n
                    .stats
                    .into_iter()
                    .map(|(k, s)| (keys[k as usize].clone(), s))
                    .collect(),
                per_rank: std::mem::take(&mut dense[old as usize])
                    .into_iter()
                    .map(|(k, v)| (keys[k as usize].clone(), v))
                    .collect(),
                across_ranks: if store_spreads {
                    n.spread
                        .into_iter()
                        .map(|(k, s)| (keys[k as usize].clone(), s))
                        .collect()
                } else {
                    Default::default()
                },
            });
        }
        out
    }
}

/// Merges `from` into `into`, pairing values by metric key index.
fn merge_by_key<T>(into: &mut Vec<(u32, T)>, from: Vec<(u32, T)>, merge: fn(&mut T, &T)) {
    for (k, v) in from {
        match into.iter_mut().find(|(have, _)| *have == k) {
            Some((_, t)) => merge(t, &v),
            None => into.push((k, v)),
        }
    }
}

/// Each node's parent as a position in the table, or [`TOP`] (also for a missing parent).
fn parent_positions(nodes: &[NodeRecord]) -> Vec<u32> {
    // Ids are normally positions already; otherwise map them.
    let ids_are_positions = nodes.iter().enumerate().all(|(i, n)| n.id == i);
    let pos: HashMap<usize, u32> = if ids_are_positions {
        HashMap::new()
    } else {
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id, i as u32))
            .collect()
    };
    nodes
        .iter()
        .map(|n| match n.parent {
            None => TOP,
            Some(q) if ids_are_positions => u32::try_from(q).unwrap_or(TOP),
            Some(q) => pos.get(&q).copied().unwrap_or(TOP),
        })
        .collect()
}

/// Positions in depth-first pre-order, children in table order. Nodes whose parent is missing
/// or who sit on a parent cycle become top-level rather than being lost.
fn preorder(parents: &[u32]) -> Vec<u32> {
    let n = parents.len();
    let valid =
        |i: usize| parents[i] != TOP && (parents[i] as usize) < n && parents[i] as usize != i;
    let mut first_child = vec![u32::MAX; n];
    let mut next_sibling = vec![u32::MAX; n];
    // Link children in reverse so each list ends up in table order.
    for i in (0..n).rev() {
        if valid(i) {
            let p = parents[i] as usize;
            next_sibling[i] = first_child[p];
            first_child[p] = i as u32;
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    let mut stack: Vec<u32> = (0..n)
        .rev()
        .filter(|&i| !valid(i))
        .map(|i| i as u32)
        .collect();
    let walk = |stack: &mut Vec<u32>, order: &mut Vec<u32>, seen: &mut Vec<bool>| {
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i as usize], true) {
                continue;
            }
            order.push(i);
            let mut kids = Vec::new();
            let mut c = first_child[i as usize];
            while c != u32::MAX {
                kids.push(c);
                c = next_sibling[c as usize];
            }
            stack.extend(kids.into_iter().rev());
        }
    };
    walk(&mut stack, &mut order, &mut seen);
    for i in 0..n {
        if !seen[i] {
            stack.push(i as u32);
            walk(&mut stack, &mut order, &mut seen);
        }
    }
    order
}

/// Hash of a node's identity under `parent` with a fast non-cryptographic hasher (equality is
/// checked on every hit).
fn identity_hash(parent: u32, n: &Node) -> u64 {
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one((
        parent,
        n.name.as_str(),
        n.thread,
        n.start_ns,
    ))
}

/// Finds nodes by (parent, name, thread, start): a hash table of node positions whose equality
/// compares the nodes themselves, so only positions are stored.
struct NodeIndex {
    table: hashbrown::HashTable<u32>,
}

impl NodeIndex {
    fn of(nodes: &[Node]) -> NodeIndex {
        let mut ix = NodeIndex {
            table: hashbrown::HashTable::with_capacity(nodes.len()),
        };
        for (i, n) in nodes.iter().enumerate() {
            // The first of duplicate siblings keeps winning: later ones stay separate nodes.
            if ix.find(nodes, n.parent, n).is_none() {
                ix.add(nodes, i as u32);
            }
        }
        ix
    }

    /// Adds `nodes[id]`, which must not have a match in the index yet.
    fn add(&mut self, nodes: &[Node], id: u32) {
        let n = &nodes[id as usize];
        self.table
            .insert_unique(identity_hash(n.parent, n), id, |&at| {
                let c = &nodes[at as usize];
                identity_hash(c.parent, c)
            });
    }

    /// The first node that has `n`'s name, thread and start under `parent`.
    fn find(&self, nodes: &[Node], parent: u32, n: &Node) -> Option<u32> {
        let same = |&at: &u32| {
            let c = &nodes[at as usize];
            c.parent == parent
                && c.name == n.name
                && c.thread == n.thread
                && c.start_ns == n.start_ns
        };
        self.table.find(identity_hash(parent, n), same).copied()
    }
}
