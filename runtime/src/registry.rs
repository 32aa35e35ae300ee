//! The component registry: collectors by name, and the global numbering of their metrics.
//!
//! The table itself is `rankscope_collectors::all()`; this module adds what the runtime needs on
//! top: a clear error for unknown names and a dense [`MetricId`] per metric for storage.

use crate::collectors::{self, Collector, MetricInfo};
use crate::suggest::closest;
use std::fmt;
use std::sync::{Mutex, RwLock};

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

/// Whether `c` can measure here (its probe, asked once per process by the collector). When it
/// cannot, says why on stderr, once per collector: the component's values will be absent.
pub(crate) fn available(c: &'static dyn Collector) -> bool {
    match c.probe() {
        collectors::Availability::Available => true,
        collectors::Availability::Unavailable(why) => {
            static TOLD: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
            let mut told = TOLD.lock().unwrap_or_else(|e| e.into_inner());
            if !told.contains(&c.name()) {
                told.push(c.name());
                crate::log::warning!(
                    "component '{}' cannot measure here, its values are left out: {why}",
                    c.name()
                );
            }
            false
        }
    }
}

/// Collectors whose `process_init` ran, in that order.
static ACTIVE: Mutex<Vec<&'static dyn Collector>> = Mutex::new(Vec::new());

/// Runs `process_init` of `c` unless it ran already: called when the first bundle holding it
/// is made, so a collector nobody uses costs nothing.
pub(crate) fn activate(c: &'static dyn Collector) {
    let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if !active.iter().any(|a| a.name() == c.name()) {
        c.process_init();
        active.push(c);
    }
}

/// Runs `finish` of every collector that had `process_init`, once per process (the runtime
/// calls it at the end of the run, before the final outputs).
pub fn finish_collectors() {
    let active = std::mem::take(&mut *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for c in active {
        c.finish();
    }
}

/// Registers the collectors that each family makes from the current settings (its options).
/// Problems are reported on stderr, naming the family and the option; the run goes on with the
/// other collectors. Returns the collectors registered.
pub fn register_families() -> Vec<&'static dyn Collector> {
    let settings = crate::settings::current();
    let value = |name: &str| settings.options.get(name).unwrap_or_default().to_string();
    let mut registered = Vec::new();
    for family in collectors::families() {
        match family.collectors(&value) {
            Ok(made) => {
                for c in made {
                    match collectors::register(c) {
                        Ok(c) => registered.push(c),
                        Err(e) => crate::log::error!("{}: {e}", family.name()),
                    }
                }
            }
            Err(e) => crate::log::error!("{}: {e}", family.name()),
        }
    }
    registered
}

/// One metric with the collector that produces it.
#[derive(Clone, Copy)]
pub struct MetricEntry {
    /// The producing collector.
    pub collector: &'static dyn Collector,
    /// The metric.
    pub info: &'static MetricInfo,
}

/// Every metric of every collector, in catalog order (ids are positions), and how many
/// collectors (a prefix of the catalog) that covers. Collectors registered later append their
/// metrics, so ids already handed out never change.
struct Table {
    collectors: usize,
    metrics: Vec<MetricEntry>,
}

static TABLE: RwLock<Table> = RwLock::new(Table {
    collectors: 0,
    metrics: Vec::new(),
});

/// The table, extended first with the metrics of collectors registered since the last call.
fn table() -> std::sync::RwLockReadGuard<'static, Table> {
    let all = collectors::all();
    {
        let t = TABLE.read().unwrap_or_else(|e| e.into_inner());
        if t.collectors == all.len() {
            return t;
        }
    }
    let mut t = TABLE.write().unwrap_or_else(|e| e.into_inner());
    // Read again under the lock: another caller may have extended the table meanwhile with a
    // longer catalog than the one read above (the catalog only grows).
    let all = collectors::all();
    for &c in &all[t.collectors..] {
        t.metrics.extend(
            c.metrics()
                .iter()
                .map(|info| MetricEntry { collector: c, info }),
        );
    }
    t.collectors = all.len();
    drop(t);
    TABLE.read().unwrap_or_else(|e| e.into_inner())
}

/// The metric with this id.
pub fn metric(id: MetricId) -> MetricEntry {
    table().metrics[id as usize]
}

/// Id of the first metric of a collector; its metrics are numbered consecutively from there.
pub fn first_metric(collector: &dyn Collector) -> MetricId {
    table()
        .metrics
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
