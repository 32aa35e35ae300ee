//! Three nested regions in a loop, for instruction counts of the hot path under callgrind:
//!
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/region_loop 100000
//!
//! Run it at two iteration counts: the difference in instructions divided by three times the
//! difference in iterations is the cost of one region (start, stop, aggregation), free of
//! start-up costs and of whatever else the machine is doing. `scripts/region-instructions.sh`
//! does exactly that. An optional second argument names the components (`wall_clock,peak_rss`).
//! The loop's own time per region goes to stderr, for comparing with other profilers' loops.

use rankscope::region::Region;

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let components: Vec<String> = args
        .next()
        .unwrap_or_else(|| "wall_clock".into())
        .split(',')
        .map(String::from)
        .collect();
    let a = Region::with_components("a", &components).expect("known components");
    let b = Region::with_components("b", &components).expect("known components");
    let c = Region::with_components("c", &components).expect("known components");
    let t0 = std::time::Instant::now();
    for _ in 0..iterations {
        let _a = a.enter();
        let _b = b.enter();
        let _c = c.enter();
    }
    let ns = t0.elapsed().as_nanos() as f64 / (3 * iterations.max(1)) as f64;
    eprintln!("rankscope: {ns:.1} ns per region");
    std::hint::black_box(rankscope::get());
}
