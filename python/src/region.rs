//! Regions from Python: a pre-interned region object, the token of a started region, and the
//! native wrapper that decorators return, so a decorated call costs one native call and no
//! Python-level wrapper frame.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rankscope::bundle::Bundle;
use rankscope::storage::Token;

/// The interned bundle of these components; ValueError (with the valid names) when a name is unknown.
pub(crate) fn bundle_of(components: &[String]) -> PyResult<&'static Bundle> {
    Bundle::new(components).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Checks component names: ValueError naming the valid ones when one is unknown. Returns the
/// canonical names, wall clock first, without duplicates.
#[pyfunction]
fn check_components(components: Vec<String>) -> PyResult<Vec<&'static str>> {
    Ok(bundle_of(&components)?
        .collectors()
        .iter()
        .map(|c| c.name())
        .collect())
}

/// A named region measured by a fixed set of components. Create it once, start it many times.
#[pyclass(frozen, module = "rankscope._native")]
pub(crate) struct Region {
    region: rankscope::Region,
    name: String,
}

#[pymethods]
impl Region {
    #[new]
    fn new(name: &str, components: Vec<String>) -> PyResult<Self> {
        Ok(Region {
            region: rankscope::Region::new(name, bundle_of(&components)?),
            name: name.to_string(),
        })
    }

    /// The region's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Starts the region; call `stop()` on the returned token on the same thread.
    fn start(&self) -> Started {
        Started {
            token: self.region.start(),
        }
    }

    /// A callable that measures each call of `func` as this region, forwarding arguments,
    /// return value and exceptions unchanged.
    fn wrap(&self, func: Py<PyAny>) -> Wrapped {
        Wrapped {
            func,
            region: self.region,
        }
    }

    fn __repr__(&self) -> String {
        format!("<rankscope region '{}'>", self.name)
    }
}

/// A started region, stopped by `stop()`.
#[pyclass(frozen, module = "rankscope._native")]
pub(crate) struct Started {
    token: Token,
}

#[pymethods]
impl Started {
    /// Stops the region (stopping out of order closes the inner regions first).
    fn stop(&self) {
        rankscope::storage::stop(self.token)
    }
}

/// A function wrapped so that each call is measured as a region. Returned by decorators; it has
/// a `__dict__` so `functools.update_wrapper` gives it the wrapped function's name, doc and
/// `__wrapped__` (which `inspect.signature` follows), and binds like a function on classes.
#[pyclass(frozen, dict, weakref, module = "rankscope._native")]
pub(crate) struct Wrapped {
    func: Py<PyAny>,
    region: rankscope::Region,
}

#[pymethods]
impl Wrapped {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let token = self.region.start();
        let out = self.func.bind(py).call(args, kwargs);
        self.region.stop(token);
        out.map(Bound::unbind)
    }

    fn __get__(
        slf: Bound<'_, Self>,
        obj: Option<Bound<'_, PyAny>>,
        _owner: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match obj {
            Some(obj) if !obj.is_none() => {
                let py = slf.py();
                // SAFETY: both pointers are live objects; PyMethod_New returns a new reference
                // or NULL with an exception set.
                unsafe {
                    Bound::from_owned_ptr_or_err(py, PyMethod_New(slf.as_ptr(), obj.as_ptr()))
                }
                .map(Bound::unbind)
            }
            _ => Ok(slf.into_any().unbind()),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<rankscope-measured {}>",
            self.func.bind(py).repr()?.to_str()?
        ))
    }
}

extern "C" {
    /// CPython's bound-method constructor (stable ABI; not declared by pyo3-ffi).
    fn PyMethod_New(
        func: *mut pyo3::ffi::PyObject,
        slf: *mut pyo3::ffi::PyObject,
    ) -> *mut pyo3::ffi::PyObject;
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_components, m)?)?;
    m.add_class::<Region>()?;
    m.add_class::<Started>()?;
    m.add_class::<Wrapped>()?;
    Ok(())
}
