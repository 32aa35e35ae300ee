#![deny(missing_docs)]
//! `rankscope._native`: the Rust runtime seen from Python.
//!
//! Each module binds one part of the runtime; the pure-Python package `rankscope` builds the
//! user API (settings attributes, `marker`, `profile`, component and storage classes) on top.

use pyo3::prelude::*;

mod component;
mod external;
mod memory;
mod profiler;
mod profiler_filter;
mod profiler_report;
mod region;
mod roofline;
mod roofline_ceilings;
mod runtime;
mod settings;
mod storage;
mod tracer;
mod tracer_code;
mod tracer_frame_flags;
mod tracer_hook;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    settings::register(m)?;
    region::register(m)?;
    profiler::register(m)?;
    component::register(m)?;
    storage::register(m)?;
    runtime::register(m)?;
    external::register(m)?;
    roofline::register(m)?;
    roofline_ceilings::register(m)?;
    memory::register(m)?;
    tracer::register(m)?;
    Ok(())
}
