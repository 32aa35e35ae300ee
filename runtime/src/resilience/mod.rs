//! Nothing lost on walltime, kill or hang: every rank can write its own snapshot (its profile,
//! no MPI call) periodically (`snapshot_interval`), once after a delay (`dump_after`), and when
//! a signal asks (SIGTERM, SIGUSR1, SIGXCPU; setting `snapshot_signals`). `rankscope merge`
//! combines the snapshots of every rank offline.
//!
//! A signal handler may interrupt code holding any lock (the allocator's, storage's), so it
//! does nothing but write one byte to a pipe: a writer thread of our own, which never receives
//! those signals itself, wakes up, takes the snapshot and, for SIGTERM and SIGXCPU, answers on
//! a second pipe; the handler waits for that answer (at most [`signals::FLUSH_WAIT_MS`]), then
//! hands the signal on: to the program's own handler when it had one, otherwise to the default
//! action, so the job still ends as it would have. See docs/reliability.md.

mod signals;
pub mod snapshot;
mod writer;

pub use snapshot::Reason;

/// Starts the snapshot writer and installs the signal handlers, as the settings ask; once per
/// process (the runtime calls it at start-up, never in a process started by a rank).
pub fn start() {
    let s = crate::settings::current();
    if s.snapshot_interval == 0 && s.dump_after == 0 && !s.snapshot_signals {
        return;
    }
    if let Some(pipes) = writer::start(s.snapshot_interval, s.dump_after) {
        if s.snapshot_signals {
            signals::install(pipes);
        }
    }
}
