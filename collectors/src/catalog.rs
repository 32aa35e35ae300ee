//! The list of every collector, and lookup by name or alias.
//!
//! This is the one table of components: the runtime's registry, the `rankscope components`
//! listing, the docs and the Python component classes all come from it. Hardware counters and
//! roofline collectors join it by adding one line here.

use crate::{clock, Collector};

static ALL: &[&dyn Collector] = &[
    &clock::WallClock,
    // TODO(collectors helper): &cpu::CpuClock,
    // TODO(collectors helper): &cpu::ThreadCpuClock,
    // TODO(collectors helper): &rusage::UserClock,
    // TODO(collectors helper): &rusage::SystemClock,
    // TODO(collectors helper): &cpu::CpuUtil,
    // TODO(collectors helper): &memory::PeakRss,
    // TODO(collectors helper): &memory::PageRss,
    // TODO(collectors helper): &rusage::PageFaults,
    // TODO(collectors helper): &rusage::ContextSwitches,
    // TODO(collectors helper): &io::IoBytes,
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
}
