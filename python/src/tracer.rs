//! `rankscope._native.Tracer`: the native side of `rankscope.trace`, a line tracer. Per line of
//! the traced functions it records hits and the bundle's components (time; memory increment
//! with `page_rss` or `peak_rss`) as nodes of the call tree (see [`tracer_hook`] for how, and
//! [`tracer_code`] for the node names).
//!
//! What is traced: the functions added with [`Tracer::add`] (the decorator), the block of a
//! `with` statement (the frame running it, from `__enter__` to `__exit__`), and the functions a
//! selector chooses (the command line's options), on the threads where tracing is enabled.

use crate::region::bundle_of;
use crate::{tracer_code, tracer_hook};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCode, PyModule};
use rankscope::bundle::Bundle;

/// Traces the lines of chosen functions on the calling thread while enabled. Enabling nests.
#[pyclass(frozen, subclass, module = "rankscope._native")]
pub(crate) struct Tracer {
    bundle: &'static Bundle,
}

#[pymethods]
impl Tracer {
    #[new]
    fn new(components: Vec<String>) -> PyResult<Self> {
        Ok(Tracer {
            bundle: bundle_of(&components)?,
        })
    }

    /// Traces every call of `code` (a function's `__code__`) from now on, on the threads where
    /// tracing is enabled. A code object keeps the components of the first tracer that saw it.
    fn add(&self, code: &Bound<'_, PyAny>) -> PyResult<()> {
        if !code.is_instance_of::<PyCode>() {
            return Err(PyTypeError::new_err(format!(
                "Tracer.add expects a code object (a function's __code__), got {}",
                code.get_type().name()?
            )));
        }
        let traced = tracer_code::entry(code, self.bundle);
        tracer_code::mark_traced(code, traced);
        Ok(())
    }

    /// Starts tracing this thread (or nests inside the tracing already on).
    fn enable(&self, py: Python<'_>) {
        tracer_hook::enable(py);
    }

    /// Ends the matching `enable`; the outermost one stops tracing this thread.
    fn disable(&self, py: Python<'_>) {
        tracer_hook::disable(py);
    }

    /// Makes `select` (a callable taking a code object and returning whether its calls are
    /// traced, asked once per code object) choose the functions nobody added, measured with
    /// this tracer's components, in the whole process; None removes it.
    fn select(&self, select: Option<Py<PyAny>>) {
        tracer_hook::set_selector(select.map(|f| (f, self.bundle)));
    }

    /// `with` support: traces the lines of the block (the frame running the `with`) and what
    /// the block calls that is traced. The block is one lap of its function's node.
    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let py = slf.py();
        // SAFETY: attached; `__enter__` is native and has no frame, so this is the frame
        // running the `with` statement (borrowed), or null outside any Python frame.
        let frame = unsafe { ffi::PyEval_GetFrame() };
        if frame.is_null() {
            return Err(PyRuntimeError::new_err(
                "trace() as a context manager needs a Python frame running the with statement",
            ));
        }
        // SAFETY: PyFrame_GetCode returns a new reference, taken over by the Bound.
        let code =
            unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame) as *mut ffi::PyObject) };
        let traced = tracer_code::entry(&code, slf.get().bundle);
        tracer_hook::enter_block(py, frame, traced);
        Ok(slf)
    }

    /// Ends the block's tracing; exceptions propagate.
    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<Bound<'_, PyAny>>,
        _value: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        tracer_hook::exit_block(py);
        false
    }

    /// Whether this thread is being traced.
    #[staticmethod]
    fn active(py: Python<'_>) -> bool {
        tracer_hook::active(py)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Tracer>()
}
