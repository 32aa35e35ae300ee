//! The perf_event groups of one collector on the calling thread. Each is enabled once and never
//! stopped, and read as a whole: one `read()` of its leader with `PERF_FORMAT_GROUP |
//! TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING`, or event by event with `rdpmc` from user space where
//! the kernel allows it (hardware counters only).
//!
//! A collector's events go into one kernel group per PMU: hardware, cache and raw events
//! together (counted and multiplexed as one), the other software events together, task-clock
//! and cpu-clock each alone. Measured on this VM (Linux 6.18): in a group mixing software PMUs
//! the members of another PMU than the leader's read stale values. A page-faults member of a
//! task-clock group counts nothing at all, and a task-clock member of a page-faults (or dummy)
//! group is only brought up to date when the thread is next scheduled. Groups of one PMU read
//! every member. So each PMU's events are counted and multiplexed together, as the kernel
//! can, and read with one system call per PMU.
//!
//! A sample holds three readings per event, in the collector's event order: the time its group
//! was enabled, the time it was running, and its count; [`scaled`] and [`running_ppm`] turn two
//! samples into region values.

use super::events::{Spec, TYPE_SOFTWARE};
use perf_event::events::Raw;
use perf_event::{Builder, Counter, ReadFormat, Sampler};
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Readings per event in a sample: time enabled, time running, count.
pub(crate) const PER_EVENT: usize = 3;

/// A time_enabled that marks a sample with no reading (a group could not be read).
pub(crate) const NO_READING: i64 = -1;

/// Which kernel group an event joins: the CPU's PMU, the software-event PMU, task-clock's,
/// cpu-clock's (the last two are PMUs of their own in Linux).
fn pmu_of(spec: Spec) -> u64 {
    match (spec.type_, spec.config) {
        (TYPE_SOFTWARE, 0) => 2, // cpu-clock
        (TYPE_SOFTWARE, 1) => 3, // task-clock
        (TYPE_SOFTWARE, _) => 1,
        _ => 0,
    }
}

/// The events' indices split into one kernel group per PMU, in order of first appearance.
pub(crate) fn kernel_groups(events: &[Spec]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(u64, Vec<usize>)> = Vec::new();
    for (i, &spec) in events.iter().enumerate() {
        let pmu = pmu_of(spec);
        match groups.iter_mut().find(|(p, _)| *p == pmu) {
            Some((_, g)) => g.push(i),
            None => groups.push((pmu, vec![i])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Every kernel group of one collector on the thread that opened them.
pub(crate) struct ThreadGroups {
    groups: Vec<KernelGroup>,
}

/// Where opening failed: the event's index (in the collector's order) and the error.
pub(crate) type OpenError = (usize, io::Error);

impl ThreadGroups {
    /// Opens and enables the groups counting `events` on this thread. With `user_read`,
    /// groups of PMU events are mapped so that reads can use `rdpmc` when the kernel sets
    /// `cap_user_rdpmc` for all their events (it never does for software events).
    pub fn open(events: &[Spec], exclude_kernel: bool, user_read: bool) -> Result<Self, OpenError> {
        let groups = kernel_groups(events)
            .into_iter()
            .map(|indices| KernelGroup::open(events, indices, exclude_kernel, user_read))
            .collect::<Result<_, _>>()?;
        Ok(ThreadGroups { groups })
    }

    /// True when a group is read with `rdpmc` (no system call).
    #[cfg(test)]
    pub fn user_read(&self) -> bool {
        self.groups.iter().any(|g| !g.mapped.is_empty())
    }

    /// One sample into `out[..PER_EVENT * events]`. Returns false when a read fails (what was
    /// written is then incomplete).
    #[inline]
    pub fn read(&mut self, out: &mut [i64]) -> bool {
        self.groups.iter_mut().all(|g| g.read(out))
    }
}

/// One kernel group: a leader (the first of its events) and its members.
struct KernelGroup {
    /// Positions of its events in the collector's order.
    indices: Box<[usize]>,
    /// The events, the leader first, read with `read()` of the leader (all kept open: closing
    /// one takes it out of the group). Empty when the events are mapped.
    counters: Vec<Counter>,
    /// The same events mapped for `rdpmc`, when the kernel allows it on every one.
    mapped: Vec<Sampler>,
    /// Room for one group read: nr, time_enabled, time_running, then one value per event.
    buf: Box<[u64]>,
}

fn builder(spec: Spec, exclude_kernel: bool) -> Builder<'static> {
    let mut b = Builder::new(Raw::new(spec.config));
    b.attrs_mut().type_ = spec.type_;
    b.observe_self()
        .any_cpu()
        .inherit(false)
        .exclude_kernel(exclude_kernel)
        .exclude_hv(true);
    b
}

impl KernelGroup {
    fn open(
        all: &[Spec],
        indices: Vec<usize>,
        exclude_kernel: bool,
        user_read: bool,
    ) -> Result<Self, OpenError> {
        let mut lb = builder(all[indices[0]], exclude_kernel);
        lb.read_format(
            ReadFormat::GROUP | ReadFormat::TOTAL_TIME_ENABLED | ReadFormat::TOTAL_TIME_RUNNING,
        );
        // perf-event2 adds ID to every group read format; values alone are enough here (one
        // per event, in the order they were added), and a shorter read.
        lb.attrs_mut().read_format &= !ReadFormat::ID.bits();
        let mut leader = lb
            .build_group()
            .map_err(|e| (indices[0], e))?
            .into_counter();
        let mut counters = Vec::with_capacity(indices.len());
        for &i in &indices[1..] {
            let c = builder(all[i], exclude_kernel)
                .build_with_group(&mut leader)
                .map_err(|e| (i, e))?;
            counters.push(c);
        }
        leader.enable_group().map_err(|e| (indices[0], e))?;
        counters.insert(0, leader);
        let mut group = KernelGroup {
            buf: vec![0; 3 + indices.len()].into_boxed_slice(),
            indices: indices.clone().into_boxed_slice(),
            counters,
            mapped: Vec::new(),
        };
        if user_read && all[indices[0]].needs_pmu() {
            let counters = std::mem::take(&mut group.counters);
            let mut mapped = Vec::with_capacity(counters.len());
            for c in counters {
                match c.sampled(0) {
                    Ok(s) => mapped.push(s),
                    // The failed call took the counter with it, so the group lost an event:
                    // open a new one, read with read() only.
                    Err(_) => return Self::open(all, indices, exclude_kernel, false),
                }
            }
            // Keep the mappings only if the kernel lets user space read every event.
            if mapped.iter().all(|s| s.read_user().count().is_some()) {
                group.mapped = mapped;
            } else {
                group.counters = mapped.into_iter().map(Sampler::into_counter).collect();
            }
        }
        Ok(group)
    }

    fn leader_fd(&self) -> RawFd {
        match self.mapped.first() {
            Some(s) => s.as_raw_fd(),
            None => self.counters[0].as_raw_fd(),
        }
    }

    #[inline]
    fn read(&mut self, out: &mut [i64]) -> bool {
        if !self.mapped.is_empty() && self.read_user(out) {
            return true;
        }
        let bytes = std::mem::size_of_val(&*self.buf);
        // SAFETY: `buf` is a live, writable buffer of `bytes` bytes; the kernel writes at most
        // that many into it.
        let n = unsafe { libc::read(self.leader_fd(), self.buf.as_mut_ptr().cast(), bytes) };
        if n != bytes as isize {
            return false;
        }
        let (enabled, running) = (self.buf[1] as i64, self.buf[2] as i64);
        for (&i, &v) in self.indices.iter().zip(&self.buf[3..]) {
            out[PER_EVENT * i..PER_EVENT * i + 3].copy_from_slice(&[enabled, running, v as i64]);
        }
        true
    }

    /// Reads every event with `rdpmc`; false when one of them is not on a counter right now
    /// (multiplexed out), so that the caller falls back to `read()`.
    #[inline]
    fn read_user(&self, out: &mut [i64]) -> bool {
        for (&i, s) in self.indices.iter().zip(&self.mapped) {
            let d = s.read_user();
            let Some(count) = d.count() else {
                return false;
            };
            out[PER_EVENT * i..PER_EVENT * i + 3].copy_from_slice(&[
                d.time_enabled().as_nanos() as i64,
                d.time_running().as_nanos() as i64,
                count as i64,
            ]);
        }
        true
    }
}

/// A count over a region, scaled for multiplexing: `count * enabled / running` when the group
/// ran for only part of the time it was enabled; 0 when it never ran (then
/// [`running_ppm`] is 0, which says so).
pub(crate) fn scaled(count: i64, enabled: i64, running: i64) -> i64 {
    if running <= 0 {
        0
    } else if running >= enabled {
        count
    } else {
        (count as i128 * enabled as i128 / running as i128) as i64
    }
}

/// How much of a region's enabled time the group was counting, in parts per million: the
/// inverse of the scaling factor [`scaled`] applied (1,000,000 when nothing was scaled).
pub(crate) fn running_ppm(enabled: i64, running: i64) -> i64 {
    if enabled <= 0 {
        0
    } else {
        (running.clamp(0, enabled) as i128 * 1_000_000 / enabled as i128) as i64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::perf::events::parse;

    #[test]
    fn multiplex_scaling_arithmetic() {
        // Made-up times: the group counted 250 of the 1,000 ns it was enabled.
        assert_eq!(scaled(1_000, 1_000, 250), 4_000);
        assert_eq!(running_ppm(1_000, 250), 250_000);
        // Not multiplexed: values as counted, 100 %.
        assert_eq!(scaled(1_234, 5_000, 5_000), 1_234);
        assert_eq!(running_ppm(5_000, 5_000), 1_000_000);
        // Never ran: no count, and 0 % says so.
        assert_eq!(scaled(0, 5_000, 0), 0);
        assert_eq!(running_ppm(5_000, 0), 0);
        // Rounds down; no overflow with counts near i64::MAX / 2 and a factor of 3.
        assert_eq!(scaled(10, 3, 2), 15);
        assert_eq!(scaled(7, 3, 2), 10);
        let big = i64::MAX / 4;
        assert_eq!(scaled(big, 3_000, 1_000), big * 3);
        assert_eq!(running_ppm(3, 1), 333_333);
        // Running never above enabled (clock skew between the two readings).
        assert_eq!(running_ppm(100, 101), 1_000_000);
        assert_eq!(scaled(50, 100, 101), 50);
        assert_eq!(running_ppm(0, 0), 0);
    }

    /// `pages` fresh pages of anonymous memory without huge pages, each written once.
    pub(crate) fn touch_pages(pages: usize) {
        let len = pages * 4096;
        // SAFETY: a private anonymous mapping of `len` bytes, written inside its bounds, then
        // unmapped; no Rust reference to it exists.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::madvise(p, len, libc::MADV_NOHUGEPAGE);
            for i in 0..pages {
                std::ptr::write_volatile(p.cast::<u8>().add(i * 4096), 1);
            }
            libc::munmap(p, len);
        }
    }

    fn spin() {
        let mut x = 1.0f64;
        for _ in 0..2_000_000 {
            x = std::hint::black_box(x * 1.000_000_1);
        }
    }

    #[test]
    fn one_kernel_group_per_pmu() {
        let specs: Vec<Spec> = ["cycles", "task-clock", "faults", "r01c7", "cs", "cpu-clock"]
            .iter()
            .map(|n| parse(n).unwrap().spec())
            .collect();
        assert_eq!(
            kernel_groups(&specs),
            [vec![0, 3], vec![1], vec![2, 4], vec![5]]
        );
    }

    #[test]
    fn software_groups_read_every_event_from_the_first_read() {
        // Every order of events of three software PMUs: each event counts what happened,
        // without waiting for the thread to be scheduled again.
        for names in [
            ["task-clock", "page-faults", "cpu-clock", "cs"],
            ["page-faults", "task-clock", "cs", "cpu-clock"],
            ["cs", "cpu-clock", "page-faults", "task-clock"],
        ] {
            let specs: Vec<Spec> = names.iter().map(|n| parse(n).unwrap().spec()).collect();
            let at = |n: &str| names.iter().position(|x| *x == n).unwrap() * PER_EVENT;
            let mut g = ThreadGroups::open(&specs, false, true).expect("software events open");
            assert!(!g.user_read(), "software events are never read with rdpmc");
            let (mut a, mut b, mut c) = ([0i64; 12], [0i64; 12], [0i64; 12]);
            assert!(g.read(&mut a));
            touch_pages(256);
            spin();
            assert!(g.read(&mut b));
            let d = |p: &[i64; 12], q: &[i64; 12], i: usize| q[i + 2] - p[i + 2];
            assert!(d(&a, &b, at("task-clock")) > 0, "{names:?} {a:?} {b:?}");
            assert!(d(&a, &b, at("cpu-clock")) > 0, "{names:?} {a:?} {b:?}");
            assert!(d(&a, &b, at("page-faults")) >= 256, "{names:?} {a:?} {b:?}");
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert!(g.read(&mut c));
            assert!(
                d(&b, &c, at("cs")) >= 1,
                "{names:?} the sleep switched context"
            );
            for i in (0..12).step_by(PER_EVENT) {
                let (de, dr) = (c[i] - a[i], c[i + 1] - a[i + 1]);
                assert!(de > 0 && dr == de, "software events are never multiplexed");
            }
        }
    }
}
