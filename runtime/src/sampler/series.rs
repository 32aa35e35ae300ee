//! A rank's time series from the background sources, bounded in memory: when the cap is reached,
//! every other point is dropped and the interval doubles, so a run of any length keeps its whole
//! span at a coarser step (and says so).

use crate::collectors::MetricInfo;
use serde::{Deserialize, Serialize};

/// Most points kept per rank: 4,096 points of 4 series are 128 KiB per rank.
pub const MAX_POINTS: usize = 4096;

/// One series: which source and quantity, and its unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesDesc {
    /// `<source>.<series>`, e.g. `process.rss`.
    pub name: String,
    /// Base unit of the integer values (`B`, `ppm`).
    pub unit: String,
    /// Unit people read (`MiB`, `%`).
    pub display_unit: String,
    /// Factor from `unit` to `display_unit`.
    pub scale: f64,
    /// One line for people.
    pub description: String,
}

impl SeriesDesc {
    /// The description of series `info` of source `source`.
    pub fn of(source: &str, info: &MetricInfo) -> Self {
        SeriesDesc {
            name: format!("{source}.{}", info.name),
            unit: info.unit.base().to_string(),
            display_unit: info.unit.display().to_string(),
            scale: info.unit.scale(),
            description: info.description.to_string(),
        }
    }
}

/// The series of one rank: a time column and one column per series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// The series, in column order.
    pub series: Vec<SeriesDesc>,
    /// Wall-clock time the sampler started, nanoseconds since the Unix epoch (aligns ranks).
    pub start_unix_ns: i64,
    /// Time of each point, nanoseconds after the sampler started (the first point comes one
    /// interval after, so that rates have an interval behind them).
    pub t_ns: Vec<i64>,
    /// `columns[s][i]`: series `s` at point `i`, in the series' base unit.
    pub columns: Vec<Vec<i64>>,
    /// The interval between points now, in nanoseconds (the requested one times 2^`halvings`).
    pub interval_ns: i64,
    /// How many times the points were thinned to stay under [`MAX_POINTS`].
    pub halvings: u32,
    /// CPU time the sampler thread used so far for sampling, nanoseconds (its one-time pinning
    /// left out): what sampling cost this rank.
    #[serde(default)]
    pub cost_ns: i64,
}

impl Samples {
    /// Empty series of these descriptions, sampled every `interval_ns`.
    pub fn new(series: Vec<SeriesDesc>, start_unix_ns: i64, interval_ns: i64) -> Self {
        Samples {
            columns: vec![Vec::new(); series.len()],
            series,
            start_unix_ns,
            interval_ns,
            ..Default::default()
        }
    }

    /// Adds a point; returns true when the points were just thinned (the caller then samples
    /// at the new, doubled [`Samples::interval_ns`], from [`Samples::next_due_ns`]).
    pub fn push(&mut self, t_ns: i64, values: &[i64]) -> bool {
        self.t_ns.push(t_ns);
        for (column, v) in self.columns.iter_mut().zip(values) {
            column.push(*v);
        }
        if self.t_ns.len() < MAX_POINTS {
            return false;
        }
        // Keep points 0, 2, 4, ...: the first point and the spacing stay regular.
        thin(&mut self.t_ns);
        for column in &mut self.columns {
            thin(column);
        }
        self.interval_ns *= 2;
        self.halvings += 1;
        true
    }

    /// When the next point is due (nanoseconds after the start): one interval after the last
    /// point kept, so that points stay evenly spaced across a thinning.
    pub fn next_due_ns(&self) -> i64 {
        self.t_ns.last().map_or(0, |t| t + self.interval_ns)
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.t_ns.len()
    }

    /// Whether there is no point.
    pub fn is_empty(&self) -> bool {
        self.t_ns.is_empty()
    }
}

fn thin(values: &mut Vec<i64>) {
    let mut i = 0;
    values.retain(|_| {
        i += 1;
        i % 2 == 1
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaching_the_cap_halves_the_points_and_doubles_the_interval() {
        let desc = SeriesDesc {
            name: "t.x".into(),
            unit: "count".into(),
            display_unit: "".into(),
            scale: 1.0,
            description: "".into(),
        };
        let mut s = Samples::new(vec![desc], 0, 10);
        let (mut thinned, mut t) = (0, 0);
        for _ in 0..3 * MAX_POINTS {
            // The sampler waits the current interval between points.
            if s.push(t, &[t / 10]) {
                thinned += 1;
            }
            t = s.next_due_ns();
        }
        assert!(s.len() < MAX_POINTS);
        assert_eq!(s.halvings, thinned);
        assert_eq!(s.interval_ns, 10 << thinned);
        // The span is whole and evenly spaced at the coarser step.
        assert_eq!(s.t_ns[0], 0);
        let step = s.t_ns[1] - s.t_ns[0];
        assert!(s.t_ns.windows(2).all(|w| w[1] - w[0] == step));
        assert_eq!(s.columns[0][1] * 10, s.t_ns[1]);
    }
}
