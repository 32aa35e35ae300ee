//! Turning thread trees into a [`Profile`]: collapsed into one tree, or one subtree per thread.

use super::names;
use super::store::ThreadStore;
use super::tree::NodeCopy;
use crate::profile::{MetricDesc, NodeRecord, Profile, RankInfo, Stats};
use crate::registry;
use std::collections::BTreeMap;

/// This process's data. `collapse_threads` merges every thread into one tree by path;
/// otherwise each thread becomes a top-level `thread-N` node holding its own tree.
/// Reads live threads without stopping them.
pub fn profile(collapse_threads: bool, rank: RankInfo) -> Profile {
    let mut out = Profile::new();
    out.ranks = vec![rank];
    for store in ThreadStore::all() {
        let copy = store.read(|t| t.copy());
        let mut part = thread_profile(copy, &out.ranks, store.index);
        part.diagnostics = store.diagnostics();
        if part.nodes.is_empty() && part.diagnostics.is_empty() {
            continue;
        }
        if collapse_threads {
            out.merge_same_rank(&part);
        } else {
            append_under_thread(&mut out, part, store.index);
        }
    }
    out
}

/// One thread's tree as a profile. Its timeline entries carry the thread's index, so that they
/// keep their track in trace.json when the threads' trees are collapsed into one.
fn thread_profile(
    copy: Vec<(Option<usize>, NodeCopy)>,
    ranks: &[RankInfo],
    thread: u32,
) -> Profile {
    let mut p = Profile::new();
    p.ranks = ranks.to_vec();
    let mut seen = BTreeMap::new();
    for (id, (parent, n)) in copy.into_iter().enumerate() {
        let mut stats = BTreeMap::new();
        let mut per_rank = BTreeMap::new();
        // A cell exists from a region's first start; it has no value until a stop.
        for (m, s) in n.stats.into_iter().filter(|(_, s)| s.laps > 0) {
            let entry = registry::metric(m);
            seen.entry(m)
                .or_insert_with(|| MetricDesc::from_info(entry.collector.name(), entry.info));
            stats.insert(entry.info.name.to_string(), s);
            per_rank.insert(entry.info.name.to_string(), vec![Some(s)]);
        }
        p.nodes.push(NodeRecord {
            across_ranks: Default::default(),
            id,
            parent,
            depth: n.depth - 1,
            name: names::resolve(n.name).to_string(),
            thread: n.start_ns.map(|_| thread),
            start_ns: n.start_ns,
            stats,
            per_rank,
        });
    }
    p.metrics = seen.into_values().collect();
    p
}

/// Adds `part` below a new top-level `thread-N` node of `out`.
fn append_under_thread(out: &mut Profile, part: Profile, thread: u32) {
    let base = out.nodes.len();
    out.nodes.push(NodeRecord {
        across_ranks: Default::default(),
        id: base,
        parent: None,
        depth: 0,
        name: format!("thread-{thread}"),
        thread: Some(thread),
        start_ns: None,
        stats: BTreeMap::<String, Stats>::new(),
        per_rank: BTreeMap::new(),
    });
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
