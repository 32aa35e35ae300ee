//! Running the final reduction exactly once: at the start of `MPI_Finalize`, whoever calls it
//! (the application, mpi4py at interpreter exit, or us), or at our own normal exit.
//!
//! The hook is the standard one: an attribute on `MPI_COMM_SELF` whose delete callback MPI runs
//! first thing in `MPI_Finalize`, while communication still works.

use std::sync::Mutex;

type Callback = Box<dyn FnOnce() + Send>;

/// Callbacks not yet run, in registration order.
static CALLBACKS: Mutex<Vec<Callback>> = Mutex::new(Vec::new());

/// Registers `f` to run once when MPI is finalised or the runtime calls [`finalize`], whichever
/// comes first. Typically the final reduction and writing of outputs: `f` may use MPI.
/// Callbacks run in registration order; one registered after that moment runs at the next
/// [`finalize`] call, if any.
pub fn on_finalize(f: Box<dyn FnOnce() + Send>) {
    CALLBACKS.lock().unwrap_or_else(|e| e.into_inner()).push(f);
}

/// Runs the pending callbacks. The list is taken out first so a callback may register another
/// (run in the same pass) without deadlocking, and so each runs exactly once.
fn run_callbacks() {
    loop {
        let pending = std::mem::take(&mut *CALLBACKS.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.is_empty() {
            return;
        }
        for f in pending {
            f();
        }
    }
}

/// Called at the runtime's normal exit: runs the [`on_finalize`] callbacks, then, when this
/// runtime initialised MPI, calls `MPI_Finalize`. An adopted MPI is left to its owner (whose
/// `MPI_Finalize` then finds no callbacks left). Safe to call more than once.
pub fn finalize() {
    run_callbacks();
    let w = super::world();
    if w.initialised_by_us {
        crate::log::debug!("MPI_Finalize: rankscope initialised MPI, so it finalises it");
        raw::finalize_mpi();
    }
}

/// Ends the whole job after a fatal error on this rank: `MPI_Abort(MPI_COMM_WORLD, code)` when
/// MPI is in use with other ranks (they would otherwise hang in their next collective). Does
/// nothing and returns when this process runs alone or MPI is already finalised. The pending
/// finalize callbacks are dropped: the final reduction would need every rank.
pub fn abort(code: i32) {
    CALLBACKS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let w = super::world();
    if w.mpi && w.size > 1 {
        raw::abort(code);
    }
}

/// Sets the `MPI_COMM_SELF` attribute once per process; MPI must be initialised.
pub(super) fn install_hook() {
    raw::install_hook();
}

#[cfg(feature = "mpi")]
mod raw {
    use mpi::ffi;
    use std::os::raw::{c_int, c_void};
    use std::sync::Once;

    /// MPI_SUCCESS is 0 in every implementation (the standard requires it).
    const SUCCESS: c_int = 0;

    static INSTALL: Once = Once::new();

    /// Never copies the attribute: a duplicate of `MPI_COMM_SELF` must not run the hook again.
    unsafe extern "C" fn no_copy(
        _comm: ffi::MPI_Comm,
        _keyval: c_int,
        _extra: *mut c_void,
        _value_in: *mut c_void,
        _value_out: *mut c_void,
        flag: *mut c_int,
    ) -> c_int {
        // SAFETY: MPI passes a valid pointer for the flag.
        unsafe { *flag = 0 };
        SUCCESS
    }

    /// MPI deletes `MPI_COMM_SELF`'s attributes first in `MPI_Finalize`: run the callbacks.
    unsafe extern "C" fn on_delete(
        _comm: ffi::MPI_Comm,
        _keyval: c_int,
        _value: *mut c_void,
        _extra: *mut c_void,
    ) -> c_int {
        // A panic must not unwind into MPI's C frames; report it and let MPI finish.
        crate::log::debug!("MPI_Finalize started: finalize hook runs what is pending");
        if let Err(e) = std::panic::catch_unwind(super::run_callbacks) {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            crate::log::error!("finalize callback panicked: {msg}");
        }
        SUCCESS
    }

    pub(super) fn install_hook() {
        INSTALL.call_once(|| {
            let mut keyval: c_int = 0;
            // SAFETY: MPI is initialised and not finalised (the caller checked); the callbacks
            // have the C signatures MPI expects and live for the whole program; `keyval` is a
            // valid out-pointer. The attribute value is unused, so null is fine.
            unsafe {
                let rc = ffi::MPI_Comm_create_keyval(
                    Some(no_copy),
                    Some(on_delete),
                    &mut keyval,
                    std::ptr::null_mut(),
                );
                if rc != SUCCESS {
                    crate::log::error!("MPI_Comm_create_keyval failed ({rc}): no finalize hook");
                    return;
                }
                let rc = ffi::MPI_Comm_set_attr(ffi::RSMPI_COMM_SELF, keyval, std::ptr::null_mut());
                if rc != SUCCESS {
                    crate::log::error!("MPI_Comm_set_attr failed ({rc}): no finalize hook");
                }
            }
        });
    }

    pub(super) fn abort(code: c_int) {
        if !mpi::environment::is_initialized() || mpi::environment::is_finalized() {
            return;
        }
        // SAFETY: MPI is initialised and not finalised (checked above); MPI_Abort takes the
        // predefined world communicator and does not return.
        unsafe {
            ffi::MPI_Abort(ffi::RSMPI_COMM_WORLD, code);
        }
    }

    pub(super) fn finalize_mpi() {
        if mpi::environment::is_finalized() {
            return;
        }
        // SAFETY: we initialised MPI (the Universe was leaked so rsmpi never finalises it) and
        // it is not finalised yet; MPI_Finalize runs our delete callback, which finds no
        // callbacks left because `finalize` ran them just before.
        unsafe {
            ffi::MPI_Finalize();
        }
    }
}

#[cfg(not(feature = "mpi"))]
mod raw {
    pub(super) fn abort(_code: i32) {}
    pub(super) fn install_hook() {}
    pub(super) fn finalize_mpi() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn callbacks_run_once_in_order_even_when_nested() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let (log, count) = (log.clone(), count.clone());
            on_finalize(Box::new(move || {
                count.fetch_add(1, Ordering::SeqCst);
                log.lock().unwrap().push(i);
                if i == 0 {
                    let log = log.clone();
                    on_finalize(Box::new(move || log.lock().unwrap().push(9)));
                }
            }));
        }
        run_callbacks();
        run_callbacks();
        assert_eq!(*log.lock().unwrap(), [0, 1, 2, 9]);
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }
}
