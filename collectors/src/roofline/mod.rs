//! Roofline points per region: how many floating-point operations a region did and how many
//! bytes it moved, so that its arithmetic intensity (FLOP per byte) and its GFLOP/s can be
//! placed under the machine's ceilings.
//!
//! Two sources, never mixed, each marked in its metric names:
//!
//! - `modelled`: counts the application supplies (`add_flops`, `add_bytes`), metrics
//!   `flops.modelled` and `bytes.modelled`; works everywhere;
//! - `measured`: the CPU's own counters through perf_event, with the event table chosen by CPU
//!   detection (`vendor`), metrics `flops.measured` and `bytes.measured`; needs a PMU.

mod measured;
mod modelled;
mod vendor;

pub(crate) use measured::MEASURED;
pub(crate) use modelled::MODELLED;
pub use modelled::{add_bytes, add_flops};
