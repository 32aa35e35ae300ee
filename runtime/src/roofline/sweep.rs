//! The measurement plan and its run: peak FLOP/s kernels, then every bandwidth kernel at
//! every working-set size, each calibrated to a trial length and repeated; every trial starts
//! on all ranks of the host at once (a barrier before it) and is timed on the host's clock.

use super::isa::Isa;
use super::node::Node;
use super::peak::{PeakKernel, Precision};
use super::plateau::Window;
use super::stream::{self, Kernel};
use super::team::Team;
use serde::{Deserialize, Serialize};

/// What a trial measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// A peak FLOP/s kernel.
    Peak {
        /// Its precision.
        precision: Precision,
        /// Full vector width, or one lane.
        vector: bool,
    },
    /// A bandwidth kernel at a working set per thread.
    Stream {
        /// The kernel.
        kernel: Kernel,
        /// Working set of each thread, bytes.
        bytes: u64,
    },
}

/// One trial of one rank: all its threads at once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// What ran.
    pub item: Item,
    /// FLOPs or bytes of all the rank's threads together.
    pub work: f64,
    /// Start and end on the host's monotonic clock, ns.
    pub start_ns: u64,
    /// See `start_ns`.
    pub end_ns: u64,
}

/// Sizes, trials and trial lengths.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Working sets per thread, bytes, increasing.
    pub sizes: Vec<u64>,
    /// Trials per item (the median is kept).
    pub trials: usize,
    /// Length a bandwidth trial is calibrated to, seconds.
    pub stream_seconds: f64,
    /// Length a peak trial is calibrated to, seconds.
    pub peak_seconds: f64,
}

/// Smallest working set: below this, loop overhead and timing dominate.
const SMALLEST: f64 = 4096.0;
/// Sizes per doubling in the full sweep.
const PER_DOUBLING: f64 = 2.0;
/// The full sweep goes this far past the start of the DRAM window.
const DRAM_SPAN: f64 = 2.9;

impl Plan {
    /// The full sweep (a grid of sizes from 4 KiB to past the DRAM threshold, at least three
    /// in every level's window, 7 trials) or the quick one (two sizes per window, 3 short
    /// trials: a rough value per level in about a second).
    pub fn new(windows: &[Window], quick: bool) -> Plan {
        let mut sizes: Vec<f64> = Vec::new();
        let per_window = if quick { 2 } else { 3 };
        let dram_above = windows
            .iter()
            .find(|w| w.upto.is_none())
            .map_or(64.0 * 1048576.0, |w| w.above);
        if !quick {
            let top = (dram_above * DRAM_SPAN).max(SMALLEST * 4.0);
            let mut s = SMALLEST;
            while s <= top {
                sizes.push(s);
                s *= 2f64.powf(1.0 / PER_DOUBLING);
            }
        }
        for w in windows {
            let lo = if w.above > 0.0 { w.above } else { SMALLEST };
            let hi = w.upto.unwrap_or(lo * 2.0);
            let have = sizes.iter().filter(|&&s| w.contains(s as u64)).count();
            if have < per_window && hi > lo {
                // Evenly spaced in log size, strictly inside the window.
                for i in 1..=per_window {
                    let f = i as f64 / per_window as f64;
                    sizes.push(lo * (hi / lo).powf(f));
                }
            }
        }
        let mut sizes: Vec<u64> = sizes
            .into_iter()
            .map(|s| ((s / 1024.0).floor() as u64).max(4) * 1024)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        Plan {
            sizes,
            trials: if quick { 3 } else { 7 },
            stream_seconds: if quick { 0.002 } else { 0.01 },
            peak_seconds: if quick { 0.005 } else { 0.04 },
        }
    }

    /// Every item, in the order measured: the four peaks, then each size's kernels.
    pub fn items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        for precision in [Precision::Double, Precision::Single] {
            for vector in [true, false] {
                out.push(Item::Peak { precision, vector });
            }
        }
        for &bytes in &self.sizes {
            for kernel in Kernel::ALL {
                out.push(Item::Stream { kernel, bytes });
            }
        }
        out
    }

    /// Bytes each thread's buffer needs: the largest working set.
    pub fn buffer_bytes(&self) -> usize {
        self.sizes.last().copied().unwrap_or(0) as usize
    }
}

/// Runs the plan on this rank's team (`None` for a rank that only keeps step with the
/// others: `--node` under MPI, where one rank per host runs all of its threads), calling
/// `progress` after each item. Every rank of the host must call this with the same plan.
pub fn run(
    plan: &Plan,
    isa: Isa,
    team: Option<&Team>,
    node: &Node,
    progress: &dyn Fn(),
) -> Vec<Trial> {
    let mut trials = Vec::new();
    for item in plan.items() {
        let seconds = match item {
            Item::Peak { .. } => plan.peak_seconds,
            Item::Stream { .. } => plan.stream_seconds,
        };
        let work = Work::new(item, isa);
        // Calibrated under load: every rank of the host calibrates at the same time.
        node.barrier();
        let mine = match (team, &work) {
            (Some(team), Some(work)) => calibrate(team, work, seconds),
            _ => 0,
        };
        let count = node.max(mine);
        for _ in 0..plan.trials {
            node.barrier();
            if let (Some(team), Some(work), true) = (team, &work, count > 0) {
                let t = team.run(|buf| work.run(buf, count));
                trials.push(Trial {
                    item,
                    work: work.amount(count) * team.threads() as f64,
                    start_ns: t.start_ns,
                    end_ns: t.end_ns,
                });
            }
        }
        progress();
    }
    trials
}

/// One item's kernel, ready to run `count` times (iterations or passes).
enum Work {
    Peak(PeakKernel),
    Stream { isa: Isa, kernel: Kernel, n: usize },
}

impl Work {
    /// `None` when the CPU cannot run it (no kernel at that instruction set) or the size is
    /// too small for the kernel.
    fn new(item: Item, isa: Isa) -> Option<Work> {
        match item {
            Item::Peak { precision, vector } => {
                PeakKernel::new(isa, precision, vector).map(Work::Peak)
            }
            Item::Stream { kernel, bytes } => {
                let n = stream::elements(kernel, bytes as usize);
                (n > 0).then_some(Work::Stream { isa, kernel, n })
            }
        }
    }

    fn run(&self, buf: &mut [f64], count: u64) -> f64 {
        match self {
            Work::Peak(k) => k.run(count),
            Work::Stream { isa, kernel, n } => stream::run(*isa, *kernel, buf, *n, count),
        }
    }

    /// FLOPs or bytes of `count` runs on one thread.
    fn amount(&self, count: u64) -> f64 {
        match self {
            Work::Peak(k) => k.flops_per_iteration() * count as f64,
            Work::Stream { kernel, n, .. } => {
                (kernel.bytes_per_element() * n) as f64 * count as f64
            }
        }
    }
}

/// How many runs make a trial of about `seconds`: grows the count by 4 until a run takes a
/// quarter of that, then scales (this also warms caches, pages and clocks).
fn calibrate(team: &Team, work: &Work, seconds: f64) -> u64 {
    let first = match work {
        Work::Peak(_) => 1000,
        Work::Stream { .. } => 1,
    };
    let mut count: u64 = first;
    loop {
        let t = team.run(|buf| work.run(buf, count)).longest_seconds();
        if t >= seconds / 4.0 || count >= u64::MAX / 8 {
            return ((count as f64 * seconds / t).ceil() as u64).max(1);
        }
        count *= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::super::plateau::windows;
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;

    #[test]
    fn every_window_gets_its_points() {
        let w = windows(32 * KIB, 512 * KIB, Some(16 * MIB));
        for (quick, least) in [(true, 2), (false, 3)] {
            let plan = Plan::new(&w, quick);
            for window in &w {
                let n = plan.sizes.iter().filter(|&&s| window.contains(s)).count();
                assert!(
                    n >= least,
                    "quick {quick}: {window:?} has {n} of {:?}",
                    plan.sizes
                );
            }
            assert!(plan.sizes.windows(2).all(|p| p[0] < p[1]));
            assert!(plan.sizes.iter().all(|s| s % 1024 == 0 && *s >= 4096));
        }
        let quick = Plan::new(&w, true);
        let full = Plan::new(&w, false);
        assert_eq!(quick.sizes.len(), 8);
        assert!(full.sizes.len() > 20 && full.trials > quick.trials);
        assert_eq!(full.items().len(), 4 + 3 * full.sizes.len());
        assert_eq!(full.buffer_bytes() as u64, *full.sizes.last().unwrap());
    }

    #[test]
    fn a_narrow_level_still_gets_points() {
        // L2 only 2x L1: its window (1.5x L1, 0.75x L2] holds no grid point of its own.
        let w = windows(32 * KIB, 64 * KIB, None);
        let plan = Plan::new(&w, false);
        let l2 = w[1];
        assert!(
            plan.sizes.iter().filter(|&&s| l2.contains(s)).count() >= 1,
            "{:?}",
            plan.sizes
        );
    }

    /// A real run of a tiny plan: every item measured `trials` times with positive work.
    #[test]
    fn a_tiny_plan_runs_every_item() {
        let isa = super::super::isa::detect().isa;
        let plan = Plan {
            sizes: vec![8 * KIB, 64 * KIB],
            trials: 2,
            stream_seconds: 0.0005,
            peak_seconds: 0.0005,
        };
        let pus = rankscope_collectors::topology::process_binding().allowed_pus;
        let team = Team::new(&pus[..1], true, plan.buffer_bytes()).unwrap();
        let node = Node::join();
        let calls = std::cell::Cell::new(0);
        let trials = run(&plan, isa, Some(&team), &node, &|| {
            calls.set(calls.get() + 1)
        });
        assert_eq!(calls.get(), plan.items().len());
        assert_eq!(trials.len(), plan.items().len() * 2);
        assert!(trials.iter().all(|t| t.work > 0.0 && t.end_ns > t.start_ns));
    }
}
