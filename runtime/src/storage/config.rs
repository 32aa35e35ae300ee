//! The few settings the hot path reads, cached per thread and refreshed when settings change.

/// What storage needs to know about the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Record anything at all.
    pub enabled: bool,
    /// Every region a child of the root.
    pub flat: bool,
    /// Every region instance its own node, with its start time.
    pub timeline: bool,
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
            timeline: s.timeline_profile,
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
