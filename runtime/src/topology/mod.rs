//! Topology and binding in profiles. Each rank's binding travels in its rank column
//! ([`RankInfo::binding`](crate::profile::RankInfo)); each host's machine summary is one run
//! metadata entry, `topology.<host>`, so that the reduction's metadata rule (a key missing on
//! one side is taken from the other) keeps exactly one summary per host without any
//! special merging.
//!
//! - [`host_entry`] / [`host_topologies`]: that metadata entry, written and read back;
//! - [`binding_table`] / [`rank_flags`]: the `rankscope topology --ranks` table, like Open MPI's
//!   `--report-bindings`, with ranks that share a core and ranks that are unbound flagged;
//! - [`machine_text`]: one machine as a compact `lstopo`;
//! - [`gather`]: every rank's binding and host summary on rank 0, without any regions.

mod hosts;
mod machine_text;
mod table;

pub use hosts::{host_entry, host_topologies, HostTopology, METADATA_PREFIX};
pub use machine_text::{binding_line, machine_text};
pub use table::{binding_table, rank_flags, RankFlag};

use crate::profile::Profile;

/// Every rank's host, pid and binding, with one machine summary per host, on rank 0 (`Some`
/// there, `None` on the other ranks): an empty profile per rank, reduced like any other.
/// Collective over `MPI_COMM_WORLD` when MPI is in use; this process alone otherwise.
pub fn gather() -> Option<Profile> {
    let mut p = Profile::new();
    let (key, summary) = host_entry();
    p.metadata.insert(key, summary);
    crate::mpi::reduce_to_root(p)
}
