//! The traced code objects of the line tracer: per code object, the region of the function and
//! the node name of each source line, and the decision whether its calls are traced, cached on
//! the code object itself (its `co_extra` slot), so an untraced call costs one slot read.
//!
//! Node names let readers recover what a node is: the function is `qualname@path:first_line`
//! (the full path as the code object has it, so a report can read the whole source) and each
//! line under it is `line N: source text` (stripped; `line N` when the source is unknown).

use crate::region::clean_name;
use pyo3::ffi;
use pyo3::prelude::*;
use rankscope::bundle::Bundle;
use rankscope::storage::NameId;
use std::collections::HashMap;
use std::os::raw::c_void;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

/// What the tracer records for one code object. Made once per code object and never freed:
/// their number is bounded by the program's functions.
pub(crate) struct Traced {
    /// The function's region: one lap per call (or per `with trace()` block).
    pub(crate) func: rankscope::Region,
    /// What measures the lines.
    pub(crate) bundle: &'static Bundle,
    /// The bundle is the wall clock alone: the tracer times lines itself, one clock read per
    /// line event (see `tracer_hook`).
    pub(crate) clock_only: bool,
    /// The line number of `lines[0]`.
    first: i32,
    /// The node name of each line from `first` to the last line of the code.
    lines: Vec<NameId>,
    /// Keeps the code object alive: its address identifies this entry.
    _code: Py<PyAny>,
}

impl Traced {
    /// The node name of source line `line`, if the code spans it.
    #[inline]
    pub(crate) fn line(&self, line: i32) -> Option<NameId> {
        usize::try_from(line - self.first)
            .ok()
            .and_then(|i| self.lines.get(i).copied())
    }
}

/// Every code object made traceable (by a decorator, a `with` block or a selector), by address.
static ENTRIES: Mutex<Option<HashMap<usize, &'static Traced>>> = Mutex::new(None);

/// Bumped when the selector changes: a cached "not traced" decision made under an older
/// selector is made again.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The `co_extra` index this module owns, asked for once.
fn extra_index() -> ffi::Py_ssize_t {
    static INDEX: OnceLock<ffi::Py_ssize_t> = OnceLock::new();
    /// The slot holds a leaked entry or a tagged generation: nothing to free.
    unsafe extern "C" fn keep(_: *mut c_void) {}
    // SAFETY: called with the GIL held (every caller is a Python call or the trace hook).
    *INDEX.get_or_init(|| unsafe { ffi::PyUnstable_Eval_RequestCodeExtraIndex(keep) })
}

/// What the code object's slot says about its calls.
pub(crate) enum Decision {
    /// Traced: every call records under this entry.
    Traced(&'static Traced),
    /// Not traced (decided under the current selector).
    Untraced,
    /// Not decided yet, or decided under another selector.
    Unknown,
}

/// Reads the decision cached on `code`.
///
/// # Safety
/// The GIL is held and `code` is a live code object.
#[inline]
pub(crate) unsafe fn decision(code: *mut ffi::PyObject) -> Decision {
    let mut slot: *mut c_void = std::ptr::null_mut();
    // SAFETY: as documented; the index was requested for code extras.
    if unsafe { ffi::PyUnstable_Code_GetExtra(code, extra_index(), &mut slot) } != 0 {
        // SAFETY: GIL held; the error (none is expected for a code object) is not ours to raise.
        unsafe { ffi::PyErr_Clear() };
        return Decision::Unknown;
    }
    let word = slot as usize;
    if word == 0 {
        Decision::Unknown
    } else if word & 1 == 0 {
        // SAFETY: an even nonzero word is a leaked `Traced` (see `mark_traced`).
        Decision::Traced(unsafe { &*(slot as *const Traced) })
    } else if word == untraced_word() {
        Decision::Untraced
    } else {
        Decision::Unknown
    }
}

fn set_slot(code: &Bound<'_, PyAny>, word: usize) {
    // SAFETY: GIL held (a Bound exists); `code` is a code object (callers check).
    if unsafe { ffi::PyUnstable_Code_SetExtra(code.as_ptr(), extra_index(), word as *mut c_void) }
        != 0
    {
        // SAFETY: GIL held. Without the slot the decision is made again at the next call.
        unsafe { ffi::PyErr_Clear() };
    }
}

/// From now on every call of `code` is traced (under `entry`).
pub(crate) fn mark_traced(code: &Bound<'_, PyAny>, entry: &'static Traced) {
    set_slot(code, entry as *const Traced as usize);
}

/// Calls of `code` are not traced under the current selector.
pub(crate) fn mark_untraced(code: &Bound<'_, PyAny>) {
    set_slot(code, untraced_word());
}

/// The slot's word for "not traced" under the current selector: odd, so never an entry's
/// address.
#[inline]
fn untraced_word() -> usize {
    ((GENERATION.load(Relaxed) as usize) << 1) | 1
}

/// A new selector: decisions cached as "not traced" are made again.
pub(crate) fn forget_untraced() {
    GENERATION.fetch_add(1, Relaxed);
}

/// The entry of `code` (made on first use, measured by `bundle`; an entry made before keeps
/// its bundle). Does not change whether its calls are traced.
pub(crate) fn entry(code: &Bound<'_, PyAny>, bundle: &'static Bundle) -> &'static Traced {
    let key = code.as_ptr() as usize;
    if let Some(found) = lock_entries().get_or_insert_with(HashMap::new).get(&key) {
        return found;
    }
    // Built outside the lock: it calls Python (linecache), which may switch threads.
    let made: &'static Traced = Box::leak(Box::new(build(code, bundle)));
    let mut entries = lock_entries();
    let kept: &'static Traced = entries
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert(made);
    kept
}

fn lock_entries() -> std::sync::MutexGuard<'static, Option<HashMap<usize, &'static Traced>>> {
    ENTRIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The regions of a code object: the function's and one per line it spans.
fn build(code: &Bound<'_, PyAny>, bundle: &'static Bundle) -> Traced {
    let text = |attr: &str| {
        code.getattr(attr)
            .map(|v| clean_name(&v))
            .unwrap_or_default()
    };
    let number = |attr: &str| code.getattr(attr).and_then(|v| v.extract()).unwrap_or(0);
    let path = text("co_filename");
    let mut qualname = text("co_qualname");
    if qualname.is_empty() {
        qualname = text("co_name");
    }
    let first: i32 = number("co_firstlineno");
    let last = last_line(code).max(first);
    let source = source_lines(code.py(), &path, first, last);
    let lines = (first..=last)
        .zip(source)
        .map(|(n, text)| {
            let name = if text.is_empty() {
                format!("line {n}")
            } else {
                format!("line {n}: {text}")
            };
            rankscope::storage::intern(&name)
        })
        .collect();
    let clock_only = matches!(bundle.collectors(), [c] if c.name() == "wall_clock");
    Traced {
        func: rankscope::Region::new(&format!("{qualname}@{path}:{first}"), bundle),
        bundle,
        clock_only,
        first,
        lines,
        _code: code.clone().unbind(),
    }
}

/// The last source line the code's instructions belong to (`co_lines()`).
fn last_line(code: &Bound<'_, PyAny>) -> i32 {
    let Ok(spans) = code.call_method0("co_lines").and_then(|l| l.try_iter()) else {
        return 0;
    };
    spans
        .filter_map(|span| span.ok()?.get_item(2).ok()?.extract::<Option<i32>>().ok()?)
        .max()
        .unwrap_or(0)
}

/// Lines `first..=last` of `path`, stripped (empty strings where unknown), through linecache
/// (which also knows the source of code run from a string by IPython and the like).
fn source_lines(py: Python<'_>, path: &str, first: i32, last: i32) -> Vec<String> {
    let getline = py
        .import("linecache")
        .and_then(|m| m.getattr("getline"))
        .ok();
    (first..=last)
        .map(|n| {
            getline
                .as_ref()
                .and_then(|g| g.call1((path, n)).ok())
                .map(|l| clean_name(&l).trim().to_string())
                .unwrap_or_default()
        })
        .collect()
}
