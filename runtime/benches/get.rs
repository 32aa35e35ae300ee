//! Cost of building this process's profile from its thread trees: `storage::profile` with the
//! threads collapsed into one tree and kept apart, and `rankscope::get()` (which adds the
//! run's metadata and the rank's binding), each timed without dropping the profile it returns,
//! and that drop on its own. Throughput is in thread-tree nodes copied (the nodes of every
//! thread's tree), so 1 Melem/s is 1 microsecond per node.
//!
//! Trees have the shape of the finalize comparison: `main`, 100 children, each with 10
//! (1,101 nodes) or 100 (10,101 nodes) children; every thread builds the same tree. A process
//! keeps its threads' trees until it ends, and what one routine leaves in the heap changes what
//! the next one pays for fresh memory, so each routine of each case runs in a fresh process:
//! this binary starts itself once per pair (named in `RANKSCOPE_GET_BENCH_CASE`), passing its
//! arguments (criterion's filters and options) through.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use rankscope::profile::{Profile, RankInfo};
use rankscope::region::Region;
use std::process::Command;

/// The variable naming the case a child process runs.
const CASE_VAR: &str = "RANKSCOPE_GET_BENCH_CASE";

/// What is timed.
#[derive(Clone, Copy)]
enum Routine {
    /// `storage::profile` with the threads collapsed into one tree.
    Collapsed,
    /// `storage::profile` with one subtree per thread.
    PerThread,
    /// `rankscope::get()` (collapsed, the default).
    Get,
    /// Dropping the profile `rankscope::get()` returned.
    Drop,
}

impl Routine {
    const ALL: [Routine; 4] = [
        Routine::Collapsed,
        Routine::PerThread,
        Routine::Get,
        Routine::Drop,
    ];

    fn label(self) -> &'static str {
        match self {
            Routine::Collapsed => "storage_collapsed",
            Routine::PerThread => "storage_per_thread",
            Routine::Get => "rankscope_get",
            Routine::Drop => "drop_profile",
        }
    }
}

/// One routine on one tree shape, bundle and thread count.
#[derive(Clone, Copy)]
struct Case {
    routine: Routine,
    /// Children of each of the 100 children of `main`.
    leaves: usize,
    components: &'static [&'static str],
    threads: usize,
}

impl Case {
    fn nodes_per_thread(&self) -> usize {
        1 + 100 + 100 * self.leaves
    }

    /// The tree and threads, without the routine.
    fn shape(&self) -> String {
        format!(
            "{}_nodes/{}_metrics/{}_threads",
            self.nodes_per_thread(),
            self.components.len(),
            self.threads
        )
    }

    fn name(&self) -> String {
        format!("{}/{}", self.routine.label(), self.shape())
    }
}

/// A cheap second collector beside the wall clock: one more metric per node.
const TWO: &[&str] = &["wall_clock", "thread_cpu_clock"];
const ONE: &[&str] = &["wall_clock"];

fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    for leaves in [10, 100] {
        for components in [ONE, TWO] {
            for threads in [1, 4] {
                for routine in Routine::ALL {
                    all.push(Case {
                        routine,
                        leaves,
                        components,
                        threads,
                    });
                }
            }
        }
    }
    all
}

/// Builds the case's tree on each of its threads (each region entered once).
fn build(case: Case) {
    std::thread::scope(|scope| {
        for _ in 0..case.threads {
            scope.spawn(move || {
                let region = |name: String| {
                    Region::with_components(&name, case.components).expect("known components")
                };
                let main = region("main".into());
                let mids: Vec<Region> = (0..100).map(|i| region(format!("mid{i}"))).collect();
                let leaves: Vec<Region> = (0..case.leaves)
                    .map(|i| region(format!("leaf{i}")))
                    .collect();
                let _main = main.enter();
                for mid in &mids {
                    let _mid = mid.enter();
                    for leaf in &leaves {
                        let _leaf = leaf.enter();
                    }
                }
            });
        }
    });
}

fn run_case(case: Case) {
    build(case);
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut g = c.benchmark_group("get");
    let copied = (case.nodes_per_thread() * case.threads) as u64;
    g.throughput(Throughput::Elements(copied));
    let id = BenchmarkId::new(case.routine.label(), case.shape());
    // The profile is dropped outside the timing: whoever owns it pays that, measured apart.
    let untimed_drop = BatchSize::PerIteration;
    let storage = |collapse| move || rankscope::storage::profile(collapse, RankInfo::default());
    g.bench_function(id, |b| match case.routine {
        Routine::Collapsed => b.iter_batched(|| (), |()| storage(true)(), untimed_drop),
        Routine::PerThread => b.iter_batched(|| (), |()| storage(false)(), untimed_drop),
        Routine::Get => b.iter_batched(|| (), |()| rankscope::get(), untimed_drop),
        Routine::Drop => b.iter_batched(rankscope::get, drop::<Profile>, untimed_drop),
    });
    g.finish();
    c.final_summary();
}

fn main() {
    let all = cases();
    if let Ok(name) = std::env::var(CASE_VAR) {
        let case = all
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no bench case {name}"));
        run_case(case);
        return;
    }
    let me = std::env::current_exe().expect("the bench binary's path");
    for case in all {
        let status = Command::new(&me)
            .args(std::env::args_os().skip(1))
            .env(CASE_VAR, case.name())
            .status()
            .expect("the bench binary starts itself");
        assert!(status.success(), "case {} failed: {status}", case.name());
    }
}
