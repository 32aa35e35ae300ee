//! Extra cost of the finalize on rank 0: the final reduction of every rank's call tree and rank
//! 0's outputs, for the side-by-side comparison with Caliper's runtime-report
//! (`scripts/bench-finalize.sh`; issue 18).
//!
//! ```text
//! mpirun -n 64 target/release/examples/finalize_bench [OUT_DIR] [--grandchildren 100] [--visits 3] [--time-get]
//! ```
//! Every rank builds the same synthetic tree through the region API: `root`, 100 children
//! `child_<c>`, each with `--grandchildren` (10 or 100) grandchildren `grand_<g>`, so
//! 1 + 100 + 100 x G paths (1,101 or 10,101); the whole tree is walked `--visits` times, so every
//! region is entered that often. Then all ranks meet in a barrier and rank 0 times
//! `rankscope::finalize()`: the final reduction and outputs (as the settings ask), then
//! `MPI_Finalize`. Run it once with `RANKSCOPE_AUTO_OUTPUT=off` (finalize is then `MPI_Finalize`
//! alone) and once with the outputs wanted: the difference is the extra finalize cost.
//!
//! `--time-get` first calls `rankscope::get()` (this rank's own profile, what the reduction
//! starts from) twice on every rank at once, as at finalize, and rank 0 reports the wall and
//! thread CPU time of each call: the first pays the one-time costs (such as loading the machine's
//! topology with hwloc) that the finalize's call pays in a run without `--time-get`; the second
//! is what the finalize's own call then costs. On an oversubscribed machine the wall time
//! includes the other ranks' share of the cores; the CPU time does not. With
//! `RANKSCOPE_VERBOSE=2` the runtime also logs the reduction's time (rank 0's `get()` included)
//! and each writer's: together, where the finalize goes.
//!
//! Rank 0 prints one line on stdout, e.g.
//! `finalize_bench ranks=4 paths=10101 visits=3 outputs=json,text,hdf5,caliper finalize_s=0.412`
//! (`outputs=none` when the final outputs are off), followed with `--time-get` by
//! `get_first_s=.. get_first_cpu_s=.. get_again_s=.. get_again_cpu_s=..`.
//! OUT_DIR, when given, is where the outputs go (setting `output_path`).

use rankscope::component::Component;
use rankscope::mpi;
use rankscope::region::Region;
use rankscope::settings;
use std::time::Instant;

/// Children of the root: fixed, so the two tree sizes differ only in grandchildren.
const CHILDREN: usize = 100;

struct Options {
    out_dir: Option<String>,
    grandchildren: usize,
    visits: usize,
    time_get: bool,
}

fn options() -> Options {
    let mut o = Options {
        out_dir: None,
        grandchildren: 100,
        visits: 3,
        time_get: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} takes a number"))
        };
        match a.as_str() {
            "--grandchildren" => o.grandchildren = number("--grandchildren"),
            "--visits" => o.visits = number("--visits"),
            "--time-get" => o.time_get = true,
            _ if !a.starts_with("--") && o.out_dir.is_none() => o.out_dir = Some(a),
            _ => panic!("unknown argument {a}"),
        }
    }
    o
}

/// Walks the tree `visits` times; returns the number of distinct paths it has.
fn build_tree(grandchildren: usize, visits: usize) -> usize {
    let root = Region::with_default("root");
    let children: Vec<Region> = (0..CHILDREN)
        .map(|c| Region::with_default(&format!("child_{c}")))
        .collect();
    let grands: Vec<Region> = (0..grandchildren)
        .map(|g| Region::with_default(&format!("grand_{g}")))
        .collect();
    for _ in 0..visits {
        let _r = root.enter();
        for child in &children {
            let _c = child.enter();
            for grand in &grands {
                let _g = grand.enter();
            }
        }
    }
    1 + CHILDREN + CHILDREN * grandchildren
}

/// Wall and thread CPU seconds of one `rankscope::get()`, every rank calling it at once.
fn time_get() -> (f64, f64) {
    let mut cpu = Component::new("thread_cpu_clock", "get").expect("a built-in collector");
    mpi::barrier();
    let began = Instant::now();
    cpu.start();
    std::hint::black_box(rankscope::get());
    cpu.stop();
    let wall = began.elapsed().as_secs_f64();
    // Nobody goes on while another rank still builds its copy.
    mpi::barrier();
    (wall, cpu.get())
}

/// The outputs the final write will produce, as the settings say.
fn outputs() -> String {
    let s = settings::current();
    if !(s.enabled && s.auto_output) {
        return "none".into();
    }
    let on = [
        (s.json_output, "json"),
        (s.text_output, "text"),
        (s.hdf5_output, "hdf5"),
        (s.caliper_output, "caliper"),
        (s.pstats_output, "pstats"),
        (s.trace_output, "trace"),
        (s.dart_output, "dart"),
    ];
    let names: Vec<&str> = on.iter().filter(|w| w.0).map(|w| w.1).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(",")
    }
}

fn main() {
    let o = options();
    if let Some(dir) = &o.out_dir {
        settings::set("output_path", dir).expect("output_path takes any text");
    }
    rankscope::init();
    let w = mpi::world();
    let paths = build_tree(o.grandchildren, o.visits);

    let get_times = if o.time_get {
        let (first, first_cpu) = time_get();
        let (again, again_cpu) = time_get();
        format!(
            " get_first_s={first:.6} get_first_cpu_s={first_cpu:.6} get_again_s={again:.6} get_again_cpu_s={again_cpu:.6}"
        )
    } else {
        String::new()
    };
    let outputs = outputs();

    mpi::barrier();
    let began = Instant::now();
    rankscope::finalize();
    let finalize_s = began.elapsed().as_secs_f64();

    if w.rank == 0 {
        println!(
            "finalize_bench ranks={} paths={paths} visits={} outputs={outputs} finalize_s={finalize_s:.6}{get_times}",
            w.size, o.visits
        );
    }
}
