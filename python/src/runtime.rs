//! The process's life from Python: joining MPI at import, the final reduction and writing of
//! the outputs (exactly once, whoever ends MPI), and aborting the job after an uncaught error.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use rankscope::mpi::{self, WorldInfo};
use rankscope::settings;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the outputs have been written (or the job is aborting): later paths do nothing.
static FINISHED: AtomicBool = AtomicBool::new(false);

fn world_dict<'py>(py: Python<'py>, w: &WorldInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rank", w.rank)?;
    d.set_item("size", w.size)?;
    d.set_item("mpi", w.mpi)?;
    d.set_item("initialised_by_us", w.initialised_by_us)?;
    d.set_item("launcher", w.launcher)?;
    d.set_item("library_version", &w.library_version)?;
    d.set_item("thread_level", w.thread_level.map(|l| l.mpi_name()))?;
    Ok(d)
}

/// Starts the run (`lifecycle::init`): joins MPI when a launcher started us and `mpi_init` is
/// on (adopts it when already initialised), notes the run's start, and registers the final
/// reduction to run at the start of `MPI_Finalize` or at [`finish`], whichever comes first.
/// Collective under a launcher: call it at import on every rank. Returns the world as a dict.
#[pyfunction]
fn start(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let w = py.detach(|| {
        rankscope::lifecycle::init();
        mpi::world()
    });
    world_dict(py, &w)
}

/// This process's place in the world (adopting MPI if someone initialised it since).
#[pyfunction]
fn world(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let w = py.detach(mpi::world);
    world_dict(py, &w)
}

/// Normal end of the run (Python's atexit): runs the final reduction unless it already ran,
/// then finalises MPI if rankscope initialised it. Safe to call more than once.
#[pyfunction]
fn finish(py: Python<'_>) {
    py.detach(mpi::finalize)
}

/// Writes this rank's own data into `<output_path>/rank-<N>` without any communication and
/// returns the folder (None when nothing was written).
fn write_own_data() -> Option<PathBuf> {
    let s = settings::current();
    if !s.enabled {
        return None;
    }
    let rank = mpi::world().rank;
    let p = rankscope::lifecycle::get();
    let mut o = rankscope::lifecycle::output_options(&s);
    o.output_path = o.output_path.join(format!("rank-{rank}"));
    match rankscope::output::write_all(&p, &o) {
        Ok(files) => files.first().and_then(|f| f.parent()).map(PathBuf::from),
        Err(e) => {
            eprintln!("rankscope: error: rank {rank} could not write its data: {e}");
            None
        }
    }
}

/// After an uncaught exception: writes this rank's data (no communication), then, when other
/// ranks exist, calls `MPI_Abort(MPI_COMM_WORLD, code)` so the job ends instead of hanging in
/// the next collective. Without peers it only writes and returns; the final reduction is off.
#[pyfunction]
fn abort(py: Python<'_>, code: i32) {
    py.detach(|| {
        FINISHED.store(true, Ordering::SeqCst);
        let w = mpi::world();
        if let Some(dir) = write_own_data() {
            eprintln!(
                "rankscope: rank {} failed; its data is in {}",
                w.rank,
                dir.display()
            );
        }
        if w.mpi && w.size > 1 && mpi_usable() {
            // SAFETY: MPI is initialised and not finalised (checked just above); MPI_Abort
            // takes the predefined world communicator and does not return.
            unsafe {
                ::mpi::ffi::MPI_Abort(::mpi::ffi::RSMPI_COMM_WORLD, code);
            }
        }
    })
}

fn mpi_usable() -> bool {
    ::mpi::environment::is_initialized() && !::mpi::environment::is_finalized()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(start, m)?)?;
    m.add_function(wrap_pyfunction!(world, m)?)?;
    m.add_function(wrap_pyfunction!(finish, m)?)?;
    m.add_function(wrap_pyfunction!(abort, m)?)
}
