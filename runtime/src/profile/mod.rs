//! The finished measurement of one process: what storage produces, writers write and readers
//! (`rankscope report`, `rankscope merge`, the MPI reduction) read back.

mod merge;
mod model;
mod ranks;
mod stats;

pub use model::{MetricDesc, NodeRecord, Profile, RankInfo, SCHEMA};
pub use ranks::RankStats;
pub use stats::Stats;
