//! The snapshot writer: a thread that sleeps on a pipe and writes this rank's snapshot when a
//! signal handler wakes it, every `snapshot_interval` seconds, and once at `dump_after`.

use super::snapshot::{self, Reason};
use crate::log;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// The pipes shared with the signal handler: the handler writes the signal number to `wake`;
/// the writer answers on `done` after a snapshot asked by SIGTERM or SIGXCPU.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pipes {
    pub wake_write: RawFd,
    pub done_read: RawFd,
}

/// The signals the writer serves, and the names snapshots record.
pub(super) const SIGNALS: [(libc::c_int, &str); 3] = [
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGXCPU, "SIGXCPU"),
];

/// A pipe whose ends close on exec; the write end of `wake` and `done` never blocks.
fn pipe(nonblocking_write: bool) -> std::io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if nonblocking_write {
        // SAFETY: fds[1] is the descriptor pipe2 just opened.
        unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) };
    }
    Ok((fds[0], fds[1]))
}

/// Starts the writer thread with the served signals blocked in it (so the kernel delivers them
/// to the program's threads, whose handler wakes this one). `None` when it cannot start (said
/// on stderr).
pub(super) fn start(interval_s: u32, dump_after_s: u32) -> Option<Pipes> {
    let (wake_read, wake_write) = pipe(true)
        .map_err(|e| log::error!("snapshots: cannot create a pipe: {e}"))
        .ok()?;
    let (done_read, done_write) = pipe(true)
        .map_err(|e| log::error!("snapshots: cannot create a pipe: {e}"))
        .ok()?;
    // Block the signals in this thread while spawning, so the writer inherits the mask from
    // its first instruction; then restore this thread's mask.
    // SAFETY: sigset_t is plain data initialised by sigemptyset; pthread_sigmask with valid
    // pointers only changes this thread's mask.
    let spawned = unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        for (sig, _) in SIGNALS {
            libc::sigaddset(&mut block, sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let t = std::thread::Builder::new()
            .name("rankscope-snapshots".into())
            .spawn(move || run(wake_read, done_write, interval_s, dump_after_s));
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        t
    };
    match spawned {
        Ok(_) => {
            log::debug!(
                "snapshots: writer started (every {interval_s} s, dump after {dump_after_s} s; 0: never)"
            );
            Some(Pipes {
                wake_write,
                done_read,
            })
        }
        Err(e) => {
            log::error!("snapshots: cannot start the writer thread: {e}");
            None
        }
    }
}

/// The writer's loop: wait for a byte or the next deadline, write a snapshot, repeat.
fn run(wake: RawFd, done: RawFd, interval_s: u32, dump_after_s: u32) {
    let start = Instant::now();
    let every = (interval_s > 0).then(|| Duration::from_secs(interval_s.into()));
    let mut next_periodic = every.map(|d| start + d);
    let mut dump_at = (dump_after_s > 0).then(|| start + Duration::from_secs(dump_after_s.into()));
    loop {
        let deadline = [next_periodic, dump_at].into_iter().flatten().min();
        let timeout_ms = deadline.map_or(-1, |d| {
            d.saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32
        });
        let mut pfd = libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ready > 0 {
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte`.
            if unsafe { libc::read(wake, (&mut byte as *mut u8).cast(), 1) } == 1 {
                let sig = libc::c_int::from(byte);
                let name = SIGNALS
                    .iter()
                    .find(|(s, _)| *s == sig)
                    .map_or("signal", |(_, n)| n);
                snapshot::write(Reason::Signal(name));
                if sig != libc::SIGUSR1 {
                    // The handler waits for this to hand the signal on.
                    // SAFETY: writes one byte from a local.
                    unsafe { libc::write(done, (&byte as *const u8).cast(), 1) };
                }
            }
            continue;
        }
        let now = Instant::now();
        if dump_at.is_some_and(|d| now >= d) {
            snapshot::write(Reason::DumpAfter);
            dump_at = None;
        }
        if let (Some(at), Some(every)) = (next_periodic, every) {
            if now >= at {
                snapshot::write(Reason::Periodic);
                next_periodic = Some(now + every);
            }
        }
    }
}
