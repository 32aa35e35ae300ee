//! A native function profiler: while enabled on a thread, every Python function call on that
//! thread is measured as a region named `qualname@file:line`, nested as the calls nest.
//!
//! It hooks the interpreter's C profiling interface (what cProfile uses), so no Python code runs
//! per call. Each resumption of a generator or coroutine counts as one call.

use crate::region::{bundle_of, clean_name};
use pyo3::ffi;
use pyo3::prelude::*;
use rankscope::bundle::Bundle;
use rankscope::storage::Token;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::raw::c_int;

/// This thread's profiling state.
#[derive(Default)]
struct State {
    /// How many `enable` calls are not yet matched by `disable`.
    depth: usize,
    /// The bundle of the outermost enabled profiler.
    bundle: Option<&'static Bundle>,
    /// Tokens of the calls still running, innermost last.
    open: Vec<Token>,
    /// One region per (code object, bundle); the code objects are kept alive so that their
    /// addresses are never reused for another function.
    regions: HashMap<(usize, usize), rankscope::Region>,
    keep: Vec<Py<PyAny>>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Measures Python function calls on the calling thread while enabled. Enabling nests: the
/// outermost `enable` chooses the components, and profiling stops at the matching `disable`.
#[pyclass(frozen, subclass, module = "rankscope._native")]
pub(crate) struct Profiler {
    bundle: &'static Bundle,
}

#[pymethods]
impl Profiler {
    #[new]
    fn new(components: Vec<String>) -> PyResult<Self> {
        Ok(Profiler {
            bundle: bundle_of(&components)?,
        })
    }

    /// Starts profiling this thread (or nests inside the profiling already running).
    fn enable(&self) {
        let first = STATE.with_borrow_mut(|s| {
            s.depth += 1;
            if s.depth == 1 {
                s.bundle = Some(self.bundle);
            }
            s.depth == 1
        });
        if first {
            // SAFETY: the GIL is held (we are in a method); the callback has the signature
            // CPython expects; a null argument object is allowed.
            unsafe { ffi::PyEval_SetProfile(Some(callback), std::ptr::null_mut()) };
        }
    }

    /// Ends the matching `enable`; the outermost one stops profiling and closes every call
    /// still open (their time so far is recorded).
    fn disable(&self) {
        let last = STATE.with_borrow_mut(|s| {
            if s.depth == 0 {
                return false;
            }
            s.depth -= 1;
            s.depth == 0
        });
        if last {
            // SAFETY: as in `enable`.
            unsafe { ffi::PyEval_SetProfile(None, std::ptr::null_mut()) };
            let open = STATE.with_borrow_mut(|s| std::mem::take(&mut s.open));
            for t in open.into_iter().rev() {
                rankscope::storage::stop(t);
            }
        }
    }

    /// `with` support: enables profiling for the block (no Python frame is measured for it).
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf.get().enable();
        slf
    }

    /// Ends the block's profiling; exceptions propagate.
    fn __exit__(
        &self,
        _kind: Option<Bound<'_, PyAny>>,
        _value: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.disable();
        false
    }

    /// Whether this thread is being profiled.
    #[staticmethod]
    fn active() -> bool {
        STATE.with_borrow(|s| s.depth > 0)
    }
}

/// The region name of a code object: `qualname@file:line` (cleaned: never raises).
fn region_name(code: &Bound<'_, PyAny>) -> String {
    let text = |attr: &str| {
        code.getattr(attr)
            .map(|v| clean_name(&v))
            .unwrap_or_default()
    };
    let mut name = text("co_qualname");
    if name.is_empty() {
        name = text("co_name");
    }
    let file = text("co_filename");
    let base = file.rsplit('/').next().unwrap_or(&file);
    let line: u32 = code
        .getattr("co_firstlineno")
        .and_then(|v| v.extract())
        .unwrap_or(0);
    format!("{name}@{base}:{line}")
}

/// The interpreter's profiling callback.
unsafe extern "C" fn callback(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    match what {
        ffi::PyTrace_CALL => {
            // SAFETY: CPython calls this with the GIL held and a live frame; PyFrame_GetCode
            // returns a new (never null) reference that the Bound takes over.
            let py = unsafe { Python::assume_attached() };
            let code = unsafe { Bound::from_owned_ptr(py, frame_code(frame)) };
            let key_code = code.as_ptr() as usize;
            let token = STATE.with_borrow_mut(|s| {
                let bundle = s.bundle?;
                let key = (key_code, bundle as *const Bundle as usize);
                let region = match s.regions.get(&key) {
                    Some(r) => *r,
                    None => {
                        let r = rankscope::Region::new(&region_name(&code), bundle);
                        s.regions.insert(key, r);
                        s.keep.push(code.clone().unbind());
                        r
                    }
                };
                Some(region)
            });
            if let Some(region) = token {
                let t = region.start();
                STATE.with_borrow_mut(|s| s.open.push(t));
            }
        }
        ffi::PyTrace_RETURN => {
            if let Some(t) = STATE.with_borrow_mut(|s| s.open.pop()) {
                rankscope::storage::stop(t);
            }
        }
        _ => {}
    }
    0
}

/// The code object of a frame, as a new reference.
///
/// # Safety
/// `frame` must be a live frame and the GIL held.
unsafe fn frame_code(frame: *mut ffi::PyFrameObject) -> *mut ffi::PyObject {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::PyFrame_GetCode(frame) as *mut ffi::PyObject }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Profiler>()
}
