//! A thread's region stack reuses, per depth, the node the region there had last time (a loop
//! re-enters the same nodes). These steps check that the reuse never outlives what decided the
//! placement: settings changed on the running thread apply from its next start, and regions of
//! other bundles or samples of other sizes at the same place keep their own values. Settings
//! are process-wide, so the steps run one after another inside a single test.

mod common;
use common::{nodes, paths, wall};
use rankscope::region::Region;
use rankscope::settings;

fn laps(path: &str) -> u64 {
    wall(&rankscope::get(), path).laps
}

#[test]
fn reused_placements_follow_settings_and_bundles_on_one_thread() {
    let a = Region::with_components("reuse-a", &["wall_clock"]).unwrap();
    let b = Region::with_components("reuse-b", &["wall_clock"]).unwrap();
    let c = Region::with_components("reuse-c", &["wall_clock"]).unwrap();
    let nest = || {
        let _a = a.enter();
        let _b = b.enter();
        let _c = c.enter();
    };
    let (top, mid, low) = ("reuse-a", "reuse-a/reuse-b", "reuse-a/reuse-b/reuse-c");
    for _ in 0..3 {
        nest();
    }
    assert_eq!((laps(top), laps(mid), laps(low)), (3, 3, 3));

    // Disabled: nothing recorded, although every depth holds a node from the loop above.
    settings::set("enabled", "off").unwrap();
    nest();
    settings::set("enabled", "on").unwrap();
    assert_eq!((laps(top), laps(mid), laps(low)), (3, 3, 3));

    // Disabled while `a` runs: `a` was started recorded and records its lap; b and c, started
    // inside while disabled, do not, and neither do b and c started again after re-enabling
    // (their parent records nothing: they are not placed under a stale node).
    {
        let _a = a.enter();
        settings::set("enabled", "off").unwrap();
        {
            let _b = b.enter();
            let _c = c.enter();
        }
        settings::set("enabled", "on").unwrap();
    }
    assert_eq!((laps(top), laps(mid), laps(low)), (4, 3, 3));
    {
        settings::set("enabled", "off").unwrap();
        let _a = a.enter();
        settings::set("enabled", "on").unwrap();
        let _b = b.enter();
        let _c = c.enter();
    }
    assert_eq!((laps(top), laps(mid), laps(low)), (4, 3, 3));

    // max_depth 1, then flat, on this same thread: the loop's nodes are not reused.
    settings::set("max_depth", "1").unwrap();
    nest();
    settings::set("max_depth", "65535").unwrap();
    assert_eq!((laps(top), laps(mid), laps(low)), (5, 3, 3));
    settings::set("flat_profile", "on").unwrap();
    nest();
    settings::set("flat_profile", "off").unwrap();
    let p = rankscope::get();
    assert_eq!(wall(&p, "reuse-b").laps, 1, "{:?}", paths(&p));
    assert_eq!(wall(&p, "reuse-c").laps, 1, "{:?}", paths(&p));
    nest();
    assert_eq!((laps(top), laps(mid), laps(low)), (7, 4, 4));

    // Timeline on this thread: every instance a node of its own, none reused.
    settings::set("timeline_profile", "on").unwrap();
    for _ in 0..2 {
        drop(a.enter());
    }
    settings::set("timeline_profile", "off").unwrap();
    let p = rankscope::get();
    let entries = nodes(&p, top);
    assert_eq!(entries.len(), 3, "{:?}", paths(&p));
    assert_eq!(entries.iter().filter(|n| n.start_ns.is_some()).count(), 2);

    // Same name and place, other bundles, alternating: each lap goes to the one node, each
    // metric counted by the bundles that have it; a bundle with more raw readings than the
    // wall clock nests inside and around wall-clock-only regions.
    let both = Region::with_components("reuse-mixed", &["wall_clock", "page_faults"]).unwrap();
    let wall_only = Region::with_components("reuse-mixed", &["wall_clock"]).unwrap();
    let inner = Region::with_components("reuse-inner", &["page_faults", "wall_clock"]).unwrap();
    for _ in 0..3 {
        let _x = both.enter();
        let _w = wall_only.enter();
        drop(inner.enter());
    }
    for _ in 0..2 {
        let _w = wall_only.enter();
        drop(inner.enter());
    }
    let p = rankscope::get();
    let mixed = &nodes(&p, "reuse-mixed")[0].stats;
    assert_eq!(mixed["wall_clock"].laps, 3 + 2, "{:?}", paths(&p));
    assert_eq!(mixed["page_faults.minor"].laps, 3);
    let inner = &nodes(&p, "reuse-mixed/reuse-mixed/reuse-inner")[0].stats;
    assert_eq!(inner["wall_clock"].laps, 3);
    assert_eq!(inner["page_faults.minor"].laps, 3);
    assert_eq!(wall(&p, "reuse-mixed/reuse-inner").laps, 2);
}
