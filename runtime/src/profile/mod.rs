//! The finished measurement of one process: what storage produces, writers write and readers
//! (`rankscope report`, later the MPI reduction) read back.

mod model;
mod stats;

pub use model::{MetricDesc, NodeRecord, Profile, SCHEMA};
pub use stats::Stats;
