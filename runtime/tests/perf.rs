//! perf_event collectors through regions, components and storage: software events give real
//! values through the group path; events that cannot count here (hardware events without a
//! PMU) give no values at all, neither in the profile nor from a component.

mod common;
use common::{nodes, paths, wall};
use rankscope::collectors::{self, Availability};
use rankscope::component::Component;
use rankscope::region::Region;

fn busy(iterations: u64) -> f64 {
    let mut x = 1.0f64;
    for _ in 0..iterations {
        x = std::hint::black_box(x * 1.000_000_1);
    }
    x
}

#[test]
fn software_events_reach_the_profile_through_regions() {
    let r = Region::with_components(
        "perf-sw",
        &[
            "wall_clock",
            "perf_task_clock",
            "perf_page_faults",
            "thread_cpu_clock",
        ],
    )
    .unwrap();
    for _ in 0..3 {
        let _g = r.enter();
        busy(2_000_000);
        std::hint::black_box(vec![1u8; 1 << 20]);
    }
    let p = rankscope::get();
    assert_eq!(wall(&p, "perf-sw").laps, 3, "{:?}", paths(&p));
    let n = nodes(&p, "perf-sw")[0];
    let task = n.stats["perf.task_clock"];
    let cpu = n.stats["thread_cpu_clock"];
    assert_eq!(task.laps, 3);
    let ratio = task.sum as f64 / cpu.sum as f64;
    assert!((0.8..1.25).contains(&ratio), "task {task:?} cpu {cpu:?}");
    assert!(n.stats["perf.page_faults"].sum > 0);
    let m = p
        .metrics
        .iter()
        .find(|m| m.name == "perf.task_clock")
        .unwrap();
    assert_eq!(
        (m.collector.as_str(), m.unit.as_str()),
        ("perf_task_clock", "ns")
    );
}

#[test]
fn events_that_cannot_count_here_are_absent_not_zero() {
    let cycles = collectors::find("perf_cycles").unwrap();
    let Availability::Unavailable(why) = cycles.probe() else {
        return; // a machine with a PMU: nothing to check here
    };
    assert!(!why.is_empty());
    let r = Region::with_components("perf-absent", &["wall_clock", "perf_cycles"]).unwrap();
    {
        let _g = r.enter();
        busy(10_000);
    }
    let p = rankscope::get();
    let n = nodes(&p, "perf-absent")[0];
    assert!(n.stats.contains_key("wall_clock"));
    assert!(!n.stats.contains_key("perf.cycles"), "{:?}", n.stats.keys());
    assert!(!n.stats.contains_key("perf.cycles.running"));

    let mut c = Component::new("perf_cycles", "perf-absent-component").unwrap();
    c.start();
    busy(10_000);
    c.stop();
    assert!(!c.available());
    assert_eq!((c.laps(), c.values()), (0, vec![]));
    assert!(c.get().is_nan());
}

#[test]
fn a_group_registered_on_demand_is_a_component_like_the_others() {
    let g = collectors::perf::group(&["task-clock", "minor-faults"]).unwrap();
    assert_eq!(g.name(), "perf_group_task_clock_minor_faults");
    let again = collectors::perf::group(&["task_clock", "minor_faults"]).unwrap();
    assert!(std::ptr::eq(g, again));
    let r = Region::with_components("perf-group", &["wall_clock", g.name()]).unwrap();
    {
        let _g = r.enter();
        busy(1_000_000);
        std::hint::black_box(vec![1u8; 1 << 20]);
    }
    let p = rankscope::get();
    let n = nodes(&p, "perf-group")[0];
    assert!(n.stats["perf_group_task_clock_minor_faults.task_clock"].sum > 0);
    assert!(n.stats["perf_group_task_clock_minor_faults.minor_faults"].sum > 0);
    let e = collectors::perf::group(&["cycles", "bogus"]).err().unwrap();
    assert!(e.contains("unknown perf event 'bogus'"), "{e}");
}
