//! Sampling another process from outside (`rankscope::sampler::ExternalSampler`), for
//! `rankscope-run`: the CPU and memory of a program that does not use rankscope, per rank, into
//! a rank snapshot that `rankscope merge` combines.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use rankscope::sampler::external::{self, ExternalSampler as Sampler};
use std::path::PathBuf;
use std::sync::Mutex;

/// Samples process `pid` (with `children`, also every process it starts) every `interval`
/// seconds (default: setting `sampler_interval`) in a native thread, until the process ends,
/// `stop()` is called, or (with `announce_dir`) the program announces there that it measures
/// itself. Raises ValueError for a bad interval and OSError when the process cannot be read.
#[pyclass(frozen, module = "rankscope._native")]
pub(crate) struct ExternalSampler {
    inner: Mutex<Sampler>,
}

impl ExternalSampler {
    fn with<T>(&self, f: impl FnOnce(&mut Sampler) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[pymethods]
impl ExternalSampler {
    #[new]
    #[pyo3(signature = (pid, children = true, interval = None, announce_dir = None))]
    fn new(
        pid: u32,
        children: bool,
        interval: Option<f64>,
        announce_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let interval_ns = match interval {
            Some(s) if s.is_finite() && s > 0.0 => (s * 1e9).round() as i64,
            Some(s) => {
                return Err(PyValueError::new_err(format!(
                    "interval {s}: must be above 0"
                )))
            }
            None => Sampler::interval_from_settings().map_err(PyValueError::new_err)?,
        };
        let inner = Sampler::start_watching(pid, children, interval_ns, announce_dir)
            .map_err(PyOSError::new_err)?;
        Ok(ExternalSampler {
            inner: Mutex::new(inner),
        })
    }

    /// The process sampled.
    #[getter]
    fn pid(&self) -> u32 {
        self.with(|s| s.pid())
    }

    /// Points recorded so far.
    #[getter]
    fn points(&self) -> usize {
        self.with(|s| s.samples().len())
    }

    /// Whether sampling has stopped (the process ended, it announced itself, or `stop()`).
    #[getter]
    fn finished(&self) -> bool {
        self.with(|s| s.finished())
    }

    /// Stops sampling now (one last point if the process still runs). Safe to call again.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.with(|s| drop(s.stop())))
    }

    /// Writes the points so far as rank `rank`'s snapshot into `<output_path>-rank<rank>/`
    /// (`profile.json`, and `report.txt` with setting `text_output`); a later call rewrites the
    /// same folder. Returns the folder. OSError names the path and the cause.
    fn write_snapshot(&self, py: Python<'_>, rank: u32, output_path: PathBuf) -> PyResult<String> {
        py.detach(|| self.with(|s| s.write_snapshot(rank, &output_path)))
            .map(|p| p.display().to_string())
            .map_err(|e| PyOSError::new_err(e.to_string()))
    }
}

/// The announcements in `folder` of programs that measure themselves (one line each:
/// `pid <pid> rank <rank> output_path <path>`).
#[pyfunction]
fn announcements(folder: PathBuf) -> Vec<String> {
    external::announcements(&folder)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ExternalSampler>()?;
    m.add("ANNOUNCE_VAR", external::ANNOUNCE_VAR)?;
    m.add_function(wrap_pyfunction!(announcements, m)?)
}
