//! The process's life from Python: joining MPI at import, the final reduction and writing of
//! the outputs (exactly once, whoever ends MPI), and aborting the job after an uncaught error.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use rankscope::mpi::{self, WorldInfo};

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

/// Starts the run without joining MPI (`lifecycle::init_deferred`): adopts an MPI that is
/// already initialised, notes the run's start, and registers the final reduction to run at the
/// start of `MPI_Finalize` or at [`finish`], whichever comes first. Not collective. Returns the
/// world as a dict (before joining: rank and size as the launcher announced them, `mpi` false).
#[pyfunction]
fn start(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let w = py.detach(|| {
        rankscope::lifecycle::init_deferred();
        mpi::world()
    });
    world_dict(py, &w)
}

/// Joins MPI now unless joined (`lifecycle::join`): adopts the MPI the program initialised, or
/// initialises it under a launcher (collective then). Returns the world as a dict.
#[pyfunction]
fn join(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let w = py.detach(rankscope::lifecycle::join);
    world_dict(py, &w)
}

/// Whether this process was started by a rank (a multiprocessing child, fork or spawn, or a
/// subprocess inheriting the launcher's environment): it never joins MPI nor writes outputs.
#[pyfunction]
fn is_rank_child() -> bool {
    rankscope::lifecycle::is_rank_child()
}

/// This process's place in the world (adopting MPI if someone initialised it since).
#[pyfunction]
fn world(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let w = py.detach(mpi::world);
    world_dict(py, &w)
}

/// Normal end of the run (Python's atexit, `lifecycle::finish`): runs the final reduction
/// unless it already ran (joining MPI first if the program never did), then finalises MPI if
/// rankscope initialised it. Safe to call more than once.
#[pyfunction]
fn finish(py: Python<'_>) {
    py.detach(|| {
        rankscope::lifecycle::finish();
    })
}

/// After an uncaught exception (`lifecycle::abort`): writes this rank's own data (no
/// communication) to `<output_path>-rank<N>/`, then, when other ranks exist, calls
/// `MPI_Abort(MPI_COMM_WORLD, code)` so the job ends instead of hanging in the next
/// collective. Without peers it only writes and returns; the final reduction is off.
#[pyfunction]
fn abort(py: Python<'_>, code: i32) {
    py.detach(|| {
        rankscope::lifecycle::abort(code);
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(start, m)?)?;
    m.add_function(wrap_pyfunction!(join, m)?)?;
    m.add_function(wrap_pyfunction!(is_rank_child, m)?)?;
    m.add_function(wrap_pyfunction!(world, m)?)?;
    m.add_function(wrap_pyfunction!(finish, m)?)?;
    m.add_function(wrap_pyfunction!(abort, m)?)
}
