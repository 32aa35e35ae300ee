//! Background sources: levels sampled at an interval by the runtime's sampler thread (one per
//! rank), psrecord's job for MPI jobs. The sources only read; the thread, its pinning and the
//! bounded series live in the runtime (`runtime/src/sampler`). The process source reads the
//! calling process, or another one (and its children) from outside through procfs.

mod interval;
mod process;
mod procfs;

pub use interval::{interval_ns, INTERVAL};
pub use process::{ProcessSource, Target};
pub use procfs::{alive, process_tree};
