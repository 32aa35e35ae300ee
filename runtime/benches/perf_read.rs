//! Cost of reading perf_event groups: one sample of a collector (the read), and one region
//! (start + stop + aggregation) with a perf collector beside the wall clock, against the wall
//! clock alone and the OS collectors that read the same quantities, in the same run.
//!
//! On a machine without a PMU only software events can be read: each sample is one `read()` per
//! kernel group, that is per PMU among the collector's events (rdpmc serves hardware counters
//! only). Unavailable collectors are skipped.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rankscope::collectors::{self, find, Collector};
use rankscope::region::Region;
use std::time::Duration;

/// Three software events of one PMU: one kernel group, one `read()` per sample.
fn one_pmu() -> &'static dyn Collector {
    collectors::perf::group(&["page-faults", "context-switches", "cpu-migrations"])
        .expect("software events")
}

/// Three software events of two PMUs (task-clock is a PMU of its own): two kernel groups, two
/// `read()`s per sample.
fn two_pmus() -> &'static dyn Collector {
    collectors::perf::group(&["task-clock", "page-faults", "context-switches"])
        .expect("software events")
}

fn sample(c: &mut Criterion) {
    let mut g = c.benchmark_group("one_sample");
    let mut cases: Vec<(&str, &'static dyn Collector)> = [
        "wall_clock",
        "thread_cpu_clock",
        "page_faults",
        "perf_task_clock",
        "perf_page_faults",
        "perf_cycles",
    ]
    .iter()
    .map(|n| (*n, find(n).unwrap()))
    .collect();
    cases.push(("perf_3_events_1_pmu", one_pmu()));
    cases.push(("perf_3_events_2_pmus", two_pmus()));
    for (name, c) in cases {
        if !c.probe().is_available() {
            eprintln!("{name}: unavailable here, skipped");
            continue;
        }
        let mut raw = vec![0i64; c.raw_len()];
        c.sample(&mut raw); // opens the thread's group
        g.bench_function(name, |b| b.iter(|| c.sample(black_box(&mut raw))));
    }
    g.finish();
}

fn regions(c: &mut Criterion) {
    let mut g = c.benchmark_group("three_nested_regions");
    for (label, components) in [
        ("wall_clock", vec!["wall_clock"]),
        (
            "wall_clock+thread_cpu_clock",
            vec!["wall_clock", "thread_cpu_clock"],
        ),
        (
            "wall_clock+perf_task_clock",
            vec!["wall_clock", "perf_task_clock"],
        ),
        (
            "wall_clock+perf_3_events_1_pmu",
            vec!["wall_clock", one_pmu().name()],
        ),
        (
            "wall_clock+perf_3_events_2_pmus",
            vec!["wall_clock", two_pmus().name()],
        ),
    ] {
        let a = Region::with_components(&format!("{label}-a"), &components).unwrap();
        let b = Region::with_components(&format!("{label}-b"), &components).unwrap();
        let d = Region::with_components(&format!("{label}-c"), &components).unwrap();
        g.bench_function(label, |bench| {
            bench.iter(|| {
                let _a = a.enter();
                let _b = b.enter();
                let _c = d.enter();
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = sample, regions
}
criterion_main!(benches);
