#![deny(missing_docs)]
//! Measurement sources for rankscope. This crate knows nothing of storage or MPI.
//!
//! Three kinds of source, each declared through one small interface:
//!
//! - a [`Collector`] turns two raw samples (one taken when a region starts, one when it stops)
//!   into one integer value per declared metric: clocks, OS accounting, counters;
//! - a [`Family`] makes collectors at start-up from options the user sets (one perf_event group
//!   per event set, say), and declares those options ([`OptionInfo`]);
//! - a [`Source`] is sampled in the background at an interval into time series (the sampler),
//!   not around regions.
//!
//! Each kind of source lives in a folder of its own (`clock/`, `os/`, `topology/`, ...); the
//! [`catalog`](all) lists them. docs/collectors.md says how to add one, with a template.
//!
//! Values are integers in a base unit ([`Unit`]) so that sums and sums of squares merge exactly
//! (associatively) across threads and ranks; the unit's scale turns them into what people read.
//! Sizes are the collector's own (raw readings per sample, metrics): there is no global cap;
//! [`register`] checks a collector's declaration before anyone uses it.

mod catalog;
mod clock;
mod os;
/// perf_event counters: hardware, software and raw events, one group per thread.
pub mod perf;
/// Roofline points per region: FLOPs and bytes, supplied by the application or counted.
pub mod roofline;
/// Background sources for the per-rank sampler (the process's memory and CPU over time).
pub mod sampler;
/// hwloc: the machine's topology, this process's CPU binding, pinning of collector threads.
pub mod topology;
mod unit;

pub use catalog::{all, families, find, options, register, registrations, sources, RegisterError};
pub use clock::{
    monotonic_ns, now_ns, tsc_elapsed_ns, wall_elapsed_ns, wall_sample, wall_sample_if_tsc,
};
pub use os::cpu::thread_cpu_ns;
pub use unit::Unit;

/// One quantity a collector reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricInfo {
    /// Metric name as it appears in outputs, e.g. `wall_clock` or `page_faults.major`.
    pub name: &'static str,
    /// Base unit of the integer value.
    pub unit: Unit,
    /// One line for people.
    pub description: &'static str,
    /// True when a parent's value contains its children's (time, counts), so that an exclusive
    /// value (parent minus children) means something. False for ratios and high-water marks.
    pub additive: bool,
}

/// Whether a collector can measure on this machine, with the reason when it cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Probed and working.
    Available,
    /// Cannot measure here; the string says why (missing file, permission, no PMU, ...).
    Unavailable(String),
}

impl Availability {
    /// True when the collector works here.
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }
}

/// A measurement source sampled at a region's start and stop. Implementations must be cheap to
/// sample and must never panic: a failed read leaves the previous or zero value, and
/// [`Collector::probe`] says up front whether reads work.
///
/// Whatever a collector keeps open (a procfs file, a perf_event group per thread) lives inside
/// it, set up by the lifecycle hooks or lazily at the first sample on a thread.
pub trait Collector: Send + Sync + 'static {
    /// Canonical snake_case name (`wall_clock`).
    fn name(&self) -> &'static str;
    /// Other names users may type (`wall`). CamelCase and dashed forms of the name need no alias:
    /// lookup ignores case, `_` and `-`.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// One line for people.
    fn description(&self) -> &'static str;
    /// The metrics this collector produces, in the order [`Collector::delta`] writes them.
    fn metrics(&self) -> &[MetricInfo];
    /// Number of raw readings per sample.
    fn raw_len(&self) -> usize;
    /// Checks once whether sampling works here.
    fn probe(&self) -> Availability;
    /// Takes one raw sample into `out[..raw_len()]`.
    fn sample(&self, out: &mut [i64]);
    /// Turns a start and a stop sample into metric values, `out[..metrics().len()]`.
    /// The default is the plain difference, reading for reading.
    fn delta(&self, start: &[i64], stop: &[i64], out: &mut [i64]) {
        for ((o, a), b) in out.iter_mut().zip(start).zip(stop) {
            *o = b.wrapping_sub(*a);
        }
    }
    /// Once per process, before the collector is first used (when the first bundle holding it
    /// is made).
    fn process_init(&self) {}
    /// On each thread that records regions, before its first region (or, for a collector
    /// registered later, before the thread's next region). Called for every collector of the
    /// catalog, used by the thread or not: keep it cheap, and open costly per-thread state
    /// (a perf_event group) lazily at the first sample instead.
    fn thread_start(&self) {}
    /// On each thread that had [`Collector::thread_start`], when the thread ends. Runs while
    /// the thread's locals are being destroyed: use `LocalKey::try_with`, never `with`.
    fn thread_stop(&self) {}
    /// Once per process, at the end of the run, before the final outputs are written, for
    /// collectors that had [`Collector::process_init`].
    fn finish(&self) {}
}

/// A setting that a [`Family`] or a [`Source`] reads, declared by it. The runtime lists it with
/// its own settings (`RANKSCOPE_<NAME>`, `rankscope settings`, docs/settings.md, Python's
/// `rankscope.settings`) and checks every value with [`OptionInfo::check`] when it is set.
#[derive(Clone, Copy, Debug)]
pub struct OptionInfo {
    /// Setting name (`perf_events`); the variable is `RANKSCOPE_PERF_EVENTS`.
    pub name: &'static str,
    /// Default value as text.
    pub default: &'static str,
    /// What values are accepted, for people (`comma-separated event names`).
    pub accepted: &'static str,
    /// One line saying what it does.
    pub doc: &'static str,
    /// Accepts or rejects a value, saying what was expected when it rejects it.
    pub check: fn(&str) -> Result<(), String>,
}

/// A kind of collector whose instances are made at start-up from options: for example one
/// perf_event group per event set named in `perf_events`. The runtime calls
/// [`Family::collectors`] once per process and [`register`]s what it returns.
pub trait Family: Send + Sync + 'static {
    /// The family's name (`perf`).
    fn name(&self) -> &'static str;
    /// The options it reads.
    fn options(&self) -> &'static [OptionInfo];
    /// The collectors the options ask for; `value(name)` is the current text of one of
    /// [`Family::options`]. An error names the option and what was wrong with it.
    fn collectors(&self, value: &dyn Fn(&str) -> String)
        -> Result<Vec<Box<dyn Collector>>, String>;
}

/// A background source: sampled at an interval by a thread of its own (the sampler), giving one
/// point of each of its series per sample. Series are levels, not region deltas (resident
/// memory, CPU %).
pub trait Source: Send + Sync + 'static {
    /// Canonical snake_case name (`process`).
    fn name(&self) -> &'static str;
    /// One line for people.
    fn description(&self) -> &'static str;
    /// The series, in the order [`Source::sample`] writes them.
    fn series(&self) -> &[MetricInfo];
    /// The options it reads.
    fn options(&self) -> &'static [OptionInfo] {
        &[]
    }
    /// Checks once whether sampling works here.
    fn probe(&self) -> Availability;
    /// One point of every series into `out[..series().len()]`, `elapsed_ns` after the previous
    /// sample (0 at the first), for series that are rates.
    fn sample(&self, elapsed_ns: i64, out: &mut [i64]);
}
