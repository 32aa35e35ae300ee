//! The signal handlers: wake the snapshot writer, wait for it on SIGTERM and SIGXCPU, then hand
//! the signal on to what was there before (the program's handler, or the default action).
//!
//! Everything the handler does is async-signal-safe: `getpid`, `write`, `poll`, `read`,
//! `sigaction` and `raise`, and reads of data set before the handler was installed.

use super::writer::{Pipes, SIGNALS};
use std::sync::OnceLock;

/// Longest wait for the snapshot before a SIGTERM or SIGXCPU goes on: Slurm's KillWait (30 s
/// by default) leaves room for it, and a writer blocked by a lock the interrupted thread holds
/// must not keep the job from ending.
pub(super) const FLUSH_WAIT_MS: libc::c_int = 10_000;

/// What the handler needs, set once before any handler is installed.
struct Installed {
    pipes: Pipes,
    /// The process that installed the handlers: a forked child shares the pipes and must not
    /// wake (or wait for) the parent's writer.
    pid: libc::pid_t,
    /// The action each served signal had before ours, in the order of [`SIGNALS`].
    previous: [libc::sigaction; SIGNALS.len()],
}

// SAFETY: the sigaction structs are plain data, written once before publication and only read.
unsafe impl Sync for Installed {}
// SAFETY: as above.
unsafe impl Send for Installed {}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Installs the handler for the served signals, keeping the previous actions to chain to.
pub(super) fn install(pipes: Pipes) {
    // SAFETY: sigaction structs are plain data; sigaction with a null new action only reads
    // the current one.
    let previous = SIGNALS.map(|(sig, _)| unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old);
        old
    });
    let ready = INSTALLED.set(Installed {
        pipes,
        // SAFETY: getpid has no preconditions.
        pid: unsafe { libc::getpid() },
        previous,
    });
    if ready.is_err() {
        return; // installed already
    }
    for (sig, name) in SIGNALS {
        // SAFETY: a zeroed sigaction with our handler, SA_SIGINFO for the three-argument form,
        // SA_RESTART so interrupted system calls of the program resume as without us, and an
        // empty mask; `handler` has the signature SA_SIGINFO requires.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            crate::log::warning!(
                "snapshots: cannot handle {name}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    crate::log::debug!("snapshots: SIGTERM, SIGUSR1 and SIGXCPU write this rank's snapshot");
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: every call below is async-signal-safe, on data published before installation;
    // errno is saved and restored so the interrupted code does not see ours.
    unsafe {
        let errno = *libc::__errno_location();
        let Some(me) = INSTALLED.get() else { return };
        let index = SIGNALS.iter().position(|(s, _)| *s == sig);
        if libc::getpid() == me.pid {
            let byte = sig as u8;
            libc::write(me.pipes.wake_write, (&byte as *const u8).cast(), 1);
            if sig != libc::SIGUSR1 {
                wait_for_flush(me.pipes.done_read);
            }
        }
        if let Some(i) = index {
            hand_on(sig, &me.previous[i], info, context);
        }
        *libc::__errno_location() = errno;
    }
}

/// Waits until the writer says the snapshot is written, or [`FLUSH_WAIT_MS`] passed.
///
/// # Safety
/// Only async-signal-safe calls; `done` is the read end of the answer pipe.
unsafe fn wait_for_flush(done: libc::c_int) {
    let mut pfd = libc::pollfd {
        fd: done,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; reading one byte into a local.
    unsafe {
        if libc::poll(&mut pfd, 1, FLUSH_WAIT_MS) > 0 {
            let mut byte = 0u8;
            libc::read(done, (&mut byte as *mut u8).cast(), 1);
        }
    }
}

/// What would have happened without us: the program's handler, nothing when it ignored the
/// signal, or the default action (SIGUSR1's default, ending the process, is what rankscope
/// replaces: it asks for a snapshot and the program goes on).
///
/// # Safety
/// Called from the signal handler with the arguments it received; only async-signal-safe calls.
unsafe fn hand_on(
    sig: libc::c_int,
    previous: &libc::sigaction,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let action = previous.sa_sigaction;
    if action == libc::SIG_IGN {
        return;
    }
    if action == libc::SIG_DFL {
        if sig == libc::SIGUSR1 {
            return;
        }
        // End as the default action would: put it back and raise the signal again; it is
        // blocked while this handler runs and is delivered when it returns.
        // SAFETY: a zeroed sigaction with SIG_DFL and an empty mask.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut dfl.sa_mask);
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
            libc::raise(sig);
        }
        return;
    }
    // SAFETY: the program installed this handler with these flags; we call it the way the
    // kernel would have, with the arguments we were given.
    unsafe {
        if previous.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(action);
            f(sig, info, context);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(action);
            f(sig);
        }
    }
}
