//! One collector used on its own: start/stop/get like a stopwatch, push/pop into storage.

use crate::bundle::Bundle;
use crate::collectors::{Collector, MetricInfo};
use crate::registry::{self, UnknownComponent};
use crate::storage::{self, NameId, Token};

/// A single collector with its own running total, independent of regions.
///
/// `start`/`stop` measure a lap and add it to the component's total; `get` reads the total in
/// display units. `push` places the component in this thread's call tree under the running
/// region, and `pop` stores the total accumulated since `push` there as one lap.
///
/// A collector that cannot measure here (see its probe) measures nothing: no laps, no values
/// ([`Component::values`] is empty and [`Component::get`] is NaN), nothing stored.
pub struct Component {
    collector: &'static dyn Collector,
    bundle: &'static Bundle,
    label: NameId,
    /// The start sample, then room for the stop sample (sized by the collector at creation).
    raw: Vec<i64>,
    /// One lap's values, then the running totals.
    lap: Vec<i64>,
    total: Vec<i64>,
    running: bool,
    laps: u64,
    pushed: Option<(Token, Vec<i64>)>,
}

impl Component {
    /// A component of kind `kind` (a collector name or alias) labelled `label` in the tree.
    pub fn new(kind: &str, label: &str) -> Result<Component, UnknownComponent> {
        let collector = registry::resolve(kind)?;
        let metrics = collector.metrics().len();
        Ok(Component {
            collector,
            bundle: Bundle::new(&[collector.name()])?,
            label: storage::intern(label),
            raw: vec![0; 2 * collector.raw_len()],
            lap: vec![0; metrics],
            total: vec![0; metrics],
            running: false,
            laps: 0,
            pushed: None,
        })
    }

    /// The collector's metrics, in the order of [`Component::values`].
    pub fn metrics(&self) -> &'static [MetricInfo] {
        self.collector.metrics()
    }

    /// The collector's canonical name.
    pub fn kind(&self) -> &'static str {
        self.collector.name()
    }

    /// The label given at creation.
    pub fn label(&self) -> String {
        storage::name_of(self.label).to_string()
    }

    /// Starts a lap (a second start restarts it).
    pub fn start(&mut self) {
        if !self.available() {
            return;
        }
        self.collector
            .sample(&mut self.raw[..self.collector.raw_len()]);
        self.running = true;
    }

    /// Ends the lap and adds it to the total; a stop without a start does nothing.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let (start, stop) = self.raw.split_at_mut(self.collector.raw_len());
        self.collector.sample(stop);
        self.collector.delta(start, stop, &mut self.lap);
        for (t, v) in self.total.iter_mut().zip(&self.lap) {
            *t += v;
        }
        self.laps += 1;
        self.running = false;
    }

    /// Laps measured so far.
    pub fn laps(&self) -> u64 {
        self.laps
    }

    /// Whether the collector measures here (its bundle keeps only collectors that do).
    pub fn available(&self) -> bool {
        !self.bundle.collectors().is_empty()
    }

    /// Totals in base units, one per metric, or none when the collector cannot measure here.
    /// Ratios (cpu_util) are averaged over laps.
    pub fn values(&self) -> Vec<i64> {
        if !self.available() {
            return Vec::new();
        }
        self.metrics()
            .iter()
            .zip(&self.total)
            .map(|(info, &t)| {
                if info.additive || self.laps == 0 {
                    t
                } else {
                    t / self.laps as i64
                }
            })
            .collect()
    }

    /// The first metric's total in its display unit (seconds, MiB, %, count); NaN when the
    /// collector cannot measure here.
    pub fn get(&self) -> f64 {
        match self.values().first() {
            Some(&v) => v as f64 * self.metrics()[0].unit.scale(),
            None => f64::NAN,
        }
    }

    /// Places the component in the call tree under the running region.
    pub fn push(&mut self) {
        if self.pushed.is_none() && self.available() {
            self.pushed = Some((storage::enter(self.label, self.bundle), self.total.clone()));
        }
    }

    /// Stores the laps measured since [`Component::push`] as one lap of its tree node.
    pub fn pop(&mut self) {
        if let Some((token, at_push)) = self.pushed.take() {
            for ((lap, total), pushed) in self.lap.iter_mut().zip(&self.total).zip(at_push) {
                *lap = total - pushed;
            }
            storage::leave(token, &self.lap);
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = &self.metrics()[0];
        write!(
            f,
            "{} ({}): {:.6} {} ({} laps)",
            self.label(),
            self.kind(),
            self.get(),
            info.unit.display(),
            self.laps
        )
    }
}
