//! Cost of one region (start + stop + aggregation into the thread's tree), nested three deep,
//! beside puffin's `profile_scope!` in the same run, and the bare clock reads as the floor.
//! Every measured iteration runs three nested regions: divide by 3 for the cost per region.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rankscope::collectors::{find, monotonic_ns, wall_sample};
use rankscope::region::Region;
use std::time::Instant;

fn regions(c: &mut Criterion) {
    let mut g = c.benchmark_group("three_nested_regions");
    let a = Region::with_components("a", &["wall_clock"]).unwrap();
    let b = Region::with_components("b", &["wall_clock"]).unwrap();
    let d = Region::with_components("c", &["wall_clock"]).unwrap();
    g.bench_function("rankscope_guard", |bench| {
        bench.iter(|| {
            let _a = a.enter();
            let _b = b.enter();
            let _c = d.enter();
        })
    });
    g.bench_function("rankscope_macro", |bench| {
        bench.iter(|| {
            let _a = rankscope::region!("ma", ["wall_clock"]);
            let _b = rankscope::region!("mb", ["wall_clock"]);
            let _c = rankscope::region!("mc", ["wall_clock"]);
        })
    });
    puffin::set_scopes_on(true);
    let mut n = 0u32;
    g.bench_function("puffin_profile_scope", |bench| {
        bench.iter(|| {
            {
                puffin::profile_scope!("a");
                puffin::profile_scope!("b");
                puffin::profile_scope!("c");
            }
            // puffin buffers scopes until a frame ends; end one regularly as an application would.
            n += 1;
            if n.is_multiple_of(1024) {
                puffin::GlobalProfiler::lock().new_frame();
            }
        })
    });
    g.finish();

    let mut f = c.benchmark_group("clock_floor_six_reads");
    let wall = find("wall_clock").unwrap();
    f.bench_function("wall_clock_sample", |bench| {
        let mut raw = [0i64; 1];
        bench.iter(|| {
            for _ in 0..6 {
                wall.sample(&mut raw);
                black_box(raw[0]);
            }
        })
    });
    // What a region of the wall clock alone reads now: the sample inlined, no virtual call.
    f.bench_function("wall_sample_inline", |bench| {
        bench.iter(|| {
            for _ in 0..6 {
                black_box(wall_sample());
            }
        })
    });
    f.bench_function("clock_gettime_monotonic", |bench| {
        bench.iter(|| {
            for _ in 0..6 {
                black_box(monotonic_ns());
            }
        })
    });
    f.bench_function("std_instant_now", |bench| {
        bench.iter(|| {
            for _ in 0..6 {
                black_box(Instant::now());
            }
        })
    });
    f.finish();
}

criterion_group!(benches, regions);
criterion_main!(benches);
