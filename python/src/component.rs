//! Components from Python: one collector used on its own, and the table of collectors that the
//! Python layer turns into one class per component.

use crate::region::clean_name;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rankscope::collectors::{self, Availability, MetricInfo};
use std::sync::Mutex;

/// `(name, base unit, display unit, scale to display, additive, description)`.
type MetricRow = (
    &'static str,
    &'static str,
    &'static str,
    f64,
    bool,
    &'static str,
);

fn metric_row(m: &MetricInfo) -> MetricRow {
    (
        m.name,
        m.unit.base(),
        m.unit.display(),
        m.unit.scale(),
        m.additive,
        m.description,
    )
}

/// `(name, aliases, description, metrics, unavailable reason or None)`.
type ComponentRow = (
    &'static str,
    Vec<&'static str>,
    &'static str,
    Vec<MetricRow>,
    Option<String>,
);

fn component_row(c: &'static dyn collectors::Collector) -> ComponentRow {
    let reason = match c.probe() {
        Availability::Available => None,
        Availability::Unavailable(why) => Some(why),
    };
    (
        c.name(),
        c.aliases().to_vec(),
        c.description(),
        c.metrics().iter().map(metric_row).collect(),
        reason,
    )
}

/// Every collector of this build, in catalog order.
#[pyfunction]
fn components_table() -> Vec<ComponentRow> {
    collectors::all()
        .iter()
        .map(|&c| component_row(c))
        .collect()
}

/// The component counting these perf events together on each thread, registered at
/// the first call for that set; its table row.
#[pyfunction]
fn perf_group(events: Vec<String>) -> PyResult<ComponentRow> {
    collectors::perf::group(&events)
        .map(component_row)
        .map_err(PyValueError::new_err)
}

/// One collector with its own running total (see `rankscope::component::Component`).
#[pyclass(frozen, module = "rankscope._native")]
pub(crate) struct Component {
    inner: Mutex<rankscope::component::Component>,
}

impl Component {
    fn with<R>(&self, f: impl FnOnce(&mut rankscope::component::Component) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[pymethods]
impl Component {
    #[new]
    fn new(kind: &str, label: &Bound<'_, PyAny>) -> PyResult<Self> {
        let inner = rankscope::component::Component::new(kind, &clean_name(label))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Component {
            inner: Mutex::new(inner),
        })
    }

    /// Starts a lap.
    fn start(&self) {
        self.with(|c| c.start())
    }

    /// Ends the lap and adds it to the total.
    fn stop(&self) {
        self.with(|c| c.stop())
    }

    /// The first metric's total in its display unit.
    fn get(&self) -> f64 {
        self.with(|c| c.get())
    }

    /// Totals in base units, one per metric.
    fn values(&self) -> Vec<i64> {
        self.with(|c| c.values())
    }

    /// Laps measured so far.
    fn laps(&self) -> u64 {
        self.with(|c| c.laps())
    }

    /// Places the component in this thread's call tree under the running region.
    fn push(&self) {
        self.with(|c| c.push())
    }

    /// Stores the laps measured since `push` as one lap of its tree node.
    fn pop(&self) {
        self.with(|c| c.pop())
    }

    /// The collector's canonical name.
    #[getter]
    fn kind(&self) -> &'static str {
        self.with(|c| c.kind())
    }

    /// The label given at creation.
    #[getter]
    fn label(&self) -> String {
        self.with(|c| c.label())
    }

    /// The collector's metrics.
    fn metrics(&self) -> Vec<MetricRow> {
        self.with(|c| c.metrics().iter().map(metric_row).collect())
    }

    fn __str__(&self) -> String {
        self.with(|c| c.to_string())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(components_table, m)?)?;
    m.add_function(wrap_pyfunction!(perf_group, m)?)?;
    m.add_class::<Component>()
}
