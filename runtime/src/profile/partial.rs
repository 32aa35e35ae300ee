//! The mergeable form of a profile: the header of a [`Profile`] (metadata, metrics, ranks,
//! diagnostics) beside its call tree taken apart into a [`United`] table.
//!
//! Every merge of profiles goes through it: [`Profile::merge_same_rank`] and
//! [`Profile::concat_ranks`] (threads of a process, `rankscope merge`), and each hop of the MPI
//! reduction, which keeps the mergeable form between hops and sends it in the wire format
//! ([`super::wire`]) so that the dense per-rank table is built once, at the end.

use super::united::{Columns, United};
use super::Profile;

/// Some ranks' profiles, united: what each hop of the reduction holds, merges and sends. Public
/// for tools and benchmarks that merge the way the reduction does (`mpi_bench --model` times
/// one hop with it).
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    /// Everything but the nodes (its `nodes` stay empty).
    pub(crate) header: Profile,
    /// The nodes, with one entry list per rank of `header.ranks`.
    pub(crate) tree: United,
}

impl Partial {
    /// Takes a profile apart. Its nodes are expected in pre-order (as [`Profile`] requires);
    /// other orders are repaired.
    pub fn from_profile(mut p: Profile) -> Partial {
        let nodes = std::mem::take(&mut p.nodes);
        let keys = p.metrics.iter().map(|m| m.name.clone()).collect();
        let ranks: Vec<u32> = p.ranks.iter().map(|r| r.rank).collect();
        let tree = United::from_nodes(nodes, &ranks, keys);
        p.merged_ranks = p.rank_count();
        Partial { header: p, tree }
    }

    /// Appends `other`'s ranks after this one's and unites the trees: a node present on one
    /// side only is absent in the other side's columns. Metrics are united, diagnostics
    /// appended, and metadata keys missing here are taken from `other`.
    pub fn concat(&mut self, other: Partial) {
        let Partial { header, tree } = other;
        self.header.absorb_header(&header);
        self.header.ranks.extend(header.ranks);
        self.header.merged_ranks = self.header.merged_ranks.saturating_add(header.merged_ranks);
        self.tree.unite(tree, Columns::Append);
    }

    /// Folds `other`, measured by the same process(es), into this one: column c of each side
    /// merges into column c. When `other` has more rank columns, its extra ranks are taken.
    pub fn merge_same_rank(&mut self, other: Partial) {
        let Partial { header, tree } = other;
        self.header.absorb_header(&header);
        let have = self.header.ranks.len();
        self.header
            .ranks
            .extend(header.ranks.into_iter().skip(have));
        self.header.merged_ranks = self.header.merged_ranks.max(header.merged_ranks);
        self.tree.unite(tree, Columns::Merge);
    }

    /// Reduces every rank's values to the spreads: no rank column is left (the number of merged
    /// ranks stays).
    pub fn drop_columns(&mut self) {
        self.header.ranks.clear();
        self.tree.columns.clear();
    }

    /// The wire bytes of this form (what a rank sends; see [`super::encode`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        super::wire::encode_partial(self)
    }

    /// Reads wire bytes (from [`Partial::to_bytes`] or [`super::encode`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Partial, super::WireError> {
        super::wire::decode_partial(bytes)
    }

    /// Builds the profile: nodes in pre-order with fresh ids, one per-rank slot per kept rank,
    /// and the spreads stored when some merged ranks have no column. A profile of every rank
    /// records no `merged_ranks` (it is the length of its rank list).
    pub fn into_profile(self) -> Profile {
        let Partial { mut header, tree } = self;
        let partial = (header.ranks.len() as u32) < header.merged_ranks;
        header.nodes = tree.into_nodes(header.ranks.len(), partial);
        if !partial {
            header.merged_ranks = 0;
        }
        header
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::{decode_partial, encode, encode_partial};
    use super::*;
    use crate::profile::{MetricDesc, NodeRecord, RankInfo, Stats};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    fn stats(v: i64) -> Stats {
        let mut s = Stats::EMPTY;
        s.record(v);
        s.record(v / 2);
        s
    }

    /// A one-rank profile over paths given as name lists (ancestors created as needed), its
    /// table in first-seen order, which is not always pre-order.
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
        p.ranks.push(RankInfo {
            rank,
            hostname: format!("h{rank}"),
            pid: rank,
            binding: None,
            samples: None,
            clock_offset_ns: None,
        });
        let mut by_path: HashMap<Vec<&str>, usize> = HashMap::new();
        for path in paths {
            let mut parent = None;
            for d in 0..path.len() {
                let key = path[..=d].to_vec();
                let id = *by_path.entry(key).or_insert_with(|| {
                    let id = p.nodes.len();
                    let s = stats(salt + id as i64 * 10);
                    p.nodes.push(NodeRecord {
                        across_ranks: Default::default(),
                        id,
                        parent,
                        depth: d as u32,
                        name: path[d].to_string(),
                        thread: None,
                        start_ns: None,
                        stats: BTreeMap::from([("t".to_string(), s)]),
                        per_rank: BTreeMap::from([("t".to_string(), vec![Some(s)])]),
                    });
                    id
                });
                parent = Some(id);
            }
        }
        p
    }

    const NAMES: [&str; 3] = ["a", "b", "c"];

    fn paths() -> impl Strategy<Value = Vec<Vec<usize>>> {
        prop::collection::vec(prop::collection::vec(0..3usize, 1..4), 0..6)
    }

    /// A profile in pre-order: the repair of `from_profile` puts it there.
    fn build(rank: u32, p: &[Vec<usize>]) -> Profile {
        let named: Vec<Vec<&str>> = p
            .iter()
            .map(|v| v.iter().map(|&i| NAMES[i]).collect())
            .collect();
        Partial::from_profile(profile(rank, &named, rank as i64 * 1000)).into_profile()
    }

    /// The MPI reduction's binomial tree, run in one process through the wire bytes: in round
    /// k rank r receives from r + 2^k when bit k of r is clear. Each rank first keeps its
    /// values or reduces them to statistics per `keep`, as `reduce_to_root_keeping` does.
    fn binomial(profiles: &[Profile], keep: &dyn Fn(u32) -> bool) -> Profile {
        let mut held: Vec<Option<Vec<u8>>> = profiles
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.keep_ranks(keep);
                Some(encode(&p))
            })
            .collect();
        let size = profiles.len();
        let mut step = 1;
        while step < size {
            for r in (0..size).step_by(2 * step) {
                if r + step < size {
                    let from = held[r + step].take().unwrap();
                    let mut acc = decode_partial(held[r].as_ref().unwrap()).unwrap();
                    acc.concat(decode_partial(&from).unwrap());
                    held[r] = Some(encode_partial(&acc));
                }
            }
            step *= 2;
        }
        decode_partial(held[0].as_ref().unwrap())
            .unwrap()
            .into_profile()
    }

    /// (ranks, sum, sumsq, (min, its rank), (max, its rank)).
    type Direct = (u32, i128, u128, (i128, u32), (i128, u32));

    /// The spread of node `id` computed straight from a full profile's columns, independently
    /// of `Spread::merge`: (ranks, sum, sumsq, (min, its rank), (max, its rank)).
    fn direct_spread(p: &Profile, id: usize, m: &str) -> Option<Direct> {
        let vals: Vec<(u32, i128)> = p.nodes[id]
            .per_rank
            .get(m)?
            .iter()
            .zip(&p.ranks)
            .filter_map(|(s, r)| Some((r.rank, s.as_ref()?.sum)))
            .collect();
        let min = vals.iter().map(|&(r, v)| (v, r)).min()?;
        let max = vals
            .iter()
            .map(|&(r, v)| (-v, r))
            .min()
            .map(|(v, r)| (-v, r))?;
        Some((
            vals.len() as u32,
            vals.iter().map(|v| v.1).sum(),
            vals.iter().map(|v| (v.1 * v.1) as u128).sum(),
            min,
            max,
        ))
    }

    proptest! {
        /// Statistics only equal the full result's statistics: over random trees, rank counts
        /// and kept ranks, the binomial reduction that keeps only some ranks' columns gives the
        /// same nodes, node statistics and spreads as the one that keeps every column (whose
        /// spreads are checked against a direct computation), and exactly the kept ranks'
        /// columns.
        #[test]
        fn statistics_only_equal_the_full_results_statistics(
            ranks in prop::collection::vec(paths(), 1..12),
            kept in prop::collection::vec(any::<bool>(), 12),
        ) {
            let profiles: Vec<Profile> = ranks
                .iter()
                .enumerate()
                .map(|(r, p)| {
                    let mut p = build(r as u32, p);
                    // Ties for min and max are common: a few distinct values only.
                    for n in &mut p.nodes {
                        let s = stats(((n.id as i64 + r as i64) % 3) * 100);
                        n.stats.insert("t".into(), s);
                        n.per_rank.insert("t".into(), vec![Some(s)]);
                    }
                    p
                })
                .collect();
            let full = binomial(&profiles, &|_| true);
            let some = binomial(&profiles, &|r| kept[r as usize]);
            prop_assert_eq!(full.rank_count() as usize, profiles.len());
            prop_assert_eq!(some.rank_count() as usize, profiles.len());
            prop_assert_eq!(full.nodes.len(), some.nodes.len());
            for (a, b) in full.nodes.iter().zip(&some.nodes) {
                prop_assert_eq!((&a.name, a.parent, &a.stats), (&b.name, b.parent, &b.stats));
                let s = full.spread(a.id, "t");
                prop_assert_eq!(s, some.spread(b.id, "t"));
                prop_assert_eq!(
                    s.map(|s| (s.ranks, s.sum, s.sumsq, (s.min.stats.sum, s.min.rank), (s.max.stats.sum, s.max.rank))),
                    direct_spread(&full, a.id, "t")
                );
            }
            let want: Vec<u32> = (0..profiles.len() as u32).filter(|&r| kept[r as usize]).collect();
            let got: Vec<u32> = some.ranks.iter().map(|r| r.rank).collect();
            prop_assert_eq!(&got, &want);
            for (c, &r) in want.iter().enumerate() {
                let a = full.rank_view(r as usize);
                let b = some.rank_view(c);
                prop_assert_eq!(a.nodes, b.nodes);
            }
        }

        /// The reduction's shape: any two-level tree of hops, each hop's input through the
        /// wire bytes, gives exactly the left fold of the ranks' profiles.
        #[test]
        fn a_reduction_tree_through_the_wire_equals_the_left_fold(
            ranks in prop::collection::vec(paths(), 1..7),
            split in 0usize..7,
        ) {
            let profiles: Vec<Profile> =
                ranks.iter().enumerate().map(|(r, p)| build(r as u32, p)).collect();
            let mut want = profiles[0].clone();
            for p in &profiles[1..] {
                want.concat_ranks(p.clone());
            }
            let split = split.clamp(1, profiles.len());
            let half = |ps: &[Profile]| {
                let mut it = ps
                    .iter()
                    .map(|p| decode_partial(&encode_partial(&Partial::from_profile(p.clone()))));
                let mut acc = it.next().map(Result::unwrap);
                for p in it {
                    acc.as_mut().unwrap().concat(p.unwrap());
                }
                acc
            };
            let mut got = half(&profiles[..split]).unwrap();
            if let Some(rest) = half(&profiles[split..]) {
                got.concat(decode_partial(&encode_partial(&rest)).unwrap());
            }
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
    fn first_seen_tables_become_pre_order() {
        // a/b, then c, then a/d: d was placed after c but belongs under a.
        let p = profile(0, &[vec!["a", "b"], vec!["c"], vec!["a", "d"]], 0);
        let out = Partial::from_profile(p).into_profile();
        let names: Vec<&str> = out.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "d", "c"]);
        assert_eq!(out.nodes[2].parent, Some(0));
    }
}
