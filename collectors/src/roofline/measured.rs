//! The `roofline_measured` collector: FLOPs and bytes from the CPU's counters, with the
//! vendor table [`vendor::select`] picks for this CPU, counted by the perf collectors' groups
//! (opened lazily per thread, multiplexing scaled and shown) and weighted by [`vendor::weigh`].

use super::vendor::{self, Table};
use crate::perf::{Event, PerfCollector};
use crate::{Availability, Collector, MetricInfo, Unit};
use std::sync::OnceLock;

/// Most events a table may have (room for the counts in `delta`, which must not allocate).
const MAX_EVENTS: usize = 8;

/// What the collector counts on this machine, settled at the first use.
struct Setup {
    table: Result<&'static Table, String>,
    /// One perf group per group of the table, in its order.
    groups: Vec<PerfCollector>,
    /// SVE vector length in bits (128 without SVE), for Arm's scalable operations.
    sve_bits: u32,
}

/// The `roofline_measured` collector.
pub(crate) struct Measured {
    setup: OnceLock<Setup>,
}

pub(crate) static MEASURED: Measured = Measured {
    setup: OnceLock::new(),
};

static METRICS: [MetricInfo; 3] = [
    MetricInfo {
        name: "flops.measured",
        unit: Unit::Count,
        description: "floating-point operations counted by the CPU's PMU in this region \
                      (vendor FLOP events weighted by vector lanes)",
        additive: true,
    },
    MetricInfo {
        name: "bytes.measured",
        unit: Unit::Bytes,
        description: "memory traffic in this region from a per-core proxy event (lines \
                      filled from beyond L2, times 64 B): a proxy, see docs/roofline.md",
        additive: true,
    },
    MetricInfo {
        name: "roofline_measured.running",
        unit: Unit::PartsPerMillion,
        description: "smallest share of the region's time any of the event groups was \
                      counting (the counts are scaled by its inverse)",
        additive: false,
    },
];

/// This process's SVE vector length in bits; 128 without SVE.
fn sve_bits() -> u32 {
    #[cfg(target_arch = "aarch64")]
    {
        const PR_SVE_GET_VL: libc::c_int = 51;
        // SAFETY: PR_SVE_GET_VL takes no pointer; it returns the length in bytes or -1.
        let vl = unsafe { libc::prctl(PR_SVE_GET_VL, 0, 0, 0, 0) };
        if vl > 0 {
            return ((vl & 0xffff) as u32) * 8;
        }
    }
    128
}

impl Measured {
    fn setup(&self) -> &Setup {
        self.setup.get_or_init(|| {
            let table = std::fs::read_to_string("/proc/cpuinfo")
                .map_err(|e| format!("cannot read /proc/cpuinfo to pick the FLOP events: {e}"))
                .and_then(|text| vendor::select(&text));
            let groups = match table {
                Ok(t) => t
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let events = g.iter().map(|e| Event::Raw(e.config)).collect();
                        PerfCollector::group(&format!("roofline_measured_{i}"), events, "")
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
            Setup {
                table,
                groups,
                sve_bits: sve_bits(),
            }
        })
    }

    /// Each event alone first (its own reason), then each group together.
    fn probe_events(&self, table: &Table, groups: &[PerfCollector]) -> Availability {
        let reasons: Vec<(&str, String)> = table
            .events()
            .filter_map(|e| {
                let alone = PerfCollector::group("roofline_probe", vec![Event::Raw(e.config)], "");
                match alone.probe() {
                    Availability::Available => None,
                    Availability::Unavailable(why) => Some((e.name, why)),
                }
            })
            .collect();
        let instead = "supply the counts instead with rankscope::add_flops/add_bytes \
                       (Python: rankscope.roofline.count) and the roofline_modelled component";
        if let Some((_, first)) = reasons.first() {
            let all_alike = reasons.len() == table.events().count()
                && reasons.iter().all(|(_, why)| why == first);
            let what = if all_alike {
                format!("{first}, for every event of {}", table.name)
            } else {
                let each: Vec<String> = reasons
                    .iter()
                    .map(|(name, why)| format!("{name}: {why}"))
                    .collect();
                format!("{}: {}", table.name, each.join("; "))
            };
            return Availability::Unavailable(format!("{what}; {instead}"));
        }
        for g in groups {
            if let Availability::Unavailable(why) = g.probe() {
                return Availability::Unavailable(format!("{}: {why}; {instead}", table.name));
            }
        }
        Availability::Available
    }
}

impl Collector for Measured {
    fn name(&self) -> &'static str {
        "roofline_measured"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["measured"]
    }
    fn description(&self) -> &'static str {
        "roofline counts from the CPU's PMU: FLOPs from the vendor's FP events weighted by \
         vector width, bytes from a per-core memory-traffic proxy (perf_event, this thread)"
    }
    fn metrics(&self) -> &[MetricInfo] {
        &METRICS
    }
    fn raw_len(&self) -> usize {
        self.setup()
            .groups
            .iter()
            .map(|g| g.raw_len())
            .sum::<usize>()
            .max(1)
    }
    fn probe(&self) -> Availability {
        let s = self.setup();
        match s.table {
            Err(ref why) => Availability::Unavailable(why.clone()),
            Ok(t) => self.probe_events(t, &s.groups),
        }
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        let mut at = 0;
        for g in &self.setup().groups {
            let n = g.raw_len();
            g.sample(&mut out[at..at + n]);
            at += n;
        }
    }
    fn delta(&self, start: &[i64], stop: &[i64], out: &mut [i64]) {
        let s = self.setup();
        let Ok(table) = s.table else {
            return out[..METRICS.len()].fill(0);
        };
        let mut counts = [0i64; MAX_EVENTS];
        let mut group_values = [0i64; MAX_EVENTS + 1];
        let (mut raw_at, mut count_at) = (0, 0);
        let mut running = 1_000_000;
        for g in &s.groups {
            let (n, events) = (g.raw_len(), g.metrics().len() - 1);
            g.delta(
                &start[raw_at..raw_at + n],
                &stop[raw_at..raw_at + n],
                &mut group_values[..=events],
            );
            counts[count_at..count_at + events].copy_from_slice(&group_values[..events]);
            running = running.min(group_values[events]);
            raw_at += n;
            count_at += events;
        }
        let (flops, bytes) = vendor::weigh(table, &counts[..count_at], s.sve_bits);
        out[..3].copy_from_slice(&[flops, bytes, running]);
    }
    fn thread_stop(&self) {
        if let Some(s) = self.setup.get() {
            for g in &s.groups {
                g.thread_stop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_fits_the_room_of_delta() {
        for t in [
            &vendor::INTEL,
            &vendor::AMD_ZEN1,
            &vendor::AMD_ZEN2,
            &vendor::AMD_ZEN4,
            &vendor::ARM,
        ] {
            assert!(t.events().count() <= MAX_EVENTS, "{}", t.name);
        }
    }

    #[test]
    fn the_probe_says_why_it_cannot_measure_here() {
        // The real path: this machine's table and PMU. Without a PMU (this VM) the reason
        // names it and the way out; with one, the collector works or names the failing event.
        let pmu = std::fs::read_dir("/sys/bus/event_source/devices")
            .map(|d| {
                d.flatten().any(|e| {
                    std::fs::read_to_string(e.path().join("type")).is_ok_and(|t| t.trim() == "4")
                })
            })
            .unwrap_or(false);
        match (MEASURED.probe(), MEASURED.setup().table.is_ok()) {
            (Availability::Available, _) => assert!(pmu, "available without a core PMU"),
            (Availability::Unavailable(why), true) if !pmu => {
                assert!(why.starts_with("no PMU: "), "{why}");
                assert!(why.contains(", for every event of "), "{why}");
                assert!(why.ends_with("the roofline_modelled component"), "{why}");
            }
            (Availability::Unavailable(why), _) => {
                assert!(why.contains("roofline_modelled"), "{why}")
            }
        }
        assert_eq!(MEASURED.metrics().len(), 3);
        assert!(MEASURED.raw_len() >= 1);
    }

    #[test]
    fn delta_weighs_the_groups_counts() {
        // Two samples of made-up readings in the perf groups' layout (time enabled, time
        // running, count per event), with the second group counting half the time: its counts
        // are scaled by two, and running is the smaller share.
        let s = MEASURED.setup();
        let Ok(table) = s.table else { return };
        let n: usize = s.groups.iter().map(|g| g.raw_len()).sum();
        let (mut a, mut b) = (vec![0i64; n], vec![0i64; n]);
        let mut at = 0;
        let mut expected = Vec::new();
        for (gi, g) in table.groups.iter().enumerate() {
            for (i, _) in g.iter().enumerate() {
                let count = 10 * (i as i64 + 1);
                let running = if gi == 0 { 1_000 } else { 500 };
                b[at..at + 3].copy_from_slice(&[1_000, running, count]);
                expected.push(count * 1_000 / running);
                at += 3;
            }
        }
        let mut out = [0i64; 3];
        MEASURED.delta(&a, &b, &mut out);
        let (flops, bytes) = vendor::weigh(table, &expected, s.sve_bits);
        let running = if table.groups.len() > 1 {
            500_000
        } else {
            1_000_000
        };
        assert_eq!(out, [flops, bytes, running]);
        a.fill(-1); // a sample without a reading gives zeros, never garbage
        MEASURED.delta(&a, &b, &mut out);
        assert_eq!(out, [0, 0, 0]);
    }
}
