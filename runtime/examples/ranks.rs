//! Uneven work per MPI rank, and a region only some ranks enter, merged on rank 0.
//!
//! `mpirun -n 4 target/release/examples/ranks`: rank 0 writes one merged result (JSON, text
//! report, HDF5, Caliper json-split) into `rankscope-output` and prints the file paths.

use rankscope::region;
use std::hint::black_box;

/// Work proportional to `units`.
fn compute(units: usize) -> f64 {
    let _r = region!("compute", ["wall_clock", "cpu_clock"]);
    (0..units * 200_000).fold(0.0, |acc, i| acc + (i as f64).sqrt())
}

/// Only odd ranks do I/O-like work in this example.
fn exchange(rank: u32) {
    let _r = region!("exchange");
    std::thread::sleep(std::time::Duration::from_millis(5 * rank as u64));
}

fn main() {
    rankscope::init();
    let rank = rankscope::mpi::world().rank;
    {
        let _main = region!("main");
        for step in 0..4 {
            let _s = region!("step");
            black_box(compute(1 + rank as usize + step % 2));
            if rank % 2 == 1 {
                exchange(rank);
            }
        }
    }
    for f in rankscope::finalize() {
        println!("{}", f.display());
    }
}
