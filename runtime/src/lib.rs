#![deny(missing_docs)]
//! rankscope runtime: settings, the component registry, bundles of collectors, per-thread
//! call-tree storage, and the writers of its outputs.
//!
//! Measurement itself lives in `rankscope-collectors`; this crate decides where measurements go.

pub mod bundle;
pub mod component;
pub mod lifecycle;
pub mod log;
pub mod memory_point;
pub mod mpi;
pub mod output;
pub mod profile;
pub mod region;
pub mod registry;
pub mod resilience;
pub mod roofline;
pub mod roofline_counts;
pub mod sampler;
pub mod settings;
pub mod storage;
pub mod suggest;
pub mod topology;

pub use lifecycle::{dmp_get, finalize, get, init};
pub use rankscope_collectors as collectors;
pub use region::{start, stop, Guard, Region};
pub use roofline_counts::{add_bytes, add_flops};
