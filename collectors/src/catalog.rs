//! The list of every collector, and lookup by name or alias.
//!
//! This is the one table of components: the runtime's registry, the `rankscope components`
//! listing, the docs and the Python component classes all come from it. Hardware counters and
//! roofline collectors join it by adding one line here.

use crate::{clock, cpu, io, memory, rusage, Collector};

static ALL: &[&dyn Collector] = &[
    &clock::WallClock,
    &cpu::CpuClock,
    &cpu::ThreadCpuClock,
    &rusage::UserClock,
    &rusage::SystemClock,
    &cpu::CpuUtil,
    &memory::PeakRss,
    &memory::PageRss,
    &rusage::PageFaults,
    &rusage::ContextSwitches,
    &io::IoBytes,
];

/// Every collector this build knows, available here or not.
pub fn all() -> &'static [&'static dyn Collector] {
    ALL
}

/// Finds a collector by canonical name or alias. Matching ignores case, `_` and `-`, so
/// `wall_clock`, `WallClock` and `wall-clock` all name the same collector.
pub fn find(name: &str) -> Option<&'static dyn Collector> {
    let key = normalize(name);
    ALL.iter()
        .copied()
        .find(|c| normalize(c.name()) == key || c.aliases().iter().any(|a| normalize(a) == key))
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_by_alias() {
        let mut seen = std::collections::HashSet::new();
        for c in all() {
            assert!(seen.insert(normalize(c.name())), "duplicate {}", c.name());
            for a in c.aliases() {
                assert!(seen.insert(normalize(a)), "duplicate alias {a}");
            }
            assert_eq!(find(c.name()).unwrap().name(), c.name());
            assert!(c.raw_len() <= crate::MAX_RAW, "{} raw_len", c.name());
            assert!(!c.metrics().is_empty());
        }
        assert_eq!(find("WallClock").unwrap().name(), "wall_clock");
        assert!(find("no_such_thing").is_none());
    }

    #[test]
    fn every_collector_probes_available_on_linux() {
        for c in all() {
            assert_eq!(c.probe(), crate::Availability::Available, "{}", c.name());
        }
    }

    #[test]
    fn metric_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in all().iter().flat_map(|c| c.metrics()) {
            assert!(seen.insert(m.name), "duplicate metric {}", m.name);
        }
    }

    #[test]
    fn back_to_back_samples_are_sane() {
        // Cumulative readings are non-negative, and a region with no work in it gives small
        // deltas: catches mis-parsed procfs text and unit slips.
        for c in all() {
            let mut a = [0i64; crate::MAX_RAW];
            let mut b = [0i64; crate::MAX_RAW];
            let mut d = [0i64; crate::MAX_RAW];
            c.sample(&mut a);
            c.sample(&mut b);
            c.delta(&a, &b, &mut d);
            let raw = &a[..c.raw_len()];
            assert!(raw.iter().all(|v| *v >= 0), "{} {raw:?}", c.name());
            for (m, v) in c.metrics().iter().zip(d) {
                let limit = match m.unit {
                    crate::Unit::Nanoseconds => 1_000_000_000,
                    crate::Unit::Bytes => 1 << 30,
                    crate::Unit::Count => 1_000_000,
                    crate::Unit::PartsPerMillion => i64::MAX,
                };
                assert!(v.abs() < limit, "{} = {v}", m.name);
            }
        }
    }

    /// Counts the calling thread's allocations, so that the no-allocation test is not
    /// disturbed by tests running on other threads.
    struct CountingAlloc;

    thread_local! {
        static ALLOCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    // SAFETY: forwards to the system allocator unchanged; the counter is a const-initialised
    // thread-local, which never allocates.
    unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { std::alloc::System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: CountingAlloc = CountingAlloc;

    #[test]
    fn sampling_does_not_allocate() {
        // The counter itself works.
        let before = ALLOCS.with(|n| n.get());
        drop(std::hint::black_box(vec![0u8; 16]));
        assert_eq!(ALLOCS.with(|n| n.get()), before + 1);
        for c in all() {
            assert!(c.probe().is_available(), "{}", c.name());
            let (mut a, mut b, mut d) = ([0i64; crate::MAX_RAW], [0i64; crate::MAX_RAW], [0i64; 4]);
            // The first sample on a thread may set up once-per-process state: not counted.
            c.sample(&mut a);
            let before = ALLOCS.with(|n| n.get());
            c.sample(&mut a);
            c.sample(&mut b);
            c.delta(&a, &b, &mut d);
            assert_eq!(ALLOCS.with(|n| n.get()), before, "{} allocated", c.name());
        }
    }
}
