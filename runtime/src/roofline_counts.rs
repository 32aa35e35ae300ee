//! Roofline counts the application supplies: `rankscope::add_flops(n)` and
//! `rankscope::add_bytes(n)` add to the region running on this thread, through the
//! `roofline_modelled` component (metrics `flops.modelled`, `bytes.modelled`).
//!
//! A count supplied while no open region on the thread carries `roofline_modelled` belongs to
//! no region: it is recorded nowhere, and the first time that happens in the process a warning
//! on stderr says so and how to fix it (unless rankscope is disabled, when nothing is recorded
//! anyway).

use crate::collectors::roofline;
use std::sync::Once;

/// Adds `n` floating-point operations (an FMA is 2) to the regions open on this thread that
/// carry the `roofline_modelled` component: the region's `flops.modelled`. Costs a few ns.
#[inline]
pub fn add_flops(n: u64) {
    if !roofline::add_flops(n) {
        not_recorded();
    }
}

/// Adds `n` bytes moved to the regions open on this thread that carry the `roofline_modelled`
/// component: the region's `bytes.modelled`.
#[inline]
pub fn add_bytes(n: u64) {
    if !roofline::add_bytes(n) {
        not_recorded();
    }
}

/// A count no region carries: warns once per process.
#[cold]
#[inline(never)]
fn not_recorded() {
    static WARNED: Once = Once::new();
    if WARNED.is_completed() || !crate::settings::current().enabled {
        return;
    }
    WARNED.call_once(|| {
        let open = crate::storage::open_regions();
        let open = if open.is_empty() {
            "no region is open".to_string()
        } else {
            format!("open: {}", open.join(" > "))
        };
        crate::log::warning!(
            "roofline counts (rankscope::add_flops/add_bytes, Python rankscope.roofline.count) \
             supplied on a thread where no running region carries the component \
             'roofline_modelled' ({open}): they belong to no region and are not recorded; add \
             'roofline_modelled' to the region's components (Python marker([\"wall_clock\", \
             \"roofline_modelled\"]), Rust region!(\"name\", [\"wall_clock\", \
             \"roofline_modelled\"]), or RANKSCOPE_COMPONENTS=wall_clock,roofline_modelled). \
             Shown once per process."
        );
    });
}
