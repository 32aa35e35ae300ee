//! perf_event counters (perf-event2): hardware events (cycles, instructions, caches,
//! branches, stalls), software events (task clock, page faults, context switches,
//! migrations) and raw PMU codes. Each collector opens its events on each thread as one
//! perf_event group per PMU (all its hardware events in one group; see `group`).
//!
//! - `events`: the named events, perf's spellings as aliases, raw codes `rNNNN`;
//! - `system`: what this machine allows (PMU, perf_event_paranoid, CAP_PERFMON), read once,
//!   and the reason an event cannot be opened;
//! - `group`: a collector's groups on one thread, their reads (`read()`, or `rdpmc` where the
//!   kernel allows it) and the multiplex scaling;
//! - `collector`: the collector (a built-in one per named event, `perf_<event>`, metrics
//!   `perf.<event>`), opened lazily on a thread's first sample, closed at its end;
//! - `family`: the `perf_events` collector from the `perf_events` setting.
//!
//! Hardware counts are scaled when the kernel multiplexes the group (`count * enabled /
//! running` over the region) and the share of time counted is a metric of its own
//! (`<prefix>.running`, in ppm), so scaling is never hidden. Software events are never
//! multiplexed and have no such metric.

mod collector;
mod events;
mod family;
mod group;
mod system;

pub(crate) use collector::PerfCollector;
pub(crate) use collector::BUILT_IN;
pub(crate) use events::Event;
pub(crate) use family::PerfFamily;

use crate::Collector;

/// The collector counting `events` (names as in `perf_events`: `cycles`, `cpu-cycles`,
/// `r01c7`) together on each thread, registering it at the first call for that set:
/// named `perf_group_<event>_<event>...`, with metrics `<name>.<event>` (and `<name>.running`
/// when an event can be multiplexed). The same set, in the same order, gives the same collector.
pub fn group<S: AsRef<str>>(events: &[S]) -> Result<&'static dyn Collector, String> {
    let text: Vec<&str> = events.iter().map(|e| e.as_ref()).collect();
    if text.is_empty() {
        return Err("a perf group needs at least one event".into());
    }
    let parsed = events::parse_list(&text.join(","))?;
    let names: Vec<String> = parsed.iter().map(|e| e.name()).collect();
    let name = format!("perf_group_{}", names.join("_"));
    if let Some(c) = crate::find(&name) {
        return Ok(c);
    }
    match crate::register(Box::new(collector::PerfCollector::group(&name, parsed, ""))) {
        Ok(c) => Ok(c),
        // Another thread registered the same set meanwhile.
        Err(e) => crate::find(&name).ok_or_else(|| e.to_string()),
    }
}

/// Every event name this build knows, with perf's spellings in parentheses.
pub fn event_names() -> String {
    events::valid_names()
}
