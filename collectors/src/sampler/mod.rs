//! Background sources: levels sampled at an interval by the runtime's sampler thread (one per
//! rank), psrecord's job for MPI jobs. The sources only read; the thread, its pinning and the
//! bounded series live in the runtime (`runtime/src/sampler`).

mod interval;
mod process;

pub use interval::{interval_ns, INTERVAL};
pub use process::ProcessSource;
