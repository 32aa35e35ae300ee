//! Roofline counts supplied from Python (`rankscope.roofline.count`): FLOPs and bytes added to
//! the regions running on the calling thread that carry `roofline_modelled`.

use pyo3::prelude::*;

/// Adds `flops` floating-point operations and `bytes` bytes moved to the regions open on this
/// thread that carry `roofline_modelled` (`rankscope::add_flops`, `add_bytes`). Zero adds
/// nothing.
#[pyfunction]
fn roofline_count(flops: u64, bytes: u64) {
    if flops > 0 {
        rankscope::add_flops(flops);
    }
    if bytes > 0 {
        rankscope::add_bytes(bytes);
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(roofline_count, m)?)
}
