//! Pins a collector thread the way a sampler does and prints, as one JSON line, where it went:
//! the process's binding before, the chosen PU, the thread's binding read back, and the
//! process's binding while the collector runs (collector threads are left out of it).
//!
//! Try it bound and unbound, and under mpirun (tests/test_topology.py does):
//!
//! ```text
//! cargo run -p rankscope-collectors --example pin_collector
//! hwloc-bind pu:0 -- target/debug/examples/pin_collector
//! mpirun -n 2 target/debug/examples/pin_collector
//! ```

use rankscope_collectors::topology::{pin_collector_thread, process_binding, thread_binding};
use serde_json::json;
use std::sync::mpsc;

fn main() {
    let before = process_binding();
    let (report, reported) = mpsc::channel();
    let (done, finish) = mpsc::channel::<()>();
    let collector = std::thread::spawn(move || {
        let pinned = pin_collector_thread();
        let seen = thread_binding();
        let pinned = match &pinned {
            Ok(p) => json!({"pu": p.pu, "free": p.free, "allowed_pus": p.allowed_pus,
                            "rank_pus": p.rank_pus}),
            Err(why) => json!({"error": why}),
        };
        report
            .send((pinned, seen))
            .expect("main waits for the report");
        // Stay pinned (and registered) until main has read the process's binding.
        let _ = finish.recv();
    });
    let (pinned, seen) = reported.recv().expect("the collector reports");
    let during = process_binding();
    done.send(()).expect("the collector waits");
    collector.join().expect("the collector thread ends cleanly");
    let rank = std::env::var("OMPI_COMM_WORLD_RANK")
        .or_else(|_| std::env::var("PMIX_RANK"))
        .ok()
        .and_then(|r| r.parse::<u32>().ok());
    println!(
        "{}",
        json!({"rank": rank, "before": before, "pinned": pinned, "thread": seen,
               "during": during})
    );
}
