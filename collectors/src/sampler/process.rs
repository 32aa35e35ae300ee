//! A process's memory and CPU over time: resident set size, its peak, virtual size and CPU
//! utilisation, the series psrecord draws. Read from inside (the calling process: the rank's
//! own sampler) or from outside, through procfs, for another process and optionally every
//! process it started (`rankscope-run` sampling a program that does not use rankscope).

use super::procfs;
use crate::os::cpu::clock_ns;
use crate::os::memory::{probe_statm, statm_bytes};
use crate::os::rusage::peak_rss_bytes;
use crate::{Availability, MetricInfo, OptionInfo, Source, Unit};
use std::sync::atomic::{AtomicI64, Ordering};

/// Which process a [`ProcessSource`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The calling process, from inside (`/proc/self/statm`, `getrusage`, the process CPU clock).
    Current,
    /// Another process, from outside through `/proc/<pid>/` (statm, stat, status).
    Pid {
        /// Its process id.
        pid: u32,
        /// Also every process it started, and theirs: sizes and CPU times are summed over the
        /// tree (shared pages counted once per process, as psrecord's `--include-children`).
        tree: bool,
    },
}

/// Resident, peak resident and virtual size of the process, and its CPU use since the previous
/// sample (all threads; 100% is one core busy all the time, so a threaded process may exceed it).
/// The same series whether the process is read from inside or outside ([`Target`]).
pub struct ProcessSource {
    /// The process read.
    target: Target,
    /// Process CPU time at the previous sample, for the utilisation.
    last_cpu_ns: AtomicI64,
    /// The peak reported so far.
    peak: AtomicI64,
}

impl ProcessSource {
    /// A source reading the calling process, whose first CPU reading counts from the start of
    /// the process.
    pub const fn new() -> Self {
        Self::of(Target::Current)
    }

    /// A source reading process `pid` from outside; with `tree`, also every process it started
    /// (found again at each sample).
    pub const fn of_pid(pid: u32, tree: bool) -> Self {
        Self::of(Target::Pid { pid, tree })
    }

    /// A source reading `target`.
    pub const fn of(target: Target) -> Self {
        ProcessSource {
            target,
            last_cpu_ns: AtomicI64::new(0),
            peak: AtomicI64::new(0),
        }
    }

    /// The process it reads.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The largest of the earlier peaks and `peak`, kept as the new peak.
    fn peak(&self, peak: i64) -> i64 {
        self.peak.fetch_max(peak, Ordering::Relaxed).max(peak)
    }

    /// CPU use in ppm since the previous reading of cumulative CPU time `cpu_ns`.
    fn cpu_ppm(&self, cpu_ns: i64, elapsed_ns: i64) -> i64 {
        let before = self.last_cpu_ns.swap(cpu_ns, Ordering::Relaxed);
        if elapsed_ns > 0 {
            // A child whose parent never waited for it takes its time away when it ends.
            ((cpu_ns - before).max(0) as i128 * 1_000_000 / elapsed_ns as i128) as i64
        } else {
            0
        }
    }

    /// One point of another process (or its tree) from procfs; `out` is left as it was when
    /// the process is gone.
    fn sample_pid(&self, pid: u32, tree: bool, elapsed_ns: i64, out: &mut [i64]) {
        let Some(r) = procfs::read(pid, tree) else {
            return;
        };
        out[0] = r.rss;
        out[2] = r.virtual_size;
        // The kernel's mark is per process: of the tree, the largest one's, or the largest
        // summed resident size sampled, whichever is larger.
        out[1] = self.peak(r.rss.max(r.hwm));
        out[3] = self.cpu_ppm(r.cpu_ns, elapsed_ns);
    }
}

impl Default for ProcessSource {
    fn default() -> Self {
        Self::new()
    }
}

static SERIES: [MetricInfo; 4] = [
    MetricInfo {
        name: "rss",
        unit: Unit::Bytes,
        description: "resident set size (/proc/self/statm)",
        additive: false,
    },
    MetricInfo {
        name: "peak_rss",
        unit: Unit::Bytes,
        description: "peak resident set size so far: the kernel's high-water mark (getrusage ru_maxrss) or the largest resident size sampled, whichever is larger",
        additive: false,
    },
    MetricInfo {
        name: "virtual",
        unit: Unit::Bytes,
        description: "virtual memory size (/proc/self/statm)",
        additive: false,
    },
    MetricInfo {
        name: "cpu",
        unit: Unit::PartsPerMillion,
        description: "CPU use of the process since the previous sample, all threads (1e6 ppm = one core)",
        additive: false,
    },
];

/// The same series read from outside, as their descriptions say.
static SERIES_PID: [MetricInfo; 4] = [
    MetricInfo {
        name: "rss",
        unit: Unit::Bytes,
        description: "resident set size (/proc/<pid>/statm; summed over the process tree when children are included)",
        additive: false,
    },
    MetricInfo {
        name: "peak_rss",
        unit: Unit::Bytes,
        description: "peak resident set size so far: the largest kernel high-water mark of one process (/proc/<pid>/status VmHWM) or the largest resident size sampled, whichever is larger",
        additive: false,
    },
    MetricInfo {
        name: "virtual",
        unit: Unit::Bytes,
        description: "virtual memory size (/proc/<pid>/statm; summed over the process tree when children are included)",
        additive: false,
    },
    MetricInfo {
        name: "cpu",
        unit: Unit::PartsPerMillion,
        description: "CPU use since the previous sample, all threads, user + system (/proc/<pid>/stat, clock ticks; children included: their own and what they waited for) (1e6 ppm = one core)",
        additive: false,
    },
];

impl Source for ProcessSource {
    fn name(&self) -> &'static str {
        "process"
    }
    fn description(&self) -> &'static str {
        "resident, peak and virtual memory and CPU use of the process"
    }
    fn series(&self) -> &[MetricInfo] {
        match self.target {
            Target::Current => &SERIES,
            Target::Pid { .. } => &SERIES_PID,
        }
    }
    fn options(&self) -> &'static [OptionInfo] {
        std::slice::from_ref(&super::INTERVAL)
    }
    fn probe(&self) -> Availability {
        match self.target {
            Target::Current => probe_statm(),
            // Whether it runs, not what it holds: a program caught in its exec may show no
            // resident memory for a moment.
            Target::Pid { pid, .. } => match procfs::stat(pid) {
                Some(s) if s.running() => Availability::Available,
                Some(_) => Availability::Unavailable(format!("process {pid} has ended")),
                None => Availability::Unavailable(format!(
                    "cannot read /proc/{pid}/stat: no such process, or not allowed"
                )),
            },
        }
    }
    fn sample(&self, elapsed_ns: i64, out: &mut [i64]) {
        if let Target::Pid { pid, tree } = self.target {
            return self.sample_pid(pid, tree, elapsed_ns, out);
        }
        let mut peak = 0;
        if let Some((size, resident)) = statm_bytes() {
            out[0] = resident;
            out[2] = size;
            peak = resident;
        }
        if let Some(kernel_peak) = peak_rss_bytes() {
            // The kernel updates its high-water mark lazily (when the mm's counters are
            // synced), so it may trail the resident size read a moment later: the peak is the
            // larger of the two and of every earlier peak.
            peak = peak.max(kernel_peak);
        }
        out[1] = self.peak(peak);
        if let Some(cpu) = clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID) {
            out[3] = self.cpu_ppm(cpu, elapsed_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_memory_and_cpu() {
        let _alone = crate::os::memory::tests::BIG_BLOCKS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let s = ProcessSource::new();
        assert!(s.probe().is_available());
        let mut before = [0i64; 4];
        s.sample(0, &mut before);
        assert!(
            before[0] > 0 && before[1] >= before[0] && before[2] >= before[0],
            "{before:?}"
        );
        // Touch 64 MiB and burn CPU for a while: RSS and peak rise, CPU use is well above 0.
        let start = std::time::Instant::now();
        let mut block = vec![0u8; 64 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        let burn_until = start + std::time::Duration::from_millis(50);
        let mut x = 0u64;
        while std::time::Instant::now() < burn_until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let mut after = [0i64; 4];
        s.sample(start.elapsed().as_nanos() as i64, &mut after);
        assert!(
            after[0] >= before[0] + (48 << 20),
            "rss {before:?} -> {after:?}"
        );
        assert!(after[1] >= after[0], "peak {after:?}");
        // One thread busy most of the time: a loaded machine may give less, never above cores.
        assert!(after[3] > 100_000, "cpu {after:?}");
        std::hint::black_box(&block);
    }

    #[test]
    fn another_process_and_its_children_from_outside() {
        use std::os::unix::process::CommandExt;
        // sh (small) starts awk, which doubles a string to 64 MiB and then burns a core; both
        // in a process group of their own so that one kill ends them.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "awk 'BEGIN { s = \"x\"; for (i = 0; i < 26; i++) s = s s; while (1) { } }'; :",
            ])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let alone = ProcessSource::of_pid(pid, false);
        let tree = ProcessSource::of_pid(pid, true);
        assert!(alone.probe().is_available());
        assert_eq!(alone.series()[0].name, SERIES[0].name);
        assert!(alone.series()[0].description.contains("/proc/<pid>"));
        let (mut a, mut t) = ([0i64; 4], [0i64; 4]);
        alone.sample(0, &mut a);
        // Until awk holds its block (a loaded machine may be slow to start it).
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(10) && t[0] < 64 << 20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            tree.sample(0, &mut t);
        }
        let t0 = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(300));
        tree.sample(t0.elapsed().as_nanos() as i64, &mut t);
        alone.sample(start.elapsed().as_nanos() as i64, &mut a);
        // SAFETY: kill has no memory preconditions; the group is the one made above.
        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        let _ = child.wait();
        // sh alone is small; its awk child holds the 64 MiB and one core busy.
        assert!(a[0] > 0 && a[0] < 32 << 20, "sh alone {a:?}");
        assert!(t[0] >= 64 << 20, "tree rss {t:?}");
        assert!(t[1] >= t[0] && t[2] >= t[0], "tree {t:?}");
        assert!(t[3] > 300_000, "tree cpu {t:?}");
        // Once the process is gone the source says so and a sample leaves the point as it was.
        assert!(!alone.probe().is_available());
        let mut after = [-1i64; 4];
        alone.sample(1, &mut after);
        assert_eq!(after, [-1; 4]);
    }
}
