//! CPU time from the POSIX CPU-time clocks, and CPU utilisation of a region.
//!
//! `CLOCK_PROCESS_CPUTIME_ID` and `CLOCK_THREAD_CPUTIME_ID` give nanosecond CPU time straight from
//! the scheduler's accounting, finer than `getrusage` (microseconds) and without its struct copy.

use super::rusage::wide;
use crate::{monotonic_ns, Availability, Collector, MetricInfo, Unit};

/// Reads a CPU-time clock in nanoseconds; `None` only if the kernel refuses the clock.
#[inline]
pub(crate) fn clock_ns(clock: libc::clockid_t) -> Option<i64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| wide(ts.tv_sec) * 1_000_000_000 + wide(ts.tv_nsec))
}

/// CPU time of the calling thread in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`); `None` if the
/// kernel refuses the clock.
pub fn thread_cpu_ns() -> Option<i64> {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Probes a clock by reading it, with the OS error as the reason when that fails.
fn probe_clock(clock: libc::clockid_t, what: &str) -> Availability {
    match clock_ns(clock) {
        Some(_) => Availability::Available,
        None => Availability::Unavailable(format!(
            "clock_gettime({what}) failed: {}",
            std::io::Error::last_os_error()
        )),
    }
}

/// CPU time (user + system) of the whole process, all threads, during a region.
pub struct CpuClock;

static CPU_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "cpu_clock",
    unit: Unit::Nanoseconds,
    description: "CPU time of the process, user + system, all threads",
    additive: true,
}];

impl Collector for CpuClock {
    fn name(&self) -> &'static str {
        "cpu_clock"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["cpu", "process_cpu"]
    }
    fn description(&self) -> &'static str {
        "process CPU time, user + system, all threads (CLOCK_PROCESS_CPUTIME_ID)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &CPU_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        probe_clock(libc::CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID")
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        if let Some(ns) = clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID) {
            out[0] = ns;
        }
    }
}

/// CPU time of the calling thread during a region (start and stop on the same thread).
pub struct ThreadCpuClock;

static THREAD_CPU_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "thread_cpu_clock",
    unit: Unit::Nanoseconds,
    description: "CPU time of the calling thread, user + system",
    additive: true,
}];

impl Collector for ThreadCpuClock {
    fn name(&self) -> &'static str {
        "thread_cpu_clock"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["thread_cpu"]
    }
    fn description(&self) -> &'static str {
        "CPU time of the calling thread, user + system (CLOCK_THREAD_CPUTIME_ID)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &THREAD_CPU_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        probe_clock(libc::CLOCK_THREAD_CPUTIME_ID, "CLOCK_THREAD_CPUTIME_ID")
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        if let Some(ns) = clock_ns(libc::CLOCK_THREAD_CPUTIME_ID) {
            out[0] = ns;
        }
    }
}

/// Process CPU time over wall time of a region: 100% is one core busy the whole time, so a
/// process with several busy threads can exceed 100%.
pub struct CpuUtil;

static CPU_UTIL_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "cpu_util",
    unit: Unit::PartsPerMillion,
    description: "process CPU time / wall time (1,000,000 ppm = one core busy)",
    additive: false,
}];

/// `cpu / wall` in parts per million; 0 when no wall time passed (nothing to divide by) or the
/// samples ran backwards (a failed read).
fn util_ppm(wall_ns: i64, cpu_ns: i64) -> i64 {
    if wall_ns <= 0 || cpu_ns <= 0 {
        return 0;
    }
    // i128 because cpu_ns * 1e6 overflows i64 after about 2.5 hours of CPU time.
    let ppm = cpu_ns as i128 * 1_000_000 / wall_ns as i128;
    i64::try_from(ppm).unwrap_or(i64::MAX)
}

impl Collector for CpuUtil {
    fn name(&self) -> &'static str {
        "cpu_util"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["cpu_utilization", "cpu_percent"]
    }
    fn description(&self) -> &'static str {
        "process CPU utilisation: CPU time over wall time (CLOCK_PROCESS_CPUTIME_ID / CLOCK_MONOTONIC)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &CPU_UTIL_METRICS
    }
    fn raw_len(&self) -> usize {
        2
    }
    fn probe(&self) -> Availability {
        probe_clock(libc::CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID")
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        out[0] = monotonic_ns();
        if let Some(ns) = clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID) {
            out[1] = ns;
        }
    }
    #[inline]
    fn delta(&self, start: &[i64], stop: &[i64], out: &mut [i64]) {
        out[0] = util_ppm(
            stop[0].wrapping_sub(start[0]),
            stop[1].wrapping_sub(start[1]),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Also the helpers the other collector modules' tests share.
    use super::*;
    use std::time::{Duration, Instant};

    /// Samples `c` around `f` and returns its metric values.
    pub(crate) fn measure(c: &dyn Collector, f: impl FnOnce()) -> Vec<i64> {
        let (mut a, mut b) = (vec![0i64; c.raw_len()], vec![0i64; c.raw_len()]);
        let mut d = vec![0i64; c.metrics().len()];
        c.sample(&mut a);
        f();
        c.sample(&mut b);
        c.delta(&a, &b, &mut d);
        d
    }

    /// CPU time of the calling thread from `getrusage(RUSAGE_THREAD)`: a second, independent
    /// source to check the clocks against.
    fn rusage_thread_ns() -> i64 {
        // SAFETY: an all-zero rusage is valid, and the kernel only writes into it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) }, 0);
        crate::os::rusage::timeval_ns(ru.ru_utime) + crate::os::rusage::timeval_ns(ru.ru_stime)
    }

    /// Runs `work` until this thread has used `cpu` of CPU time, and returns the CPU time used.
    /// Counting CPU time rather than wall time keeps the tests true on a busy machine, where a
    /// 30 ms wall-clock spin may get only half of that on a core. Gives up after 5 s of wall time.
    pub(crate) fn burn(cpu: Duration, mut work: impl FnMut()) -> i64 {
        let (t, c0) = (Instant::now(), rusage_thread_ns());
        let mut used = 0;
        while used < cpu.as_nanos() as i64 && t.elapsed() < Duration::from_secs(5) {
            for _ in 0..100 {
                work();
            }
            used = rusage_thread_ns() - c0;
        }
        used
    }

    /// Plain user-mode work for [`burn`].
    pub(crate) fn spin() {
        std::hint::black_box((0..1_000u64).fold(0, |a, b| a ^ b.wrapping_mul(a | 1)));
    }

    const MS: i64 = 1_000_000;

    #[test]
    fn cpu_clock_counts_a_spin() {
        let mut used = 0;
        let d = measure(&CpuClock, || used = burn(Duration::from_millis(30), spin));
        // Process time also holds other test threads: no upper bound.
        assert!(used >= 30 * MS, "spin got only {used} ns");
        assert!(d[0] >= used - MS, "{} ns for {used} ns", d[0]);
    }

    #[test]
    fn thread_cpu_clock_counts_a_spin_not_a_sleep() {
        let mut used = 0;
        let busy = measure(&ThreadCpuClock, || {
            used = burn(Duration::from_millis(30), spin)
        });
        // Same scheduler accounting, but getrusage leaves out the running thread's time since
        // the last tick (up to 10 ms), which the clock includes: it may only be ahead.
        assert!(
            busy[0] >= used - MS && busy[0] < used + 20 * MS,
            "{} ns for {used} ns",
            busy[0]
        );
        let idle = measure(&ThreadCpuClock, || {
            std::thread::sleep(Duration::from_millis(50))
        });
        assert!((0..10 * MS).contains(&idle[0]), "{} ns", idle[0]);
    }

    #[test]
    fn cpu_util_of_a_spin_is_at_least_its_share() {
        let mut used = 0;
        let t = Instant::now();
        let d = measure(&CpuUtil, || used = burn(Duration::from_millis(30), spin));
        let wall = t.elapsed().as_nanos() as i64;
        // About 100% on an idle machine, but other jobs on these cores can take half of it and
        // parallel tests add theirs: check against this thread's own share instead, and the
        // ceiling of every core busy (plus slack for the two clocks read microseconds apart).
        let share = (used - MS) * 1_000_000 / wall;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        assert!(
            d[0] >= share && d[0] <= cores * 1_100_000,
            "{}% for a share of {}%",
            d[0] as f64 / 1e4,
            share as f64 / 1e4
        );
    }

    #[test]
    fn cpu_util_arithmetic() {
        let mut out = [0i64; 1];
        CpuUtil.delta(&[1_000, 5_000], &[3_000, 6_000], &mut out);
        assert_eq!(out[0], 500_000, "1000 ns cpu in 2000 ns wall = 50%");
        CpuUtil.delta(&[0, 0], &[1_000, 2_000], &mut out);
        assert_eq!(out[0], 2_000_000, "two cores busy = 200%");
        CpuUtil.delta(&[7, 0], &[7, 1_000], &mut out);
        assert_eq!(out[0], 0, "no wall time");
        CpuUtil.delta(&[0, 5], &[10, 5], &mut out);
        assert_eq!(out[0], 0, "idle");
        CpuUtil.delta(&[10, 5], &[0, 9], &mut out);
        assert_eq!(out[0], 0, "wall ran backwards");
        // Days of CPU time must not overflow.
        let day = 86_400_000_000_000i64;
        CpuUtil.delta(&[0, 0], &[day, 64 * day], &mut out);
        assert_eq!(out[0], 64_000_000);
    }

    #[test]
    fn cpu_clocks_probe_available() {
        assert!(CpuClock.probe().is_available());
        assert!(ThreadCpuClock.probe().is_available());
        assert!(CpuUtil.probe().is_available());
    }
}
