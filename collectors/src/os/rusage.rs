//! Collectors from `getrusage(RUSAGE_SELF)`: user and system time, page faults, context switches.
//!
//! All counts cover the whole process (every thread, living or finished). One sample is one
//! system call; the peak-RSS collector in `memory` reads the same struct through [`self_usage`].

use crate::{Availability, Collector, MetricInfo, Unit};

/// Resource usage of the whole process, or `None` if the call fails.
#[inline]
pub(crate) fn self_usage() -> Option<libc::rusage> {
    usage(libc::RUSAGE_SELF)
}

/// The process's peak resident set size in bytes, or `None` if the call fails.
///
/// From `getrusage(RUSAGE_THREAD)`: the kernel fills `ru_maxrss` of a thread's usage with the
/// same process-wide figure as `RUSAGE_SELF` (the larger of the signal struct's and the address
/// space's high-water marks), without summing the times and counts of every thread first. Here
/// that is 150 ns against 245 ns (300 ns with 16 threads), whatever the number of threads.
#[inline]
pub(crate) fn peak_rss_bytes() -> Option<i64> {
    // Linux reports ru_maxrss in KiB.
    usage(libc::RUSAGE_THREAD).map(|ru| wide(ru.ru_maxrss) * 1024)
}

#[inline]
fn usage(who: libc::c_int) -> Option<libc::rusage> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: the kernel fills the whole struct when it returns 0; we read it only then.
    unsafe { (libc::getrusage(who, ru.as_mut_ptr()) == 0).then(|| ru.assume_init()) }
}

/// Probes `getrusage`, with the OS error as the reason when it fails.
pub(crate) fn probe_usage() -> Availability {
    match self_usage() {
        Some(_) => Availability::Available,
        None => Availability::Unavailable(format!(
            "getrusage(RUSAGE_SELF) failed: {}",
            std::io::Error::last_os_error()
        )),
    }
}

/// Widens a C integer (`long`, `time_t`: 32 or 64 bits depending on the target) to i64.
/// `Into` rather than `as`: lossless by construction on every target, and no same-type cast
/// for clippy to flag where these types already are i64.
#[inline]
pub(crate) fn wide(x: impl Into<i64>) -> i64 {
    x.into()
}

/// A `timeval` in nanoseconds.
#[inline]
pub(crate) fn timeval_ns(tv: libc::timeval) -> i64 {
    wide(tv.tv_sec) * 1_000_000_000 + wide(tv.tv_usec) * 1_000
}

/// Writes the chosen fields of one `getrusage` call into `out`; leaves `out` as it was on failure.
#[inline]
fn sample_with<const N: usize>(out: &mut [i64], fields: impl Fn(&libc::rusage) -> [i64; N]) {
    if let Some(ru) = self_usage() {
        out[..N].copy_from_slice(&fields(&ru));
    }
}

/// CPU time the process spent in user mode.
pub struct UserClock;

static USER_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "user_clock",
    unit: Unit::Nanoseconds,
    description: "CPU time of the process in user mode, all threads",
    additive: true,
}];

impl Collector for UserClock {
    fn name(&self) -> &'static str {
        "user_clock"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["user", "utime"]
    }
    fn description(&self) -> &'static str {
        "process CPU time in user mode (getrusage ru_utime, microsecond resolution)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &USER_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        probe_usage()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        sample_with(out, |ru| [timeval_ns(ru.ru_utime)]);
    }
}

/// CPU time the kernel spent working for the process (system calls, page faults).
pub struct SystemClock;

static SYSTEM_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "system_clock",
    unit: Unit::Nanoseconds,
    description: "CPU time of the process in kernel mode, all threads",
    additive: true,
}];

impl Collector for SystemClock {
    fn name(&self) -> &'static str {
        "system_clock"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["sys", "stime"]
    }
    fn description(&self) -> &'static str {
        "process CPU time in kernel mode (getrusage ru_stime, microsecond resolution)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &SYSTEM_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        probe_usage()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        sample_with(out, |ru| [timeval_ns(ru.ru_stime)]);
    }
}

/// Page faults: minor ones are served from memory, major ones wait for I/O.
pub struct PageFaults;

static FAULT_METRICS: [MetricInfo; 2] = [
    MetricInfo {
        name: "page_faults.minor",
        unit: Unit::Count,
        description: "page faults served without I/O (first touch, page cache)",
        additive: true,
    },
    MetricInfo {
        name: "page_faults.major",
        unit: Unit::Count,
        description: "page faults that waited for I/O",
        additive: true,
    },
];

impl Collector for PageFaults {
    fn name(&self) -> &'static str {
        "page_faults"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["faults"]
    }
    fn description(&self) -> &'static str {
        "minor and major page faults of the process (getrusage ru_minflt, ru_majflt)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &FAULT_METRICS
    }
    fn raw_len(&self) -> usize {
        2
    }
    fn probe(&self) -> Availability {
        probe_usage()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        sample_with(out, |ru| [wide(ru.ru_minflt), wide(ru.ru_majflt)]);
    }
}

/// Context switches: voluntary ones mean waiting (I/O, locks, sleep, MPI progress that blocks),
/// involuntary ones mean the scheduler took the CPU away (oversubscription, noise).
pub struct ContextSwitches;

static SWITCH_METRICS: [MetricInfo; 2] = [
    MetricInfo {
        name: "context_switches.voluntary",
        unit: Unit::Count,
        description: "context switches because a thread waited (I/O, lock, sleep)",
        additive: true,
    },
    MetricInfo {
        name: "context_switches.involuntary",
        unit: Unit::Count,
        description: "context switches because the scheduler preempted a thread",
        additive: true,
    },
];

impl Collector for ContextSwitches {
    fn name(&self) -> &'static str {
        "context_switches"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["ctx_switches", "csw"]
    }
    fn description(&self) -> &'static str {
        "voluntary and involuntary context switches of the process (getrusage ru_nvcsw, ru_nivcsw)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &SWITCH_METRICS
    }
    fn raw_len(&self) -> usize {
        2
    }
    fn probe(&self) -> Availability {
        probe_usage()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        sample_with(out, |ru| [wide(ru.ru_nvcsw), wide(ru.ru_nivcsw)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::cpu::tests::{burn, measure, spin};
    use std::time::Duration;

    const MS: i64 = 1_000_000;

    #[test]
    fn user_and_system_clocks_split_the_work() {
        let mut used = 0;
        let user = measure(&UserClock, || used = burn(Duration::from_millis(30), spin));
        // User/system split is sampled at scheduler ticks: a pure spin lands mostly in user.
        assert!(user[0] >= 10 * MS, "user {} ns of {used} ns", user[0]);
        let sys = measure(&SystemClock, || {
            burn(Duration::from_millis(30), || {
                // A raw system call: kernel time on every iteration, nothing cached in libc.
                // SAFETY: getppid has no preconditions.
                unsafe { libc::syscall(libc::SYS_getppid) };
            });
        });
        assert!(sys[0] >= MS, "system {} ns", sys[0]);
    }

    #[test]
    fn voluntary_switches_grow_across_sleeps() {
        let d = measure(&ContextSwitches, || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        assert!(d[0] >= 5, "voluntary {}", d[0]);
        assert!(d[1] >= 0, "involuntary {}", d[1]);
    }

    #[test]
    fn touching_fresh_memory_takes_minor_faults() {
        const LEN: usize = 4 << 20;
        let d = measure(&PageFaults, || {
            let mut v = vec![0u8; LEN];
            for i in (0..LEN).step_by(4096) {
                v[i] = 1;
            }
            std::hint::black_box(&v);
        });
        // At least one fault per 2 MiB even if the kernel backs the buffer with huge pages.
        assert!(d[0] >= (LEN / (2 << 20)) as i64, "minor {}", d[0]);
        assert!(d[1] >= 0, "major {}", d[1]);
    }

    #[test]
    fn rusage_probes_available() {
        for c in [
            &UserClock as &dyn Collector,
            &SystemClock,
            &PageFaults,
            &ContextSwitches,
        ] {
            assert_eq!(c.probe(), Availability::Available, "{}", c.name());
        }
    }
}
