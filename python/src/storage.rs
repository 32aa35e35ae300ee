//! This process's measurements, and every rank's on rank 0, handed to Python as JSON text of the
//! runtime's `Profile` (the Python layer parses it once and shapes it per component).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

fn to_json(p: &rankscope::profile::Profile) -> PyResult<String> {
    serde_json::to_string(p).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// This rank's profile as JSON; reads without stopping anything and does no I/O.
#[pyfunction]
fn profile_json(py: Python<'_>) -> PyResult<String> {
    let p = py.detach(rankscope::lifecycle::get);
    to_json(&p)
}

/// Collective over every rank: rank 0 gets the merged profile as JSON (a column per rank whose
/// values were kept, and every node's spread over ranks stored), the other ranks get None.
/// Without MPI this is the local profile.
#[pyfunction]
fn dmp_profile_json(py: Python<'_>) -> PyResult<Option<String>> {
    let merged = py.detach(|| {
        let mut p = rankscope::lifecycle::dmp_get()?;
        p.store_spreads();
        Some(p)
    });
    merged.as_ref().map(to_json).transpose()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(profile_json, m)?)?;
    m.add_function(wrap_pyfunction!(dmp_profile_json, m)?)
}
