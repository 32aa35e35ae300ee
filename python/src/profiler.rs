//! A native function profiler: while enabled on a thread, every Python function call on that
//! thread is measured as a region named `qualname@file:line`, and every call of a C function
//! (builtins, methods of built-in types, extension modules) as a region named the way cProfile
//! names it (`{built-in method time.sleep}`, `{method 'append' of 'list' objects}`), nested as
//! the calls nest.
//!
//! It hooks the interpreter's C profiling interface (what cProfile uses), so no Python code runs
//! per call. Each resumption of a generator or coroutine counts as one call.
//!
//! Each event costs one hash lookup: the region (or the decision to pass the call through, for
//! rankscope's own code and what the include/exclude filters of [`profiler_filter`] leave out)
//! is made once per key and cached. Keys are addresses, kept valid by holding a reference to what
//! they point to: a code object for a Python call; for a C call, the `PyMethodDef` (static), the
//! type of the bound `self` (builtin method objects are created afresh at each `obj.method`
//! access, so their own address is no key) and the calling code.
//!
//! rankscope's own machinery is passed through, never recorded: its Python code (decorator
//! wrappers, the generator driver), the C calls that code makes, and rankscope's native
//! functions and methods (`__exit__` of the profiler itself). A function wrapped by a marker is
//! measured by the marker's region; the wrapper tells the profiler (see [`expect_frame`]) so
//! that its frame is passed through and the call is one node, not two.

use crate::profiler_filter::{self, Setup};
use crate::region::{bundle_of, clean_name};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyString, PyType};
use rankscope::bundle::Bundle;
use rankscope::storage::Token;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

/// What calls of one key do: start this region, or (None) pass through, recording nothing;
/// the calls they make nest under the enclosing region.
type Entry = Option<rankscope::Region>;

/// A cache key: four addresses (see [`py_key`] and the C-call key in [`on_c_call`]).
type Key = (usize, usize, usize, usize);

/// Second word of a Python call's key: no type object lives at address 1, so a code object's
/// key never equals a C function's.
const PY_CALL: usize = 1;

/// A multiply-rotate hash of address words: far cheaper than the default SipHash for keys no
/// one chooses adversarially. The final rotation brings the well-mixed high bits of the
/// product to the low bits that pick the bucket (addresses are aligned: their low bits are 0).
#[derive(Default, Clone, Copy)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

type AddrMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

/// This thread's profiling state.
#[derive(Default)]
struct State {
    /// How many `enable` calls are not yet matched by `disable`.
    depth: usize,
    /// The bundle and filter of the outermost enabled profiler.
    setup: Option<&'static Setup>,
    /// Whether the outermost enabled profiler records C calls.
    c_calls: bool,
    /// One entry per call still running, innermost last: its token, or None for a call passed
    /// through (its return must still pop one entry).
    open: Vec<Option<Token>>,
    /// The region of the profiled `with` block, stopped last.
    block: Option<Token>,
    /// The code object (address) whose next frame a marker's region measures, or 0.
    expected: usize,
    /// The entry of every key seen, per setup (the key's last word).
    regions: AddrMap<Key, Entry>,
    /// Block regions per (code object, line, bundle) of the `with` statement.
    blocks: AddrMap<(usize, c_int, usize), rankscope::Region>,
    /// Keeps the objects whose addresses are keys alive, so an address is never reused for
    /// another object while its entry exists.
    keep: Vec<Py<PyAny>>,
}

impl Drop for State {
    /// A thread that ends while profiled (threads the profiler CLI enables) no longer counts.
    fn drop(&mut self) {
        if self.depth > 0 {
            ACTIVE.fetch_sub(1, Relaxed);
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Threads profiling now. Marker wrappers look at it (one relaxed load) before telling the
/// profiler about their frames.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether some thread is being profiled.
#[inline]
pub(crate) fn any_active() -> bool {
    ACTIVE.load(Relaxed) != 0
}

/// Tells this thread's profiler that the next Python frame started, if it runs `code`, is
/// measured by a marker's region: the profiler passes it through. Null clears it.
pub(crate) fn expect_frame(code: *mut ffi::PyObject) {
    // `try_`: never panic at the C boundary (the state is not borrowed here in practice).
    let _ = STATE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.expected = code as usize;
        }
    });
}

/// The folder of the rankscope package (`.../rankscope/`): code in it is rankscope's own.
static PACKAGE_DIR: PyOnceLock<String> = PyOnceLock::new();

fn package_dir(py: Python<'_>) -> &str {
    PACKAGE_DIR.get_or_init(py, || {
        py.import("rankscope._native")
            .and_then(|m| m.getattr("__file__"))
            .map(|f| clean_name(&f))
            .ok()
            .and_then(|f| f.rfind('/').map(|at| f[..=at].to_string()))
            .unwrap_or_default()
    })
}

/// Measures Python and C function calls on the calling thread while enabled. Enabling nests:
/// the outermost `enable` chooses the components, and profiling stops at the matching `disable`.
#[pyclass(frozen, subclass, module = "rankscope._native")]
pub(crate) struct Profiler {
    bundle: &'static Bundle,
    /// The block region's name given by `key`, built once.
    key: Option<rankscope::Region>,
    /// Record C calls; None: the `profile_c_calls` setting at `enable`.
    c_calls: Option<bool>,
    /// Include and exclude patterns (see [`profiler_filter`]); None: their settings at `enable`.
    patterns: [Option<String>; 4],
    /// The setup last made and the settings generation it was made under, so that a decorated
    /// function's `enable` per call reads no settings while they do not change.
    last_setup: Mutex<Option<(u64, &'static Setup)>>,
}

#[pymethods]
impl Profiler {
    #[new]
    #[pyo3(signature = (
        components, key = None, c_calls = None, *,
        include = None, exclude = None, include_file = None, exclude_file = None
    ))]
    #[allow(clippy::too_many_arguments)] // the Python signature: keywords with defaults
    fn new(
        py: Python<'_>,
        components: Vec<String>,
        key: Option<&Bound<'_, PyString>>,
        c_calls: Option<bool>,
        include: Option<String>,
        exclude: Option<String>,
        include_file: Option<String>,
        exclude_file: Option<String>,
    ) -> PyResult<Self> {
        let bundle = bundle_of(&components)?;
        let patterns = [include, exclude, include_file, exclude_file];
        profiler_filter::check(&patterns.clone().map(Option::unwrap_or_default))?;
        package_dir(py);
        Ok(Profiler {
            patterns,
            last_setup: Mutex::new(None),
            bundle,
            key: key
                .map(|k| clean_name(k.as_any()))
                .filter(|k| !k.is_empty())
                .map(|k| rankscope::Region::new(&k, bundle)),
            c_calls,
        })
    }

    /// Starts profiling this thread (or nests inside the profiling already running). No region
    /// of its own: the calls made meanwhile are the regions.
    fn enable(&self) {
        self.start(None);
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
            // SAFETY: as in `start`.
            unsafe { ffi::PyEval_SetProfile(None, std::ptr::null_mut()) };
            ACTIVE.fetch_sub(1, Relaxed);
            let (open, block) = STATE.with_borrow_mut(|s| {
                s.expected = 0;
                (std::mem::take(&mut s.open), s.block.take())
            });
            for t in open.into_iter().rev().flatten() {
                rankscope::storage::stop(t);
            }
            if let Some(t) = block {
                rankscope::storage::stop(t);
            }
        }
    }

    /// `with` support: enables profiling, and the block itself is a region (named by `key`, or
    /// `function@file:line` of the `with` statement) holding everything called inside, so its
    /// time is recorded even when it calls nothing that is profiled. A `with` inside an active
    /// profile joins it and adds no region.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        let this = slf.get();
        this.start(Some(slf.py()));
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

impl Profiler {
    /// The setup and whether C calls are recorded, from the settings when not given; made
    /// again only after the settings changed.
    fn setup(&self) -> (&'static Setup, bool) {
        // Read before the settings, so a cached setup is never older than its generation.
        let generation = rankscope::settings::generation();
        let mut last = self.last_setup.lock().unwrap_or_else(|e| e.into_inner());
        let setup = match *last {
            Some((made, setup)) if made == generation => setup,
            _ => {
                let settings = rankscope::settings::current();
                let setup = profiler_filter::setup(self.bundle, &self.patterns, &settings);
                *last = Some((generation, setup));
                setup
            }
        };
        let c_calls = self
            .c_calls
            .unwrap_or_else(|| rankscope::settings::current().profile_c_calls);
        (setup, c_calls)
    }

    /// `enable`, with a block region when `block` is given (the `with` form).
    fn start(&self, block: Option<Python<'_>>) {
        let first = STATE.with_borrow_mut(|s| {
            s.depth += 1;
            if s.depth == 1 {
                let (setup, c_calls) = self.setup();
                s.setup = Some(setup);
                s.c_calls = c_calls;
                s.expected = 0;
            }
            s.depth == 1
        });
        if !first {
            return;
        }
        if let Some(py) = block {
            let region = self.key.unwrap_or_else(|| block_region(py, self.bundle));
            let token = region.start();
            STATE.with_borrow_mut(|s| s.block = Some(token));
        }
        ACTIVE.fetch_add(1, Relaxed);
        // SAFETY: the GIL is held (we are in a method); the callback has the signature
        // CPython expects; a null argument object is allowed.
        unsafe { ffi::PyEval_SetProfile(Some(callback), std::ptr::null_mut()) };
    }
}

/// The region of a `with profile(...)` block: `function@file:line` of the statement, the way
/// `marker` names its blocks; made once per statement.
fn block_region(py: Python<'_>, bundle: &'static Bundle) -> rankscope::Region {
    // SAFETY: attached; PyEval_GetFrame returns a borrowed frame (the one running the `with`,
    // since `__enter__` is native and has none) or null; PyFrame_GetCode returns a new reference.
    let frame = unsafe { ffi::PyEval_GetFrame() };
    if frame.is_null() {
        return rankscope::Region::new("profile", bundle);
    }
    let (code, line) = unsafe {
        (
            Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame) as *mut ffi::PyObject),
            ffi::PyFrame_GetLineNumber(frame),
        )
    };
    let key = (
        code.as_ptr() as usize,
        line,
        bundle as *const Bundle as usize,
    );
    if let Some(region) = STATE.with_borrow(|s| s.blocks.get(&key).copied()) {
        return region;
    }
    let name = format!(
        "{}@{}:{line}",
        text_attr(&code, "co_name"),
        base_name(&text_attr(&code, "co_filename"))
    );
    let region = rankscope::Region::new(&name, bundle);
    STATE.with_borrow_mut(|s| {
        s.blocks.insert(key, region);
        s.keep.push(code.unbind());
    });
    region
}

/// A text attribute of `obj`, cleaned (empty if missing).
fn text_attr(obj: &Bound<'_, PyAny>, attr: &str) -> String {
    obj.getattr(attr)
        .map(|v| clean_name(&v))
        .unwrap_or_default()
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The entry of a Python code object: pass rankscope's own code and what the filter leaves
/// out through, measure the rest as `qualname@file:line`.
fn python_entry(code: &Bound<'_, PyAny>, setup: &'static Setup) -> Entry {
    let file = text_attr(code, "co_filename");
    if is_ours_file(code.py(), &file) {
        return None;
    }
    let mut name = text_attr(code, "co_qualname");
    if name.is_empty() {
        name = text_attr(code, "co_name");
    }
    if !setup.filter.records(&name, &file) {
        return None;
    }
    let line: u32 = code
        .getattr("co_firstlineno")
        .and_then(|v| v.extract())
        .unwrap_or(0);
    let name = format!("{name}@{}:{line}", base_name(&file));
    Some(rankscope::Region::new(&name, setup.bundle))
}

fn is_ours_file(py: Python<'_>, file: &str) -> bool {
    let dir = package_dir(py);
    !dir.is_empty() && file.starts_with(dir)
}

fn is_ours_module(name: &str) -> bool {
    name == "rankscope" || name.starts_with("rankscope.")
}

/// The entry of a C function called from `caller` (a code object): passed through when
/// rankscope's code calls it, it is rankscope's own, or the filter leaves it out (matching its
/// name and the caller's file); otherwise named as cProfile names it.
fn c_entry(func: &Bound<'_, PyAny>, caller: &Bound<'_, PyAny>, setup: &'static Setup) -> Entry {
    let py = func.py();
    let file = text_attr(caller, "co_filename");
    if is_ours_file(py, &file) {
        return None;
    }
    let (name, ours) = c_name(func);
    (!ours && setup.filter.records(&name, &file))
        .then(|| rankscope::Region::new(&name, setup.bundle))
}

/// cProfile's name of a builtin function or method (`_lsprof.c`'s `normalizeUserObj`, shown
/// with pstats' braces), and whether it is rankscope's own.
fn c_name(func: &Bound<'_, PyAny>) -> (String, bool) {
    let py = func.py();
    let f = func.as_ptr() as *mut ffi::PyCFunctionObject;
    // SAFETY: the caller checked that `func` is a PyCFunction: these fields are initialised,
    // `m_ml` points at its static method definition with a NUL-terminated name, and `m_self`
    // and `m_module` are null or live objects owned by `func`.
    let (ml_name, slf, module) = unsafe {
        (
            CStr::from_ptr((*(*f).m_ml).ml_name)
                .to_string_lossy()
                .into_owned(),
            Bound::from_borrowed_ptr_or_opt(py, (*f).m_self),
            Bound::from_borrowed_ptr_or_opt(py, (*f).m_module),
        )
    };
    let module_name = module.and_then(|m| {
        if m.is_instance_of::<PyString>() {
            Some(clean_name(&m))
        } else {
            m.cast::<PyModule>()
                .ok()
                .and_then(|m| m.name().ok())
                .map(|n| clean_name(n.as_any()))
        }
    });
    let mut ours = module_name.as_deref().is_some_and(is_ours_module);
    let name = match slf {
        None => match module_name.as_deref() {
            Some(m) if m != "builtins" => format!("<{m}.{ml_name}>"),
            _ => format!("<{ml_name}>"),
        },
        Some(slf) => {
            // Whose method it is: the class defining it on type(self), or on self for class
            // and static methods (self is then the class).
            let ty = slf.get_type().into_any();
            let owner = if slf.is_instance_of::<PyType>() {
                defining_class(&slf, &ml_name)
            } else {
                defining_class(&ty, &ml_name)
            };
            ours |= owner
                .and_then(|c| c.getattr("__module__").ok())
                .is_some_and(|m| is_ours_module(&clean_name(&m)));
            // cProfile's name: the repr of the descriptor on type(self), e.g. <method 'append'
            // of 'list' objects>; module functions (self is the module) fall through.
            let descr = defining_class(&ty, &ml_name)
                .and_then(|c| c.getattr("__dict__").ok())
                .and_then(|d| d.get_item(&ml_name).ok());
            match descr.and_then(|d| d.repr().ok()) {
                Some(repr) => clean_name(repr.as_any()),
                None => match module_name.as_deref() {
                    Some(m) => format!("<built-in method {m}.{ml_name}>"),
                    None => format!("<built-in method {ml_name}>"),
                },
            }
        }
    };
    let name = match name.strip_prefix('<').and_then(|n| n.strip_suffix('>')) {
        Some(inner) => format!("{{{inner}}}"),
        None => name,
    };
    (name, ours)
}

/// The first class of `ty.__mro__` whose own dict has `name` (where `_PyType_Lookup` finds
/// it: no descriptor binding, no metaclass attributes).
fn defining_class<'py>(ty: &Bound<'py, PyAny>, name: &str) -> Option<Bound<'py, PyAny>> {
    let mro = ty.getattr("__mro__").ok()?;
    for cls in mro.try_iter().ok()? {
        let cls = cls.ok()?;
        let has = cls
            .getattr("__dict__")
            .and_then(|d| d.contains(name))
            .unwrap_or(false);
        if has {
            return Some(cls);
        }
    }
    None
}

/// The interpreter's profiling callback.
unsafe extern "C" fn callback(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
) -> c_int {
    // SAFETY (all arms): CPython calls this with the GIL held, a live frame and, for C events,
    // the live C function object as `arg`.
    match what {
        ffi::PyTrace_CALL => unsafe { on_call(frame) },
        ffi::PyTrace_RETURN => on_return(false),
        ffi::PyTrace_C_CALL => unsafe { on_c_call(frame, arg) },
        ffi::PyTrace_C_RETURN | ffi::PyTrace_C_EXCEPTION => on_return(true),
        _ => {}
    }
    0
}

/// What the hot path found.
enum Found {
    /// Handled (an entry was pushed), or not profiling.
    Done,
    /// No entry yet for the key: build it (calls Python, so outside the state's borrow).
    Miss(&'static Setup),
}

/// A Python frame starts (a call, or a generator or coroutine resuming).
///
/// # Safety
/// The GIL is held and `frame` is live.
unsafe fn on_call(frame: *mut ffi::PyFrameObject) {
    // SAFETY: PyFrame_GetCode returns a new (never null) reference, released at the end.
    let code = unsafe { ffi::PyFrame_GetCode(frame) } as *mut ffi::PyObject;
    let found = STATE.with_borrow_mut(|s| {
        let Some(setup) = s.setup else {
            return Found::Done;
        };
        if s.expected != 0 {
            let expected = std::mem::take(&mut s.expected);
            if expected == code as usize {
                s.open.push(None);
                return Found::Done;
            }
        }
        match s.regions.get(&py_key(code, setup)) {
            Some(entry) => {
                let token = entry.map(|r| r.start());
                s.open.push(token);
                Found::Done
            }
            None => Found::Miss(setup),
        }
    });
    // SAFETY: attached (see above); the Bound takes over the new reference.
    let py = unsafe { Python::assume_attached() };
    let code = unsafe { Bound::from_owned_ptr(py, code) };
    if let Found::Miss(setup) = found {
        let entry = python_entry(&code, setup);
        let key = py_key(code.as_ptr(), setup);
        STATE.with_borrow_mut(|s| {
            s.regions.insert(key, entry);
            s.keep.push(code.unbind());
            s.open.push(entry.map(|r| r.start()));
        });
    }
}

fn py_key(code: *mut ffi::PyObject, setup: &'static Setup) -> Key {
    (code as usize, PY_CALL, 0, setup as *const Setup as usize)
}

/// A C function is called from `frame`.
///
/// # Safety
/// The GIL is held, `frame` is live and `func` is a live object.
unsafe fn on_c_call(frame: *mut ffi::PyFrameObject, func: *mut ffi::PyObject) {
    let found = STATE.with_borrow_mut(|s| {
        let Some(setup) = s.setup.filter(|_| s.c_calls) else {
            return CFound::Done;
        };
        // SAFETY: as documented; the PyCFunction fields are read only after the type check.
        let (method_def, self_type) = unsafe {
            if ffi::PyCFunction_Check(func) == 0 {
                // Not a builtin function (never, on CPython 3.11): passed through, balanced.
                s.open.push(None);
                return CFound::Done;
            }
            let f = func as *mut ffi::PyCFunctionObject;
            let slf = (*f).m_self;
            let ty = if slf.is_null() {
                0
            } else {
                ffi::Py_TYPE(slf) as usize
            };
            ((*f).m_ml as usize, ty)
        };
        // SAFETY: a new (never null) reference; the running frame holds another one, so
        // releasing ours never frees the code object (no code can run here).
        let caller = unsafe { ffi::PyFrame_GetCode(frame) } as *mut ffi::PyObject;
        let key = (
            method_def,
            self_type,
            caller as usize,
            setup as *const Setup as usize,
        );
        match s.regions.get(&key) {
            Some(entry) => {
                let token = entry.map(|r| r.start());
                s.open.push(token);
                // SAFETY: releases the reference taken above.
                unsafe { ffi::Py_DECREF(caller) };
                CFound::Done
            }
            None => CFound::Miss { setup, key, caller },
        }
    });
    let CFound::Miss { setup, key, caller } = found else {
        return;
    };
    // SAFETY: attached; the Bound takes over the new reference to the calling code; `func` is
    // live for the call, and a nonzero self type is the type of its live `m_self`.
    let py = unsafe { Python::assume_attached() };
    let caller = unsafe { Bound::from_owned_ptr(py, caller) };
    let func = unsafe { Bound::from_borrowed_ptr(py, func) };
    let self_type =
        (key.1 != 0).then(|| unsafe { Bound::from_borrowed_ptr(py, key.1 as *mut ffi::PyObject) });
    let entry = c_entry(&func, &caller, setup);
    STATE.with_borrow_mut(|s| {
        s.regions.insert(key, entry);
        // Keep what the key's addresses point at: the calling code, and self's type (the
        // method definition is static, or owned by that type).
        s.keep.push(caller.unbind());
        if let Some(ty) = self_type {
            s.keep.push(ty.unbind());
        }
        s.open.push(entry.map(|r| r.start()));
    });
}

/// What the C-call hot path found.
enum CFound {
    /// Handled (an entry was pushed), or C calls are not recorded.
    Done,
    /// No entry yet for `key`: build it outside the state's borrow (it calls Python), with the
    /// reference to the calling code taken for it.
    Miss {
        setup: &'static Setup,
        key: Key,
        caller: *mut ffi::PyObject,
    },
}

/// A Python frame or a C call ends (returns, raises, or a generator yields).
fn on_return(c_call: bool) {
    let token = STATE.with_borrow_mut(|s| {
        if c_call && !s.c_calls {
            return None;
        }
        // Empty for the returns of calls begun before profiling (enable's own C return).
        s.open.pop().flatten()
    });
    if let Some(t) = token {
        rankscope::storage::stop(t);
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Profiler>()?;
    crate::profiler_report::register(m)
}
