//! The few settings the hot path reads, cached per thread and refreshed when settings change.

/// What storage needs to know about the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Record anything at all.
    pub enabled: bool,
    /// Every region a child of the root.
    pub flat: bool,
    /// Every region instance its own node, with its start time (setting `timeline_profile`,
    /// or `trace_output`, whose trace is made of those entries).
    pub timeline: bool,
    /// Most timeline entries per process; later instances are aggregated.
    pub timeline_max_events: u32,
    /// Regions nested deeper than this are not recorded.
    pub max_depth: u32,
}

/// The settings generation and the config derived from it.
pub fn current() -> (u64, Config) {
    let generation = generation();
    let s = crate::settings::current();
    (
        generation,
        Config {
            enabled: s.enabled,
            flat: s.flat_profile,
            timeline: s.timeline_profile || s.trace_output,
            timeline_max_events: s.timeline_max_events,
            max_depth: s.max_depth,
        },
    )
}

/// Changes whenever a setting changes or a collector is registered (both counters only grow,
/// so their sum changes whenever either does).
#[inline]
pub fn generation() -> u64 {
    crate::settings::generation().wrapping_add(crate::collectors::registrations())
}
