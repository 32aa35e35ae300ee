//! The perf_event collector: its events' groups on each thread, opened lazily at the thread's
//! first sample and closed at `thread_stop`; probed once per process.

use super::events::{Event, Measure, EVENTS, EVENT_TABLE};
use super::group::{running_ppm, scaled, ThreadGroups, NO_READING, PER_EVENT};
use super::system::system;
use crate::{Availability, Collector, MetricInfo, Unit};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// A perf_event group: its events, the metrics they give, the probe's answer.
pub struct PerfCollector {
    name: &'static str,
    aliases: &'static [&'static str],
    description: Description,
    events: &'static [Event],
    /// One per event, then `<prefix>.running` when an event can be multiplexed.
    metrics: &'static [MetricInfo],
    /// The first event counted by the CPU's PMU, whose group's times give `<prefix>.running`.
    multiplexed: Option<usize>,
    /// This collector's index in each thread's table of groups, plus one (0: not yet given).
    slot: AtomicUsize,
    probed: OnceLock<Availability>,
}

enum Description {
    /// A built-in: made from its event's description at the first call.
    Lazy(OnceLock<&'static str>),
    Fixed(&'static str),
}

/// Metric of the share of time counted, for groups that can be multiplexed.
const fn running_metric(name: &'static str) -> MetricInfo {
    MetricInfo {
        name,
        unit: Unit::PartsPerMillion,
        description: "share of the region's enabled time the group was counting \
                      (time_running / time_enabled); the counts are scaled by its inverse",
        additive: false,
    }
}

const fn unit_of(m: Measure) -> Unit {
    match m {
        Measure::Count => Unit::Count,
        Measure::Time => Unit::Nanoseconds,
    }
}

macro_rules! builtins {
    ($($id:ident = $i:literal $kind:ident $name:literal $($alias:literal)? ;)*) => {
        $(
            static $id: PerfCollector = PerfCollector::builtin(
                concat!("perf_", $name),
                &[$(concat!("perf_", $alias))?],
                &[Event::Named(&EVENTS[$i])],
                builtins!(@metrics $kind $i $name),
            );
        )*
        /// One collector per named event, in the order of the event table.
        pub(crate) static BUILT_IN: &[&dyn Collector] = &[$(&$id),*];
    };
    (@metrics sw $i:literal $name:literal) => {
        &[builtins!(@count $i $name)]
    };
    (@metrics hw $i:literal $name:literal) => {
        &[
            builtins!(@count $i $name),
            running_metric(concat!("perf.", $name, ".running")),
        ]
    };
    (@count $i:literal $name:literal) => {
        MetricInfo {
            name: concat!("perf.", $name),
            unit: unit_of(EVENT_TABLE[$i].measure),
            description: EVENT_TABLE[$i].description,
            additive: true,
        }
    };
}

builtins! {
    CYCLES = 0 hw "cycles" "cpu_cycles";
    INSTRUCTIONS = 1 hw "instructions";
    CACHE_REFERENCES = 2 hw "cache_references";
    CACHE_MISSES = 3 hw "cache_misses";
    BRANCHES = 4 hw "branches" "branch_instructions";
    BRANCH_MISSES = 5 hw "branch_misses";
    BUS_CYCLES = 6 hw "bus_cycles";
    STALLED_FRONTEND = 7 hw "stalled_cycles_frontend";
    STALLED_BACKEND = 8 hw "stalled_cycles_backend";
    REF_CYCLES = 9 hw "ref_cycles";
    L1D_LOADS = 10 hw "l1d_loads" "l1_dcache_loads";
    L1D_LOAD_MISSES = 11 hw "l1d_load_misses" "l1_dcache_load_misses";
    LLC_LOADS = 12 hw "llc_loads";
    LLC_LOAD_MISSES = 13 hw "llc_load_misses";
    DTLB_LOAD_MISSES = 14 hw "dtlb_load_misses";
    TASK_CLOCK = 15 sw "task_clock";
    CPU_CLOCK = 16 sw "cpu_clock";
    PAGE_FAULTS = 17 sw "page_faults" "faults";
    MINOR_FAULTS = 18 sw "minor_faults";
    MAJOR_FAULTS = 19 sw "major_faults";
    CONTEXT_SWITCHES = 20 sw "context_switches" "cs";
    CPU_MIGRATIONS = 21 sw "cpu_migrations" "migrations";
}

/// The group each perf collector has open on this thread, by slot.
enum Slot {
    Closed,
    /// Open in the process whose fork count is the second field.
    Open(ThreadGroups, u64),
    /// Opening failed on this thread (after the process-wide probe said it works): not retried.
    Failed,
}

thread_local! {
    static GROUPS: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// Forks this process has gone through (bumped in the child): a forked child inherits the
/// thread's groups, whose descriptors count the parent's thread, so it opens its own.
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Registers [`forked_child`] once, before the first group is opened.
fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the handler only bumps an atomic, which is async-signal-safe.
    ONCE.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forked_child));
    });
}

impl PerfCollector {
    const fn builtin(
        name: &'static str,
        aliases: &'static [&'static str],
        events: &'static [Event],
        metrics: &'static [MetricInfo],
    ) -> PerfCollector {
        PerfCollector {
            name,
            aliases,
            description: Description::Lazy(OnceLock::new()),
            events,
            metrics,
            // A one-event built-in has the running metric exactly when its event is a PMU's.
            multiplexed: if metrics.len() > events.len() {
                Some(0)
            } else {
                None
            },
            slot: AtomicUsize::new(0),
            probed: OnceLock::new(),
        }
    }

    /// A group collector named `name` counting `events` (parsed, distinct), with metrics
    /// `<name>.<event>` and, when an event can be multiplexed, `<name>.running`. Its names
    /// are leaked: such collectors are made a handful of times per process.
    pub(crate) fn group(name: &str, events: Vec<Event>, origin: &str) -> PerfCollector {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let mut metrics: Vec<MetricInfo> = events
            .iter()
            .map(|e| MetricInfo {
                name: leak(format!("{name}.{}", e.name())),
                unit: unit_of(e.measure()),
                description: leak(e.description()),
                additive: true,
            })
            .collect();
        let multiplexed = events.iter().position(|e| e.spec().needs_pmu());
        if multiplexed.is_some() {
            metrics.push(running_metric(leak(format!("{name}.running"))));
        }
        let names: Vec<String> = events.iter().map(|e| e.name()).collect();
        let description = leak(format!(
            "perf_event events counted together on each thread ({} event{}: {}), {}{origin}",
            events.len(),
            if events.len() == 1 { "" } else { "s" },
            names.join(", "),
            system().scope()
        ));
        PerfCollector {
            name: leak(name.to_string()),
            aliases: &[],
            description: Description::Fixed(description),
            events: Box::leak(events.into_boxed_slice()),
            metrics: Box::leak(metrics.into_boxed_slice()),
            multiplexed,
            slot: AtomicUsize::new(0),
            probed: OnceLock::new(),
        }
    }

    /// This collector's slot in the per-thread tables.
    #[inline]
    fn slot(&self) -> usize {
        match self.slot.load(Ordering::Relaxed) {
            0 => self.assign_slot(),
            s => s - 1,
        }
    }

    #[cold]
    fn assign_slot(&self) -> usize {
        let mine = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) + 1;
        match self
            .slot
            .compare_exchange(0, mine, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => mine - 1,
            Err(other) => other - 1,
        }
    }

    fn specs(&self) -> Vec<super::events::Spec> {
        self.events.iter().map(|e| e.spec()).collect()
    }

    /// Opens this collector's group on the calling thread.
    fn open(&self) -> Result<ThreadGroups, super::group::OpenError> {
        ThreadGroups::open(&self.specs(), !system().kernel_allowed(), true)
    }

    /// Reads this thread's group into `out`, opening it first if needed.
    #[inline]
    fn read(&self, out: &mut [i64]) -> bool {
        let slot = self.slot();
        GROUPS
            .try_with(|groups| {
                let mut groups = groups.borrow_mut();
                if let Some(Slot::Open(g, forks)) = groups.get_mut(slot) {
                    if *forks == FORKS.load(Ordering::Relaxed) {
                        return g.read(out);
                    }
                }
                self.read_first(&mut groups, slot, out)
            })
            .unwrap_or(false)
    }

    /// The thread's first sample, or the first after a fork: opens the group (unless it failed
    /// before), then reads.
    #[cold]
    #[inline(never)]
    fn read_first(&self, groups: &mut Vec<Slot>, slot: usize, out: &mut [i64]) -> bool {
        if groups.len() <= slot {
            groups.resize_with(slot + 1, || Slot::Closed);
        }
        if matches!(groups[slot], Slot::Failed) || !self.probe().is_available() {
            return false;
        }
        watch_forks();
        // A group inherited through fork counts the parent's thread: close it first.
        groups[slot] = Slot::Closed;
        let forks = FORKS.load(Ordering::Relaxed);
        match self.open() {
            Ok(mut g) => {
                let ok = g.read(out);
                groups[slot] = Slot::Open(g, forks);
                ok
            }
            Err((i, e)) => {
                eprintln!(
                    "rankscope: warning: {}: opening the perf_event group on a new thread \
                     failed at '{}': {}; this thread's values are 0",
                    self.name,
                    self.events[i].name(),
                    system().reason(self.events[i], &e)
                );
                groups[slot] = Slot::Failed;
                false
            }
        }
    }

    /// Probes the whole group on the calling thread: every event alone first, so that each
    /// gets its own state and reason, then the group together.
    fn probe_group(&self) -> Availability {
        let sys = system();
        let states: Vec<Result<(), String>> = self
            .events
            .iter()
            .map(|&e| match sys.refuse(e) {
                Some(why) => Err(why),
                None => ThreadGroups::open(&[e.spec()], !sys.kernel_allowed(), false)
                    .map(drop)
                    .map_err(|(_, err)| sys.reason(e, &err)),
            })
            .collect();
        let one = self.events.len() == 1;
        if states.iter().any(|s| s.is_err()) {
            if one {
                return Availability::Unavailable(states[0].clone().unwrap_err());
            }
            let each: Vec<String> = self
                .events
                .iter()
                .zip(&states)
                .map(|(e, s)| match s {
                    Ok(()) => format!("{}: works", e.name()),
                    Err(why) => format!("{}: {why}", e.name()),
                })
                .collect();
            return Availability::Unavailable(format!(
                "{}; the events count all together or not at all: leave out those that do not \
                 work here",
                each.join("; ")
            ));
        }
        match ThreadGroups::open(&self.specs(), !sys.kernel_allowed(), false) {
            Ok(mut g) => {
                let mut raw = vec![0i64; self.raw_len()];
                if g.read(&mut raw) {
                    Availability::Available
                } else {
                    Availability::Unavailable(format!(
                        "the group opens but cannot be read: {}",
                        std::io::Error::last_os_error()
                    ))
                }
            }
            Err((i, err)) => {
                let e = self.events[i];
                Availability::Unavailable(format!(
                    "every event opens alone, but not all together: adding '{}' failed: {}",
                    e.name(),
                    sys.reason(e, &err)
                ))
            }
        }
    }
}

impl Collector for PerfCollector {
    fn name(&self) -> &'static str {
        self.name
    }
    fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }
    fn description(&self) -> &'static str {
        match &self.description {
            Description::Fixed(d) => d,
            Description::Lazy(d) => d.get_or_init(|| {
                Box::leak(
                    format!(
                        "perf_event '{}': {}, on this thread, {}",
                        self.events[0].name(),
                        self.events[0].description(),
                        system().scope()
                    )
                    .into_boxed_str(),
                )
            }),
        }
    }
    fn metrics(&self) -> &[MetricInfo] {
        self.metrics
    }
    fn raw_len(&self) -> usize {
        PER_EVENT * self.events.len()
    }
    fn probe(&self) -> Availability {
        self.probed.get_or_init(|| self.probe_group()).clone()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        if !self.read(out) {
            out[0] = NO_READING;
        }
    }
    fn delta(&self, start: &[i64], stop: &[i64], out: &mut [i64]) {
        let n = self.events.len();
        if start[0] == NO_READING || stop[0] == NO_READING {
            out[..self.metrics.len()].fill(0);
            return;
        }
        for (i, o) in out[..n].iter_mut().enumerate() {
            let (a, b) = (&start[PER_EVENT * i..], &stop[PER_EVENT * i..]);
            *o = scaled(b[2].wrapping_sub(a[2]), b[0] - a[0], b[1] - a[1]);
        }
        // The PMU events are one kernel group: any of them has the group's times.
        if let Some(i) = self.multiplexed {
            let (a, b) = (&start[PER_EVENT * i..], &stop[PER_EVENT * i..]);
            out[n] = running_ppm(b[0] - a[0], b[1] - a[1]);
        }
    }
    fn thread_stop(&self) {
        let slot = match self.slot.load(Ordering::Relaxed) {
            0 => return,
            s => s - 1,
        };
        let _ = GROUPS.try_with(|groups| {
            if let Ok(mut groups) = groups.try_borrow_mut() {
                if let Some(s) = groups.get_mut(slot) {
                    *s = Slot::Closed;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::events::parse_list;
    use crate::perf::group::tests::touch_pages;

    fn find(name: &str) -> &'static dyn Collector {
        crate::find(name).unwrap_or_else(|| panic!("{name}"))
    }

    /// Samples `c` around `work` on this thread, returning its metric values.
    fn measure(c: &dyn Collector, work: impl FnOnce()) -> Vec<i64> {
        let (mut a, mut b) = (vec![0i64; c.raw_len()], vec![0i64; c.raw_len()]);
        let mut out = vec![i64::MIN; c.metrics().len()];
        c.sample(&mut a);
        work();
        c.sample(&mut b);
        c.delta(&a, &b, &mut out);
        out
    }

    #[test]
    fn hardware_events_say_why_they_cannot_count() {
        let pmu = system().core_pmu.is_some();
        for c in BUILT_IN {
            let multiplexed = c.metrics().len() == 2;
            assert_eq!(c.raw_len(), PER_EVENT, "{}", c.name());
            if !multiplexed {
                // Software events work on every Linux this runs on (task clock, faults...).
                assert_eq!(c.probe(), Availability::Available, "{}", c.name());
                continue;
            }
            assert!(c.metrics()[1].name.ends_with(".running"));
            match (pmu, c.probe()) {
                (false, Availability::Unavailable(why)) => {
                    assert!(why.starts_with("no PMU: "), "{}: {why}", c.name());
                    assert!(why.ends_with("(ENOENT)") || why.contains("(E"), "{why}");
                }
                (false, Availability::Available) => panic!("{} available without a PMU", c.name()),
                // With a PMU an event works or has another reason (unsupported, permissions).
                (true, Availability::Unavailable(why)) => {
                    assert!(!why.starts_with("no PMU"), "{}: {why}", c.name())
                }
                (true, Availability::Available) => {}
            }
        }
    }

    #[test]
    fn task_clock_follows_the_thread_cpu_time_of_a_busy_loop() {
        let task = find("perf_task_clock");
        let cpu = find("thread_cpu_clock");
        let (mut c0, mut c1) = ([0i64; 1], [0i64; 1]);
        let mut cpu_ns = [0i64; 1];
        let values = measure(task, || {
            cpu.sample(&mut c0);
            let mut x = 1.0f64;
            for _ in 0..20_000_000 {
                x = std::hint::black_box(x * 1.000_000_1);
            }
            cpu.sample(&mut c1);
        });
        cpu.delta(&c0, &c1, &mut cpu_ns);
        let ratio = values[0] as f64 / cpu_ns[0] as f64;
        assert!(
            (0.8..1.25).contains(&ratio),
            "task clock {} ns, thread CPU {} ns",
            values[0],
            cpu_ns[0]
        );
    }

    #[test]
    fn page_faults_and_context_switches_count_what_happened() {
        let faults = find("perf_page_faults");
        let minor = find("perf_minor_faults");
        let cs = find("perf-cs");
        assert_eq!(cs.name(), "perf_context_switches");
        let pages = 1024;
        let f = measure(faults, || touch_pages(pages));
        assert!(f[0] >= pages as i64, "{} faults for {pages} pages", f[0]);
        let m = measure(minor, || touch_pages(pages));
        assert!(
            m[0] >= pages as i64,
            "{} minor faults for {pages} pages",
            m[0]
        );
        let s = measure(cs, || {
            for _ in 0..5 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        assert!(s[0] >= 5, "{} context switches over 5 sleeps", s[0]);
    }

    #[test]
    fn a_group_of_software_events_counts_each_on_its_own_thread() {
        let g = PerfCollector::group(
            "test_perf_sw",
            parse_list("task-clock,faults,cs").unwrap(),
            "",
        );
        assert_eq!(g.probe(), Availability::Available);
        let names: Vec<_> = g.metrics().iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "test_perf_sw.task_clock",
                "test_perf_sw.page_faults",
                "test_perf_sw.context_switches"
            ]
        );
        let g: &'static PerfCollector = Box::leak(Box::new(g));
        let here = measure(g, || touch_pages(256));
        assert!(here[0] > 0 && here[1] >= 256, "{here:?}");
        // Another thread gets its own group, closed when the thread stops.
        let there = std::thread::spawn(move || {
            let v = measure(g, || touch_pages(64));
            let slot = g.slot();
            let open = || GROUPS.with(|s| matches!(s.borrow()[slot], Slot::Open(..)));
            assert!(open());
            g.thread_stop();
            assert!(!open());
            v
        })
        .join()
        .unwrap();
        assert!(
            there[1] >= 64 && there[1] < here[1],
            "{there:?} vs {here:?}"
        );
    }

    #[test]
    fn a_forked_child_counts_its_own_thread() {
        let faults = find("perf_minor_faults");
        let mut raw = [0i64; PER_EVENT];
        faults.sample(&mut raw); // the parent's group is open on this thread
                                 // SAFETY: the child only measures (glibc's malloc is fork-safe) and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // Inherited descriptors count the parent's thread, which waits meanwhile: a child
            // reading them would see no faults at all.
            let v = measure(faults, || touch_pages(256));
            // SAFETY: ends the child without running the parent's test harness.
            unsafe { libc::_exit(if v[0] >= 256 { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child made above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
        // The parent's group still counts the parent.
        let v = measure(faults, || touch_pages(64));
        assert!(v[0] >= 64, "{v:?}");
    }

    #[test]
    fn a_group_with_an_event_that_cannot_count_names_each_state() {
        let g = PerfCollector::group(
            "test_perf_mixed",
            parse_list("cycles,task_clock").unwrap(),
            "",
        );
        assert_eq!(g.metrics().len(), 3, "cycles, task_clock, running");
        if system().core_pmu.is_none() {
            let Availability::Unavailable(why) = g.probe() else {
                panic!("cycles cannot count without a PMU")
            };
            assert!(why.starts_with("cycles: no PMU: "), "{why}");
            assert!(
                why.contains("; task_clock: works; the events count all together"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_missing_reading_gives_zero_and_zero_running() {
        let g = PerfCollector::group("test_perf_missing", parse_list("r01c7").unwrap(), "");
        let mut out = [7i64; 2];
        g.delta(&[NO_READING, 0, 0], &[100, 100, 5], &mut out);
        assert_eq!(out, [0, 0]);
        g.delta(&[0, 0, 0], &[NO_READING, 100, 5], &mut out);
        assert_eq!(out, [0, 0]);
        g.delta(&[10, 10, 0], &[110, 60, 5], &mut out);
        assert_eq!(
            out,
            [10, 500_000],
            "5 counted in half the time: 10, running 50 %"
        );
    }
}
