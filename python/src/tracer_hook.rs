//! The line tracer's hot path: the interpreter's C trace hook (`PyEval_SetTrace`, what
//! line_profiler uses on Python 3.11) and each thread's stack of traced frames.
//!
//! A traced frame is a region (its function's) and, while one of its lines runs, that line's
//! region inside it: a line event stops the previous line's region and starts the new one, the
//! return event stops both. A line's time therefore runs from its line event to the next line
//! or return event of the same frame (calls it makes included), and any other component of the
//! bundle (`page_rss`, `peak_rss`) gives its increment over the line the same way. Lines are
//! nodes of the ordinary call tree, under the function's node.
//!
//! Events of untraced frames cost: a call, one read of the code object's cached decision
//! ([`tracer_code`]) and turning the frame's line events off (`tracer_frame_flags`); a
//! return, one comparison with the innermost traced frame.
//!
//! The thread's state reaches the callback as the hook's argument object (a capsule), not
//! through a thread-local: in a shared library each thread-local access is a call
//! (`__tls_get_addr`), a cost paid on every event. When the wall clock is the only component,
//! the tracer times the lines itself with one clock read per line event (the end of a line is
//! the start of the next) and hands the time to the line's node (`storage::enter`/`leave`);
//! other bundles sample at each line's start and stop as regions do.

use crate::tracer_code::{self, Decision, Traced};
use crate::tracer_frame_flags as frame_flags;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use rankscope::bundle::Bundle;
use rankscope::collectors::now_ns;
use rankscope::storage::{self, Token};
use std::cell::RefCell;
use std::os::raw::c_int;
use std::sync::Mutex;

/// A frame being traced.
struct Open {
    /// The frame's address (events name their frame).
    frame: usize,
    traced: &'static Traced,
    func: Token,
    /// The line running now, if one has started, and when it started (clock-only bundles).
    line: Option<(Token, i64)>,
}

/// This thread's tracing state.
#[derive(Default)]
struct State {
    /// How many `enable` calls are not yet matched by `disable`.
    depth: usize,
    /// Traced frames, innermost last.
    open: Vec<Open>,
    /// Per `with trace()` block running, innermost last: the frame it started tracing, or
    /// None when that frame was traced already.
    blocks: Vec<Option<usize>>,
}

type Shared = RefCell<State>;

thread_local! {
    /// This thread's state, in the capsule handed to the hook as its argument.
    static CAPSULE: RefCell<Option<Py<PyCapsule>>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's state (made at first use).
fn with_state<R>(py: Python<'_>, f: impl FnOnce(&mut State) -> R) -> R {
    let capsule = capsule(py);
    // SAFETY: the capsule is ours, alive while we hold it.
    let shared = unsafe { state_of(capsule.as_ptr()) };
    let r = f(&mut shared.borrow_mut());
    r
}

/// This thread's capsule: a nameless one (reading its pointer then compares no name), made
/// here rather than by pyo3, whose capsules are named.
fn capsule(py: Python<'_>) -> Bound<'_, PyCapsule> {
    /// Frees the state when the capsule goes.
    unsafe extern "C" fn free(capsule: *mut ffi::PyObject) {
        // SAFETY: called once by CPython with our capsule, whose pointer is the Box below.
        drop(unsafe {
            Box::from_raw(ffi::PyCapsule_GetPointer(capsule, std::ptr::null()) as *mut Shared)
        });
    }
    CAPSULE.with_borrow_mut(|c| {
        c.get_or_insert_with(|| {
            let state = Box::into_raw(Box::<Shared>::default());
            // SAFETY: attached; a non-null pointer, no name, a destructor that frees it. A
            // capsule this small is made or the process is out of memory.
            unsafe {
                Bound::from_owned_ptr(
                    py,
                    ffi::PyCapsule_New(state.cast(), std::ptr::null(), Some(free)),
                )
                .cast_into_unchecked::<PyCapsule>()
                .unbind()
            }
        })
        .bind(py)
        .clone()
    })
}

/// The state behind the hook's argument.
///
/// # Safety
/// `obj` is a capsule made by [`capsule`] (the only argument the hook is installed with),
/// and outlives the reference.
#[inline]
unsafe fn state_of<'a>(obj: *mut ffi::PyObject) -> &'a Shared {
    // SAFETY: as documented; the capsule's pointer is its boxed state.
    unsafe { &*(ffi::PyCapsule_GetPointer(obj, std::ptr::null()) as *const Shared) }
}

/// What decides, for code objects nobody decorated, whether their calls are traced: a Python
/// callable taking the code object, and the bundle of the functions it chooses. One per
/// process (the command line's `--function`, `--file`, `--all`).
static SELECTOR: Mutex<Option<(Py<PyAny>, &'static Bundle)>> = Mutex::new(None);

/// Sets (or clears) the selector; decisions cached under the previous one are made again.
pub(crate) fn set_selector(selector: Option<(Py<PyAny>, &'static Bundle)>) {
    *SELECTOR.lock().unwrap_or_else(|e| e.into_inner()) = selector;
    tracer_code::forget_untraced();
}

/// Starts tracing this thread, or nests inside the tracing already on.
pub(crate) fn enable(py: Python<'_>) {
    let first = with_state(py, |s| {
        s.depth += 1;
        s.depth == 1
    });
    if first {
        frame_flags::learn(py);
        // SAFETY: attached; the callback has the signature CPython expects, and its argument
        // (kept alive by the interpreter while installed) is this thread's capsule.
        unsafe { ffi::PyEval_SetTrace(Some(callback), capsule(py).as_ptr()) };
    }
}

/// Ends the matching [`enable`]; the outermost one stops tracing this thread and closes the
/// frames still open (their time so far is recorded).
pub(crate) fn disable(py: Python<'_>) {
    let last = with_state(py, |s| match s.depth {
        0 => false,
        d => {
            s.depth = d - 1;
            s.depth == 0
        }
    });
    if last {
        // SAFETY: as in `enable`.
        unsafe { ffi::PyEval_SetTrace(None, std::ptr::null_mut()) };
        let open = with_state(py, |s| std::mem::take(&mut s.open));
        for o in open.into_iter().rev() {
            close(o);
        }
    }
}

/// Whether this thread is being traced.
pub(crate) fn active(py: Python<'_>) -> bool {
    with_state(py, |s| s.depth > 0)
}

/// Starts a `with trace()` block run by `frame` (which started before tracing did): enables
/// tracing and traces `frame` from now on under `traced`, unless it is traced already (the
/// block then joins it).
pub(crate) fn enter_block(py: Python<'_>, frame: *mut ffi::PyFrameObject, traced: &'static Traced) {
    enable(py);
    with_state(py, |s| {
        let new = !s.open.iter().any(|o| o.frame == frame as usize);
        if new {
            // SAFETY: attached; the frame runs the `with` statement. Its line events were
            // turned off if it started untraced while tracing was on.
            unsafe { frame_flags::line_events(frame) };
            s.open.push(Open {
                frame: frame as usize,
                traced,
                func: traced.func.start(),
                line: None,
            });
        }
        s.blocks.push(new.then_some(frame as usize));
    });
}

/// Ends the innermost `with trace()` block: stops tracing its frame (with the frames still
/// open inside it) if the block started it, then the matching [`disable`].
pub(crate) fn exit_block(py: Python<'_>) {
    let closed = with_state(py, |s| {
        let frame = s.blocks.pop().flatten()?;
        let at = s.open.iter().rposition(|o| o.frame == frame)?;
        Some(s.open.split_off(at))
    });
    for o in closed.into_iter().flatten().rev() {
        close(o);
    }
    disable(py);
}

fn close(o: Open) {
    end_line(&o, now_ns());
    storage::stop(o.func);
}

/// Ends the line `o` is running, if any, at `now` (clock-only bundles).
#[inline]
fn end_line(o: &Open, now: i64) {
    if let Some((token, start)) = o.line {
        if o.traced.clock_only {
            storage::leave(token, &[now - start]);
        } else {
            storage::stop(token);
        }
    }
}

/// The interpreter's trace callback.
unsafe extern "C" fn callback(
    obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    // SAFETY (all arms): CPython calls this with the GIL held, a live frame, and the argument
    // the hook was installed with (this thread's capsule).
    match what {
        ffi::PyTrace_LINE => unsafe { on_line(state_of(obj), frame) },
        ffi::PyTrace_CALL => unsafe { on_call(obj, frame) },
        ffi::PyTrace_RETURN => on_return(unsafe { state_of(obj) }, frame),
        _ => {}
    }
    0
}

/// A frame starts (a call, or a generator or coroutine resuming): traced when its code is.
///
/// # Safety
/// The GIL is held, `frame` is live and `obj` is the hook's argument (see [`state_of`]).
unsafe fn on_call(obj: *mut ffi::PyObject, frame: *mut ffi::PyFrameObject) {
    // SAFETY: PyFrame_GetCode returns a new (never null) reference; the frame holds another,
    // so releasing ours right away never frees the code object.
    let code = unsafe { ffi::PyFrame_GetCode(frame) } as *mut ffi::PyObject;
    unsafe { ffi::Py_DECREF(code) };
    // SAFETY: as documented.
    let traced = match unsafe { tracer_code::decision(code) } {
        Decision::Traced(t) => t,
        // SAFETY (both): as documented.
        Decision::Untraced => return unsafe { frame_flags::no_line_events(frame) },
        Decision::Unknown => match unsafe { decide(code) } {
            Some(t) => t,
            None => return unsafe { frame_flags::no_line_events(frame) },
        },
    };
    // SAFETY: as documented for the callback; read only for a traced frame.
    unsafe { state_of(obj) }.borrow_mut().open.push(Open {
        frame: frame as usize,
        traced,
        func: traced.func.start(),
        line: None,
    });
}

/// Asks the selector about a code object seen for the first time (or since the selector
/// changed), and caches the answer on it.
///
/// # Safety
/// The GIL is held and `code` is a live code object.
#[cold]
unsafe fn decide(code: *mut ffi::PyObject) -> Option<&'static Traced> {
    // SAFETY: as documented.
    let py = unsafe { Python::assume_attached() };
    let code = unsafe { Bound::from_borrowed_ptr(py, code) };
    let selector = SELECTOR
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(f, b)| (f.clone_ref(py), *b));
    let chosen = selector.and_then(|(select, bundle)| {
        // A selector that raises chooses nothing; its error is shown once per code object.
        match select.bind(py).call1((&code,)).and_then(|r| r.is_truthy()) {
            Ok(yes) => yes.then_some(bundle),
            Err(e) => {
                e.print(py);
                None
            }
        }
    });
    match chosen {
        Some(bundle) => {
            let traced = tracer_code::entry(&code, bundle);
            tracer_code::mark_traced(&code, traced);
            Some(traced)
        }
        None => {
            tracer_code::mark_untraced(&code);
            None
        }
    }
}

/// A new line of a frame starts: for the innermost traced frame, its line node changes.
///
/// # Safety
/// The GIL is held and `frame` is live.
#[inline]
unsafe fn on_line(state: &Shared, frame: *mut ffi::PyFrameObject) {
    let mut s = state.borrow_mut();
    let Some(top) = s.open.last_mut().filter(|o| o.frame == frame as usize) else {
        return;
    };
    // SAFETY: as documented.
    let number = unsafe { ffi::PyFrame_GetLineNumber(frame) };
    let traced = top.traced;
    if traced.clock_only {
        let now = now_ns();
        end_line(top, now);
        top.line = traced
            .line(number)
            .map(|name| (storage::enter(name, traced.bundle), now));
    } else {
        end_line(top, 0);
        top.line = traced
            .line(number)
            .map(|name| (storage::start(name, traced.bundle), 0));
    }
}

/// A frame ends (returns, raises, or a generator yields): the innermost traced frame closes.
fn on_return(state: &Shared, frame: *mut ffi::PyFrameObject) {
    let ended = {
        let mut s = state.borrow_mut();
        match s.open.last() {
            Some(o) if o.frame == frame as usize => s.open.pop(),
            _ => None,
        }
    };
    if let Some(o) = ended {
        close(o);
    }
}
