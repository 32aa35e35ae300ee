//! Regions from Python: a pre-interned region object, the token of a started region, and the
//! native wrapper that decorators return, so a decorated call costs one native call and no
//! Python-level wrapper frame.

use pyo3::exceptions::{PyReferenceError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString, PyType};
use rankscope::bundle::Bundle;
use rankscope::storage::Token;
use std::any::Any;
use std::ffi::{c_int, c_uint, c_void, CStr};
use std::panic::{self, AssertUnwindSafe};
use std::{mem, ptr};

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

/// The text of a region name: `text` (or `str(text)`) as UTF-8, with what UTF-8 cannot encode
/// (lone surrogates, e.g. from undecodable file names) written as backslash escapes.
///
/// Every region name made from Python text goes through here (marker keys, callables, blocks,
/// the profiler's code and C function names), so that naming a region never raises: measuring
/// must not change what the program does.
pub(crate) fn clean_name(text: &Bound<'_, PyAny>) -> String {
    let text = match text.cast::<PyString>() {
        Ok(s) => s.clone(),
        Err(_) => match text.str() {
            Ok(s) => s,
            Err(_) => return String::from("<unnamed>"),
        },
    };
    if let Ok(s) = text.to_str() {
        return s.to_owned();
    }
    // Only for names UTF-8 cannot encode: the failed `to_str` above left nothing pending.
    text.call_method1("encode", ("utf-8", "backslashreplace"))
        .ok()
        .and_then(|b| {
            b.cast::<PyBytes>()
                .ok()
                .map(|b| String::from_utf8_lossy(b.as_bytes()).into_owned())
        })
        .unwrap_or_else(|| text.to_string_lossy().into_owned())
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
    fn new(name: &Bound<'_, PyString>, components: Vec<String>) -> PyResult<Self> {
        let name = clean_name(name.as_any());
        Ok(Region {
            region: rankscope::Region::new(&name, bundle_of(&components)?),
            name,
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
    fn wrap(&self, py: Python<'_>, func: Py<PyAny>) -> PyResult<Py<PyAny>> {
        new_wrapped(py, func, self.region)
    }

    /// A starter for wrappers that run `func` in steps (generators, coroutines): its `start()`
    /// starts this region, like `Region.start`, and tells an active profiler that the frame of
    /// `func` resumed next is measured by this region, so the profiler adds no node of its own.
    fn steps(&self, func: &Bound<'_, PyAny>) -> Steps {
        Steps {
            region: self.region,
            code: code_of(func),
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

/// Starts a region for each step of a generator or coroutine function (see `Region.steps`).
#[pyclass(frozen, module = "rankscope._native")]
pub(crate) struct Steps {
    region: rankscope::Region,
    /// The stepped function's code object (None when it is not a Python function).
    code: Option<Py<PyAny>>,
}

#[pymethods]
impl Steps {
    /// Starts the region; call `stop()` on the returned token on the same thread.
    fn start(&self) -> Started {
        if let Some(code) = self.code.as_ref().filter(|_| crate::profiler::any_active()) {
            crate::profiler::expect_frame(code.as_ptr());
        }
        Started {
            token: self.region.start(),
        }
    }
}

/// The code object of a Python function (for telling the profiler which frame a region
/// measures), or `None` for other callables.
fn code_of(func: &Bound<'_, PyAny>) -> Option<Py<PyAny>> {
    // SAFETY: `func` is a live object; PyFunction_GetCode returns a borrowed reference that
    // the new owned Py takes a strong reference to.
    unsafe {
        (ffi::PyFunction_Check(func.as_ptr()) != 0).then(|| {
            Bound::from_borrowed_ptr(func.py(), ffi::PyFunction_GetCode(func.as_ptr())).unbind()
        })
    }
}

/// A function wrapped so that each call is measured as a region. Returned by `Region.wrap`.
///
/// pyo3's `#[pyclass]` cannot (yet) declare a vectorcall slot, and its `__call__` receives a
/// tuple and a dict built for every call. This type is therefore defined with the C API: the
/// instance carries a `vectorcallfunc` at `__vectorcalloffset__`, so a call passes the caller's
/// argument vector straight on to the wrapped function with `PyObject_Vectorcall`. Nothing is
/// allocated on the way in or out.
///
/// It has a `__dict__` (so `functools.update_wrapper` gives it the wrapped function's name,
/// doc and `__wrapped__`, which `inspect.signature` follows) and weak references, and binds
/// like a function on classes (`__get__` makes a bound method). It is a method descriptor
/// (`Py_TPFLAGS_METHOD_DESCRIPTOR`): `obj.method(x)` calls `wrapper(obj, x)` without building
/// the bound method, exactly what the bound method would have done.
///
/// It pickles as a function does, by reference to its module and qualified name (`__reduce__`
/// returns `__qualname__`, so pickle stores it as a global after checking that the module
/// attribute is this very object); `copy.copy` and `copy.deepcopy` therefore return it unchanged.
#[repr(C)]
struct WrappedObject {
    ob_base: ffi::PyObject,
    /// Always `wrapped_vectorcall`; CPython finds it through `tp_vectorcall_offset`.
    vectorcall: Option<ffi::vectorcallfunc>,
    /// The wrapped callable (owned); null only after `tp_clear`.
    func: *mut ffi::PyObject,
    /// The instance `__dict__` (owned, created on first use), at `tp_dictoffset`.
    dict: *mut ffi::PyObject,
    /// Weak reference list head, at `tp_weaklistoffset`.
    weaklist: *mut ffi::PyObject,
    /// The wrapped function's code object (owned), or null when it is not a Python function:
    /// an active profiler is told that this code's next frame is measured by `region`.
    code: *mut ffi::PyObject,
    region: rankscope::Region,
}

/// The `Wrapped` type, created once.
static WRAPPED_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Offset of a field as CPython's `Py_ssize_t` (the structure is a few dozen bytes).
fn offset(bytes: usize) -> ffi::Py_ssize_t {
    bytes as ffi::Py_ssize_t
}

fn wrapped_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    WRAPPED_TYPE
        .get_or_try_init(py, || {
            // Members and getsets are referenced by the type for the life of the process.
            let member = |name: &'static CStr, at: usize| ffi::PyMemberDef {
                name: name.as_ptr(),
                type_code: ffi::Py_T_PYSSIZET,
                offset: offset(at),
                flags: ffi::Py_READONLY,
                doc: ptr::null(),
            };
            let members: &'static mut [ffi::PyMemberDef] = Box::leak(Box::new([
                member(
                    c"__vectorcalloffset__",
                    mem::offset_of!(WrappedObject, vectorcall),
                ),
                member(c"__dictoffset__", mem::offset_of!(WrappedObject, dict)),
                member(
                    c"__weaklistoffset__",
                    mem::offset_of!(WrappedObject, weaklist),
                ),
                ffi::PyMemberDef::default(),
            ]));
            let getsets: &'static mut [ffi::PyGetSetDef] = Box::leak(Box::new([
                ffi::PyGetSetDef {
                    name: c"__dict__".as_ptr(),
                    get: Some(ffi::PyObject_GenericGetDict),
                    set: Some(ffi::PyObject_GenericSetDict),
                    doc: ptr::null(),
                    closure: ptr::null_mut(),
                },
                ffi::PyGetSetDef::default(),
            ]));
            let methods: &'static mut [ffi::PyMethodDef] = Box::leak(Box::new([
                ffi::PyMethodDef {
                    ml_name: c"__reduce__".as_ptr(),
                    ml_meth: ffi::PyMethodDefPointer {
                        PyCFunction: wrapped_reduce,
                    },
                    ml_flags: ffi::METH_NOARGS,
                    ml_doc: REDUCE_DOC.as_ptr(),
                },
                ffi::PyMethodDef::zeroed(),
            ]));
            let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
            let mut slots = [
                slot(ffi::Py_tp_doc, WRAPPED_DOC.as_ptr() as *mut c_void),
                slot(ffi::Py_tp_dealloc, wrapped_dealloc as *mut c_void),
                slot(ffi::Py_tp_traverse, wrapped_traverse as *mut c_void),
                slot(ffi::Py_tp_clear, wrapped_clear as *mut c_void),
                slot(ffi::Py_tp_call, ffi::PyVectorcall_Call as *mut c_void),
                slot(ffi::Py_tp_descr_get, wrapped_descr_get as *mut c_void),
                slot(ffi::Py_tp_repr, wrapped_repr as *mut c_void),
                slot(ffi::Py_tp_members, members.as_mut_ptr().cast()),
                slot(ffi::Py_tp_getset, getsets.as_mut_ptr().cast()),
                slot(ffi::Py_tp_methods, methods.as_mut_ptr().cast()),
                slot(0, ptr::null_mut()),
            ];
            let mut spec = ffi::PyType_Spec {
                // Kept by the type as its tp_name: a static string.
                name: c"rankscope._native.Wrapped".as_ptr(),
                basicsize: mem::size_of::<WrappedObject>() as c_int,
                itemsize: 0,
                flags: (ffi::Py_TPFLAGS_DEFAULT
                    | ffi::Py_TPFLAGS_HAVE_GC
                    | ffi::Py_TPFLAGS_HAVE_VECTORCALL
                    | ffi::Py_TPFLAGS_METHOD_DESCRIPTOR
                    | ffi::Py_TPFLAGS_IMMUTABLETYPE
                    | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as c_uint,
                slots: slots.as_mut_ptr(),
            };
            // SAFETY: the spec, its slots and their functions are valid; the name, members,
            // getsets and methods live for the whole process (CPython copies the slots and the doc).
            // PyType_FromSpec returns a new reference to a type, or NULL with an error set.
            let tp = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
            Ok(tp.cast_into::<PyType>()?.unbind())
        })
        .map(|tp| tp.bind(py))
}

const WRAPPED_DOC: &CStr = c"A function measured as a region at each call (see Region.wrap).";
const REDUCE_DOC: &CStr =
    c"Pickles by reference, like a function: the qualified name, found in the module.";

/// A new `Wrapped` measuring each call of `func` as `region`.
fn new_wrapped(py: Python<'_>, func: Py<PyAny>, region: rankscope::Region) -> PyResult<Py<PyAny>> {
    let tp = wrapped_type(py)?;
    // SAFETY: PyType_GenericAlloc returns a new, zero-filled, GC-tracked instance of our type
    // (holding a reference to the type) or NULL with an error set. We fill every field through
    // raw places before any code can read them; traverse and clear accept the null `dict`.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(tp.as_type_ptr(), 0);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        let this = obj.cast::<WrappedObject>();
        ptr::addr_of_mut!((*this).vectorcall).write(Some(wrapped_vectorcall));
        let code = code_of(func.bind(py)).map_or(ptr::null_mut(), Py::into_ptr);
        ptr::addr_of_mut!((*this).func).write(func.into_ptr());
        ptr::addr_of_mut!((*this).code).write(code);
        ptr::addr_of_mut!((*this).region).write(region);
        Ok(Bound::from_owned_ptr(py, obj).unbind())
    }
}

/// Sets a `PanicException` for a panic caught at the C boundary (unwinding must not cross it).
#[cold]
fn raise_panic(payload: Box<dyn Any + Send>) {
    let message = if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panic from Rust code".to_string()
    };
    // SAFETY: only called from the type's slots, which CPython runs attached to the interpreter.
    let py = unsafe { Python::assume_attached() };
    PanicException::new_err((message,)).restore(py);
}

/// Sets the error for a call of a wrapper whose function was cleared by the garbage collector.
#[cold]
fn raise_cleared() {
    // SAFETY: as in `raise_panic`.
    let py = unsafe { Python::assume_attached() };
    PyReferenceError::new_err("rankscope wrapper already cleared").restore(py);
}

/// The call: start the region, forward the argument vector as it came, stop the region. The
/// result, or NULL with the callee's exception still set, is returned unchanged.
unsafe extern "C" fn wrapped_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let this = callable.cast::<WrappedObject>();
    // SAFETY: CPython calls this slot only on instances of our type, which the caller keeps
    // alive for the call; the fields were initialised at creation.
    let (func, code, region) = unsafe { ((*this).func, (*this).code, (*this).region) };
    if func.is_null() {
        raise_cleared();
        return ptr::null_mut();
    }
    let token = match panic::catch_unwind(AssertUnwindSafe(|| region.start())) {
        Ok(token) => token,
        Err(payload) => {
            raise_panic(payload);
            return ptr::null_mut();
        }
    };
    // Only while some thread profiles (one relaxed load otherwise): the profiler skips the
    // wrapped function's frame, which this region measures, so a call is one node, not two.
    let profiling = crate::profiler::any_active() && !code.is_null();
    if profiling {
        crate::profiler::expect_frame(code);
    }
    // SAFETY: `func` is a live object; our own reference keeps it alive through the call even
    // if the wrapper is cleared meanwhile. The argument vector, its count and flags (including
    // PY_VECTORCALL_ARGUMENTS_OFFSET, whose slot before `args` the caller lends to its callee)
    // and the keyword names are forwarded exactly as the caller passed them.
    let out = unsafe {
        ffi::Py_INCREF(func);
        ffi::PyObject_Vectorcall(func, args, nargsf, kwnames)
    };
    if profiling {
        // The frame never ran if the arguments did not bind: forget the expectation.
        crate::profiler::expect_frame(ptr::null_mut());
    }
    let stopped = panic::catch_unwind(AssertUnwindSafe(|| region.stop(token)));
    // SAFETY: releases the reference taken above.
    unsafe { ffi::Py_DECREF(func) };
    match stopped {
        Ok(()) => out,
        Err(payload) => {
            // SAFETY: `out` is a new reference or NULL.
            unsafe { ffi::Py_XDECREF(out) };
            raise_panic(payload);
            ptr::null_mut()
        }
    }
}

/// `__reduce__`: the wrapper's `__qualname__` (set by `functools.update_wrapper`), or the
/// wrapped function's. A string makes pickle save the object as a global: by module and
/// qualified name, after checking that this name leads back to this very object.
unsafe extern "C" fn wrapped_reduce(
    slf: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this method attached, on a live wrapper.
    let (py, func) = unsafe {
        (
            Python::assume_attached(),
            (*slf.cast::<WrappedObject>()).func,
        )
    };
    // SAFETY: `slf` is live for the call; `func` is null or live while the wrapper holds it.
    let (this, func) = unsafe {
        (
            Bound::from_borrowed_ptr(py, slf),
            Bound::from_borrowed_ptr_or_opt(py, func),
        )
    };
    let name = this
        .getattr("__qualname__")
        .or_else(|err| match &func {
            Some(func) => func.getattr("__qualname__"),
            None => Err(err),
        })
        .and_then(|name| {
            name.cast_into::<PyString>().map_err(|_| {
                PyTypeError::new_err("cannot pickle a rankscope wrapper without a __qualname__")
            })
        });
    match name {
        Ok(name) => name.into_ptr(),
        Err(err) => {
            err.restore(py);
            ptr::null_mut()
        }
    }
}

/// `__get__`: a bound method on instances, the wrapper itself on the class (like functions).
unsafe extern "C" fn wrapped_descr_get(
    slf: *mut ffi::PyObject,
    obj: *mut ffi::PyObject,
    _owner: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: `slf` is a live wrapper and `obj` null or a live object. PyMethod_New returns a
    // new reference or NULL with an error set; the other branch returns a new reference to
    // `slf`.
    unsafe {
        if obj.is_null() || obj == ffi::Py_None() {
            ffi::Py_INCREF(slf);
            slf
        } else {
            PyMethod_New(slf, obj)
        }
    }
}

unsafe extern "C" fn wrapped_repr(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this slot attached, on a live wrapper.
    let (py, func) = unsafe {
        (
            Python::assume_attached(),
            (*slf.cast::<WrappedObject>()).func,
        )
    };
    let text = if func.is_null() {
        Ok("<rankscope-measured (cleared)>".to_string())
    } else {
        // SAFETY: `func` is live while the wrapper holds it; the borrowed Bound does not
        // outlive this call.
        let func = unsafe { Bound::from_borrowed_ptr(py, func) };
        func.repr()
            .and_then(|r| Ok(format!("<rankscope-measured {}>", r.to_str()?)))
    };
    match text {
        Ok(text) => PyString::new(py, &text).into_ptr(),
        Err(err) => {
            err.restore(py);
            ptr::null_mut()
        }
    }
}

unsafe extern "C" fn wrapped_traverse(
    slf: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let this = slf.cast::<WrappedObject>();
    // SAFETY: the collector calls this on a live wrapper; each visited pointer is a live
    // object we own a reference to (instances of a heap type own one to their type).
    unsafe {
        for held in [(*this).func, (*this).dict, ffi::Py_TYPE(slf).cast()] {
            if !held.is_null() {
                let done = visit(held, arg);
                if done != 0 {
                    return done;
                }
            }
        }
    }
    0
}

unsafe extern "C" fn wrapped_clear(slf: *mut ffi::PyObject) -> c_int {
    let this = slf.cast::<WrappedObject>();
    // SAFETY: a live wrapper; each field is nulled before its reference is released, so code
    // run by the release never sees a dangling pointer.
    unsafe {
        for field in [
            ptr::addr_of_mut!((*this).func),
            ptr::addr_of_mut!((*this).dict),
            ptr::addr_of_mut!((*this).code),
        ] {
            let held = field.replace(ptr::null_mut());
            ffi::Py_XDECREF(held);
        }
    }
    0
}

unsafe extern "C" fn wrapped_dealloc(slf: *mut ffi::PyObject) {
    // SAFETY: the last reference is gone. Untrack before tearing down, clear weak references,
    // release the fields, free the memory with the type's tp_free (the GC allocator), then drop
    // the instance's reference to its heap type.
    unsafe {
        let tp = ffi::Py_TYPE(slf);
        ffi::PyObject_GC_UnTrack(slf.cast());
        if !(*slf.cast::<WrappedObject>()).weaklist.is_null() {
            ffi::PyObject_ClearWeakRefs(slf);
        }
        wrapped_clear(slf);
        match (*tp).tp_free {
            Some(free) => free(slf.cast()),
            None => ffi::PyObject_GC_Del(slf.cast()),
        }
        ffi::Py_DECREF(tp.cast());
    }
}

extern "C" {
    /// CPython's bound-method constructor (stable ABI; not declared by pyo3-ffi).
    fn PyMethod_New(func: *mut ffi::PyObject, slf: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_components, m)?)?;
    m.add_class::<Region>()?;
    m.add_class::<Started>()?;
    m.add_class::<Steps>()?;
    m.add("Wrapped", wrapped_type(m.py())?)?;
    Ok(())
}
