#![deny(missing_docs)]
//! Measurement sources for rankscope.
//!
//! A [`Collector`] turns two raw samples (one taken when a region starts, one when it stops) into
//! one integer value per declared metric. Collectors are stateless `'static` objects: whatever
//! they need to keep open (such as a procfs file) lives behind a `OnceLock` or a thread-local
//! inside the collector's own module. This crate knows nothing of storage or MPI.
//!
//! Values are integers in a base unit ([`Unit`]) so that sums and sums of squares merge exactly
//! (associatively) across threads and ranks; the unit's scale turns them into what people read.

mod catalog;
mod clock;
mod cpu;
mod io;
mod memory;
mod rusage;
/// hwloc: the machine's topology, this process's CPU binding, pinning of collector threads.
pub mod topology;
mod unit;

pub use catalog::{all, find};
pub use clock::{monotonic_ns, now_ns};
pub use unit::Unit;

/// Most raw readings one collector takes per sample. Lets callers keep samples in fixed arrays.
pub const MAX_RAW: usize = 4;

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

/// A measurement source. Implementations must be cheap to sample and must never panic: a failed
/// read leaves the previous or zero value, and [`Collector::probe`] says up front whether reads work.
pub trait Collector: Send + Sync + 'static {
    /// Canonical snake_case name (`wall_clock`).
    fn name(&self) -> &'static str;
    /// Other names users may type (`wall`). CamelCase and dashed forms of the name need no alias:
    /// lookup ignores case, `_` and `-`.
    fn aliases(&self) -> &'static [&'static str];
    /// One line for people.
    fn description(&self) -> &'static str;
    /// The metrics this collector produces, in the order [`Collector::delta`] writes them.
    fn metrics(&self) -> &'static [MetricInfo];
    /// Number of raw readings per sample (at most [`MAX_RAW`]).
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
}
