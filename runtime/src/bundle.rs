//! Bundles: a named set of collectors sampled together at a region's start and stop.

use crate::collectors::Collector;
use crate::registry::{self, MetricId, UnknownComponent};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A fixed set of collectors. Bundles are interned and live for the whole process, so regions
/// hold a `&'static Bundle` and the hot path never allocates or looks anything up.
pub struct Bundle {
    collectors: Vec<&'static dyn Collector>,
    /// Per collector, its raw length and metric count: asked once here, not per lap.
    shapes: Vec<(usize, usize)>,
    metrics: Vec<MetricId>,
    raw_len: usize,
    /// The wall clock and nothing else (most regions): sampled inline, without a virtual call.
    wall_only: bool,
}

impl Bundle {
    /// The interned bundle for these component names (names or aliases, any case). Duplicates
    /// are dropped; the wall clock, when present, is sampled innermost so the other collectors'
    /// own cost does not count as elapsed time. Collectors that cannot measure here (their
    /// probe says why) are left out, with the reason on stderr once: their values are absent
    /// from every output, never zeros.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Result<&'static Bundle, UnknownComponent> {
        let mut collectors: Vec<&'static dyn Collector> = Vec::new();
        for name in names {
            let c = registry::resolve(name.as_ref())?;
            if !collectors.iter().any(|k| k.name() == c.name()) {
                collectors.push(c);
            }
        }
        collectors.sort_by_key(|c| c.name() != "wall_clock");
        let key: Vec<&'static str> = collectors.iter().map(|c| c.name()).collect();
        static INTERNED: OnceLock<Mutex<HashMap<Vec<&'static str>, &'static Bundle>>> =
            OnceLock::new();
        let mut map = INTERNED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Ok(*map.entry(key).or_insert_with(|| {
            // Probed once per bundle made, not per lookup.
            collectors.retain(|&c| registry::available(c));
            for &c in &collectors {
                registry::activate(c);
            }
            let metrics = collectors
                .iter()
                .flat_map(|&c| {
                    let first = registry::first_metric(c);
                    (0..c.metrics().len()).map(move |i| first + i as MetricId)
                })
                .collect();
            let raw_len = collectors.iter().map(|c| c.raw_len()).sum();
            let shapes = collectors
                .iter()
                .map(|c| (c.raw_len(), c.metrics().len()))
                .collect();
            let wall_only = matches!(collectors[..], [c] if c.name() == "wall_clock");
            Box::leak(Box::new(Bundle {
                collectors,
                shapes,
                metrics,
                raw_len,
                wall_only,
            }))
        }))
    }

    /// The collectors, wall clock first.
    pub fn collectors(&self) -> &[&'static dyn Collector] {
        &self.collectors
    }

    /// Metric ids in the order [`Bundle::measure`] writes values.
    #[inline]
    pub fn metrics(&self) -> &[MetricId] {
        &self.metrics
    }

    /// Raw readings per sample, all collectors together.
    #[inline]
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }

    /// Whether the bundle is the wall clock alone: its sample is one
    /// [`wall_sample`](crate::collectors::wall_sample) and its one metric the
    /// [`wall_elapsed_ns`](crate::collectors::wall_elapsed_ns) between two.
    #[inline]
    pub fn wall_clock_only(&self) -> bool {
        self.wall_only
    }

    /// Takes the start sample into `raw[..raw_len()]`; the wall clock goes last.
    #[inline]
    pub fn sample_start(&self, raw: &mut [i64]) {
        if self.wall_only {
            return raw[0] = crate::collectors::wall_sample();
        }
        // One collector (most often the wall clock alone): no loop, no slicing.
        if let [c] = self.collectors[..] {
            return c.sample(raw);
        }
        let mut end = self.raw_len;
        for (c, &(n, _)) in self.collectors.iter().zip(&self.shapes).rev() {
            c.sample(&mut raw[end - n..end]);
            end -= n;
        }
    }

    /// Takes the stop sample into `stop[..raw_len()]` (wall clock first) and turns it and
    /// `start` into metric values, `out[..metrics().len()]`. The caller provides the room for
    /// the stop sample, so that no collector's size is capped here.
    #[inline]
    pub fn measure(&self, start: &[i64], stop: &mut [i64], out: &mut [i64]) {
        if self.wall_only {
            stop[0] = crate::collectors::wall_sample();
            return out[0] = crate::collectors::wall_elapsed_ns(start[0], stop[0]);
        }
        if let [c] = self.collectors[..] {
            c.sample(stop);
            return c.delta(start, stop, out);
        }
        let (mut raw_at, mut out_at) = (0, 0);
        for (c, &(n, m)) in self.collectors.iter().zip(&self.shapes) {
            let stop = &mut stop[raw_at..raw_at + n];
            c.sample(stop);
            c.delta(
                &start[raw_at..raw_at + n],
                stop,
                &mut out[out_at..out_at + m],
            );
            raw_at += n;
            out_at += m;
        }
    }
}

/// The bundle named by the `components` setting, re-read when settings change. A bad list
/// falls back to the wall clock, with the reason on stderr once.
pub fn default_bundle() -> &'static Bundle {
    static CACHE: Mutex<Option<(u64, &'static Bundle)>> = Mutex::new(None);
    let generation = crate::settings::generation();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match *cache {
        Some((g, b)) if g == generation => b,
        _ => {
            let names = crate::settings::current().components.clone();
            let b = Bundle::new(&names).unwrap_or_else(|e| {
                crate::log::warning!(
                    "setting 'components' (RANKSCOPE_COMPONENTS): {e}; using wall_clock"
                );
                Bundle::new(&["wall_clock"]).expect("wall_clock exists")
            });
            *cache = Some((generation, b));
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_and_deduplicated_with_wall_clock_first() {
        let a = Bundle::new(&["peak_rss", "WallClock", "wall_clock"]).unwrap();
        let b = Bundle::new(&["wall_clock", "peak_rss"]).unwrap();
        assert!(std::ptr::eq(a, b));
        let names: Vec<_> = a.collectors().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["wall_clock", "peak_rss"]);
        assert_eq!(a.metrics().len(), 2);
    }

    #[test]
    fn a_bundle_of_every_collector_measures_each_metric() {
        let all: Vec<_> = crate::collectors::all().iter().map(|c| c.name()).collect();
        let b = Bundle::new(&all).unwrap();
        let n = b.raw_len();
        let (mut start, mut stop) = (vec![0i64; n], vec![0i64; n]);
        let mut out = vec![i64::MIN; b.metrics().len()];
        b.sample_start(&mut start);
        b.measure(&start, &mut stop, &mut out);
        assert!(out.iter().all(|v| *v != i64::MIN), "{out:?}");
    }

    #[test]
    fn unavailable_collectors_are_left_out() {
        // A collector that cannot measure here gives no values at all (absent, not zeros).
        let c = crate::collectors::register(Box::new(Unavailable)).unwrap();
        assert!(!c.probe().is_available());
        let b = Bundle::new(&["wall_clock", "test_unavailable"]).unwrap();
        let names: Vec<_> = b.collectors().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["wall_clock"]);
        assert_eq!(b.metrics().len(), 1);
        let alone = Bundle::new(&["test_unavailable"]).unwrap();
        assert!(alone.collectors().is_empty() && alone.metrics().is_empty());
        let (mut start, mut stop, mut out) = ([0i64; 0], [0i64; 0], [0i64; 0]);
        alone.sample_start(&mut start);
        alone.measure(&start, &mut stop, &mut out);
    }

    /// Never available: its sample would give zeros if the runtime used it.
    struct Unavailable;

    static UNAVAILABLE_METRICS: [crate::collectors::MetricInfo; 1] =
        [crate::collectors::MetricInfo {
            name: "test_unavailable",
            unit: crate::collectors::Unit::Count,
            description: "never measured",
            additive: true,
        }];

    impl Collector for Unavailable {
        fn name(&self) -> &'static str {
            "test_unavailable"
        }
        fn description(&self) -> &'static str {
            "a collector that cannot measure anywhere"
        }
        fn metrics(&self) -> &[crate::collectors::MetricInfo] {
            &UNAVAILABLE_METRICS
        }
        fn raw_len(&self) -> usize {
            1
        }
        fn probe(&self) -> crate::collectors::Availability {
            crate::collectors::Availability::Unavailable("no such thing here".into())
        }
        fn sample(&self, out: &mut [i64]) {
            out[0] = 0;
        }
    }

    #[test]
    fn unknown_component_is_an_error() {
        let err = Bundle::new(&["wall_clock", "peak_rs"]).err().unwrap();
        assert_eq!(err.suggestion, Some("peak_rss"));
    }

    #[test]
    fn several_collectors_measure_in_bundle_order() {
        // thread_cpu_clock, not cpu_clock: other test threads run in this process meanwhile.
        let b = Bundle::new(&["page_faults", "wall_clock", "thread_cpu_clock"]).unwrap();
        let names: Vec<_> = b.collectors().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["wall_clock", "page_faults", "thread_cpu_clock"]);
        let (mut raw, mut stop) = ([0i64; 8], [0i64; 8]);
        let mut out = [0i64; 8];
        b.sample_start(&mut raw[..b.raw_len()]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let touched = std::hint::black_box(vec![1u8; 4 << 20]);
        let n = b.raw_len();
        b.measure(&raw[..n], &mut stop[..n], &mut out[..b.metrics().len()]);
        drop(touched);
        assert!(out[0] >= 5_000_000, "wall {}", out[0]);
        assert!(out[1] >= 512, "minor faults {}", out[1]); // 4 MiB is 1,024 pages
        assert!(
            out[3] > 0 && out[3] < out[0],
            "cpu {} vs wall {}",
            out[3],
            out[0]
        );
    }

    #[test]
    fn measures_elapsed_time() {
        let b = Bundle::new(&["wall_clock"]).unwrap();
        let (mut raw, mut stop) = ([0i64; 1], [0i64; 1]);
        let mut out = [0i64; 1];
        b.sample_start(&mut raw);
        std::thread::sleep(std::time::Duration::from_millis(5));
        b.measure(&raw, &mut stop, &mut out);
        assert!(out[0] >= 5_000_000, "{}", out[0]);
    }
}
