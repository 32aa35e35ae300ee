//! The process's memory and CPU over time: resident set size, its peak, virtual size and CPU
//! utilisation, the series psrecord draws.

use crate::os::cpu::clock_ns;
use crate::os::memory::{probe_statm, statm_bytes};
use crate::os::rusage::peak_rss_bytes;
use crate::{Availability, MetricInfo, OptionInfo, Source, Unit};
use std::sync::atomic::{AtomicI64, Ordering};

/// Resident, peak resident and virtual size of the process, and its CPU use since the previous
/// sample (all threads; 100% is one core busy all the time, so a threaded process may exceed it).
pub struct ProcessSource {
    /// Process CPU time at the previous sample, for the utilisation.
    last_cpu_ns: AtomicI64,
    /// The peak reported so far.
    peak: AtomicI64,
}

impl ProcessSource {
    /// A source whose first CPU reading counts from the start of the process.
    pub const fn new() -> Self {
        ProcessSource {
            last_cpu_ns: AtomicI64::new(0),
            peak: AtomicI64::new(0),
        }
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

impl Source for ProcessSource {
    fn name(&self) -> &'static str {
        "process"
    }
    fn description(&self) -> &'static str {
        "resident, peak and virtual memory and CPU use of the process"
    }
    fn series(&self) -> &[MetricInfo] {
        &SERIES
    }
    fn options(&self) -> &'static [OptionInfo] {
        std::slice::from_ref(&super::INTERVAL)
    }
    fn probe(&self) -> Availability {
        probe_statm()
    }
    fn sample(&self, elapsed_ns: i64, out: &mut [i64]) {
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
        out[1] = self.peak.fetch_max(peak, Ordering::Relaxed).max(peak);
        if let Some(cpu) = clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID) {
            let before = self.last_cpu_ns.swap(cpu, Ordering::Relaxed);
            out[3] = if elapsed_ns > 0 {
                ((cpu - before) as i128 * 1_000_000 / elapsed_ns as i128) as i64
            } else {
                0
            };
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
}
