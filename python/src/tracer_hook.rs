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
//! ([`tracer_code`]); a line or a return, one comparison with the innermost traced frame.

use crate::tracer_code::{self, Decision, Traced};
use pyo3::ffi;
use pyo3::prelude::*;
use rankscope::bundle::Bundle;
use rankscope::storage::Token;
use std::cell::RefCell;
use std::os::raw::c_int;
use std::sync::Mutex;

/// A frame being traced.
struct Open {
    /// The frame's address (events name their frame).
    frame: usize,
    traced: &'static Traced,
    func: Token,
    /// The line running now, if one has started.
    line: Option<Token>,
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

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
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
pub(crate) fn enable() {
    let first = STATE.with_borrow_mut(|s| {
        s.depth += 1;
        s.depth == 1
    });
    if first {
        // SAFETY: callers hold the GIL (Python methods); the callback has the signature
        // CPython expects; a null argument object is allowed.
        unsafe { ffi::PyEval_SetTrace(Some(callback), std::ptr::null_mut()) };
    }
}

/// Ends the matching [`enable`]; the outermost one stops tracing this thread and closes the
/// frames still open (their time so far is recorded).
pub(crate) fn disable() {
    let last = STATE.with_borrow_mut(|s| match s.depth {
        0 => false,
        d => {
            s.depth = d - 1;
            s.depth == 0
        }
    });
    if last {
        // SAFETY: as in `enable`.
        unsafe { ffi::PyEval_SetTrace(None, std::ptr::null_mut()) };
        let open = STATE.with_borrow_mut(|s| std::mem::take(&mut s.open));
        for o in open.into_iter().rev() {
            close(o);
        }
    }
}

/// Whether this thread is being traced.
pub(crate) fn active() -> bool {
    STATE.with_borrow(|s| s.depth > 0)
}

/// Starts a `with trace()` block run by `frame` (which started before tracing did): enables
/// tracing and traces `frame` from now on under `traced`, unless it is traced already (the
/// block then joins it).
pub(crate) fn enter_block(frame: *mut ffi::PyFrameObject, traced: &'static Traced) {
    enable();
    STATE.with_borrow_mut(|s| {
        let new = !s.open.iter().any(|o| o.frame == frame as usize);
        if new {
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
pub(crate) fn exit_block() {
    let closed = STATE.with_borrow_mut(|s| {
        let frame = s.blocks.pop().flatten()?;
        let at = s.open.iter().rposition(|o| o.frame == frame)?;
        Some(s.open.split_off(at))
    });
    for o in closed.into_iter().flatten().rev() {
        close(o);
    }
    disable();
}

fn close(o: Open) {
    if let Some(line) = o.line {
        rankscope::storage::stop(line);
    }
    rankscope::storage::stop(o.func);
}

/// The interpreter's trace callback.
unsafe extern "C" fn callback(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    // SAFETY (all arms): CPython calls this with the GIL held and a live frame.
    match what {
        ffi::PyTrace_LINE => unsafe { on_line(frame) },
        ffi::PyTrace_CALL => unsafe { on_call(frame) },
        ffi::PyTrace_RETURN => on_return(frame),
        _ => {}
    }
    0
}

/// A frame starts (a call, or a generator or coroutine resuming): traced when its code is.
///
/// # Safety
/// The GIL is held and `frame` is live.
unsafe fn on_call(frame: *mut ffi::PyFrameObject) {
    // SAFETY: PyFrame_GetCode returns a new (never null) reference; the frame holds another,
    // so releasing ours right away never frees the code object.
    let code = unsafe { ffi::PyFrame_GetCode(frame) } as *mut ffi::PyObject;
    unsafe { ffi::Py_DECREF(code) };
    // SAFETY: as documented.
    let traced = match unsafe { tracer_code::decision(code) } {
        Decision::Traced(t) => t,
        Decision::Untraced => return,
        // SAFETY: as documented.
        Decision::Unknown => match unsafe { decide(code) } {
            Some(t) => t,
            None => return,
        },
    };
    STATE.with_borrow_mut(|s| {
        s.open.push(Open {
            frame: frame as usize,
            traced,
            func: traced.func.start(),
            line: None,
        })
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

/// A new line of a frame starts: for the innermost traced frame, its line region changes.
///
/// # Safety
/// The GIL is held and `frame` is live.
unsafe fn on_line(frame: *mut ffi::PyFrameObject) {
    STATE.with_borrow_mut(|s| {
        let Some(top) = s.open.last_mut().filter(|o| o.frame == frame as usize) else {
            return;
        };
        // SAFETY: as documented.
        let number = unsafe { ffi::PyFrame_GetLineNumber(frame) };
        if let Some(previous) = top.line.take() {
            rankscope::storage::stop(previous);
        }
        top.line = top.traced.line(number).map(|r| r.start());
    });
}

/// A frame ends (returns, raises, or a generator yields): the innermost traced frame closes.
fn on_return(frame: *mut ffi::PyFrameObject) {
    let ended = STATE.with_borrow_mut(|s| {
        s.open
            .last()
            .is_some_and(|o| o.frame == frame as usize)
            .then(|| s.open.pop())
            .flatten()
    });
    if let Some(o) = ended {
        close(o);
    }
}
