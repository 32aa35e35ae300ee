//! Collectors of the kernel's own accounting for this process: CPU-time clocks, `getrusage`
//! (user and system time, page faults, context switches) and procfs (resident memory, I/O).
//! No setup, no state per thread: each sample is a system call or a small procfs read.

pub(crate) mod cpu;
pub(crate) mod io;
pub(crate) mod memory;
pub(crate) mod rusage;
