//! Memory points from Python (`rankscope.memory`): the resident set read and recorded by the
//! runtime (`rankscope::memory_point`), and the Python heap that `tracemalloc` traced, measured
//! in Python and recorded beside it as the metric `python_heap_point`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use rankscope::collectors::{self, Availability, Collector, MetricInfo, Unit};
use std::sync::OnceLock;

/// Owns the metric `python_heap_point`. It is never sampled around a region: the value comes
/// from `tracemalloc`, which only Python can read, at a memory point of kind "python".
struct PythonHeapPoint;

static PYTHON_HEAP_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "python_heap_point",
    unit: Unit::Bytes,
    description: "size of the Python memory blocks traced by tracemalloc at the point",
    additive: false,
}];

impl Collector for PythonHeapPoint {
    fn name(&self) -> &'static str {
        "python_heap_point"
    }
    fn description(&self) -> &'static str {
        "Python heap traced by tracemalloc at a memory point of kind \"python\" (rankscope.memory)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &PYTHON_HEAP_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        Availability::Unavailable(
            "recorded only by memory points of kind \"python\" (rankscope.memory.point): \
             tracemalloc is read from Python, not sampled around regions"
                .into(),
        )
    }
    fn sample(&self, _out: &mut [i64]) {}
}

/// The collector, registered at the first point of kind "python" (so that programs that never
/// use it do not list it).
fn python_heap_collector() -> PyResult<&'static dyn Collector> {
    static REGISTERED: OnceLock<Result<&'static dyn Collector, String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| collectors::register(Box::new(PythonHeapPoint)).map_err(|e| e.to_string()))
        .clone()
        .map_err(PyRuntimeError::new_err)
}

/// Records the memory point `label` (a node under `memory points`): the resident set now, and
/// `python_heap` (bytes traced by tracemalloc) when given. Returns the resident set in bytes;
/// RuntimeError saying why when it cannot be read here.
#[pyfunction]
#[pyo3(signature = (label, python_heap=None))]
fn memory_point(py: Python<'_>, label: &str, python_heap: Option<i64>) -> PyResult<i64> {
    let others = match python_heap {
        Some(v) => vec![(python_heap_collector()?, v)],
        None => Vec::new(),
    };
    py.detach(|| rankscope::memory_point::record(label, &others))
        .ok_or_else(unreadable)
}

/// The resident set in bytes now, recording nothing.
#[pyfunction]
fn resident_bytes() -> PyResult<i64> {
    rankscope::memory_point::resident().ok_or_else(unreadable)
}

fn unreadable() -> PyErr {
    PyRuntimeError::new_err(format!(
        "the resident set cannot be read here: {}",
        rankscope::memory_point::unavailable().unwrap_or_default()
    ))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MEMORY_POINTS", rankscope::memory_point::GROUP)?;
    m.add_function(wrap_pyfunction!(memory_point, m)?)?;
    m.add_function(wrap_pyfunction!(resident_bytes, m)?)
}
