//! The per-rank sampler: a background thread that reads every available background source
//! ([`collectors::sources`](crate::collectors::sources)) every `sampler_interval` seconds while
//! setting `sampler` is on, pinned inside the rank's allowed CPUs on a PU the rank's own threads
//! do not use when there is one. Its series ([`Samples`], bounded) travel with the rank's
//! profile to rank 0 and into the outputs.
//!
//! The same thread loop samples another process from outside ([`external`]): `rankscope-run`
//! records a program that does not use rankscope, until it exits, into a rank snapshot.

pub mod external;
mod series;

pub use external::ExternalSampler;
pub use series::{Samples, SeriesDesc, MAX_POINTS};

use crate::collectors::{self, monotonic_ns, Source};
use crate::log;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The running sampler: its series, the stop flag it waits on, and its thread.
struct Running {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    samples: Mutex<Samples>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    fn new(samples: Samples) -> Self {
        Shared {
            samples: Mutex::new(samples),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// The series so far.
    fn samples(&self) -> Samples {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tells the thread to take its last point and leave.
    fn stop(&self) {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// The series of `sources`, named `<source>.<series>`, in column order.
fn descriptions(sources: &[&dyn Source]) -> Vec<SeriesDesc> {
    sources
        .iter()
        .flat_map(|src| src.series().iter().map(|m| SeriesDesc::of(src.name(), m)))
        .collect()
}

/// Now, in ns since the Unix epoch.
fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

static SAMPLER: Mutex<Option<Running>> = Mutex::new(None);
/// The series of a sampler that was stopped, kept for the final outputs.
static STOPPED: Mutex<Option<Samples>> = Mutex::new(None);

/// Starts the sampler thread when setting `sampler` is on and a source works here; a second
/// call does nothing. Problems (no source available, a bad interval) are reported on stderr.
/// Called once per rank process at start-up, which is also when a rank started by
/// `rankscope-run` tells it that it measures itself ([`external::announce`]).
pub fn start() {
    external::announce();
    let s = crate::settings::current();
    if !s.sampler {
        return;
    }
    let mut slot = SAMPLER.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_some() {
        return;
    }
    let interval_text = s.options.get("sampler_interval").unwrap_or("0.1");
    let interval_ns = match collectors::sampler::interval_ns(interval_text) {
        Ok(ns) => ns,
        Err(expected) => {
            log::error!("sampler_interval={interval_text}: expected {expected}; sampler off");
            return;
        }
    };
    let mut sources: Vec<&'static dyn Source> = Vec::new();
    for source in collectors::sources() {
        match source.probe() {
            collectors::Availability::Available => sources.push(*source),
            collectors::Availability::Unavailable(why) => {
                log::warning!("sampler: source {} unavailable: {why}", source.name())
            }
        }
    }
    if sources.is_empty() {
        log::warning!("sampler: no background source works here; sampler off");
        return;
    }
    let series = descriptions(&sources);
    let shared = Arc::new(Shared::new(Samples::new(
        series,
        unix_now_ns(),
        interval_ns,
    )));
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("rankscope-sampler".into())
        .spawn(move || run(&for_thread, &sources, true, &|| true));
    match thread {
        Ok(t) => {
            log::debug!("sampler: started, every {:.3} s", interval_ns as f64 / 1e9);
            *slot = Some(Running {
                shared,
                thread: Some(t),
            });
        }
        Err(e) => log::error!("sampler: could not start its thread: {e}"),
    }
}

/// The sampler thread: pin (with `pin`), then sample every interval until told to stop, or
/// until `alive` says the sampled process has ended (the point read after its end is dropped).
/// An external sampler does not pin its thread: it belongs to another process than the one it
/// measures, and leaves the CPUs to the scheduler.
fn run(shared: &Shared, sources: &[&dyn Source], pin: bool, alive: &dyn Fn() -> bool) {
    if !pin {
        return sample_loop(shared, sources, alive);
    }
    // Kept for the thread's life: dropping it counts the thread among the rank's again.
    let _pinned = match collectors::topology::pin_collector_thread() {
        Ok(p) => {
            log::debug!(
                "sampler: pinned to PU {} ({})",
                p.pu,
                if p.free {
                    "not used by the rank's threads"
                } else {
                    "shared with the rank: no free PU in its allowed set"
                }
            );
            Some(p)
        }
        Err(why) => {
            log::debug!("sampler: not pinned: {why}");
            None
        }
    };
    sample_loop(shared, sources, alive)
}

/// Samples every interval until told to stop or until `alive` turns false.
fn sample_loop(shared: &Shared, sources: &[&dyn Source], alive: &dyn Fn() -> bool) {
    let width: usize = sources.iter().map(|s| s.series().len()).sum();
    let mut point = vec![0i64; width];
    // The cost reported is the sampling's, not the one-time pinning's (hwloc loads the
    // topology then, milliseconds).
    let cpu0 = collectors::thread_cpu_ns().unwrap_or(0);
    let t0 = monotonic_ns();
    let mut previous = t0;
    // A first reading that is not kept: rates (CPU %) need one interval behind them, so the
    // first point is taken one interval after this.
    sample_all(sources, 0, &mut point);
    let mut last = !wait(shared, t0 + interval_of(shared));
    loop {
        let now = monotonic_ns();
        sample_all(sources, now - previous, &mut point);
        previous = now;
        if !alive() {
            // What was read may belong to a process on its way out (a zombie has no memory).
            return;
        }
        let due = {
            let mut samples = shared.samples.lock().unwrap_or_else(|e| e.into_inner());
            samples.cost_ns = collectors::thread_cpu_ns().unwrap_or(cpu0) - cpu0;
            if samples.push(now - t0, &point) {
                log::debug!(
                    "sampler: {} points reached, now every {:.3} s",
                    MAX_POINTS,
                    samples.interval_ns as f64 / 1e9
                );
            }
            t0 + samples.next_due_ns()
        };
        if last {
            return;
        }
        // Told to stop: one last point, at the end of the run, then leave.
        last = !wait(shared, due);
    }
}

/// One point of every source into `point`, `elapsed_ns` after the previous one.
fn sample_all(sources: &[&dyn Source], elapsed_ns: i64, point: &mut [i64]) {
    let mut at = 0;
    for source in sources {
        let n = source.series().len();
        source.sample(elapsed_ns, &mut point[at..at + n]);
        at += n;
    }
}

fn interval_of(shared: &Shared) -> i64 {
    shared
        .samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .interval_ns
}

/// Waits until `due` (monotonic ns); false when told to stop meanwhile.
fn wait(shared: &Shared, due: i64) -> bool {
    let stop = shared.stop.lock().unwrap_or_else(|e| e.into_inner());
    let timeout = Duration::from_nanos((due - monotonic_ns()).max(0) as u64);
    let (stop, _) = shared
        .wake
        .wait_timeout_while(stop, timeout, |stop| !*stop)
        .unwrap_or_else(|e| e.into_inner());
    !*stop
}

/// The series so far (of the running sampler, or of the stopped one), `None` when the sampler
/// never ran.
pub fn snapshot() -> Option<Samples> {
    if let Some(r) = SAMPLER.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Some(r.shared.samples());
    }
    STOPPED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Stops the sampler thread (it takes one last sample first) and keeps its series for
/// [`snapshot`]. Does nothing when it is not running.
pub fn stop() {
    let Some(mut running) = SAMPLER.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    running.shared.stop();
    if let Some(t) = running.thread.take() {
        let _ = t.join();
    }
    let samples = std::mem::take(
        &mut *running
            .shared
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    log::debug!("sampler: stopped after {} points", samples.len());
    *STOPPED.lock().unwrap_or_else(|e| e.into_inner()) = Some(samples);
}
