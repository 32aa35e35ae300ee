//! Roofline counts supplied with `rankscope::add_flops` / `add_bytes` reach the profile through
//! the regions carrying `roofline_modelled`: inclusive of children, per thread, and nowhere
//! when no such region is open.

mod common;
use common::{nodes, paths, wall};
use rankscope::region::Region;

const COMPONENTS: [&str; 2] = ["wall_clock", "roofline_modelled"];

fn sum(p: &rankscope::profile::Profile, path: &str, metric: &str) -> Option<i128> {
    let found = nodes(p, path);
    assert_eq!(found.len(), 1, "{path} in {:?}", paths(p));
    found[0].stats.get(metric).map(|s| s.sum)
}

#[test]
fn counts_go_to_the_open_regions_carrying_the_component() {
    let outer = Region::with_components("roof-outer", &COMPONENTS).unwrap();
    let inner = Region::with_components("roof-inner", &COMPONENTS).unwrap();
    let timed = Region::with_components("roof-timed-only", &["wall_clock"]).unwrap();
    rankscope::add_flops(1_000); // no region: recorded nowhere (and a warning on stderr)
    for _ in 0..3 {
        let _o = outer.enter();
        rankscope::add_flops(10);
        {
            let _i = inner.enter();
            rankscope::add_flops(100);
            rankscope::add_bytes(800);
        }
        let _t = timed.enter();
        // Inside a region without the component, the enclosing one that has it takes it.
        rankscope::add_bytes(8);
    }
    // Another thread's counts are its own regions'.
    std::thread::spawn(|| {
        let r = Region::with_components("roof-thread", &COMPONENTS).unwrap();
        let _r = r.enter();
        rankscope::add_flops(7);
    })
    .join()
    .unwrap();
    let p = rankscope::get();
    assert_eq!(wall(&p, "roof-outer").laps, 3);
    assert_eq!(sum(&p, "roof-outer", "flops.modelled"), Some(3 * 110));
    assert_eq!(sum(&p, "roof-outer", "bytes.modelled"), Some(3 * 808));
    assert_eq!(
        sum(&p, "roof-outer/roof-inner", "flops.modelled"),
        Some(300)
    );
    assert_eq!(
        sum(&p, "roof-outer/roof-inner", "bytes.modelled"),
        Some(2_400)
    );
    assert_eq!(
        sum(&p, "roof-outer/roof-timed-only", "flops.modelled"),
        None
    );
    assert_eq!(sum(&p, "roof-thread", "flops.modelled"), Some(7));
    let m = p
        .metrics
        .iter()
        .find(|m| m.name == "bytes.modelled")
        .unwrap();
    assert_eq!(
        (m.collector.as_str(), m.unit.as_str()),
        ("roofline_modelled", "B")
    );
}
