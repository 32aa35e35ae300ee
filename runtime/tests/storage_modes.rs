//! Storage under each settings mode. Settings are process-wide, so the modes run one after
//! another inside a single test.

mod common;
use common::{nodes, paths, wall};
use rankscope::region::Region;
use rankscope::settings;

fn run_on_new_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f).join().unwrap();
}

#[test]
fn flat_timeline_max_depth_threads_and_disabled() {
    let a = Region::with_components("mode-a", &["wall_clock"]).unwrap();
    let b = Region::with_components("mode-b", &["wall_clock"]).unwrap();
    let c = Region::with_components("mode-c", &["wall_clock"]).unwrap();
    let nest = move || {
        let _a = a.enter();
        let _b = b.enter();
        let _c = c.enter();
    };

    // flat: every region a child of the root
    settings::set("flat_profile", "on").unwrap();
    run_on_new_thread(nest);
    settings::set("flat_profile", "off").unwrap();
    let p = rankscope::get();
    for name in ["mode-a", "mode-b", "mode-c"] {
        assert_eq!(wall(&p, name).laps, 1, "{name}: {:?}", paths(&p));
    }

    // max_depth 2: the third level is not recorded, the first two are
    settings::set("max_depth", "2").unwrap();
    run_on_new_thread(nest);
    settings::set("max_depth", "65535").unwrap();
    let p = rankscope::get();
    assert_eq!(wall(&p, "mode-a/mode-b").laps, 1);
    assert!(nodes(&p, "mode-a/mode-b/mode-c").is_empty());

    // timeline: each instance is its own node with a start time
    let t = Region::with_components("mode-timeline", &["wall_clock"]).unwrap();
    settings::set("timeline_profile", "on").unwrap();
    run_on_new_thread(move || (0..3).for_each(|_| drop(t.enter())));
    settings::set("timeline_profile", "off").unwrap();
    let p = rankscope::get();
    let entries = nodes(&p, "mode-timeline");
    assert_eq!(entries.len(), 3, "{:?}", paths(&p));
    let starts: Vec<i64> = entries.iter().map(|n| n.start_ns.unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");

    // collapse_threads off: one thread-N subtree per thread
    let k = Region::with_components("mode-kept", &["wall_clock"]).unwrap();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(move || drop(k.enter()));
        }
    });
    settings::set("collapse_threads", "off").unwrap();
    let p = rankscope::get();
    settings::set("collapse_threads", "on").unwrap();
    let kept: Vec<_> = p.nodes.iter().filter(|n| n.name == "mode-kept").collect();
    assert_eq!(kept.len(), 3);
    for n in kept {
        let parent = &p.nodes[n.parent.unwrap()];
        assert_eq!(parent.name, format!("thread-{}", n.thread.unwrap()));
        assert_eq!(n.stats["wall_clock"].laps, 1);
    }

    // disabled: nothing recorded
    let off = Region::with_components("mode-disabled", &["wall_clock"]).unwrap();
    settings::set("enabled", "off").unwrap();
    run_on_new_thread(move || drop(off.enter()));
    settings::set("enabled", "on").unwrap();
    assert!(nodes(&rankscope::get(), "mode-disabled").is_empty());
}
