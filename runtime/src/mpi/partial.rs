//! The form a profile travels in between ranks: the union of some ranks' trees plus, per rank,
//! only the values that rank measured.
//!
//! A [`Profile`] stores every node's per-rank values densely (one slot per rank, `None` where
//! absent), so merging two of them costs nodes x ranks and allocates per node and metric at
//! every hop. Here each rank's values are a flat list of (node, metric, statistics) entries: a
//! hop unites the node tables and renumbers the incoming entries, which costs what was
//! received, and the dense table is built once, on rank 0, by [`Partial::into_profile`].
//! The result is the same as folding the ranks' profiles with [`Profile::concat_ranks`].

use crate::profile::{MetricDesc, NodeRecord, Profile, RankInfo, Stats};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

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
}

/// One rank's statistics of one metric at one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Entry {
    pub node: u32,
    pub key: u32,
    pub stats: Stats,
}

/// Some ranks' profiles, united.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Partial {
    pub schema: String,
    /// Metadata values as JSON text: postcard cannot read `serde_json::Value` back, and merging
    /// only needs the keys.
    pub metadata: Vec<(String, String)>,
    pub metrics: Vec<MetricDesc>,
    pub diagnostics: Vec<String>,
    /// Metric names used by nodes and entries, declared metrics first.
    pub keys: Vec<String>,
    pub ranks: Vec<RankInfo>,
    pub nodes: Vec<Node>,
    /// One list per entry of `ranks`, in the same order.
    pub columns: Vec<Vec<Entry>>,
}

/// Passes an already mixed 64-bit key through: the map's keys are our own hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; keep something sensible for any other use.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Fast<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Hash of a node's identity under its parent (not cryptographic; collisions are checked).
fn identity(parent: u32, name: &str, thread: Option<u32>, start: Option<i64>) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = u64::from(parent).wrapping_mul(K);
    let mut chunks = name.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail) ^ name.len() as u64).wrapping_mul(K);
    h = (h.rotate_left(5) ^ thread.map_or(u64::MAX, u64::from)).wrapping_mul(K);
    h = (h.rotate_left(5) ^ start.map_or(0x5555, |s| s as u64)).wrapping_mul(K);
    h ^ (h >> 32)
}

/// Finds nodes by (parent, name, thread, start): heads of hash chains plus a `next` link per node.
struct NodeIndex {
    head: Fast<u32>,
    next: Vec<u32>,
}

impl NodeIndex {
    const END: u32 = u32::MAX;

    fn of(nodes: &[Node]) -> NodeIndex {
        let mut ix = NodeIndex {
            head: Fast::with_capacity_and_hasher(nodes.len(), Default::default()),
            next: Vec::with_capacity(nodes.len()),
        };
        for (i, n) in nodes.iter().enumerate() {
            ix.add(i as u32, n);
        }
        ix
    }

    fn add(&mut self, id: u32, n: &Node) {
        let h = identity(n.parent, &n.name, n.thread, n.start_ns);
        // Append at the chain's end so the first of duplicate siblings keeps winning.
        self.next.push(Self::END);
        match self.head.get(&h) {
            None => {
                self.head.insert(h, id);
            }
            Some(&first) => {
                let mut at = first;
                while self.next[at as usize] != Self::END {
                    at = self.next[at as usize];
                }
                self.next[at as usize] = id;
            }
        }
    }

    fn find(&self, nodes: &[Node], parent: u32, n: &Node) -> Option<u32> {
        let mut at = *self
            .head
            .get(&identity(parent, &n.name, n.thread, n.start_ns))?;
        loop {
            let c = &nodes[at as usize];
            if c.parent == parent
                && c.name == n.name
                && c.thread == n.thread
                && c.start_ns == n.start_ns
            {
                return Some(at);
            }
            at = self.next[at as usize];
            if at == Self::END {
                return None;
            }
        }
    }
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

impl Partial {
    /// Takes a profile apart. Its nodes are expected in pre-order (as [`Profile`] requires);
    /// other orders are repaired.
    pub fn from_profile(p: Profile) -> Partial {
        let Profile {
            schema,
            metadata,
            metrics,
            ranks,
            nodes,
            diagnostics,
        } = p;
        let mut keys: Vec<String> = metrics.iter().map(|m| m.name.clone()).collect();
        // A profile has a handful of metrics: a linear scan beats hashing every key string.
        let mut key_of = |k: String| -> u32 {
            if let Some(i) = keys.iter().position(|have| *have == k) {
                return i as u32;
            }
            keys.push(k);
            (keys.len() - 1) as u32
        };
        // Positions by id, for parents; ids are normally positions already.
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
        let parent_of = |n: &NodeRecord| -> u32 {
            match n.parent {
                None => TOP,
                Some(q) if ids_are_positions => u32::try_from(q).unwrap_or(TOP),
                Some(q) => pos.get(&q).copied().unwrap_or(TOP),
            }
        };
        let parents: Vec<u32> = nodes.iter().map(parent_of).collect();
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
        let cols = ranks.len();
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
            for (k, col) in n.per_rank {
                let key = key_of(k);
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
            });
        }
        Partial {
            schema,
            metadata: metadata
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
            metrics,
            diagnostics,
            keys,
            ranks,
            nodes: out,
            columns,
        }
    }

    /// Appends `other`'s ranks after this one's and unites the trees, like
    /// [`Profile::concat_ranks`]: metadata keys missing here, new metrics and diagnostics come
    /// from `other`.
    pub fn concat(&mut self, other: Partial) {
        let Partial {
            schema,
            metadata,
            metrics,
            diagnostics,
            keys,
            ranks,
            nodes,
            columns,
        } = other;
        if self.schema.is_empty() {
            self.schema = schema;
        }
        for (k, v) in metadata {
            if !self.metadata.iter().any(|(have, _)| *have == k) {
                self.metadata.push((k, v));
            }
        }
        for m in metrics {
            if !self.metrics.iter().any(|have| have.name == m.name) {
                self.metrics.push(m);
            }
        }
        self.diagnostics.extend(diagnostics);
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
            let id = match index.find(&self.nodes, n.parent, &n) {
                Some(id) => {
                    let into = &mut self.nodes[id as usize].stats;
                    for (k, s) in n.stats {
                        match into.iter_mut().find(|(have, _)| *have == k) {
                            Some((_, t)) => t.merge(&s),
                            None => into.push((k, s)),
                        }
                    }
                    id
                }
                None => {
                    let id = self.nodes.len() as u32;
                    index.add(id, &n);
                    self.nodes.push(n);
                    id
                }
            };
            map.push(id);
        }
        for mut col in columns {
            for e in &mut col {
                e.node = map[e.node as usize];
                e.key = key_map[e.key as usize];
            }
            self.columns.push(col);
        }
        self.ranks.extend(ranks);
    }

    /// Builds the profile: nodes in pre-order with fresh ids, dense per-rank lists. Each
    /// rank's entries are released as soon as they are placed, to keep the peak low.
    pub fn into_profile(self) -> Profile {
        let Partial {
            schema,
            metadata,
            metrics,
            diagnostics,
            keys,
            ranks,
            nodes,
            columns,
        } = self;
        let cols = ranks.len();
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
                list[c] = Some(e.stats);
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
            });
        }
        Profile {
            schema,
            metadata: metadata
                .into_iter()
                .map(|(k, v)| {
                    let v = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
                    (k, v)
                })
                .collect::<BTreeMap<_, _>>(),
            metrics,
            ranks,
            nodes: out,
            diagnostics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stats(v: i64) -> Stats {
        let mut s = Stats::EMPTY;
        s.record(v);
        s.record(v / 2);
        s
    }

    /// A one-rank profile over paths given as name lists (ancestors created as needed).
    fn profile(rank: u32, paths: &[Vec<&str>], salt: i64) -> Profile {
        let mut p = Profile::new();
        p.metrics.push(MetricDesc {
            name: "t".into(),
            collector: "c".into(),
            unit: "ns".into(),
            display_unit: "s".into(),
            scale: 1e-9,
            additive: true,
            description: String::new(),
        });
        p.metadata
            .insert(format!("k{rank}"), serde_json::json!({"r": rank}));
        let mut by_path: HashMap<Vec<&str>, usize> = HashMap::new();
        for path in paths {
            let mut parent = None;
            for d in 0..path.len() {
                let key = path[..=d].to_vec();
                let id = *by_path.entry(key).or_insert_with(|| {
                    let id = p.nodes.len();
                    let s = stats(salt + id as i64 * 10);
                    p.nodes.push(NodeRecord {
                        id,
                        parent,
                        depth: d as u32,
                        name: path[d].to_string(),
                        thread: None,
                        start_ns: None,
                        stats: BTreeMap::from([("t".to_string(), s)]),
                        per_rank: BTreeMap::new(),
                    });
                    id
                });
                parent = Some(id);
            }
        }
        // Profile wants pre-order: the fold with an empty profile (concat of nothing) fixes it.
        let mut fixed = Profile::new();
        fixed.merge_same_rank(&p);
        fixed.metadata = p.metadata;
        fixed.assign_rank(RankInfo {
            rank,
            hostname: format!("h{rank}"),
            pid: rank,
            binding: None,
            samples: None,
            clock_offset_ns: None,
        });
        fixed
    }

    const NAMES: [&str; 3] = ["a", "b", "c"];

    fn paths() -> impl Strategy<Value = Vec<Vec<usize>>> {
        prop::collection::vec(prop::collection::vec(0..3usize, 1..4), 0..6)
    }

    fn build(rank: u32, p: &[Vec<usize>]) -> Profile {
        let named: Vec<Vec<&str>> = p
            .iter()
            .map(|v| v.iter().map(|&i| NAMES[i]).collect())
            .collect();
        profile(rank, &named, rank as i64 * 1000)
    }

    proptest! {
        /// Any tree of merges gives exactly what folding the profiles with concat_ranks gives.
        #[test]
        fn same_as_concat_ranks(ranks in prop::collection::vec(paths(), 1..7), split in 0usize..7) {
            let profiles: Vec<Profile> =
                ranks.iter().enumerate().map(|(r, p)| build(r as u32, p)).collect();
            let mut want = profiles[0].clone();
            for p in &profiles[1..] {
                want.concat_ranks(p.clone());
            }
            // Two halves merged separately, then together: a two-level reduction tree.
            let split = split.min(profiles.len() - 1).max(1).min(profiles.len());
            let half = |ps: &[Profile]| {
                let mut it = ps.iter().cloned().map(Partial::from_profile);
                let mut acc = it.next();
                for p in it {
                    acc.as_mut().unwrap().concat(p);
                }
                acc
            };
            let mut got = half(&profiles[..split]).unwrap();
            if let Some(rest) = half(&profiles[split..]) {
                got.concat(rest);
            }
            // Through the bytes, as on the wire.
            let got = super::super::wire::decode_partial(&super::super::wire::encode_partial(&got)).unwrap();
            prop_assert_eq!(got.into_profile(), want);
        }
    }

    #[test]
    fn round_trip_of_a_profile_is_exact() {
        let p = build(3, &[vec![0, 1], vec![2], vec![0, 2, 1]]);
        assert_eq!(Partial::from_profile(p.clone()).into_profile(), p);
    }

    #[test]
    fn out_of_order_tables_are_repaired() {
        let mut p = build(0, &[vec![0, 1, 2]]);
        p.nodes.reverse();
        let out = Partial::from_profile(p).into_profile();
        let names: Vec<&str> = out.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(out.nodes[2].depth, 2);
    }

    #[test]
    fn identity_hash_separates_fields() {
        let h = |p, n: &str, t, s| identity(p, n, t, s);
        assert_ne!(h(0, "a", None, None), h(1, "a", None, None));
        assert_ne!(h(0, "a", None, None), h(0, "a", Some(0), None));
        assert_ne!(h(0, "a", None, None), h(0, "a", None, Some(0)));
        assert_ne!(h(0, "abcdefgh", None, None), h(0, "abcdefgh\0", None, None));
    }
}
