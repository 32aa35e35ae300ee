//! The measuring threads: a rayon pool with one thread per PU, each pinned to its PU through
//! hwloc, each owning a buffer it allocated and first touched itself (so its pages sit on the
//! NUMA node of that PU, as a well-written application's would).

use rankscope_collectors::topology::pin_thread_to_pu;
use std::sync::Mutex;

/// The pinned threads and their buffers.
pub struct Team {
    pool: rayon::ThreadPool,
    buffers: Vec<Mutex<Vec<f64>>>,
    /// The PU each thread is pinned to, by thread index.
    pub pus: Vec<u32>,
    /// Why threads could not be pinned (they then run wherever the OS puts them).
    pub pin_errors: Vec<String>,
}

/// One timed run of every thread at once, on the host's monotonic clock (the same clock for
/// every process of the host, so that ranks' runs can be put on one time line): from the
/// first thread's start to the last one's end, read by the threads themselves, so that waking
/// the pool is not counted as work time.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    /// When the first thread started its work, ns.
    pub start_ns: u64,
    /// When the last thread finished, ns.
    pub end_ns: u64,
    /// The longest any one thread worked, ns: the run's length without the threads' start
    /// skew (which a loaded machine stretches to milliseconds), for calibrating.
    pub longest_ns: u64,
}

impl Timed {
    /// Seconds between start and end (never zero).
    pub fn seconds(&self) -> f64 {
        (self.end_ns.saturating_sub(self.start_ns)).max(1) as f64 * 1e-9
    }

    /// Seconds the longest thread worked (never zero).
    pub fn longest_seconds(&self) -> f64 {
        self.longest_ns.max(1) as f64 * 1e-9
    }
}

impl Team {
    /// One thread per PU of `pus` (pinned to it when `pin`), each with a buffer of
    /// `buffer_bytes` written on that thread.
    pub fn new(pus: &[u32], pin: bool, buffer_bytes: usize) -> Result<Team, String> {
        if pus.is_empty() {
            return Err("no PU to run on (hwloc gave an empty cpuset)".into());
        }
        let errors = Mutex::new(Vec::new());
        let pins = pus.to_vec();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(pus.len())
            .thread_name(|i| format!("rankscope-roofline-{i}"))
            .build()
            .map_err(|e| format!("could not start {} measuring threads: {e}", pus.len()))?;
        // Pinned and allocated from inside each thread; broadcast runs once on every thread.
        let elements = buffer_bytes / 8;
        let buffers = pool.broadcast(|ctx| {
            if let Err(e) = pin.then(|| pin_thread_to_pu(pins[ctx.index()])).transpose() {
                errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
            }
            let mut v: Vec<f64> = Vec::new();
            // Written, not zero-allocated: untouched pages all map the kernel's one zero page,
            // which reads from cache whatever the size.
            v.resize(elements.max(1), 1.0);
            Mutex::new(v)
        });
        let pin_errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(Team {
            pool,
            buffers,
            pus: pus.to_vec(),
            pin_errors,
        })
    }

    /// Threads in the team.
    pub fn threads(&self) -> usize {
        self.pus.len()
    }

    /// Runs `work(buffer)` on every thread at once and times it.
    pub fn run(&self, work: impl Fn(&mut [f64]) -> f64 + Sync) -> Timed {
        let spans = self.pool.broadcast(|ctx| {
            let mut buf = self.buffers[ctx.index()]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let start = monotonic_ns();
            std::hint::black_box(work(&mut buf));
            (start, monotonic_ns())
        });
        Timed {
            start_ns: spans.iter().map(|s| s.0).min().unwrap_or(0),
            end_ns: spans.iter().map(|s| s.1).max().unwrap_or(0),
            longest_ns: spans.iter().map(|s| s.1 - s.0).max().unwrap_or(0),
        }
    }
}

/// `CLOCK_MONOTONIC` in ns: one clock for every process of a host.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rankscope_collectors::topology::process_binding;

    #[test]
    fn threads_are_pinned_and_own_their_buffers() {
        let pus = process_binding().allowed_pus;
        let team = Team::new(&pus, true, 1 << 16).unwrap();
        assert!(team.pin_errors.is_empty(), "{:?}", team.pin_errors);
        assert_eq!(team.threads(), pus.len());
        let seen = Mutex::new(Vec::new());
        let t = team.run(|buf| {
            let b = rankscope_collectors::topology::thread_binding();
            seen.lock().unwrap().push((b.pus, buf.len()));
            buf.iter().sum()
        });
        assert!(t.end_ns >= t.start_ns && t.seconds() > 0.0);
        assert!(t.longest_ns <= t.end_ns - t.start_ns && t.longest_seconds() > 0.0);
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        let expected: Vec<(Vec<u32>, usize)> = pus.iter().map(|&p| (vec![p], 1 << 13)).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn an_empty_cpuset_is_an_error() {
        let e = Team::new(&[], true, 64).err().unwrap();
        assert!(e.contains("no PU"), "{e}");
    }
}
