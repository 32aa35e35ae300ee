//! The catalog: every collector, family and background source of this build, and the
//! collectors registered at run time. Lookup by name or alias.
//!
//! This is the one table of components: the runtime's registry, the `rankscope components`
//! listing, the docs and the Python component classes all come from it. A new built-in
//! collector joins it by adding one line to [`BUILT_IN`]; a family of collectors made from
//! options, one line to [`FAMILIES`]; a background source, one line to [`SOURCES`].

use crate::os::{cpu, io, memory, rusage};
use crate::perf;
use crate::roofline;
use crate::{clock, sampler};
use crate::{Collector, Family, OptionInfo, Source};
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};

/// The collectors of `clock/` and `os/`; the perf collectors follow them (see [`built_in`]).
static BUILT_IN: &[&dyn Collector] = &[
    &clock::WallClock,
    &cpu::CpuClock,
    &cpu::ThreadCpuClock,
    &rusage::UserClock,
    &rusage::SystemClock,
    &cpu::CpuUtil,
    &memory::PeakRss,
    &memory::PageRss,
    &memory::MemoryPoint,
    &rusage::PageFaults,
    &rusage::ContextSwitches,
    &io::IoBytes,
    &roofline::MODELLED,
    &roofline::MEASURED,
];

/// The basic collectors, then one perf_event collector per named event.
fn built_in() -> &'static [&'static dyn Collector] {
    static ALL_BUILT_IN: OnceLock<Vec<&'static dyn Collector>> = OnceLock::new();
    ALL_BUILT_IN.get_or_init(|| BUILT_IN.iter().chain(perf::BUILT_IN).copied().collect())
}

static FAMILIES: &[&dyn Family] = &[&perf::PerfFamily];

static SOURCES: &[&dyn Source] = &[&PROCESS];

static PROCESS: sampler::ProcessSource = sampler::ProcessSource::new();

/// Every collector: the built-in ones, then those registered, in registration order. Replaced
/// by a longer slice at each registration (a handful per process: the old slices are leaked),
/// so readers get a `'static` slice without holding a lock.
static ALL: RwLock<&'static [&'static dyn Collector]> = RwLock::new(&[]);
/// Serialises registrations (check and publish as one step).
static REGISTERING: Mutex<()> = Mutex::new(());
/// How many collectors were registered, bumped after each is published: lets the hot path
/// notice a new collector with one relaxed load (the runtime folds it into its settings
/// generation).
static REGISTRATIONS: AtomicU64 = AtomicU64::new(0);

/// How many collectors have been registered so far (0 until a family or a program registers
/// one). Grows by one after each registration.
#[inline]
pub fn registrations() -> u64 {
    REGISTRATIONS.load(Ordering::Relaxed)
}

/// Every collector this build knows and every one registered so far, available here or not.
pub fn all() -> &'static [&'static dyn Collector] {
    match *ALL.read().unwrap_or_else(|e| e.into_inner()) {
        [] => built_in(),
        all => all,
    }
}

/// The families of collectors made from options.
pub fn families() -> &'static [&'static dyn Family] {
    FAMILIES
}

/// The background sources.
pub fn sources() -> &'static [&'static dyn Source] {
    SOURCES
}

/// Every option declared by a family or a source, in catalog order.
pub fn options() -> Vec<&'static OptionInfo> {
    FAMILIES
        .iter()
        .flat_map(|f| f.options())
        .chain(SOURCES.iter().flat_map(|s| s.options()))
        .collect()
}

/// Finds a collector by canonical name or alias. Matching ignores case, `_` and `-`, so
/// `wall_clock`, `WallClock` and `wall-clock` all name the same collector.
pub fn find(name: &str) -> Option<&'static dyn Collector> {
    let key = normalize(name);
    all()
        .iter()
        .copied()
        .find(|c| normalize(c.name()) == key || c.aliases().iter().any(|a| normalize(a) == key))
}

/// Why a collector was not registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterError {
    /// The collector's name.
    pub collector: String,
    /// What is wrong with its declaration.
    pub problem: String,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "collector '{}' not registered: {}",
            self.collector, self.problem
        )
    }
}

impl std::error::Error for RegisterError {}

/// Adds a collector to the catalog for the rest of the process, after checking its declaration:
/// a snake_case name and aliases no other collector answers to, at least one raw reading and
/// one metric, metric names unused by any other collector.
pub fn register(collector: Box<dyn Collector>) -> Result<&'static dyn Collector, RegisterError> {
    let _one_at_a_time = REGISTERING.lock().unwrap_or_else(|e| e.into_inner());
    let current = all();
    check(collector.as_ref(), current).map_err(|problem| RegisterError {
        collector: collector.name().to_string(),
        problem,
    })?;
    let collector: &'static dyn Collector = Box::leak(collector);
    let longer: Vec<&'static dyn Collector> = current.iter().copied().chain([collector]).collect();
    *ALL.write().unwrap_or_else(|e| e.into_inner()) = Box::leak(longer.into_boxed_slice());
    REGISTRATIONS.fetch_add(1, Ordering::Release);
    Ok(collector)
}

/// Checks a collector's declaration against the collectors already known.
fn check(c: &dyn Collector, known: &[&'static dyn Collector]) -> Result<(), String> {
    let snake = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
    };
    if !snake(c.name()) {
        return Err("its name must be snake_case (a-z, 0-9, _)".into());
    }
    let taken: HashSet<String> = known
        .iter()
        .flat_map(|k| std::iter::once(k.name()).chain(k.aliases().iter().copied()))
        .map(normalize)
        .collect();
    for name in std::iter::once(c.name()).chain(c.aliases().iter().copied()) {
        if taken.contains(&normalize(name)) {
            return Err(format!("the name '{name}' is already taken"));
        }
    }
    if c.raw_len() == 0 {
        return Err("it declares no raw reading (raw_len is 0)".into());
    }
    if c.metrics().is_empty() {
        return Err("it declares no metric".into());
    }
    let mut metric_names: HashSet<&str> = known
        .iter()
        .flat_map(|k| k.metrics().iter().map(|m| m.name))
        .collect();
    for m in c.metrics() {
        if !metric_names.insert(m.name) {
            return Err(format!("the metric name '{}' is already taken", m.name));
        }
    }
    Ok(())
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
            assert!(check(*c, &[]).is_ok(), "{}", c.name());
        }
        assert_eq!(find("WallClock").unwrap().name(), "wall_clock");
        assert!(find("no_such_thing").is_none());
    }

    /// A collector declared at run time, as a family would make one.
    struct Counted {
        name: &'static str,
        metrics: Vec<crate::MetricInfo>,
        raw_len: usize,
        inits: std::sync::atomic::AtomicUsize,
    }

    impl Collector for Counted {
        fn name(&self) -> &'static str {
            self.name
        }
        fn description(&self) -> &'static str {
            "test collector"
        }
        fn metrics(&self) -> &[crate::MetricInfo] {
            &self.metrics
        }
        fn raw_len(&self) -> usize {
            self.raw_len
        }
        fn probe(&self) -> crate::Availability {
            crate::Availability::Available
        }
        fn sample(&self, out: &mut [i64]) {
            out.fill(1);
        }
        fn process_init(&self) {
            self.inits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn counted(name: &'static str, metric: &'static str, raw_len: usize) -> Box<Counted> {
        Box::new(Counted {
            name,
            metrics: vec![crate::MetricInfo {
                name: metric,
                unit: crate::Unit::Count,
                description: "test metric",
                additive: true,
            }],
            raw_len,
            inits: Default::default(),
        })
    }

    #[test]
    fn registration_checks_the_declaration_then_publishes() {
        let before = all().len();
        let bad = [
            (counted("Bad-Name", "x.a", 1), "snake_case"),
            (
                counted("wallclock", "x.b", 1),
                "'wallclock' is already taken",
            ),
            (counted("x_zero", "x.c", 0), "raw_len is 0"),
            (
                counted("x_clash", "wall_clock", 1),
                "metric name 'wall_clock'",
            ),
        ];
        for (c, why) in bad {
            let e = register(c).err().expect("rejected");
            assert!(e.to_string().contains(why), "{e}");
        }
        assert_eq!(all().len(), before);
        let registered = registrations();
        let c = register(counted("x_events", "x.events", 3)).unwrap();
        assert_eq!(registrations(), registered + 1);
        assert_eq!(find("XEvents").unwrap().name(), "x_events");
        assert!(std::ptr::eq(all()[all().len() - 1], c));
        let e = register(counted("x_events", "x.other", 1))
            .err()
            .expect("rejected");
        assert!(e.to_string().contains("already taken"), "{e}");
    }

    #[test]
    fn every_collector_probes_available_on_linux() {
        // perf_event collectors depend on the machine (PMU, permissions): tested in perf/ and
        // roofline/.
        let needs_perf =
            |c: &&&dyn Collector| c.name().starts_with("perf_") || c.name() == "roofline_measured";
        for c in all().iter().filter(|c| !needs_perf(c)) {
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
        for c in all().iter().filter(|c| c.probe().is_available()) {
            let mut a = vec![0i64; c.raw_len()];
            let mut b = vec![0i64; c.raw_len()];
            let mut d = vec![0i64; c.metrics().len()];
            c.sample(&mut a);
            c.sample(&mut b);
            c.delta(&a, &b, &mut d);
            let raw = &a[..];
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
        for c in all().iter().filter(|c| c.probe().is_available()) {
            let (mut a, mut b) = (vec![0i64; c.raw_len()], vec![0i64; c.raw_len()]);
            let mut d = vec![0i64; c.metrics().len()];
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
