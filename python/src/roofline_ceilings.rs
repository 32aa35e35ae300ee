//! The machine phase of the roofline from Python (`rankscope.roofline.ceilings()`): this
//! host's ceilings, measured now or read from the per-host cache, as JSON text.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use rankscope::roofline::{ceilings, Options};

/// This host's entry of the ceilings document (`rankscope-ceilings/1`), as JSON. Measures
/// (tens of seconds; `quick`: about a second) unless the cache has it and `refresh` is false;
/// `node`: one thread per PU of the node rather than of this rank's binding. Under MPI every
/// rank must call it (it is collective). Raises RuntimeError naming what failed (an unreadable
/// cache file, threads that could not start).
#[pyfunction]
#[pyo3(signature = (refresh = false, node = false, quick = false))]
fn roofline_ceilings(py: Python<'_>, refresh: bool, node: bool, quick: bool) -> PyResult<String> {
    let opts = Options {
        refresh,
        node,
        quick,
        ..Options::default()
    };
    let outcome = py
        .detach(|| ceilings(&opts))
        .map_err(|e| PyRuntimeError::new_err(format!("rankscope.roofline.ceilings: {e}")))?;
    let host = outcome.ceilings.host(&outcome.this_host).ok_or_else(|| {
        PyRuntimeError::new_err(format!(
            "rankscope.roofline.ceilings: no ceilings for this host ({})",
            outcome.this_host
        ))
    })?;
    serde_json::to_string(host).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(roofline_ceilings, m)?)
}
