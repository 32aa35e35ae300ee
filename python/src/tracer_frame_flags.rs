//! Turning off the line events of a frame the tracer does not trace: the interpreter then
//! skips its trace hook for that frame's lines (what `frame.f_trace_lines = False` does),
//! instead of calling it for each line only to have it ignored. A call into an untraced
//! function costs its call and return events alone.
//!
//! The flag is a byte of the frame object whose place the C API does not give. It is found
//! once, by toggling `f_trace_lines` on a live frame from Python and seeing which byte follows;
//! on a layout where no single byte does, nothing is written and untraced lines keep costing
//! their (ignored) events.

use pyo3::ffi;
use pyo3::prelude::*;
use std::sync::OnceLock;

/// The byte offset of `f_trace_lines` in a frame object, once learnt (None: not found).
static OFFSET: OnceLock<Option<usize>> = OnceLock::new();

/// Learns where the flag is (the first call does; cheap afterwards).
pub(crate) fn learn(py: Python<'_>) {
    OFFSET.get_or_init(|| find(py).ok().flatten());
}

fn find(py: Python<'_>) -> PyResult<Option<usize>> {
    let frame = py.import("sys")?.call_method1("_getframe", (0,))?;
    // SAFETY: a live object; its type's basic size bounds the bytes read below.
    let size = unsafe { (*ffi::Py_TYPE(frame.as_ptr())).tp_basicsize } as usize;
    let bytes = |frame: &Bound<'_, PyAny>| -> Vec<u8> {
        let base = frame.as_ptr() as *const u8;
        // SAFETY: within the object's basic size, read while attached (no one writes it).
        (0..size).map(|i| unsafe { *base.add(i) }).collect()
    };
    let mut seen = Vec::new();
    for lines in [true, false, true, false] {
        frame.setattr("f_trace_lines", lines)?;
        seen.push(bytes(&frame));
    }
    frame.setattr("f_trace_lines", true)?;
    // The byte that is 1 with the flag on and 0 with it off, every time, and only one.
    let follows: Vec<usize> = (0..size)
        .filter(|&i| seen.iter().zip([1, 0, 1, 0]).all(|(b, want)| b[i] == want))
        .collect();
    Ok(match follows[..] {
        [offset] => Some(offset),
        _ => None,
    })
}

/// No more line events for `frame`.
///
/// # Safety
/// The GIL is held and `frame` is a live frame object.
#[inline]
pub(crate) unsafe fn no_line_events(frame: *mut ffi::PyFrameObject) {
    // SAFETY: as documented.
    unsafe { set(frame, 0) };
}

/// Line events for `frame` again (a `with trace()` block in a frame that was not traced).
///
/// # Safety
/// As for [`no_line_events`].
pub(crate) unsafe fn line_events(frame: *mut ffi::PyFrameObject) {
    // SAFETY: as documented.
    unsafe { set(frame, 1) };
}

/// # Safety
/// As for [`no_line_events`].
#[inline]
unsafe fn set(frame: *mut ffi::PyFrameObject, value: u8) {
    if let Some(Some(offset)) = OFFSET.get() {
        // SAFETY: as documented; the offset is the flag's byte, found in `learn`.
        unsafe { *(frame as *mut u8).add(*offset) = value };
    }
}
