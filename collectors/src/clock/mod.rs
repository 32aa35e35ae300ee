//! The wall clock: the one collector on nearly every hot path.
//!
//! On x86_64 with an invariant TSC (`constant_tsc` and `nonstop_tsc` in /proc/cpuinfo) a sample is
//! one `rdtsc` (about 9 ns here, against about 17 ns for vDSO `clock_gettime`), and ticks become
//! nanoseconds only in [`Collector::delta`], with a factor calibrated once against
//! `CLOCK_MONOTONIC`. Elsewhere a sample is `clock_gettime(CLOCK_MONOTONIC)`.

use crate::{Availability, Collector, MetricInfo, Unit};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;

/// How raw wall-clock samples are taken on this machine.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `rdtsc` ticks; `ns_per_tick` and the tick/ns origin pair come from calibration.
    Tsc {
        ns_per_tick: f64,
        tick0: i64,
        ns0: i64,
    },
    /// `clock_gettime(CLOCK_MONOTONIC)` nanoseconds.
    Monotonic,
}

static SOURCE: OnceLock<Source> = OnceLock::new();

/// The hot path's copy of [`SOURCE`]: which source, and the tick factor as f64 bits, in plain
/// atomics (one relaxed load each) rather than behind the `OnceLock`.
static MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);
/// Nanoseconds per tick in 32.32 fixed point: a lap converts with one integer multiply.
static NS_PER_TICK_FIXED: AtomicU64 = AtomicU64::new(0);
const FIXED_ONE: f64 = (1u64 << 32) as f64;
const MODE_UNKNOWN: u8 = 0;
const MODE_TSC: u8 = 1;
const MODE_MONOTONIC: u8 = 2;

/// Takes one raw wall-clock sample: TSC ticks or monotonic nanoseconds.
#[inline(always)]
fn sample_raw() -> i64 {
    match MODE.load(Relaxed) {
        MODE_TSC => read_tsc(),
        MODE_MONOTONIC => monotonic_ns(),
        _ => {
            publish_mode();
            sample_raw()
        }
    }
}

/// One raw wall-clock reading, as [`WallClock`]'s sample holds it (TSC ticks or monotonic
/// nanoseconds). For hot paths that measure the wall clock alone: inlined, no virtual call.
#[inline(always)]
pub fn wall_sample() -> i64 {
    sample_raw()
}

/// [`wall_sample`] when the wall clock is the TSC (one `rdtsc`, no call of any kind), else
/// `None`: lets a hot path keep its common case free of calls and take its general path,
/// which calls [`wall_sample`], on other machines.
#[inline(always)]
pub fn wall_sample_if_tsc() -> Option<i64> {
    (MODE.load(Relaxed) == MODE_TSC).then(read_tsc)
}

/// Nanoseconds between two readings of [`wall_sample`], as [`WallClock`]'s delta gives them.
#[inline(always)]
pub fn wall_elapsed_ns(start: i64, stop: i64) -> i64 {
    // A sample was taken before any delta, so MODE is known here.
    match MODE.load(Relaxed) {
        MODE_TSC => tsc_elapsed_ns(start, stop),
        _ => stop.wrapping_sub(start),
    }
}

/// [`wall_elapsed_ns`] for readings known to be TSC ticks (the stop came from
/// [`wall_sample_if_tsc`]: the source never changes once known), without asking again.
#[inline(always)]
pub fn tsc_elapsed_ns(start: i64, stop: i64) -> i64 {
    let d = stop.wrapping_sub(start);
    ((d as i128 * NS_PER_TICK_FIXED.load(Relaxed) as i128) >> 32) as i64
}

#[cold]
fn publish_mode() {
    let mode = match source() {
        Source::Tsc { ns_per_tick, .. } => {
            NS_PER_TICK_FIXED.store((ns_per_tick * FIXED_ONE).round() as u64, Relaxed);
            MODE_TSC
        }
        Source::Monotonic => MODE_MONOTONIC,
    };
    MODE.store(mode, Relaxed);
}

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Nanoseconds on the `CLOCK_MONOTONIC` timeline, read through the fastest source here.
/// Use it for timestamps (timeline starts); regions use wall-clock samples.
pub fn now_ns() -> i64 {
    match source() {
        Source::Tsc {
            ns_per_tick,
            tick0,
            ns0,
        } => ns0 + ((read_tsc() - tick0) as f64 * ns_per_tick) as i64,
        Source::Monotonic => monotonic_ns(),
    }
}

fn source() -> Source {
    *SOURCE.get_or_init(|| {
        if invariant_tsc() {
            calibrate_tsc()
        } else {
            Source::Monotonic
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn read_tsc() -> i64 {
    // SAFETY: rdtsc has no preconditions; its availability is checked by `invariant_tsc`.
    unsafe { core::arch::x86_64::_rdtsc() as i64 }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn read_tsc() -> i64 {
    monotonic_ns()
}

fn invariant_tsc() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    has("constant_tsc") && has("nonstop_tsc")
}

/// Measures ticks per nanosecond over about 2 ms of `CLOCK_MONOTONIC`.
fn calibrate_tsc() -> Source {
    let (ns0, tick0) = (monotonic_ns(), read_tsc());
    let mut ns1 = ns0;
    let mut tick1 = tick0;
    while ns1 - ns0 < 2_000_000 {
        ns1 = monotonic_ns();
        tick1 = read_tsc();
    }
    if tick1 <= tick0 {
        return Source::Monotonic;
    }
    Source::Tsc {
        ns_per_tick: (ns1 - ns0) as f64 / (tick1 - tick0) as f64,
        tick0,
        ns0,
    }
}

/// Elapsed real time of a region.
pub struct WallClock;

static WALL_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "wall_clock",
    unit: Unit::Nanoseconds,
    description: "elapsed real time",
    additive: true,
}];

impl Collector for WallClock {
    fn name(&self) -> &'static str {
        "wall_clock"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["wall", "real_clock"]
    }
    fn description(&self) -> &'static str {
        "elapsed real time (invariant TSC when present, else CLOCK_MONOTONIC)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &WALL_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        source();
        Availability::Available
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        out[0] = wall_sample();
    }
    #[inline]
    fn delta(&self, start: &[i64], stop: &[i64], out: &mut [i64]) {
        out[0] = wall_elapsed_ns(start[0], stop[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_tracks_sleep() {
        let mut a = [0i64; 1];
        let mut b = [0i64; 1];
        let mut d = [0i64; 1];
        WallClock.sample(&mut a);
        std::thread::sleep(std::time::Duration::from_millis(20));
        WallClock.sample(&mut b);
        WallClock.delta(&a, &b, &mut d);
        assert!(d[0] >= 20_000_000, "{} ns", d[0]);
        assert!(d[0] < 2_000_000_000, "{} ns", d[0]);
    }

    #[test]
    fn now_ns_follows_monotonic() {
        let m0 = monotonic_ns();
        let n = now_ns();
        let m1 = monotonic_ns();
        // Calibration error over a short interval is far below a millisecond.
        assert!(n >= m0 - 1_000_000 && n <= m1 + 1_000_000, "{m0} {n} {m1}");
    }
}
