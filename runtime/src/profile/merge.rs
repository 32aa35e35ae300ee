//! Combining profiles: the threads of one process ([`Profile::merge_same_rank`]) and the
//! processes of a job ([`Profile::concat_ranks`], `rankscope merge`). Both are the one union of
//! [`super::united`], reached through the mergeable form [`Partial`], which the MPI reduction
//! also uses at each hop.

use super::partial::Partial;
use super::{Profile, RankInfo};

impl Profile {
    /// Folds `other`, measured by the same process(es), into this profile: used to collapse the
    /// threads of one process. Statistics of nodes with the same path are merged, per-rank
    /// columns element-wise; metrics are united, diagnostics appended, and metadata keys missing
    /// here are taken from `other`.
    ///
    /// Both sides should have the same number of rank columns. If they differ, the shorter side
    /// counts as absent (`None`) in the missing columns, and the ranks `other` has beyond this
    /// profile's are added to its rank list.
    pub fn merge_same_rank(&mut self, other: &Profile) {
        let mut acc = Partial::from_profile(std::mem::take(self));
        acc.merge_same_rank(Partial::from_profile(other.clone()));
        *self = acc.into_profile();
    }

    /// Appends the ranks of `other` as new columns after this profile's and unites the trees:
    /// a node present on one side only is absent (`None`) in the other side's columns, and the
    /// over-all `stats` are merged. Column counts are `ranks.len()` on each side. Metrics are
    /// united, diagnostics appended, and metadata keys missing here are taken from `other`.
    pub fn concat_ranks(&mut self, other: Profile) {
        let mut acc = Partial::from_profile(std::mem::take(self));
        acc.concat(Partial::from_profile(other));
        *self = acc.into_profile();
    }

    /// [`concat_ranks`](Self::concat_ranks) of every profile in order, building the dense
    /// per-rank table once at the end rather than at each step. `None` for no profiles.
    pub fn concat_all(profiles: impl IntoIterator<Item = Profile>) -> Option<Profile> {
        let mut it = profiles.into_iter().map(Partial::from_profile);
        let mut acc = it.next()?;
        it.for_each(|p| acc.concat(p));
        Some(acc.into_profile())
    }

    /// Makes a one-process profile self-describing before it leaves the process: when it has no
    /// rank column yet, `info` becomes its only column and every node's per-rank value is its
    /// over-all statistics; when it has one column with an empty hostname, that entry is
    /// replaced by `info`. Profiles already holding several ranks are left alone.
    pub fn assign_rank(&mut self, info: RankInfo) {
        match self.ranks.len() {
            0 => {
                self.ranks.push(info);
                for node in &mut self.nodes {
                    for (m, s) in &node.stats {
                        node.per_rank.insert(m.clone(), vec![Some(*s)]);
                    }
                }
            }
            1 if self.ranks[0].hostname.is_empty() => self.ranks[0] = info,
            _ => {}
        }
    }

    /// Metrics, diagnostics, metadata and schema: the parts that are not the node table or the
    /// rank list.
    pub(crate) fn absorb_header(&mut self, other: &Profile) {
        if self.schema.is_empty() {
            self.schema = other.schema.clone();
        }
        for m in &other.metrics {
            if self.metric(&m.name).is_none() {
                self.metrics.push(m.clone());
            }
        }
        self.diagnostics.extend(other.diagnostics.iter().cloned());
        for (k, v) in &other.metadata {
            self.metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{MetricDesc, NodeRecord, Stats};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    type Path = Vec<(String, Option<u32>, Option<i64>)>;
    /// A node path, a metric, and each column's samples (`None`: absent in that column).
    type Spec<'a> = (Vec<&'a str>, &'a str, Vec<Option<Vec<i64>>>);

    fn metric(name: &str) -> MetricDesc {
        MetricDesc {
            name: name.into(),
            collector: "test".into(),
            unit: "ns".into(),
            display_unit: "s".into(),
            scale: 1e-9,
            additive: true,
            description: String::new(),
        }
    }

    fn stats(v: &[i64]) -> Stats {
        let mut s = Stats::EMPTY;
        v.iter().for_each(|&x| s.record(x));
        s
    }

    /// Builds a profile from (path, metric, per-column values) entries, independently of the
    /// merge code: ancestors are created as needed, in first-seen order.
    fn build(cols: usize, entries: &[Spec]) -> Profile {
        let mut p = Profile::new();
        p.ranks = (0..cols)
            .map(|r| RankInfo {
                rank: r as u32,
                hostname: format!("h{r}"),
                pid: r as u32,
                binding: None,
                samples: None,
                clock_offset_ns: None,
            })
            .collect();
        let mut ids: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        let mut tmp: Vec<NodeRecord> = Vec::new();
        for (path, m, vals) in entries {
            let mut parent = None;
            for d in 0..path.len() {
                let key: Vec<String> = path[..=d].iter().map(|s| s.to_string()).collect();
                let id = *ids.entry(key).or_insert_with(|| {
                    tmp.push(NodeRecord {
                        across_ranks: Default::default(),
                        id: tmp.len(),
                        parent,
                        depth: d as u32,
                        name: path[d].to_string(),
                        thread: None,
                        start_ns: None,
                        stats: BTreeMap::new(),
                        per_rank: BTreeMap::new(),
                    });
                    tmp.len() - 1
                });
                parent = Some(id);
            }
            let node = &mut tmp[parent.unwrap()];
            let col: Vec<Option<Stats>> = vals.iter().map(|v| v.as_deref().map(stats)).collect();
            let mut all = Stats::EMPTY;
            col.iter().flatten().for_each(|s| all.merge(s));
            node.stats.insert(m.to_string(), all);
            node.per_rank.insert(m.to_string(), col);
            if p.metric(m).is_none() {
                p.metrics.push(metric(m));
            }
        }
        p.nodes = tmp;
        // First-seen order is not always pre-order: the mergeable form's repair fixes it.
        Partial::from_profile(p).into_profile()
    }

    /// True when each node's parent is the nearest earlier node one level up, which together
    /// with parents-before-children means the table is a pre-order walk.
    fn is_preorder(nodes: &[NodeRecord]) -> bool {
        let mut path: Vec<usize> = Vec::new();
        for n in nodes {
            path.truncate(n.depth as usize);
            if path.len() != n.depth as usize || path.last().copied() != n.parent {
                return false;
            }
            path.push(n.id);
        }
        true
    }

    fn path_of(p: &Profile, id: usize) -> Path {
        let mut path = Vec::new();
        let mut cur = Some(id);
        while let Some(i) = cur {
            let n = &p.nodes[i];
            path.push((n.name.clone(), n.thread, n.start_ns));
            cur = n.parent;
        }
        path.reverse();
        path
    }

    type Canon = (
        Vec<String>,
        Vec<(
            Path,
            BTreeMap<String, Stats>,
            BTreeMap<String, Vec<Option<Stats>>>,
        )>,
    );

    /// Order-free view: metric names sorted, nodes sorted by path.
    fn canon(p: &Profile) -> Canon {
        let mut metrics: Vec<String> = p.metrics.iter().map(|m| m.name.clone()).collect();
        metrics.sort();
        let mut nodes: Vec<_> = p
            .nodes
            .iter()
            .map(|n| (path_of(p, n.id), n.stats.clone(), n.per_rank.clone()))
            .collect();
        nodes.sort_by(|a, b| a.0.cmp(&b.0));
        (metrics, nodes)
    }

    fn check_table(p: &Profile) {
        assert!(is_preorder(&p.nodes), "not pre-order: {:?}", p.nodes);
        for (i, n) in p.nodes.iter().enumerate() {
            assert_eq!(n.id, i);
            for col in n.per_rank.values() {
                assert_eq!(col.len(), p.ranks.len());
            }
        }
    }

    #[test]
    fn same_rank_merge_unites_and_sums() {
        let mut a = build(
            1,
            &[
                (vec!["main"], "t", vec![Some(vec![10])]),
                (vec!["main", "x"], "t", vec![Some(vec![3, 4])]),
            ],
        );
        a.metadata.insert("k".into(), "a".into());
        let mut b = build(
            1,
            &[
                (vec!["main"], "t", vec![Some(vec![20])]),
                (vec!["main", "y"], "t", vec![Some(vec![5])]),
                (vec!["main", "x"], "mem", vec![Some(vec![7])]),
            ],
        );
        b.metadata.insert("k".into(), "b".into());
        b.metadata.insert("only_b".into(), 1.into());
        b.diagnostics.push("from b".into());
        a.merge_same_rank(&b);
        check_table(&a);
        let names: Vec<_> = a.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["main", "x", "y"]);
        assert_eq!(a.nodes[0].stats["t"], stats(&[10, 20]));
        assert_eq!(a.nodes[0].per_rank["t"], vec![Some(stats(&[10, 20]))]);
        assert_eq!(a.nodes[1].stats["t"], stats(&[3, 4]));
        assert_eq!(a.nodes[1].stats["mem"], stats(&[7]));
        assert_eq!(a.metadata["k"], "a");
        assert_eq!(a.metadata["only_b"], 1);
        assert_eq!(a.diagnostics, ["from b"]);
        assert_eq!(a.metrics.len(), 2);
    }

    #[test]
    fn concat_keeps_columns_and_marks_absence() {
        let mut a = build(
            1,
            &[
                (vec!["main"], "t", vec![Some(vec![10])]),
                (vec!["main", "x"], "t", vec![Some(vec![3])]),
            ],
        );
        let b = build(
            2,
            &[
                (vec!["main"], "t", vec![Some(vec![20]), Some(vec![30])]),
                (vec!["main", "odd"], "t", vec![None, Some(vec![5])]),
            ],
        );
        a.concat_ranks(b);
        check_table(&a);
        assert_eq!(a.ranks.len(), 3);
        let main = &a.nodes[0];
        assert_eq!(main.stats["t"], stats(&[10, 20, 30]));
        assert_eq!(
            main.per_rank["t"],
            vec![Some(stats(&[10])), Some(stats(&[20])), Some(stats(&[30]))]
        );
        assert_eq!(a.nodes[1].name, "x");
        assert_eq!(
            a.nodes[1].per_rank["t"],
            vec![Some(stats(&[3])), None, None]
        );
        assert_eq!(a.nodes[2].name, "odd");
        assert_eq!(
            a.nodes[2].per_rank["t"],
            vec![None, None, Some(stats(&[5]))]
        );
    }

    #[test]
    fn empty_rank_gets_a_column_of_absences() {
        let mut a = build(1, &[(vec!["main"], "t", vec![Some(vec![1])])]);
        let mut empty = Profile::new();
        empty.ranks.push(RankInfo::default());
        a.concat_ranks(empty);
        check_table(&a);
        assert_eq!(a.nodes[0].per_rank["t"], vec![Some(stats(&[1])), None]);
        let mut e = Profile::new();
        e.ranks.push(RankInfo::default());
        e.concat_ranks(build(1, &[(vec!["main"], "t", vec![Some(vec![1])])]));
        check_table(&e);
        assert_eq!(e.nodes[0].per_rank["t"], vec![None, Some(stats(&[1]))]);
    }

    #[test]
    fn timeline_entries_stay_apart_and_threads_too() {
        let mut a = build(1, &[(vec!["main"], "t", vec![Some(vec![1])])]);
        a.nodes[0].start_ns = Some(100);
        let mut b = a.clone();
        b.nodes[0].start_ns = Some(200);
        let mut c = a.clone();
        c.nodes[0].start_ns = None;
        c.nodes[0].thread = Some(1);
        a.merge_same_rank(&b);
        a.merge_same_rank(&c);
        check_table(&a);
        assert_eq!(a.nodes.len(), 3);
        a.merge_same_rank(&b);
        assert_eq!(a.nodes.len(), 3);
        assert_eq!(a.nodes[1].stats["t"].laps, 2);
    }

    #[test]
    fn late_children_are_placed_under_their_parent() {
        // b adds a child to the first of two subtrees: the result must still be pre-order.
        let mut a = build(
            1,
            &[
                (vec!["a"], "t", vec![Some(vec![1])]),
                (vec!["b"], "t", vec![Some(vec![1])]),
            ],
        );
        let b = build(
            1,
            &[(vec!["a", "deep", "deeper"], "t", vec![Some(vec![1])])],
        );
        a.merge_same_rank(&b);
        check_table(&a);
        let names: Vec<_> = a.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "deep", "deeper", "b"]);
        assert_eq!(a.nodes[2].depth, 2);
    }

    #[test]
    fn assign_rank_turns_stats_into_a_column() {
        let mut p = build(1, &[(vec!["main"], "t", vec![Some(vec![4])])]);
        p.ranks.clear();
        p.nodes[0].per_rank.clear();
        let info = RankInfo {
            rank: 3,
            hostname: "n1".into(),
            pid: 9,
            binding: None,
            samples: None,
            clock_offset_ns: None,
        };
        p.assign_rank(info.clone());
        assert_eq!(p.ranks, [info]);
        assert_eq!(p.nodes[0].per_rank["t"], vec![Some(stats(&[4]))]);
    }

    #[test]
    fn ids_not_matching_positions_are_repaired() {
        let mut a = build(1, &[(vec!["p", "c"], "t", vec![Some(vec![1])])]);
        a.nodes.swap(0, 1);
        // Child first, ids still naming the old positions.
        let b = build(1, &[(vec!["p", "c"], "t", vec![Some(vec![2])])]);
        a.merge_same_rank(&b);
        check_table(&a);
        assert_eq!(a.nodes.len(), 2);
        assert_eq!(a.nodes[1].stats["t"], stats(&[1, 2]));
    }

    #[test]
    fn same_rank_merge_with_more_columns_takes_the_extra_ranks() {
        let mut a = build(1, &[(vec!["main"], "t", vec![Some(vec![1])])]);
        let b = build(
            2,
            &[(vec!["main"], "t", vec![Some(vec![2]), Some(vec![3])])],
        );
        a.merge_same_rank(&b);
        check_table(&a);
        assert_eq!(a.ranks.len(), 2);
        assert_eq!(
            a.nodes[0].per_rank["t"],
            vec![Some(stats(&[1, 2])), Some(stats(&[3]))]
        );
    }

    // ---- properties ----

    const NAMES: [&str; 3] = ["a", "b", "c"];
    const METRICS: [&str; 2] = ["t", "m"];

    type Entry = (Vec<usize>, usize, Vec<Option<Vec<i64>>>);

    fn entries(cols: usize) -> impl Strategy<Value = Vec<Entry>> {
        let col = prop::option::of(prop::collection::vec(-1000i64..1000, 1..3));
        prop::collection::vec(
            (
                prop::collection::vec(0..NAMES.len(), 1..4),
                0..METRICS.len(),
                prop::collection::vec(col, cols),
            ),
            0..8,
        )
    }

    fn to_profile(cols: usize, e: &[Entry]) -> Profile {
        let e: Vec<Spec> = e
            .iter()
            .map(|(p, m, v)| {
                (
                    p.iter().map(|&i| NAMES[i]).collect(),
                    METRICS[*m],
                    v.clone(),
                )
            })
            .collect();
        // A path may repeat with the same metric: the later entry wins, as in a plain map.
        build(cols, &e)
    }

    proptest! {
        #[test]
        fn merge_same_rank_commutes(a in entries(2), b in entries(2)) {
            let (pa, pb) = (to_profile(2, &a), to_profile(2, &b));
            let mut ab = pa.clone();
            ab.merge_same_rank(&pb);
            let mut ba = pb.clone();
            ba.merge_same_rank(&pa);
            check_table(&ab);
            prop_assert_eq!(canon(&ab), canon(&ba));
        }

        #[test]
        fn merge_same_rank_associates(a in entries(2), b in entries(2), c in entries(2)) {
            let (pa, pb, pc) = (to_profile(2, &a), to_profile(2, &b), to_profile(2, &c));
            let mut left = pa.clone();
            left.merge_same_rank(&pb);
            left.merge_same_rank(&pc);
            let mut bc = pb.clone();
            bc.merge_same_rank(&pc);
            let mut right = pa.clone();
            right.merge_same_rank(&bc);
            check_table(&left);
            prop_assert_eq!(canon(&left), canon(&right));
        }

        #[test]
        fn concat_ranks_associates(a in entries(1), b in entries(2), c in entries(1)) {
            let (pa, pb, pc) = (to_profile(1, &a), to_profile(2, &b), to_profile(1, &c));
            let mut left = pa.clone();
            left.concat_ranks(pb.clone());
            left.concat_ranks(pc.clone());
            let mut bc = pb;
            bc.concat_ranks(pc);
            let mut right = pa;
            right.concat_ranks(bc);
            check_table(&left);
            // First-seen child order makes the two groupings identical, not just equivalent.
            prop_assert_eq!(left, right);
        }

        #[test]
        fn concat_ranks_keeps_every_column(parts in prop::collection::vec(entries(1), 1..6)) {
            let profiles: Vec<Profile> = parts.iter().map(|e| to_profile(1, e)).collect();
            let mut all = profiles[0].clone();
            for p in &profiles[1..] {
                all.concat_ranks(p.clone());
            }
            check_table(&all);
            prop_assert_eq!(&Profile::concat_all(profiles.clone()).unwrap(), &all);
            prop_assert_eq!(all.ranks.len(), profiles.len());
            let by_path: HashMap<Path, usize> =
                all.nodes.iter().map(|n| (path_of(&all, n.id), n.id)).collect();
            for (col, p) in profiles.iter().enumerate() {
                let mine: HashMap<Path, usize> =
                    p.nodes.iter().map(|n| (path_of(p, n.id), n.id)).collect();
                for (path, &id) in &by_path {
                    let merged = &all.nodes[id];
                    for m in METRICS {
                        let got = merged.per_rank.get(m).and_then(|c| c[col]);
                        let want = mine
                            .get(path)
                            .and_then(|&i| p.nodes[i].per_rank.get(m))
                            .and_then(|c| c[0]);
                        prop_assert_eq!(got, want);
                    }
                }
                // Every path of this rank is in the result.
                for path in mine.keys() {
                    prop_assert!(by_path.contains_key(path));
                }
            }
            // Over-all stats equal the merge of the columns.
            for n in &all.nodes {
                for (m, col) in &n.per_rank {
                    let mut s = Stats::EMPTY;
                    col.iter().flatten().for_each(|c| s.merge(c));
                    prop_assert_eq!(n.stats.get(m).copied().unwrap_or(Stats::EMPTY), s);
                }
            }
        }
    }
}
