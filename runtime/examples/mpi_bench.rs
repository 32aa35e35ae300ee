//! Reduction scaling: time and rank 0's peak heap of `reduce_to_root` (binomial tree) beside
//! `gather_to_root` (one Gatherv), for synthetic trees identical or divergent across ranks.
//!
//! ```text
//! mpirun -n 16 target/release/examples/mpi_bench [--nodes 1000,10000] [--reps 3] [--csv]
//!     [--methods reduce,stats,gather,floor]
//! ```
//! Prints one line per (nodes, shape, method) on rank 0: the best time of `--reps` runs, the
//! merged result's size in memory and in wire bytes (what the last hop carries at most), rank
//! 0's peak heap growth during the reduction, and that peak divided by the size of the merged
//! result (1.0 would mean no memory beyond the result itself). Methods: `reduce`
//! (`reduce_to_root`: every rank's values), `stats` (`reduce_to_root_keeping` keeping no rank's
//! values: the statistics over ranks only, what jobs above `per_rank_max` send), `gather`
//! (`gather_to_root`) and `floor`: every rank only encodes and frees its own profile, then a
//! barrier, which bounds from below what any method can take on the same machine.
//!
//! Shapes: `identical` (every rank has the same N nodes) and `divergent` (each rank enters a
//! different three quarters of the N nodes, closed under ancestors, plus N/100 nodes of its own).

use rankscope::mpi;
use rankscope::profile::{MetricDesc, NodeRecord, Profile, RankInfo, Stats};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts live and peak heap bytes: exact, unlike RSS, and resettable around one reduction.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Small deterministic hash so every rank agrees on which nodes it has.
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0x632B_E59B_D9B4_E019);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

fn metric(name: &str) -> MetricDesc {
    MetricDesc {
        name: name.into(),
        collector: "bench".into(),
        unit: "ns".into(),
        display_unit: "s".into(),
        scale: 1e-9,
        additive: true,
        description: String::new(),
    }
}

/// A tree of `n` nodes with fan-out 8 (node i's parent is (i-1)/8); with `divergent`, rank `r`
/// keeps a rank-dependent three quarters of it (and every kept node's ancestors) and adds n/100
/// nodes of its own under the root.
fn profile(n: usize, rank: u64, divergent: bool) -> Profile {
    let mut p = Profile::new();
    p.metrics = vec![metric("wall_clock"), metric("cpu_clock")];
    let mut keep = vec![!divergent; n];
    if divergent {
        for i in (0..n).rev() {
            if i == 0 || !mix(i as u64, rank).is_multiple_of(4) || keep[i] {
                keep[i] = true;
                let mut a = i;
                while a > 0 {
                    a = (a - 1) / 8;
                    keep[a] = true;
                }
            }
        }
    }
    let own = if divergent { n / 100 } else { 0 };
    let mut new_id = vec![usize::MAX; n];
    let mut nodes: Vec<NodeRecord> = Vec::new();
    // Children of i are 8i+1..8i+8: walk depth-first to emit pre-order.
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if i >= n || !keep[i] {
            continue;
        }
        let parent = (i > 0).then(|| new_id[(i - 1) / 8]);
        new_id[i] = nodes.len();
        nodes.push(node(
            nodes.len(),
            parent,
            &nodes,
            format!("region_{i}"),
            i as u64 + rank,
        ));
        for c in (8 * i + 1..=8 * i + 8).rev() {
            stack.push(c);
        }
        if i == 0 {
            for k in 0..own {
                let id = nodes.len();
                nodes.push(node(
                    id,
                    Some(0),
                    &nodes,
                    format!("rank{rank}_{k}"),
                    k as u64,
                ));
            }
        }
    }
    p.nodes = nodes;
    // A rank column, as the runtime's own profiles have (so labelling is not timed).
    p.assign_rank(RankInfo {
        rank: rank as u32,
        hostname: "bench".into(),
        pid: std::process::id(),
        binding: None,
        samples: None,
        clock_offset_ns: None,
    });
    p
}

fn node(
    id: usize,
    parent: Option<usize>,
    nodes: &[NodeRecord],
    name: String,
    seed: u64,
) -> NodeRecord {
    let mut stats = BTreeMap::new();
    for (m, salt) in [("wall_clock", 1u64), ("cpu_clock", 2)] {
        let mut s = Stats::EMPTY;
        for lap in 0..3 {
            s.record((mix(seed, salt + lap) % 1_000_000) as i64);
        }
        stats.insert(m.to_string(), s);
    }
    NodeRecord {
        across_ranks: Default::default(),
        id,
        parent,
        depth: parent.map_or(0, |q| nodes[q].depth + 1),
        name,
        thread: None,
        start_ns: None,
        stats,
        per_rank: BTreeMap::new(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let sizes: Vec<usize> = opt("--nodes")
        .unwrap_or_else(|| "1000,10000".into())
        .split(',')
        .map(|s| s.parse().expect("--nodes takes numbers"))
        .collect();
    let reps: usize = opt("--reps").map_or(3, |s| s.parse().expect("--reps takes a number"));
    let csv = args.iter().any(|a| a == "--csv");
    let methods: Vec<String> = opt("--methods")
        .unwrap_or_else(|| "reduce,stats,gather,floor".into())
        .split(',')
        .map(str::to_string)
        .collect();

    let w = mpi::init(mpi::ThreadLevel::Multiple);
    if w.rank == 0 && !csv {
        println!(
            "{:>5} {:>7} {:>9} {:>7} {:>10} {:>9} {:>11} {:>9} {:>9} {:>9}",
            "ranks",
            "nodes",
            "shape",
            "method",
            "time_s",
            "merged",
            "merged_MiB",
            "wire_MiB",
            "peak_MiB",
            "peak/res"
        );
    }
    for &n in &sizes {
        for divergent in [false, true] {
            for method in methods.iter().map(String::as_str) {
                let (mut best, mut ratio, mut nodes, mut mib) = (f64::INFINITY, 0.0, 0, 0.0);
                let (mut wire, mut peak_mib) = (0.0, 0.0);
                for _ in 0..reps {
                    let local = profile(n, w.rank as u64, divergent);
                    mpi::barrier();
                    let base = LIVE.load(Ordering::Relaxed) - heap_of_local_estimate(&local);
                    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
                    let t = Instant::now();
                    let merged = match method {
                        "reduce" => mpi::reduce_to_root(local),
                        "stats" => mpi::reduce_to_root_keeping(local, &|_| false),
                        "gather" => mpi::gather_to_root(local),
                        "floor" => {
                            // The floor of any method: every rank serialises and frees its own
                            // profile, then all meet in a barrier. No merging, no transfer.
                            drop(rankscope::profile::encode(&local));
                            drop(local);
                            mpi::barrier();
                            best = best.min(t.elapsed().as_secs_f64());
                            None
                        }
                        other => panic!("--methods: unknown method {other}"),
                    };
                    let dt = t.elapsed().as_secs_f64();
                    if let Some(m) = merged {
                        // Everything live now beyond the baseline is the merged result.
                        let result = LIVE.load(Ordering::Relaxed).saturating_sub(base).max(1);
                        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
                        best = best.min(dt);
                        ratio = peak as f64 / result as f64;
                        nodes = m.nodes.len();
                        mib = result as f64 / (1 << 20) as f64;
                        peak_mib = peak as f64 / (1 << 20) as f64;
                        wire = rankscope::profile::encode(&m).len() as f64 / (1 << 20) as f64;
                    }
                    mpi::barrier();
                }
                if w.rank == 0 {
                    let shape = if divergent { "divergent" } else { "identical" };
                    if csv {
                        println!(
                            "{},{n},{shape},{method},{best:.4},{nodes},{mib:.1},{wire:.1},{peak_mib:.1},{ratio:.2}",
                            w.size
                        );
                    } else {
                        println!(
                            "{:>5} {:>7} {:>9} {:>7} {:>10.4} {:>9} {:>11.1} {:>9.1} {:>9.1} {:>9.2}",
                            w.size, n, shape, method, best, nodes, mib, wire, peak_mib, ratio
                        );
                    }
                }
            }
        }
    }
    mpi::finalize();
}

/// Heap held by the local profile, measured by building it again: the baseline is what is live
/// besides it, so the merged result's size is what is live after the reduction minus that.
fn heap_of_local_estimate(local: &Profile) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    let copy = local.clone();
    let size = LIVE.load(Ordering::Relaxed) - before;
    drop(copy);
    size
}
