//! The cap on timeline entries (setting `timeline_max_events`): in timeline mode every region
//! instance is a node of its own, so a long run would grow without bound. Past the cap, new
//! instances are aggregated per call path as without timeline mode, and the profile says so.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Timeline entries this process has made so far, every thread included.
static ENTRIES: AtomicU64 = AtomicU64::new(0);
/// Set by the first instance refused, so that the note is made once.
static REACHED: AtomicBool = AtomicBool::new(false);

/// Whether one more region instance may become a timeline entry under a cap of `max` per
/// process. `Refused { first: true }` comes once, for the first instance over the cap.
#[inline]
pub(super) fn admit(max: u32) -> Admission {
    if ENTRIES.fetch_add(1, Relaxed) < u64::from(max) {
        Admission::Entry
    } else {
        Admission::Refused {
            first: !REACHED.swap(true, Relaxed),
        }
    }
}

/// See [`admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// A timeline entry of its own.
    Entry,
    /// Aggregated with the other instances of its call path.
    Refused {
        /// The first refusal of the process: time to say so.
        first: bool,
    },
}

/// The note in the profile's diagnostics (and on stderr) when the cap is reached.
pub(super) fn note(max: u32) -> String {
    format!(
        "timeline: {max} region instances recorded (setting timeline_max_events); later \
         instances are aggregated per call path and are not in trace.json"
    )
}
