//! Small hand-built profiles for the writers' unit tests, with values chosen so that the
//! expected exclusive times and percentages are easy to compute by hand.

use crate::profile::{MetricDesc, NodeRecord, Profile, RankInfo, Stats};
use std::collections::BTreeMap;

const S: i64 = 1_000_000_000;
const MIB: i64 = 1 << 20;

/// Statistics of the given samples.
pub fn stats(samples: &[i64]) -> Stats {
    let mut s = Stats::EMPTY;
    samples.iter().for_each(|&v| s.record(v));
    s
}

fn metrics() -> Vec<MetricDesc> {
    vec![
        MetricDesc {
            name: "wall_clock".into(),
            collector: "wall_clock".into(),
            unit: "ns".into(),
            display_unit: "s".into(),
            scale: 1e-9,
            additive: true,
            description: "elapsed real time".into(),
        },
        MetricDesc {
            name: "peak_rss".into(),
            collector: "peak_rss".into(),
            unit: "B".into(),
            display_unit: "MiB".into(),
            scale: 1.0 / MIB as f64,
            additive: false,
            description: "high-water mark of resident memory".into(),
        },
    ]
}

fn node(id: usize, parent: Option<usize>, depth: u32, name: &str) -> NodeRecord {
    NodeRecord {
        across_ranks: Default::default(),
        id,
        parent,
        depth,
        name: name.into(),
        thread: None,
        start_ns: None,
        stats: BTreeMap::new(),
        per_rank: BTreeMap::new(),
    }
}

/// One process: `main` 10 s > { `init` 2 s, `solve` 7 s over 4 laps > `step` 8 x 0.5 s }.
/// Exclusive: main 1 s, solve 3 s. `peak_rss` (not additive) only on `main` and `solve`.
pub fn single() -> Profile {
    let mut p = Profile::new();
    p.metadata
        .insert("cmdline".into(), vec!["./app", "--size", "3"].into());
    p.metadata.insert("command".into(), "./app".into());
    p.metadata
        .insert("settings".into(), serde_json::json!({"precision": "3"}));
    p.metrics = metrics();
    p.ranks = vec![RankInfo {
        rank: 0,
        hostname: "node01".into(),
        pid: 4242,
        binding: None,
        samples: None,
        clock_offset_ns: None,
    }];
    let wall: [(&str, Option<usize>, Vec<i64>); 4] = [
        ("main", None, vec![10 * S]),
        ("init", Some(0), vec![2 * S]),
        ("solve", Some(0), vec![S, 3 * S / 2, 2 * S, 5 * S / 2]),
        ("step", Some(2), vec![S / 2; 8]),
    ];
    for (id, (name, parent, laps)) in wall.into_iter().enumerate() {
        let depth = parent.map_or(0, |q| p.nodes[q].depth + 1);
        let mut n = node(id, parent, depth, name);
        n.stats.insert("wall_clock".into(), stats(&laps));
        p.nodes.push(n);
    }
    p.nodes[0]
        .stats
        .insert("peak_rss".into(), stats(&[100 * MIB]));
    p.nodes[2]
        .stats
        .insert("peak_rss".into(), stats(&[60 * MIB, 80 * MIB]));
    for n in &mut p.nodes {
        n.per_rank = n
            .stats
            .iter()
            .map(|(k, s)| (k.clone(), vec![Some(*s)]))
            .collect();
    }
    p
}

/// Three ranks (MPI ranks 0, 1, 2): `main` totals 10, 12 and 8 s; `io` (inside `main`) ran on
/// ranks 1 and 2 only, 1 s and 3 s. Cross-rank: main mean 10 s, imbalance 0.2, max on rank 1.
pub fn multi() -> Profile {
    let mut p = Profile::new();
    p.metrics = metrics();
    p.ranks = (0..3)
        .map(|r| RankInfo {
            rank: r,
            hostname: format!("node{:02}", r / 2),
            pid: 100 + r,
            binding: None,
            samples: None,
            clock_offset_ns: None,
        })
        .collect();
    let mut main = node(0, None, 0, "main");
    let main_cols = vec![
        Some(stats(&[10 * S])),
        Some(stats(&[12 * S])),
        Some(stats(&[8 * S])),
    ];
    let mut io = node(1, Some(0), 1, "io");
    let io_cols = vec![None, Some(stats(&[S])), Some(stats(&[S, 2 * S]))];
    for (n, cols) in [(&mut main, main_cols), (&mut io, io_cols)] {
        let mut all = Stats::EMPTY;
        cols.iter().flatten().for_each(|s| all.merge(s));
        n.stats.insert("wall_clock".into(), all);
        n.per_rank.insert("wall_clock".into(), cols);
    }
    p.nodes = vec![main, io];
    p
}
