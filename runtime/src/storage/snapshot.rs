//! Turning thread trees into a [`Profile`]: collapsed into one tree, or one subtree per thread.

use super::records::{add_metrics, stopped, Name, Records};
use super::store::ThreadStore;
use super::tree::TreeCopy;
use crate::profile::{NodeRecord, Partial, Profile, RankInfo};

/// This process's data. `collapse_threads` merges every thread into one tree by path;
/// otherwise each thread becomes a top-level `thread-N` node holding its own tree.
/// Reads live threads without stopping them.
pub fn profile(collapse_threads: bool, rank: RankInfo) -> Profile {
    let threads = ThreadStore::all()
        .iter()
        .map(|store| ThreadCopy {
            index: store.index,
            tree: store.read(|t| t.copy()),
            diagnostics: store.diagnostics(),
        })
        .collect();
    assemble(threads, collapse_threads, rank)
}

/// What was read of one thread.
struct ThreadCopy {
    index: u32,
    tree: TreeCopy,
    diagnostics: Vec<String>,
}

/// The profile of these threads, in this order. Threads with neither nodes nor diagnostics
/// leave no trace. Metrics are listed as they first appear, thread by thread (in metric id
/// order within a thread); diagnostics follow the threads' order.
fn assemble(threads: Vec<ThreadCopy>, collapse_threads: bool, rank: RankInfo) -> Profile {
    let threads: Vec<ThreadCopy> = threads
        .into_iter()
        .filter(|t| !t.tree.nodes.is_empty() || !t.diagnostics.is_empty())
        .collect();
    let mut out = Profile::new();
    out.ranks = vec![rank];
    for t in &threads {
        add_metrics(&mut out.metrics, &t.tree);
    }
    out.nodes = if collapse_threads {
        collapsed(&threads, &out)
    } else {
        per_thread(&threads)
    };
    out.diagnostics = threads.into_iter().flat_map(|t| t.diagnostics).collect();
    out
}

/// The threads' trees as one, by the one union of call trees ([`Partial::merge_same_rank`],
/// `header` giving metrics and rank). A single thread without timeline entries is already its
/// union (a thread's tree has one child per name), and is taken as it is.
fn collapsed(threads: &[ThreadCopy], header: &Profile) -> Vec<NodeRecord> {
    if let [only] = threads {
        if only.tree.nodes.iter().all(|n| n.start_ns.is_none()) {
            return thread_records(only);
        }
    }
    let mut acc = Partial::from_profile(header.clone());
    for t in threads {
        let mut p = header.clone();
        p.nodes = thread_records(t);
        acc.merge_same_rank(Partial::from_profile(p));
    }
    acc.into_profile().nodes
}

/// One thread's tree as top-level nodes. Its timeline entries carry the thread's index, so that
/// they keep their track in trace.json when the threads' trees are collapsed into one.
fn thread_records(t: &ThreadCopy) -> Vec<NodeRecord> {
    let mut records = Records::with_capacity(t.tree.nodes.len());
    for n in &t.tree.nodes {
        records.push(
            n.parent.map(|p| p as usize),
            n.depth - 1,
            Name::Region(n.name),
            n.start_ns.map(|_| t.index),
            n.start_ns,
            stopped(t.tree.stats_of(n)),
        );
    }
    records.into_nodes()
}

/// Each thread's tree below a top-level `thread-N` node; every node carries the thread's index.
fn per_thread(threads: &[ThreadCopy]) -> Vec<NodeRecord> {
    let total = threads.iter().map(|t| t.tree.nodes.len() + 1).sum();
    let mut records = Records::with_capacity(total);
    for t in threads {
        let top = records.len();
        let thread = Some(t.index);
        records.push(None, 0, Name::Thread(t.index), thread, None, []);
        for n in &t.tree.nodes {
            let parent = n.parent.map_or(top, |p| top + 1 + p as usize);
            let stats = stopped(t.tree.stats_of(n));
            records.push(
                Some(parent),
                n.depth,
                Name::Region(n.name),
                thread,
                n.start_ns,
                stats,
            );
        }
    }
    records.into_nodes()
}

#[cfg(test)]
mod tests {
    use super::super::names::{self, intern, NameId};
    use super::super::tree::{NodeId, Tree, ROOT};
    use super::*;
    use crate::profile::{MetricDesc, Stats};
    use crate::registry::{self, MetricId};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The straightforward construction `assemble` must equal: each thread's tree as a profile
    /// of its own, then merged with the general union (`Profile::merge_same_rank`) or placed
    /// below a `thread-N` node, one thread at a time.
    fn reference(threads: &[ThreadCopy], collapse_threads: bool, rank: RankInfo) -> Profile {
        let mut out = Profile::new();
        out.ranks = vec![rank];
        for t in threads {
            let mut part = thread_profile(&t.tree, &out.ranks, t.index);
            part.diagnostics = t.diagnostics.clone();
            if part.nodes.is_empty() && part.diagnostics.is_empty() {
                continue;
            }
            if collapse_threads {
                out.merge_same_rank(&part);
            } else {
                append_under_thread(&mut out, part, t.index);
            }
        }
        out
    }

    fn record(
        id: usize,
        parent: Option<usize>,
        depth: u32,
        name: String,
        thread: Option<u32>,
        start_ns: Option<i64>,
        stats: BTreeMap<String, Stats>,
    ) -> NodeRecord {
        NodeRecord {
            across_ranks: BTreeMap::new(),
            id,
            parent,
            depth,
            name,
            thread,
            start_ns,
            per_rank: stats
                .iter()
                .map(|(m, s)| (m.clone(), vec![Some(*s)]))
                .collect(),
            stats,
        }
    }

    fn thread_profile(copy: &TreeCopy, ranks: &[RankInfo], thread: u32) -> Profile {
        let mut p = Profile::new();
        p.ranks = ranks.to_vec();
        let mut seen = BTreeMap::new();
        for (id, n) in copy.nodes.iter().enumerate() {
            let mut stats = BTreeMap::new();
            for &(m, s) in copy.stats_of(n).iter().filter(|(_, s)| s.laps > 0) {
                let entry = registry::metric(m);
                seen.entry(m)
                    .or_insert_with(|| MetricDesc::from_info(entry.collector.name(), entry.info));
                stats.insert(entry.info.name.to_string(), s);
            }
            p.nodes.push(record(
                id,
                n.parent.map(|q| q as usize),
                n.depth - 1,
                names::resolve(n.name).to_string(),
                n.start_ns.map(|_| thread),
                n.start_ns,
                stats,
            ));
        }
        p.metrics = seen.into_values().collect();
        p
    }

    fn append_under_thread(out: &mut Profile, part: Profile, thread: u32) {
        let base = out.nodes.len();
        let top = format!("thread-{thread}");
        out.nodes.push(record(
            base,
            None,
            0,
            top,
            Some(thread),
            None,
            BTreeMap::new(),
        ));
        for mut n in part.nodes {
            n.id += base + 1;
            n.parent = Some(n.parent.map_or(base, |p| p + base + 1));
            n.depth += 1;
            n.thread = Some(thread);
            out.nodes.push(n);
        }
        for m in part.metrics {
            if out.metric(&m.name).is_none() {
                out.metrics.push(m);
            }
        }
        out.diagnostics.extend(part.diagnostics);
    }

    /// One step of building a thread's tree: under the `parent`-th node made so far (0 is the
    /// root), enter region `name` (a timeline entry when `start` is set), with cells for
    /// `metrics` and these laps recorded.
    #[derive(Clone, Debug)]
    struct Step {
        parent: usize,
        name: usize,
        start: Option<i64>,
        metrics: Vec<MetricId>,
        laps: Vec<i64>,
    }

    const NAMES: [&str; 4] = ["snap-a", "snap-b", "snap-c", "snap-a2"];

    /// A real tree built as the hot path builds one, then copied as `profile` copies it.
    fn tree(steps: &[Step]) -> TreeCopy {
        let mut t = Tree::new();
        let mut made: Vec<NodeId> = vec![ROOT];
        for s in steps {
            let parent = made[s.parent % made.len()];
            let name: NameId = intern(NAMES[s.name % NAMES.len()]);
            let node = match (s.start, t.child(parent, name)) {
                (None, Some(have)) => have,
                (start, _) => t.add_child(parent, name, start),
            };
            made.push(node);
            if !s.metrics.is_empty() {
                let slots = t.add_slots(node, &s.metrics);
                for &v in &s.laps {
                    let values: Vec<i64> = (0..s.metrics.len() as i64).map(|i| v * 3 + i).collect();
                    t.record(node, slots, &s.metrics, &values);
                }
            }
        }
        t.copy()
    }

    fn thread(index: u32, steps: &[Step], diagnostics: &[&str]) -> ThreadCopy {
        ThreadCopy {
            index,
            tree: tree(steps),
            diagnostics: diagnostics.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn rank() -> RankInfo {
        RankInfo {
            rank: 3,
            hostname: "snapshot-host".into(),
            pid: 42,
            ..Default::default()
        }
    }

    fn both_ways(threads: impl Fn() -> Vec<ThreadCopy>) {
        for collapse in [true, false] {
            let fast = assemble(threads(), collapse, rank());
            let plain = reference(&threads(), collapse, rank());
            assert_eq!(fast, plain, "collapse_threads = {collapse}");
        }
    }

    fn step(parent: usize, name: usize, start: Option<i64>, laps: &[i64]) -> Step {
        Step {
            parent,
            name,
            start,
            metrics: vec![0, 1],
            laps: laps.to_vec(),
        }
    }

    #[test]
    fn threads_merge_by_path_and_keep_timeline_entries_apart() {
        let threads = || {
            vec![
                // a, a/b, a/tl@5 (a timeline entry), c never stopped
                thread(
                    0,
                    &[
                        step(0, 0, None, &[10]),
                        step(1, 1, None, &[2, 3]),
                        step(1, 2, Some(5), &[1]),
                        step(0, 2, None, &[]),
                    ],
                    &[],
                ),
                // nothing at all: leaves no trace
                thread(1, &[], &[]),
                // a, a/b again; a/tl@5 on another thread stays apart; a/d is new
                thread(
                    2,
                    &[
                        step(0, 0, None, &[20]),
                        step(1, 1, None, &[4]),
                        step(1, 2, Some(5), &[6]),
                        step(1, 3, None, &[7]),
                    ],
                    &["a problem"],
                ),
            ]
        };
        both_ways(threads);
        let p = assemble(threads(), true, rank());
        let shape: Vec<_> = p
            .nodes
            .iter()
            .map(|n| (n.parent, n.name.as_str(), n.thread, n.stats.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (None, "snap-a", None, 2),
                (Some(0), "snap-b", None, 2),
                (Some(0), "snap-c", Some(0), 2),
                (Some(0), "snap-c", Some(2), 2),
                (Some(0), "snap-a2", None, 2),
                (None, "snap-c", None, 0),
            ]
        );
        let wall = registry::metric(0).info.name;
        assert_eq!(p.nodes[0].stats[wall].sum, 30 * 3);
        assert_eq!(p.nodes[1].stats[wall].laps, 3);
        assert_eq!(
            p.nodes[1].per_rank[wall],
            vec![Some(p.nodes[1].stats[wall])]
        );
        assert_eq!(p.diagnostics, ["a problem"]);
        assert_eq!(p.metrics.len(), 2);
        let apart = assemble(threads(), false, rank());
        assert_eq!(apart.nodes.len(), 2 + 4 + 4);
        assert_eq!(apart.nodes[0].name, "thread-0");
        assert_eq!(apart.nodes[5].name, "thread-2");
    }

    #[test]
    fn a_thread_with_diagnostics_only_keeps_its_node_when_apart() {
        both_ways(|| vec![thread(4, &[], &["only this"])]);
        let p = assemble(vec![thread(4, &[], &["only this"])], false, rank());
        assert_eq!(p.nodes.len(), 1);
        assert_eq!(p.nodes[0].name, "thread-4");
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let one = (
            0usize..12,
            0usize..NAMES.len(),
            // Timeline entries share few start times, so duplicates (merged) occur.
            prop::option::weighted(0.3, 0i64..3),
            prop::sample::subsequence(vec![0 as MetricId, 1, 2], 0..=3).prop_shuffle(),
            prop::collection::vec(-5i64..1000, 0..3),
        )
            .prop_map(|(parent, name, start, metrics, laps)| Step {
                parent,
                name,
                start,
                metrics,
                laps,
            });
        prop::collection::vec(one, 0..14)
    }

    proptest! {
        #[test]
        fn assembled_profile_equals_the_straightforward_construction(
            trees in prop::collection::vec((steps(), any::<bool>()), 1..5)
        ) {
            let threads = || {
                trees
                    .iter()
                    .enumerate()
                    .map(|(i, (s, diag))| {
                        let d = if *diag { vec!["diagnostic"] } else { vec![] };
                        thread(i as u32 * 2, s, &d)
                    })
                    .collect::<Vec<_>>()
            };
            for collapse in [true, false] {
                let fast = assemble(threads(), collapse, rank());
                let plain = reference(&threads(), collapse, rank());
                prop_assert_eq!(fast, plain, "collapse_threads = {}", collapse);
            }
        }
    }
}
