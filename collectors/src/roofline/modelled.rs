//! Counts the application supplies: `add_flops(n)` and `add_bytes(n)` bump this thread's
//! cumulative counters (plain thread-local cells: a few ns), and the `roofline_modelled`
//! collector reads them at a region's start and stop, so a region's value is what was supplied
//! inside it, children included.

use crate::{Availability, Collector, MetricInfo, Unit};
use std::cell::Cell;

/// One thread's cumulative counts, and how many regions carrying [`MODELLED`] are open on it.
struct Counts {
    flops: Cell<u64>,
    bytes: Cell<u64>,
    /// Regions carrying the collector open on this thread. The runtime samples a collector
    /// once when a region starts and once when it stops, then calls `delta` once: so each
    /// sample adds one and each delta takes two away. A count supplied while this is 0 lands
    /// in no region, which the caller is told (see [`add_flops`]).
    open: Cell<u32>,
}

thread_local! {
    static COUNTS: Counts = const {
        Counts { flops: Cell::new(0), bytes: Cell::new(0), open: Cell::new(0) }
    };
}

/// Adds `n` floating-point operations to this thread's count. Returns whether a region
/// carrying `roofline_modelled` is open on this thread: when it is not, the count belongs to
/// no region and shows up nowhere (the runtime's `rankscope::add_flops` warns once).
#[inline]
pub fn add_flops(n: u64) -> bool {
    add(n, |c| &c.flops)
}

/// Adds `n` bytes moved to this thread's count; returns as [`add_flops`] does.
#[inline]
pub fn add_bytes(n: u64) -> bool {
    add(n, |c| &c.bytes)
}

#[inline]
fn add(n: u64, counter: fn(&Counts) -> &Cell<u64>) -> bool {
    COUNTS
        .try_with(|c| {
            let cell = counter(c);
            cell.set(cell.get().wrapping_add(n));
            c.open.get() > 0
        })
        .unwrap_or(false)
}

/// The `roofline_modelled` collector.
pub(crate) struct Modelled;

pub(crate) static MODELLED: Modelled = Modelled;

static METRICS: [MetricInfo; 2] = [
    MetricInfo {
        name: "flops.modelled",
        unit: Unit::Count,
        description: "floating-point operations the application supplied in this region \
                      (rankscope::add_flops, rankscope.roofline.count): modelled, not measured",
        additive: true,
    },
    MetricInfo {
        name: "bytes.modelled",
        unit: Unit::Bytes,
        description: "bytes moved the application supplied in this region \
                      (rankscope::add_bytes, rankscope.roofline.count): modelled, not measured",
        additive: true,
    },
];

impl Collector for Modelled {
    fn name(&self) -> &'static str {
        "roofline_modelled"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["modelled"]
    }
    fn description(&self) -> &'static str {
        "roofline counts the application supplies (FLOPs and bytes, per thread, children \
         included): rankscope::add_flops/add_bytes, Python rankscope.roofline.count"
    }
    fn metrics(&self) -> &[MetricInfo] {
        &METRICS
    }
    fn raw_len(&self) -> usize {
        2
    }
    fn probe(&self) -> Availability {
        Availability::Available
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        let _ = COUNTS.try_with(|c| {
            out[0] = c.flops.get() as i64;
            out[1] = c.bytes.get() as i64;
            c.open.set(c.open.get().wrapping_add(1));
        });
    }
    #[inline]
    fn delta(&self, start: &[i64], stop: &[i64], out: &mut [i64]) {
        out[0] = stop[0].wrapping_sub(start[0]);
        out[1] = stop[1].wrapping_sub(start[1]);
        let _ = COUNTS.try_with(|c| c.open.set(c.open.get().saturating_sub(2)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A region as the runtime runs it: a sample at its start, a sample and a delta at its stop.
    fn region(work: impl FnOnce()) -> [i64; 2] {
        let (mut a, mut b, mut out) = ([0i64; 2], [0i64; 2], [0i64; 2]);
        MODELLED.sample(&mut a);
        work();
        MODELLED.sample(&mut b);
        MODELLED.delta(&a, &b, &mut out);
        out
    }

    #[test]
    fn a_region_gets_what_was_supplied_inside_it_children_included() {
        assert!(!add_flops(5), "no region open: the caller is told");
        let mut inner = [0i64; 2];
        let outer = region(|| {
            assert!(add_flops(100));
            assert!(add_bytes(800));
            inner = region(|| {
                assert!(add_flops(2_000_000_000_000));
                assert!(add_bytes(24));
            });
            assert!(add_flops(1), "the outer region is still open");
        });
        assert_eq!(inner, [2_000_000_000_000, 24]);
        assert_eq!(outer, [2_000_000_000_101, 824]);
        assert!(!add_bytes(1), "every region stopped");
    }

    #[test]
    fn each_thread_counts_its_own() {
        let here = region(|| {
            add_flops(7);
            std::thread::spawn(|| {
                assert!(!add_flops(1_000), "no region open on that thread");
            })
            .join()
            .unwrap();
        });
        assert_eq!(here, [7, 0]);
    }
}
