//! Where measurements go: per-thread call trees, and the [`Profile`](crate::profile::Profile)
//! of the whole process built from them.
//!
//! Each thread owns a tree (an arena of nodes with interned names); starting and stopping a
//! region touches only that thread's state and never allocates once the node exists. Readers
//! (`get`) copy every thread's tree, live or ended, without stopping the owners.

mod cell;
mod config;
mod local;
mod names;
mod records;
mod snapshot;
mod stack;
mod store;
mod timeline;
mod tree;

pub use local::{enter, leave, open_regions, record_at, start, stop, stop_named};
pub use names::{intern, resolve as name_of, NameId};
pub use snapshot::profile;
pub use stack::Token;

/// The regions open on every thread now (thread index, names outermost first, how many are
/// open), readable from any thread: what a snapshot asked by a signal marks as open.
pub fn open_everywhere() -> Vec<(u32, Vec<String>, usize)> {
    store::ThreadStore::open_everywhere()
}
