//! Reading each memory level's bandwidth off a sweep curve (GB/s against working-set size).
//!
//! The cache sizes say where each level's plateau should be: a level's window is the working
//! sets comfortably inside it and comfortably outside the level above (below 3/4 of its
//! capacity, above 1.5 times the previous one; DRAM from 4 times the last cache). Inside a
//! window the plateau is the longest stretch of neighbouring sizes whose bandwidths stay
//! within [`FLAT`] of each other (ties: the faster stretch), and its value is that stretch's
//! median. The plateau is called flat when the stretch holds more than half of the window's
//! points: a curve that keeps falling through a window (no plateau at all) still gets a value,
//! flagged not flat.

use serde::{Deserialize, Serialize};

/// Largest ratio between the fastest and slowest point of a flat stretch.
pub const FLAT: f64 = 1.2;
/// A working set up to this fraction of a level's capacity is in that level.
pub const FITS: f64 = 0.75;
/// A working set above this multiple of the level above's capacity is out of it.
pub const CLEARS: f64 = 1.5;
/// DRAM starts at this multiple of the last cache's capacity.
pub const DRAM_CLEARS: f64 = 4.0;

/// A memory level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    /// L1 data cache.
    L1,
    /// L2.
    L2,
    /// L3.
    L3,
    /// Main memory.
    Dram,
}

impl Level {
    /// All levels, nearest the core first.
    pub const ALL: [Level; 4] = [Level::L1, Level::L2, Level::L3, Level::Dram];

    /// Its key in the JSON: `l1`, `l2`, `l3`, `dram`.
    pub fn key(self) -> &'static str {
        match self {
            Level::L1 => "l1",
            Level::L2 => "l2",
            Level::L3 => "l3",
            Level::Dram => "dram",
        }
    }
}

/// The working sets (bytes per thread) that exercise one level: above `above`, up to `upto`
/// (no upper bound for DRAM).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// The level.
    pub level: Level,
    /// Sizes above this (exclusive).
    pub above: f64,
    /// Sizes up to this (inclusive); `None` for DRAM.
    pub upto: Option<f64>,
}

impl Window {
    /// Whether a working set of `bytes` falls in the window.
    pub fn contains(&self, bytes: u64) -> bool {
        let b = bytes as f64;
        b > self.above && self.upto.is_none_or(|u| b <= u)
    }
}

/// The windows of the levels a machine has, from per-thread capacities (`l3` `None` when it
/// has no L3). A level whose window is empty (a cache barely larger than the one above) is
/// left out: it cannot be told apart.
pub fn windows(l1: u64, l2: u64, l3: Option<u64>) -> Vec<Window> {
    let caches: Vec<(Level, f64)> = [
        (Level::L1, Some(l1)),
        (Level::L2, Some(l2)),
        (Level::L3, l3),
    ]
    .into_iter()
    .filter_map(|(level, cap)| Some((level, cap? as f64)))
    .collect();
    let mut out = Vec::new();
    let mut above = 0.0;
    for &(level, cap) in &caches {
        let upto = cap * FITS;
        if upto > above {
            out.push(Window {
                level,
                above,
                upto: Some(upto),
            });
        }
        above = cap * CLEARS;
    }
    let last = caches.last().map_or(0.0, |c| c.1);
    out.push(Window {
        level: Level::Dram,
        above: last * DRAM_CLEARS,
        upto: None,
    });
    out
}

/// A level's plateau.
#[derive(Clone, Debug, PartialEq)]
pub struct Plateau {
    /// The level.
    pub level: Level,
    /// Median GB/s of the stretch.
    pub gbs: f64,
    /// Smallest and largest working set of the stretch, bytes per thread.
    pub from_bytes: u64,
    /// See `from_bytes`.
    pub to_bytes: u64,
    /// Points in the stretch, and in the whole window.
    pub points: usize,
    /// See `points`.
    pub window_points: usize,
    /// Whether the stretch holds more than half of the window's points.
    pub flat: bool,
}

/// The plateau of each window that has points; `curve` is (bytes per thread, GB/s) in
/// increasing size.
pub fn detect(curve: &[(u64, f64)], windows: &[Window]) -> Vec<Plateau> {
    windows
        .iter()
        .filter_map(|w| {
            let inside: Vec<(u64, f64)> = curve
                .iter()
                .copied()
                .filter(|&(b, g)| w.contains(b) && g.is_finite())
                .collect();
            let (from, to) = flattest(&inside)?;
            let stretch = &inside[from..=to];
            let points = stretch.len();
            Some(Plateau {
                level: w.level,
                gbs: median(stretch.iter().map(|p| p.1).collect()),
                from_bytes: stretch[0].0,
                to_bytes: stretch[points - 1].0,
                points,
                window_points: inside.len(),
                flat: 2 * points > inside.len() && points >= 2,
            })
        })
        .collect()
}

/// Indices (first, last) of the longest stretch within [`FLAT`]; ties to the faster one.
fn flattest(points: &[(u64, f64)]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize, f64)> = None;
    for from in 0..points.len() {
        let (mut lo, mut hi) = (points[from].1, points[from].1);
        let mut to = from;
        while to + 1 < points.len() {
            let g = points[to + 1].1;
            if hi.max(g) > FLAT * lo.min(g) {
                break;
            }
            (lo, hi) = (lo.min(g), hi.max(g));
            to += 1;
        }
        let speed = median(points[from..=to].iter().map(|p| p.1).collect());
        let better = best.is_none_or(|(f, t, s)| {
            let (len, best_len) = (to - from, t - f);
            len > best_len || (len == best_len && speed > s)
        });
        if better {
            best = Some((from, to, speed));
        }
    }
    best.map(|(f, t, _)| (f, t))
}

/// The median (the mean of the middle two for an even count); NaN for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;

    /// Sizes from 4 KiB to 256 MiB, four per doubling.
    fn sizes() -> Vec<u64> {
        (0..=64)
            .map(|i| (4.0 * KIB as f64 * 2f64.powf(i as f64 / 4.0)) as u64)
            .collect()
    }

    /// A curve stepping down at each capacity (the value of the smallest level that holds
    /// the working set; in between, the geometric mean: the transition).
    fn steps(caps: &[(u64, f64)], dram: f64, noise: f64) -> Vec<(u64, f64)> {
        let mut seed = 12345u64;
        sizes()
            .into_iter()
            .map(|b| {
                let level = caps.iter().find(|&&(cap, _)| b <= cap);
                let mut g = match level {
                    Some(&(cap, v)) if b as f64 <= cap as f64 * FITS => v,
                    Some(&(_, v)) => (v * dram).sqrt().max(dram),
                    None => dram,
                };
                // Between one level's capacity and 1.5x it, half way to the next.
                if let Some(&(cap, v)) = caps.iter().rev().find(|&&(cap, _)| b > cap) {
                    if (b as f64) < cap as f64 * CLEARS {
                        g = (g + v) / 2.0;
                    }
                }
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (seed >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
                (b, g * (1.0 + noise * (2.0 * u - 1.0)))
            })
            .collect()
    }

    fn value(p: &[Plateau], level: Level) -> Option<&Plateau> {
        p.iter().find(|x| x.level == level)
    }

    #[test]
    fn clean_steps_give_each_level_exactly() {
        let caps = [(32 * KIB, 160.0), (512 * KIB, 90.0), (16 * MIB, 40.0)];
        let w = windows(32 * KIB, 512 * KIB, Some(16 * MIB));
        let p = detect(&steps(&caps, 15.0, 0.0), &w);
        let got: Vec<(Level, f64, bool)> = p.iter().map(|x| (x.level, x.gbs, x.flat)).collect();
        assert_eq!(
            got,
            [
                (Level::L1, 160.0, true),
                (Level::L2, 90.0, true),
                (Level::L3, 40.0, true),
                (Level::Dram, 15.0, true)
            ]
        );
        // The plateau stays inside its window.
        let l2 = value(&p, Level::L2).unwrap();
        assert!(l2.from_bytes as f64 > 32.0 * KIB as f64 * CLEARS);
        assert!(l2.to_bytes as f64 <= 512.0 * KIB as f64 * FITS);
    }

    #[test]
    fn noisy_steps_stay_within_the_noise() {
        let caps = [(48 * KIB, 200.0), (2 * MIB, 100.0), (8 * MIB, 50.0)];
        let w = windows(48 * KIB, 2 * MIB, Some(8 * MIB));
        let p = detect(&steps(&caps, 10.0, 0.08), &w);
        for (level, truth) in [
            (Level::L1, 200.0),
            (Level::L2, 100.0),
            (Level::L3, 50.0),
            (Level::Dram, 10.0),
        ] {
            let x = value(&p, level).unwrap();
            assert!((x.gbs / truth - 1.0).abs() < 0.08, "{level:?}: {x:?}");
            assert!(x.flat, "{x:?}");
        }
    }

    #[test]
    fn a_machine_without_l3_has_no_l3_plateau() {
        let caps = [(32 * KIB, 120.0), (MIB, 60.0)];
        let w = windows(32 * KIB, MIB, None);
        assert!(w.iter().all(|w| w.level != Level::L3));
        let p = detect(&steps(&caps, 8.0, 0.02), &w);
        assert!(value(&p, Level::L3).is_none());
        let dram = value(&p, Level::Dram).unwrap();
        assert!((dram.gbs / 8.0 - 1.0).abs() < 0.02, "{dram:?}");
        assert!(dram.from_bytes as f64 > 4.0 * MIB as f64);
    }

    #[test]
    fn a_curve_without_steps_gets_ordered_values_flagged_not_flat() {
        // Falling by 2^0.4 per doubling: no plateau anywhere.
        let curve: Vec<(u64, f64)> = sizes()
            .into_iter()
            .map(|b| (b, 400.0 * (b as f64 / 4096.0).powf(-0.4)))
            .collect();
        let w = windows(32 * KIB, 512 * KIB, Some(16 * MIB));
        let p = detect(&curve, &w);
        assert_eq!(p.len(), 4);
        for pair in p.windows(2) {
            assert!(pair[0].gbs > pair[1].gbs, "{p:?}");
        }
        assert!(p.iter().all(|x| !x.flat), "{p:?}");
    }

    #[test]
    fn a_window_without_points_gives_no_plateau() {
        let w = windows(32 * KIB, 512 * KIB, Some(16 * MIB));
        let only_l1: Vec<(u64, f64)> = vec![(4 * KIB, 100.0), (8 * KIB, 101.0)];
        let p = detect(&only_l1, &w);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].level, Level::L1);
        assert!(p[0].flat);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
