//! Nested regions over 8 threads, written as JSON and a text report.
//!
//! `cargo run --release -p rankscope --example threads`; try `RANKSCOPE_COLLAPSE_THREADS=off`
//! (one subtree per thread), `RANKSCOPE_FLAT_PROFILE=on` or
//! `RANKSCOPE_COMPONENTS=wall_clock,cpu_clock,peak_rss`.

use rankscope::region;
use std::hint::black_box;

/// Some floating-point work whose size depends on the thread, so threads differ.
fn compute(thread: usize, iters: usize) -> f64 {
    let _r = region!("compute");
    (0..iters * (thread + 1)).fold(0.0, |acc, i| acc + (i as f64).sqrt())
}

/// Allocates and touches memory so that memory collectors see something.
fn allocate(bytes: usize) -> usize {
    let _r = region!("allocate", ["wall_clock", "peak_rss", "page_faults"]);
    let v = vec![1u8; bytes];
    black_box(&v).iter().map(|&b| b as usize).sum()
}

fn main() {
    rankscope::init();
    {
        let _main = region!("main");
        std::thread::scope(|s| {
            for t in 0..8 {
                s.spawn(move || {
                    let _w = region!("worker");
                    for step in 0..10 {
                        let _s = region!("step");
                        black_box(compute(t, 20_000));
                        if step % 5 == 0 {
                            black_box(allocate(1 << 20));
                        }
                    }
                });
            }
        });
    }
    let files = rankscope::finalize();
    for f in &files {
        println!("{}", f.display());
    }
}
