//! The MPI side of the runtime: joining MPI (or adopting it), the hook that runs the final
//! reduction when MPI is finalised, and the reduction of every rank's [`Profile`] to rank 0.
//! What travels and how it merges (wire format, mergeable form) is the profile model's
//! (`crate::profile`): it is used without MPI too.
//!
//! Built with the default `mpi` cargo feature this uses the system MPI through rsmpi. Without the
//! feature the same functions exist and every process is a world of one: rank 0 of 1, and
//! [`reduce_to_root`] hands the local profile straight back.
//!
//! [`Profile`]: crate::profile::Profile

mod finalize;
mod host;
mod init;
mod launcher;
mod patient;
mod reduce;

pub use finalize::{abort, finalize, on_finalize};
pub use host::{clock_offset_ns, hostname, rank_info};
pub use init::{init, init_singleton, joined, world, InitCall, ThreadLevel, WorldInfo};
pub use launcher::{launch_id, launched_rank, launcher};
pub use patient::barrier;
pub use reduce::{
    gather_to_root, reduce_to_root, reduce_to_root_chunked, reduce_to_root_keeping, MAX_CHUNK,
};
// For other parts of the runtime that make their own collectives (the roofline ceilings).
#[cfg(feature = "mpi")]
pub(crate) use {
    init::usable_now,
    patient::{private_world, wait},
};
