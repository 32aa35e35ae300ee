//! Waiting for MPI without burning a core.
//!
//! Blocking MPI calls busy-poll while they wait. With one rank per core that costs nothing, but
//! when ranks share cores (oversubscribed test runs, or the application's own threads) the
//! waiting ranks steal the CPU the working ones need: at 64 ranks on 2 cores rank 0 merged 30x
//! slower than alone. Here every wait is a non-blocking request polled with `MPI_Test`, yielding
//! between polls and then sleeping with a growing pause (at most 1 ms, which bounds the extra
//! latency per message).

use std::time::Duration;

/// Polls `done` until it says true: a few polls with a yield, then sleeps of growing length.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(super) fn poll_until(mut done: impl FnMut() -> bool) {
    const YIELDS: u32 = 64;
    const MAX_PAUSE: Duration = Duration::from_millis(1);
    let mut polls = 0u32;
    let mut pause = Duration::from_micros(20);
    while !done() {
        if polls < YIELDS {
            polls += 1;
            std::thread::yield_now();
        } else {
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

#[cfg(feature = "mpi")]
mod imp {
    use super::poll_until;
    use mpi::ffi;
    use mpi::request::{Request, Scope};
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::FromRaw;

    /// Waits for a request to complete (see the module notes).
    pub(crate) fn wait<'a, D: ?Sized, S: Scope<'a>>(req: Request<'a, D, S>) {
        let mut req = Some(req);
        poll_until(|| match req.take().expect("request pending").test() {
            Ok(_) => true,
            Err(r) => {
                req = Some(r);
                false
            }
        });
    }

    /// A private duplicate of `MPI_COMM_WORLD` (`MPI_Comm_idup`, waited for patiently), so the
    /// runtime's messages can never match the application's receives nor theirs ours. Freed
    /// when dropped.
    pub(crate) fn private_world() -> SimpleCommunicator {
        let mut comm = std::mem::MaybeUninit::<ffi::MPI_Comm>::uninit();
        let mut req = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: MPI is initialised and not finalised (callers check `usable`); both pointers
        // are valid for writes and `comm` stays in place until the request completes below.
        let mut req = unsafe {
            ffi::MPI_Comm_idup(ffi::RSMPI_COMM_WORLD, comm.as_mut_ptr(), req.as_mut_ptr());
            req.assume_init()
        };
        poll_until(|| {
            let mut flag = 0;
            // SAFETY: `req` is the live request from MPI_Comm_idup (MPI sets it to
            // MPI_REQUEST_NULL when it completes, and we stop polling then); the status is
            // not needed.
            unsafe { ffi::MPI_Test(&mut req, &mut flag, ffi::RSMPI_STATUS_IGNORE) };
            flag != 0
        });
        // SAFETY: the duplicate is complete, so `comm` holds a live intra-communicator that
        // nothing else refers to; the wrapper frees it exactly once, on drop.
        unsafe { SimpleCommunicator::from_raw(comm.assume_init()) }
    }
}

#[cfg(feature = "mpi")]
pub(crate) use imp::{private_world, wait};

/// Collective over `MPI_COMM_WORLD`: returns when every rank has called it, waiting without
/// busy-polling (polls with pauses of up to 1 ms). Does nothing when MPI is not in use.
pub fn barrier() {
    #[cfg(feature = "mpi")]
    if super::init::usable(&super::world()) {
        use mpi::collective::CommunicatorCollectives;
        let comm = mpi::topology::SimpleCommunicator::world();
        wait(comm.immediate_barrier());
    }
}
