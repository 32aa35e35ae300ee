//! The cap on timeline entries (setting `timeline_max_events`), in a process of its own: the
//! count of entries is per process.

use rankscope::{settings, Region};

#[test]
fn past_the_cap_instances_are_aggregated_per_path_with_a_note() {
    settings::set("timeline_profile", "on").unwrap();
    settings::set("timeline_max_events", "4").unwrap();
    let outer = Region::with_components("capped-outer", &["wall_clock"]).unwrap();
    let inner = Region::with_components("capped-inner", &["wall_clock"]).unwrap();
    // 3 outer instances with one inner each: 6 instances, 4 kept apart, 2 aggregated.
    for _ in 0..3 {
        let _o = outer.enter();
        drop(inner.enter());
    }
    let p = rankscope::get();
    let entries = |name: &str, timeline: bool| -> Vec<u64> {
        p.nodes
            .iter()
            .filter(|n| n.name == name && n.start_ns.is_some() == timeline)
            .map(|n| n.stats["wall_clock"].laps)
            .collect()
    };
    assert_eq!(entries("capped-outer", true), [1, 1]);
    assert_eq!(entries("capped-inner", true), [1, 1]);
    // The third outer instance and its inner one: one aggregated node each.
    assert_eq!(entries("capped-outer", false), [1]);
    assert_eq!(entries("capped-inner", false), [1]);
    let notes: Vec<&String> = p
        .diagnostics
        .iter()
        .filter(|d| d.contains("timeline_max_events"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", p.diagnostics);
    assert!(notes[0].contains("4 region instances"), "{}", notes[0]);

    // Every kept entry carries its thread, so trace.json can give it a track.
    let main_thread = p
        .nodes
        .iter()
        .find(|n| n.start_ns.is_some())
        .unwrap()
        .thread;
    assert!(main_thread.is_some());
    let trace: serde_json::Value =
        serde_json::from_slice(&rankscope::output::trace::to_trace_json(&p).unwrap()).unwrap();
    let spans = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .count();
    assert_eq!(spans, 4);
    assert!(trace["otherData"]["notes"]
        .to_string()
        .contains("timeline_max_events"));
}
