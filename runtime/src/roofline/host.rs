//! A host's ceilings from the trials of its ranks: each trial's rate is the work of every
//! rank together over the time from the first rank's start to the last one's end (one clock
//! for the host), so ranks that did not quite overlap understate rather than overstate; each
//! item keeps the median of its trials, and each level the plateau of its kernel's curve.

use super::format::{Kernels, Levels, Peaks, SweepPoint};
use super::peak::Precision;
use super::plateau::{self, median, Level, Window};
use super::stream::Kernel;
use super::sweep::{Item, Trial};

/// What the trials say about the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Numbers {
    /// Peak GFLOP/s.
    pub peaks: Peaks,
    /// GB/s per level of each kernel.
    pub kernels: Kernels,
    /// Median GB/s per size and kernel.
    pub sweep: Vec<SweepPoint>,
    /// Levels whose plateau is not flat, and why.
    pub notes: Vec<String>,
}

/// Combines the trials of the host's ranks (ranks that ran nothing pass empty lists). Every
/// rank that ran follows the same plan, so the i-th trials of all ranks ran together.
pub fn combine(ranks: &[Vec<Trial>], windows: &[Window]) -> Result<Numbers, String> {
    let running: Vec<&Vec<Trial>> = ranks.iter().filter(|r| !r.is_empty()).collect();
    let Some(first) = running.first() else {
        return Err("no rank of this host measured anything".into());
    };
    if running.iter().any(|r| r.len() != first.len()) {
        return Err("the host's ranks ran different plans (cache sizes differ?)".into());
    }
    // Rates per item, in the order first measured.
    let mut items: Vec<(Item, Vec<f64>)> = Vec::new();
    for i in 0..first.len() {
        let item = first[i].item;
        let work: f64 = running.iter().map(|r| r[i].work).sum();
        let start = running.iter().map(|r| r[i].start_ns).min().unwrap_or(0);
        let end = running.iter().map(|r| r[i].end_ns).max().unwrap_or(0);
        // Work per ns is G-work per second.
        let rate = work / end.saturating_sub(start).max(1) as f64;
        match items.iter_mut().find(|(it, _)| *it == item) {
            Some((_, rates)) => rates.push(rate),
            None => items.push((item, vec![rate])),
        }
    }
    let mut peaks = Peaks::default();
    let mut sweep = Vec::new();
    for (item, rates) in &items {
        let m = median(rates.clone());
        match *item {
            Item::Peak { precision, vector } => {
                let slot = match (precision, vector) {
                    (Precision::Double, true) => &mut peaks.vector_double,
                    (Precision::Single, true) => &mut peaks.vector_single,
                    (Precision::Double, false) => &mut peaks.scalar_double,
                    (Precision::Single, false) => &mut peaks.scalar_single,
                };
                *slot = m;
            }
            Item::Stream { kernel, bytes } => sweep.push(SweepPoint {
                bytes,
                kernel: kernel.name().to_string(),
                gbs: m,
            }),
        }
    }
    let mut not_flat: Vec<String> = Vec::new();
    let mut per_kernel = |kernel: Kernel| -> Levels {
        let mut curve: Vec<(u64, f64)> = sweep
            .iter()
            .filter(|p| p.kernel == kernel.name())
            .map(|p| (p.bytes, p.gbs))
            .collect();
        curve.sort_by_key(|p| p.0);
        let mut levels = Levels::default();
        for p in plateau::detect(&curve, windows) {
            if !p.flat {
                not_flat.push(format!(
                    "{} {} ({} of {} sizes)",
                    kernel.name(),
                    p.level.key(),
                    p.points,
                    p.window_points
                ));
            }
            let slot = match p.level {
                Level::L1 => &mut levels.l1,
                Level::L2 => &mut levels.l2,
                Level::L3 => &mut levels.l3,
                Level::Dram => &mut levels.dram,
            };
            *slot = Some(p.gbs);
        }
        levels
    };
    let kernels = Kernels {
        load: per_kernel(Kernel::Load),
        copy: per_kernel(Kernel::Copy),
        triad: per_kernel(Kernel::Triad),
    };
    let mut notes = Vec::new();
    if !not_flat.is_empty() {
        notes.push(format!(
            "no flat plateau (at most half of the level's sizes within {}x of each other; the \
             median of the flattest stretch is given): {}",
            plateau::FLAT,
            not_flat.join(", ")
        ));
    }
    Ok(Numbers {
        peaks,
        kernels,
        sweep,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::plateau::windows;
    use super::*;

    fn trial(item: Item, work: f64, start_ns: u64, end_ns: u64) -> Trial {
        Trial {
            item,
            work,
            start_ns,
            end_ns,
        }
    }

    const PEAK: Item = Item::Peak {
        precision: Precision::Double,
        vector: true,
    };

    #[test]
    fn ranks_add_up_over_the_hosts_time_line() {
        // Two ranks, 100 GFLOP each, overlapping in [0, 2 s]: 200 GFLOP over 2 s.
        let a = vec![trial(PEAK, 100e9, 0, 1_500_000_000)];
        let b = vec![trial(PEAK, 100e9, 500_000_000, 2_000_000_000)];
        let n = combine(&[a, b, vec![]], &[]).unwrap();
        assert_eq!(n.peaks.vector_double, 100.0);
        assert!(n.sweep.is_empty());
    }

    #[test]
    fn medians_per_item_and_levels_per_kernel() {
        let w = windows(32 * 1024, 512 * 1024, None);
        let mut r = Vec::new();
        for (bytes, gbs) in [
            (8192u64, 100.0),
            (16384, 100.0),
            (8 << 20, 10.0),
            (16 << 20, 10.0),
        ] {
            let item = Item::Stream {
                kernel: Kernel::Load,
                bytes,
            };
            // Trials at gbs/2, gbs, gbs*2: the median is gbs.
            for f in [0.5, 1.0, 2.0] {
                r.push(trial(item, gbs * f * 1e9, 0, 1_000_000_000));
            }
        }
        let n = combine(&[r], &w).unwrap();
        assert_eq!(n.sweep.len(), 4);
        assert_eq!(n.kernels.load.l1, Some(100.0));
        assert_eq!(n.kernels.load.l2, None, "no size in L2's window");
        assert_eq!(n.kernels.load.dram, Some(10.0));
        assert_eq!(n.kernels.copy, Levels::default());
    }

    #[test]
    fn mismatched_plans_and_empty_hosts_are_errors() {
        assert!(combine(&[vec![], vec![]], &[]).is_err());
        let one = vec![trial(PEAK, 1.0, 0, 1)];
        let two = vec![trial(PEAK, 1.0, 0, 1), trial(PEAK, 1.0, 0, 1)];
        assert!(combine(&[one, two], &[])
            .unwrap_err()
            .contains("different plans"));
    }
}
