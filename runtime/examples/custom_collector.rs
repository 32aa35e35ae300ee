//! A collector of the program's own: items processed per region, counted by the application in
//! an atomic and measured by rankscope like any other component (per node, per thread, merged
//! over ranks). The template of docs/collectors.md, as a program that runs:
//!
//!     cargo run --release -p rankscope --example custom_collector [output folder]

use rankscope::collectors::{self, Availability, Collector, MetricInfo, Unit};
use std::sync::atomic::{AtomicI64, Ordering};

/// What the application bumps as it works.
static ITEMS: AtomicI64 = AtomicI64::new(0);

/// Items processed between a region's start and stop.
struct Items;

static ITEM_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "items",
    unit: Unit::Count,
    description: "items the application processed",
    // A parent's count includes its children's: exclusive counts mean something.
    additive: true,
}];

impl Collector for Items {
    fn name(&self) -> &'static str {
        "items"
    }
    fn description(&self) -> &'static str {
        "items processed, as counted by the application"
    }
    fn metrics(&self) -> &[MetricInfo] {
        &ITEM_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        Availability::Available
    }
    fn sample(&self, out: &mut [i64]) {
        out[0] = ITEMS.load(Ordering::Relaxed);
    }
    // `delta` keeps its default: stop minus start, reading for reading.
}

fn process(batch: usize) {
    let _r = rankscope::region!("process", ["wall_clock", "items"]);
    for _ in 0..batch {
        ITEMS.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    if let Some(out) = std::env::args().nth(1) {
        rankscope::settings::set("output_path", &out).expect("a folder name is a valid setting");
    }
    rankscope::init();
    // Registered before first use; `rankscope components` would list it from here on.
    collectors::register(Box::new(Items)).expect("a valid declaration");
    {
        let _main = rankscope::region!("main", ["wall_clock", "items"]);
        for batch in [10, 20, 30] {
            process(batch);
        }
    }
    let profile = rankscope::get();
    for node in &profile.nodes {
        if let Some(items) = node.stats.get("items") {
            println!("{}: {} items in {} laps", node.name, items.sum, items.laps);
        }
    }
    rankscope::finalize();
}
