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
//!
//! ```text
//! target/release/examples/mpi_bench --model [--nodes 10000] [--latency-us 1.5] [--bandwidth-gbs 12]
//! ```
//! The cost model, in one process without mpirun (nothing else competes for the core): times one
//! hop of the reduction (decode what the peer sent, unite, encode what goes on) with statistics
//! only and with c = 1, 8, 32 rank columns per side, the final build of rank 0's profile, and
//! the merged result's heap; fits per-column costs; and projects the reduction time and rank 0's
//! memory to 64, 6,400 and 100,000 ranks over a network of the given latency and bandwidth
//! (defaults: an InfiniBand HDR link). Rank 0's critical path is ceil(log2 P) hops; hop k of a
//! full reduction carries 2^k columns per side.

use rankscope::mpi;
use rankscope::profile::{MetricDesc, NodeRecord, Partial, Profile, RankInfo, Stats};
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

    if args.iter().any(|a| a == "--model") {
        let num =
            |name: &str, default: f64| opt(name).map_or(default, |s| s.parse().expect("a number"));
        model(
            &sizes,
            num("--latency-us", 1.5) * 1e-6,
            num("--bandwidth-gbs", 12.0) * 1e9,
        );
        return;
    }
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

/// Best of `reps` timings of `f` on fresh inputs from `setup`, seconds.
fn best_of<T, R>(reps: usize, mut setup: impl FnMut() -> T, mut f: impl FnMut(T) -> R) -> f64 {
    (0..reps)
        .map(|_| {
            let input = setup();
            let t = Instant::now();
            drop(std::hint::black_box(f(input)));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Ranks `first..first + c` united, keeping their columns or (`columns` false) statistics only.
fn partial(n: usize, divergent: bool, first: u64, c: u64, columns: bool) -> Partial {
    let mut it = (first..first + c).map(|r| {
        let mut p = profile(n, r, divergent);
        if !columns {
            p.keep_ranks(|_| false);
        }
        Partial::from_profile(p)
    });
    let mut acc = it.next().expect("c >= 1");
    it.for_each(|p| acc.concat(p));
    acc
}

/// One hop: decode the peer's bytes, unite, encode what goes on. Returns (seconds, bytes in).
fn hop(n: usize, divergent: bool, c: u64, columns: bool) -> (f64, usize) {
    let peer = partial(n, divergent, c, c, columns).to_bytes();
    let t = best_of(
        3,
        || partial(n, divergent, 0, c, columns),
        |mut mine| {
            mine.concat(Partial::from_bytes(&peer).expect("own bytes"));
            mine.to_bytes()
        },
    );
    (t, peer.len())
}

/// Heap bytes of rank 0's built profile and the seconds to build it from the united form.
fn build(n: usize, divergent: bool, c: u64, columns: bool) -> (f64, usize) {
    let t = best_of(
        3,
        || partial(n, divergent, 0, c, columns),
        Partial::into_profile,
    );
    let built = partial(n, divergent, 0, c, columns).into_profile();
    // What dropping it gives back is its heap.
    let with = LIVE.load(Ordering::Relaxed);
    drop(built);
    (t, with.saturating_sub(LIVE.load(Ordering::Relaxed)))
}

/// Least-squares line through (x, y): (intercept, slope).
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    let (mx, my) = (sx / n, sy / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

fn model(sizes: &[usize], latency: f64, bandwidth: f64) {
    const MIB: f64 = (1 << 20) as f64;
    println!(
        "network: latency {:.1} us, bandwidth {:.1} GB/s",
        latency * 1e6,
        bandwidth / 1e9
    );
    for &n in sizes {
        for divergent in [false, true] {
            let shape = if divergent { "divergent" } else { "identical" };
            let (stats_hop, stats_bytes) = hop(n, divergent, 1, false);
            let (stats_build, stats_heap) = build(n, divergent, 1, false);
            let cols = [1u64, 8, 32];
            let hops: Vec<(f64, usize)> =
                cols.iter().map(|&c| hop(n, divergent, c, true)).collect();
            let (t0, t1) = fit(&cols
                .iter()
                .zip(&hops)
                .map(|(&c, h)| (c as f64, h.0))
                .collect::<Vec<_>>());
            let (b0, b1) = fit(&cols
                .iter()
                .zip(&hops)
                .map(|(&c, h)| (c as f64, h.1 as f64))
                .collect::<Vec<_>>());
            let builds: Vec<(f64, usize)> = [8u64, 32]
                .iter()
                .map(|&c| build(n, divergent, c, true))
                .collect();
            let (_, build_per_col) = fit(&[(8.0, builds[0].0), (32.0, builds[1].0)]);
            let (m0, m1) = fit(&[(8.0, builds[0].1 as f64), (32.0, builds[1].1 as f64)]);
            println!(
                "\n{n} nodes, {shape}: one hop, statistics only: {:.1} ms, {:.2} MiB in; \
                 with c columns per side: {:.1} ms + {:.3} ms x c, {:.2} MiB + {:.3} MiB x c",
                stats_hop * 1e3,
                stats_bytes as f64 / MIB,
                t0 * 1e3,
                t1 * 1e3,
                b0 / MIB,
                b1 / MIB
            );
            println!(
                "  rank 0's build: statistics only {:.1} ms, {:.1} MiB; full {:.3} ms and {:.2} MiB per rank",
                stats_build * 1e3,
                stats_heap as f64 / MIB,
                build_per_col * 1e3,
                m1 / MIB
            );
            println!(
                "  {:>7} {:>5} {:>12} {:>14} {:>12} {:>14}",
                "ranks", "hops", "stats_s", "stats_MiB", "full_s", "full_MiB"
            );
            for p in [2u64, 64, 256, 6_400, 100_000] {
                let k = 64 - (p - 1).leading_zeros() as u64; // ceil(log2 p)
                let wire = |bytes: f64| latency + bytes / bandwidth;
                let stats = k as f64 * (stats_hop + wire(stats_bytes as f64)) + stats_build;
                // Hop j carries 2^j columns per side.
                let full: f64 = (0..k)
                    .map(|j| {
                        let c = (1u64 << j) as f64;
                        t0 + t1 * c + wire(b0 + b1 * c)
                    })
                    .sum::<f64>()
                    + build_per_col * p as f64;
                println!(
                    "  {:>7} {:>5} {:>12.3} {:>14.1} {:>12.2} {:>14.0}",
                    p,
                    k,
                    stats,
                    stats_heap as f64 / MIB,
                    full,
                    (m0 + m1 * p as f64) / MIB
                );
            }
        }
    }
}
