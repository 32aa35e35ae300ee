//! The collector interface seen from the runtime: a collector registered at run time with more
//! raw readings and metrics than any built-in one is measured by regions like the others, and
//! its lifecycle hooks run when they should (process init at first use, thread start before a
//! thread's first region, thread stop when it ends, finish at the end of the run).
//!
//! One test per process state: everything lives in one `#[test]`, since the catalog and the
//! hooks are process-wide.

use rankscope::collectors::{self, Availability, Collector, MetricInfo, Unit};
use rankscope::region::Region;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::SeqCst};

static TICK: AtomicI64 = AtomicI64::new(0);
static PROCESS_INITS: AtomicUsize = AtomicUsize::new(0);
static THREAD_STARTS: AtomicUsize = AtomicUsize::new(0);
static THREAD_STOPS: AtomicUsize = AtomicUsize::new(0);
static FINISHES: AtomicUsize = AtomicUsize::new(0);

const NAMES: [&str; 10] = [
    "wide.m0", "wide.m1", "wide.m2", "wide.m3", "wide.m4", "wide.m5", "wide.m6", "wide.m7",
    "wide.m8", "wide.m9",
];

fn wide_metrics() -> Vec<MetricInfo> {
    NAMES
        .iter()
        .map(|name| MetricInfo {
            name,
            unit: Unit::Count,
            description: "test metric",
            additive: true,
        })
        .collect()
}

/// Twelve raw readings, ten metrics: metric `i` is the change of reading `i` plus those of
/// readings 10 and 11 (so delta is not the default, reading for reading).
struct WideCollector {
    metrics: Vec<MetricInfo>,
}

impl Collector for WideCollector {
    fn name(&self) -> &'static str {
        "wide_test"
    }
    fn description(&self) -> &'static str {
        "twelve readings, ten metrics"
    }
    fn metrics(&self) -> &[MetricInfo] {
        &self.metrics
    }
    fn raw_len(&self) -> usize {
        12
    }
    fn probe(&self) -> Availability {
        Availability::Available
    }
    fn sample(&self, out: &mut [i64]) {
        // Each sample advances the tick by one: reading i is tick * (i + 1).
        let t = TICK.fetch_add(1, SeqCst) + 1;
        for (i, o) in out.iter_mut().enumerate() {
            *o = t * (i as i64 + 1);
        }
    }
    fn delta(&self, start: &[i64], stop: &[i64], out: &mut [i64]) {
        let d = |i: usize| stop[i] - start[i];
        for (i, o) in out.iter_mut().enumerate() {
            *o = d(i) + d(10) + d(11);
        }
    }
    fn process_init(&self) {
        PROCESS_INITS.fetch_add(1, SeqCst);
    }
    fn thread_start(&self) {
        THREAD_STARTS.fetch_add(1, SeqCst);
    }
    fn thread_stop(&self) {
        THREAD_STOPS.fetch_add(1, SeqCst);
    }
    fn finish(&self) {
        FINISHES.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_registered_collector_is_measured_and_its_hooks_run() {
    // A thread that records regions before the collector exists...
    let (to_worker, worker_rx) = std::sync::mpsc::channel::<()>();
    let (to_main, main_rx) = std::sync::mpsc::channel::<()>();
    let early = std::thread::spawn(move || {
        let _first = rankscope::region!("early_first", ["wall_clock"]);
        to_main.send(()).unwrap();
        worker_rx.recv().unwrap();
        // ...gets its thread_start before its next region.
        let r = Region::with_components("early_second", &["wide_test"]).unwrap();
        let _g = r.enter();
    });
    main_rx.recv().unwrap();

    let registered = collectors::register(Box::new(WideCollector {
        metrics: wide_metrics(),
    }))
    .expect("a valid declaration");
    assert_eq!(registered.name(), "wide_test");
    assert_eq!(
        PROCESS_INITS.load(SeqCst),
        0,
        "process_init waits for first use"
    );

    let r = Region::with_components("wide_region", &["wall_clock", "wide_test"]).unwrap();
    assert_eq!(PROCESS_INITS.load(SeqCst), 1);
    let starts_before = THREAD_STARTS.load(SeqCst);
    std::thread::spawn(move || {
        for _ in 0..3 {
            let _g = r.enter();
        }
    })
    .join()
    .unwrap();
    assert_eq!(THREAD_STARTS.load(SeqCst), starts_before + 1);
    assert!(THREAD_STOPS.load(SeqCst) >= 1, "thread_stop at thread end");

    to_worker.send(()).unwrap();
    early.join().unwrap();
    assert_eq!(THREAD_STARTS.load(SeqCst), starts_before + 2);
    assert_eq!(PROCESS_INITS.load(SeqCst), 1, "once per process");

    let p = rankscope::get();
    let node = p
        .nodes
        .iter()
        .find(|n| n.name == "wide_region")
        .expect("the region is recorded");
    // Each lap: start and stop samples are consecutive ticks, so reading i moves by i + 1 and
    // metric i is (i + 1) + 11 + 12 per lap, three laps.
    for (i, name) in NAMES.iter().enumerate() {
        let stats = node.stats[*name];
        assert_eq!(stats.laps, 3, "{name}");
        assert_eq!(stats.sum, 3 * (i as i128 + 1 + 23), "{name}");
    }
    assert!(p.metric("wide.m9").is_some());

    rankscope::registry::finish_collectors();
    rankscope::registry::finish_collectors();
    assert_eq!(FINISHES.load(SeqCst), 1);
}
