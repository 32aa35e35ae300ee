//! The finished measurement of one process: what storage produces, writers write and readers
//! (`rankscope report`, `rankscope merge`, the MPI reduction) read back, and how profiles merge.
//! The wire format and the mergeable form live here, not under `mpi/`: they are used without
//! MPI too (offline merges, the fuzz target, saved captures).

mod merge;
mod model;
mod partial;
mod spread;
mod stats;
mod united;
mod wire;

pub use model::{MetricDesc, NodeRecord, Profile, RankInfo, SCHEMA};
pub use partial::Partial;
pub use spread::{RankValue, Spread};
pub use stats::Stats;
#[cfg(feature = "mpi")]
pub(crate) use wire::encode_with;
pub use wire::{decode, encode, WireError};
