//! Where this process runs: the machine's topology, this process's and this thread's CPU
//! binding, and pinning of collector threads, all from hwloc (the system libhwloc through
//! hwlocality).
//!
//! hwloc is loaded once per process, on first use. When it cannot be (or describes another
//! machine, as with `HWLOC_XMLFILE`), every function here returns the reason as text and the
//! caller carries on without topology: nothing here panics or aborts a run.
//!
//! Every set of processors is a sorted list of OS indices, the numbers Linux, `taskset`,
//! `hwloc-bind --get` and Slurm use (`P#` in `lstopo`), never hwloc's logical indices.

mod binding;
mod cpulist;
mod load;
mod machine;
mod pin;

pub use binding::{pid_binding, process_binding, thread_binding, Binding};
pub use cpulist::{format_list, parse_list};
pub use machine::{machine, CacheLevel, CoreLayout, MachineSummary, NumaLayout, PackageLayout};
pub use pin::{choose_collector_pu, pin_collector_thread, pin_thread_to_pu, PinnedThread};
