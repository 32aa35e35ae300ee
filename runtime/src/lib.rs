#![deny(missing_docs)]
//! rankscope runtime: settings, the component registry, bundles of collectors, per-thread
//! call-tree storage, and the writers of its outputs.
//!
//! Measurement itself lives in `rankscope-collectors`; this crate decides where measurements go.

pub mod output;
pub mod profile;
pub mod settings;
pub mod suggest;

pub use rankscope_collectors as collectors;
