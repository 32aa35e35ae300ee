//! Call-tree storage with default settings: nesting, threads, misuse, live reads, components.
//! Each test uses its own region names, since every test thread feeds the same process tree.

mod common;
use common::{nodes, paths, wall};
use rankscope::component::Component;
use rankscope::region::Region;
use std::time::Duration;

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn nested_regions_aggregate_inclusive_and_exclusive() {
    let outer = Region::with_components("nest-outer", &["wall_clock"]).unwrap();
    let inner = Region::with_components("nest-inner", &["wall_clock"]).unwrap();
    for _ in 0..3 {
        let _o = outer.enter();
        sleep_ms(2);
        for _ in 0..2 {
            let _i = inner.enter();
            sleep_ms(3);
        }
    }
    let p = rankscope::get();
    let o = wall(&p, "nest-outer");
    let i = wall(&p, "nest-outer/nest-inner");
    assert_eq!((o.laps, i.laps), (3, 6));
    assert!(
        i.sum >= 6 * 3_000_000 && o.sum >= i.sum + 3 * 2_000_000,
        "{o:?} {i:?}"
    );
    assert!(i.min >= 3_000_000 && i.max >= i.min);
    let (_, kids) = p.children();
    let id = nodes(&p, "nest-outer")[0].id;
    assert_eq!(p.exclusive(id, "wall_clock", &kids), Some(o.sum - i.sum));
    assert_eq!(p.ranks.len(), 1);
    assert_eq!(
        nodes(&p, "nest-outer")[0].per_rank["wall_clock"],
        vec![Some(o)]
    );
}

#[test]
fn threads_collapse_into_one_tree_by_default() {
    let r = Region::with_components("mt-work", &["wall_clock"]).unwrap();
    let s = Region::with_components("mt-step", &["wall_clock"]).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let _w = r.enter();
                for _ in 0..5 {
                    let _s = s.enter();
                }
            });
        }
    });
    let p = rankscope::get();
    assert_eq!(wall(&p, "mt-work").laps, 8);
    assert_eq!(wall(&p, "mt-work/mt-step").laps, 40);
}

#[test]
fn stopping_out_of_order_stops_inner_regions_and_is_reported() {
    std::thread::spawn(|| {
        rankscope::start("ooo-a");
        rankscope::start("ooo-b");
        rankscope::stop("ooo-a"); // b is still running: stopped first, reported
        rankscope::stop("ooo-never-started");
        rankscope::start("ooo-c");
        rankscope::stop("ooo-c");
    })
    .join()
    .unwrap();
    let p = rankscope::get();
    assert_eq!(wall(&p, "ooo-a").laps, 1);
    assert_eq!(wall(&p, "ooo-a/ooo-b").laps, 1);
    // the tree is intact: c is a top-level region again, not a child of a or b
    assert_eq!(wall(&p, "ooo-c").laps, 1);
    let d = p.diagnostics.join("\n");
    assert!(
        d.contains("'ooo-a' stopped while 'ooo-b' inside it was still running"),
        "{d}"
    );
    assert!(
        d.contains("stop('ooo-never-started') without a matching start"),
        "{d}"
    );
}

#[test]
fn a_thread_ending_with_open_regions_is_reported() {
    std::thread::spawn(|| {
        rankscope::start("open-at-exit");
    })
    .join()
    .unwrap();
    let p = rankscope::get();
    let d = p.diagnostics.join("\n");
    assert!(
        d.contains("regions still running (not recorded): open-at-exit"),
        "{d}"
    );
    assert!(nodes(&p, "open-at-exit")[0].stats.is_empty());
}

#[test]
fn live_threads_are_read_consistently_without_stopping() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    let r = Region::with_components("live-loop", &["wall_clock"]).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let _g = r.enter();
            }
        });
        let mut last = 0;
        for _ in 0..50 {
            let p = rankscope::get();
            if let Some(n) = nodes(&p, "live-loop").first() {
                let s = n.stats["wall_clock"];
                assert!(s.laps >= last, "laps went backwards");
                assert!(s.min <= s.max && s.sum >= s.max as i128, "{s:?}");
                last = s.laps;
            }
            sleep_ms(1);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(
            last > 0,
            "never saw the live thread: {:?}",
            paths(&rankscope::get())
        );
    });
}

#[test]
fn components_measure_alone_and_store_through_push_pop() {
    let mut c = Component::new("WallClock", "comp-wall").unwrap();
    c.start();
    sleep_ms(5);
    c.stop();
    assert_eq!(c.laps(), 1);
    assert!(c.get() >= 0.005, "{}", c.get());
    assert!(c.to_string().contains("comp-wall (wall_clock)"), "{c}");

    let parent = Region::with_components("comp-parent", &["wall_clock"]).unwrap();
    let before = c.values()[0];
    {
        let _p = parent.enter();
        c.push();
        c.start();
        sleep_ms(2);
        c.stop();
        c.pop();
    }
    let p = rankscope::get();
    let stored = wall(&p, "comp-parent/comp-wall");
    assert_eq!(stored.laps, 1);
    assert_eq!(stored.sum, (c.values()[0] - before) as i128);
    assert!(Component::new("wal_clock", "x").is_err());
}
