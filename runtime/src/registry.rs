//! The component registry: collectors by name, and the global numbering of their metrics.
//!
//! The table itself is `rankscope_collectors::all()`; this module adds what the runtime needs on
//! top: a clear error for unknown names and a dense [`MetricId`] per metric for storage.

use crate::collectors::{self, Collector, MetricInfo};
use crate::suggest::closest;
use std::fmt;
use std::sync::OnceLock;

/// Dense index of one metric of one collector, stable for the life of the process.
pub type MetricId = u16;

/// A component name that no collector answers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownComponent {
    /// What was asked for.
    pub name: String,
    /// The nearest valid name, when one is close.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown component '{}'", self.name)?;
        if let Some(s) = self.suggestion {
            write!(f, " (did you mean '{s}'?)")?;
        }
        write!(f, "; valid components: {}", names().join(", "))
    }
}

impl std::error::Error for UnknownComponent {}

/// Canonical names of every component, in catalog order.
pub fn names() -> Vec<&'static str> {
    collectors::all().iter().map(|c| c.name()).collect()
}

/// Finds a component by name or alias (case, `_` and `-` ignored).
pub fn resolve(name: &str) -> Result<&'static dyn Collector, UnknownComponent> {
    collectors::find(name).ok_or_else(|| UnknownComponent {
        name: name.to_string(),
        suggestion: closest(
            name,
            collectors::all()
                .iter()
                .flat_map(|c| std::iter::once(c.name()).chain(c.aliases().iter().copied())),
        ),
    })
}

/// One metric with the collector that produces it.
#[derive(Clone, Copy)]
pub struct MetricEntry {
    /// The producing collector.
    pub collector: &'static dyn Collector,
    /// The metric.
    pub info: &'static MetricInfo,
}

fn table() -> &'static [MetricEntry] {
    static TABLE: OnceLock<Vec<MetricEntry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        collectors::all()
            .iter()
            .flat_map(|&c| {
                c.metrics()
                    .iter()
                    .map(move |info| MetricEntry { collector: c, info })
            })
            .collect()
    })
}

/// The metric with this id.
pub fn metric(id: MetricId) -> MetricEntry {
    table()[id as usize]
}

/// Id of the first metric of a collector; its metrics are numbered consecutively from there.
pub fn first_metric(collector: &dyn Collector) -> MetricId {
    table()
        .iter()
        .position(|e| e.collector.name() == collector.name())
        .expect("every collector comes from the catalog") as MetricId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_aliases_and_explains_unknown_names() {
        assert_eq!(resolve("WallClock").unwrap().name(), "wall_clock");
        let err = resolve("wal_clock").err().unwrap();
        assert_eq!(err.suggestion, Some("wall_clock"));
        let text = err.to_string();
        assert!(text.contains("unknown component 'wal_clock'"), "{text}");
        assert!(text.contains("did you mean 'wall_clock'"), "{text}");
        assert!(text.contains("valid components: wall_clock"), "{text}");
    }

    #[test]
    fn metric_ids_are_dense_per_collector() {
        for &c in collectors::all() {
            let first = first_metric(c);
            for (i, info) in c.metrics().iter().enumerate() {
                assert_eq!(metric(first + i as MetricId).info.name, info.name);
            }
        }
    }
}
