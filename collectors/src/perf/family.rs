//! The `perf` family: one group collector, `perf_events`, for the events named in the
//! `perf_events` setting (`RANKSCOPE_PERF_EVENTS=cycles,instructions,r01c7`).

use super::collector::PerfCollector;
use super::events::parse_list;
use crate::{Collector, Family, OptionInfo};

/// The family of perf_event group collectors made from settings.
pub(crate) struct PerfFamily;

/// Name of the collector (and prefix of its metrics) made from `perf_events`.
pub(crate) const COLLECTOR: &str = "perf_events";

static OPTIONS: [OptionInfo; 1] = [OptionInfo {
    name: "perf_events",
    default: "",
    accepted: "comma-separated perf events: names (cycles, task_clock, perf's cpu-cycles, \
               task-clock, ...) or raw codes rNNNN (r01c7)",
    doc: "Events counted together on each thread by the component perf_events (metrics \
          perf_events.<event>; hardware events form one perf_event group, multiplexed as one, \
          with perf_events.running the share of time it counted). Empty: no such component.",
    check,
}];

fn check(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        Ok(())
    } else {
        // The settings error reads "RANKSCOPE_PERF_EVENTS=...: expected <this>".
        parse_list(text)
            .map(drop)
            .map_err(|e| format!("perf event names or raw codes rNNNN: {e}"))
    }
}

impl Family for PerfFamily {
    fn name(&self) -> &'static str {
        "perf"
    }
    fn options(&self) -> &'static [OptionInfo] {
        &OPTIONS
    }
    fn collectors(
        &self,
        value: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Box<dyn Collector>>, String> {
        let text = value(OPTIONS[0].name);
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let events = parse_list(&text)
            .map_err(|e| format!("setting 'perf_events' (RANKSCOPE_PERF_EVENTS): {e}"))?;
        Ok(vec![Box::new(PerfCollector::group(
            COLLECTOR,
            events,
            ", chosen by RANKSCOPE_PERF_EVENTS",
        ))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_checks_names_and_makes_one_group() {
        assert!(check("").is_ok());
        assert!(check("cycles,instructions,r01c7").is_ok());
        let e = check("cycles,instructionz").unwrap_err();
        assert!(e.contains("unknown perf event 'instructionz'"), "{e}");
        assert!(
            e.contains("valid events: cycles (cpu-cycles), instructions"),
            "{e}"
        );
        let none = PerfFamily.collectors(&|_| String::new()).unwrap();
        assert!(none.is_empty());
        let made = PerfFamily
            .collectors(&|_| "task-clock,page_faults,r01c7".to_string())
            .unwrap();
        let c = &made[0];
        assert_eq!(c.name(), "perf_events");
        let names: Vec<_> = c.metrics().iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "perf_events.task_clock",
                "perf_events.page_faults",
                "perf_events.r01c7",
                "perf_events.running"
            ]
        );
        assert_eq!(c.raw_len(), 9, "three readings per event");
        let bad = PerfFamily.collectors(&|_| "cycles,bogus".to_string());
        let e = bad.err().unwrap();
        assert!(
            e.starts_with("setting 'perf_events' (RANKSCOPE_PERF_EVENTS): "),
            "{e}"
        );
    }
}
