//! Resident memory of the process: growth of the high-water mark, and change of the current
//! resident set size.
//!
//! Neither is additive: a child region's growth is not part of its parent's in any summable way.

use super::io::{parse_dec, ProcFile};
use super::rusage::{peak_rss_bytes, probe_usage, wide};
use crate::{Availability, Collector, MetricInfo, Unit};
use std::sync::OnceLock;

/// How much the process's peak resident set size rose during a region. Zero when the region stayed
/// below an earlier peak, however much it allocated.
pub struct PeakRss;

static PEAK_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "peak_rss",
    unit: Unit::Bytes,
    description: "growth of the process's peak resident set size",
    additive: false,
}];

impl Collector for PeakRss {
    fn name(&self) -> &'static str {
        "peak_rss"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["rss_peak", "max_rss"]
    }
    fn description(&self) -> &'static str {
        "growth of the peak resident set size (getrusage ru_maxrss, read per thread)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &PEAK_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        probe_usage()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        if let Some(peak) = peak_rss_bytes() {
            out[0] = peak;
        }
    }
}

static STATM: ProcFile = ProcFile::new("/proc/self/statm");
static PAGE_SIZE: OnceLock<i64> = OnceLock::new();

pub(crate) fn page_size() -> i64 {
    // SAFETY: sysconf has no preconditions; it returns -1 only for unknown names.
    *PAGE_SIZE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => wide(n),
        _ => 4096,
    })
}

/// Resident pages, the second field of `/proc/self/statm` ("size resident shared ...").
fn resident_pages(statm: &[u8]) -> Option<i64> {
    statm.split(|b| *b == b' ').nth(1).and_then(parse_dec)
}

/// Virtual size and resident set size in bytes, from the first two fields of
/// `/proc/self/statm`; `None` when it cannot be read.
pub(crate) fn statm_bytes() -> Option<(i64, i64)> {
    let mut buf = [0u8; super::io::PROC_BUF];
    let text = STATM.read(&mut buf)?;
    let mut fields = text.split(|b| *b == b' ');
    let size = fields.next().and_then(parse_dec)?;
    let resident = fields.next().and_then(parse_dec)?;
    Some((size * page_size(), resident * page_size()))
}

/// Whether `/proc/self/statm` reads, with the reason when it does not.
pub(crate) fn probe_statm() -> Availability {
    STATM.probe(|text| resident_pages(text).is_some())
}

/// How much the resident set size changed during a region; negative when memory was returned.
pub struct PageRss;

static PAGE_RSS_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "page_rss",
    unit: Unit::Bytes,
    description: "change of the process's resident set size",
    additive: false,
}];

impl Collector for PageRss {
    fn name(&self) -> &'static str {
        "page_rss"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["rss", "current_rss"]
    }
    fn description(&self) -> &'static str {
        "change of the resident set size (/proc/self/statm resident pages x page size)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &PAGE_RSS_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        probe_statm()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        if let Some(bytes) = resident_bytes() {
            out[0] = bytes;
        }
    }
}

/// The resident set size in bytes (`/proc/self/statm` resident pages x page size); `None` when
/// it cannot be read. The one reader behind `page_rss` and `memory_point`.
#[inline]
pub(crate) fn resident_bytes() -> Option<i64> {
    let mut buf = [0u8; super::io::PROC_BUF];
    STATM
        .read(&mut buf)
        .and_then(resident_pages)
        .map(|pages| pages * page_size())
}

/// The resident set size itself (a level, not a change): at a region's stop, or at a memory
/// point (`rankscope.memory.point`), which records it without a region around it.
pub struct MemoryPoint;

static MEMORY_POINT_METRICS: [MetricInfo; 1] = [MetricInfo {
    name: "memory_point",
    unit: Unit::Bytes,
    description: "the process's resident set size at the point (at a region's stop)",
    additive: false,
}];

impl Collector for MemoryPoint {
    fn name(&self) -> &'static str {
        "memory_point"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["rss_level", "resident_set"]
    }
    fn description(&self) -> &'static str {
        "resident set size at the point or at a region's stop (/proc/self/statm resident pages x page size)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &MEMORY_POINT_METRICS
    }
    fn raw_len(&self) -> usize {
        1
    }
    fn probe(&self) -> Availability {
        probe_statm()
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        if let Some(bytes) = resident_bytes() {
            out[0] = bytes;
        }
    }
    /// A level: the value at the stop, whatever it was at the start.
    fn delta(&self, _start: &[i64], stop: &[i64], out: &mut [i64]) {
        out[0] = stop[0];
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const MIB: i64 = 1 << 20;

    /// Held by the tests that touch and free large blocks: the process's resident size is
    /// shared by every test of this binary, so they must not overlap.
    pub(crate) static BIG_BLOCKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_threads_peak_is_the_whole_processs() {
        // Memory touched by another thread raises the peak seen from this one: the peak read
        // per thread (cheaper) is the process's, as from RUSAGE_SELF.
        const LEN: usize = 96 << 20;
        let _alone = BIG_BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
        let before = peak_rss_bytes().unwrap();
        std::thread::spawn(|| {
            let mut v = vec![0u8; LEN];
            for i in (0..LEN).step_by(4096) {
                v[i] = 1;
            }
            std::hint::black_box(&v);
        })
        .join()
        .unwrap();
        let mine = peak_rss_bytes().unwrap();
        let process = wide(super::super::rusage::self_usage().unwrap().ru_maxrss) * 1024;
        assert!(
            mine >= before + 64 * MIB || mine >= 96 * MIB,
            "{before} -> {mine}"
        );
        // Other tests may raise the peak between the two reads: never lower, rarely higher.
        assert!(
            process >= mine && process - mine < 64 * MIB,
            "{mine} vs {process}"
        );
    }

    #[test]
    fn touching_64_mib_shows_in_both() {
        const LEN: usize = 64 << 20;
        let _alone = BIG_BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
        let (mut a, mut b) = ([0i64; 2], [0i64; 2]);
        let mut d = [0i64; 2];
        PageRss.sample(&mut a[..1]);
        PeakRss.sample(&mut a[1..]);
        let mut v = vec![0u8; LEN];
        for i in (0..LEN).step_by(4096) {
            v[i] = 1;
        }
        std::hint::black_box(&v);
        PageRss.sample(&mut b[..1]);
        PeakRss.sample(&mut b[1..]);
        PageRss.delta(&a[..1], &b[..1], &mut d[..1]);
        PeakRss.delta(&a[1..], &b[1..], &mut d[1..]);
        drop(v);
        // Parallel tests allocate and free a few MiB meanwhile: bounds leave room for that.
        assert!(d[0] >= 50 * MIB, "page_rss grew {} MiB", d[0] / MIB);
        // The peak grows by what the region holds above the earlier high-water mark, which
        // start-up or other tests may have set: nearly all of the 64 MiB here. It never shrinks.
        let above_old_peak = b[0] - a[1];
        assert!(
            d[1] >= 0 && d[1] >= above_old_peak - 4 * MIB,
            "peak_rss grew {} MiB, rss {:?} peak {:?}",
            d[1] / MIB,
            [a[0], b[0]],
            [a[1], b[1]]
        );
        assert!(b[1] >= b[0] - 4 * MIB, "peak {} < rss {}", b[1], b[0]);
    }

    #[test]
    fn current_rss_is_below_peak() {
        // The current RSS can never exceed the peak; both are real, non-zero sizes.
        let (mut rss, mut peak) = ([0i64], [0i64]);
        PageRss.sample(&mut rss);
        PeakRss.sample(&mut peak);
        assert!(rss[0] > MIB, "rss {}", rss[0]);
        assert!(
            peak[0] >= rss[0] - 4 * MIB,
            "peak {} rss {}",
            peak[0],
            rss[0]
        );
    }

    #[test]
    fn memory_point_is_the_level_at_the_stop() {
        let (mut a, mut b, mut d) = ([0i64], [0i64], [0i64]);
        MemoryPoint.sample(&mut a);
        MemoryPoint.sample(&mut b);
        MemoryPoint.delta(&a, &b, &mut d);
        assert_eq!(d[0], b[0]);
        assert!(d[0] > MIB, "resident set {}", d[0]);
        assert_eq!(MemoryPoint.probe(), Availability::Available);
    }

    #[test]
    fn parses_statm() {
        assert_eq!(resident_pages(b"765 403 375 5 0 123 0\n"), Some(403));
        assert_eq!(resident_pages(b"765"), None);
        assert_eq!(resident_pages(b""), None);
    }

    #[test]
    fn memory_probes_available() {
        assert_eq!(PeakRss.probe(), Availability::Available);
        assert_eq!(PageRss.probe(), Availability::Available);
    }
}
