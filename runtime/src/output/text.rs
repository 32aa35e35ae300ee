//! The text report: per metric, the call tree with one row per node.
//!
//! Columns, all in the metric's display unit: LAPS, SUM, MEAN, MIN, MAX, STDDEV, %PARENT; with
//! several ranks also the spread of per-rank totals as in Caliper's runtime-report: MIN/RANK
//! (with the rank holding it), MAX/RANK (with its rank), MEAN/RANK, IMBALANCE(%), %TOTAL and
//! RANKS (how many ranks entered the node). A `-` marks a value that does not exist there.

use super::derived::{Deriver, Shown};
use crate::profile::{MetricDesc, Profile};
use crate::settings::{RankSet, SettingValue};
use std::fmt::Write;

/// How numbers are printed (settings `precision`, `width`, `scientific`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextOptions {
    /// Digits after the decimal point.
    pub precision: usize,
    /// Minimum width of every numeric column (widened to fit its header).
    pub width: usize,
    /// Scientific notation (`1.234e-3`) instead of fixed.
    pub scientific: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            precision: 3,
            width: 12,
            scientific: false,
        }
    }
}

/// Longest region name shown whole; longer ones keep their start and end around `...`.
const MAX_NAME: usize = 60;
/// Depth beyond which indentation stops growing and the depth is printed instead, so that
/// deep recursion does not push the numbers off every screen.
const MAX_INDENT_DEPTH: u32 = 24;
/// Longest metadata value printed in the header.
const MAX_META: usize = 100;

const COLUMNS: [&str; 7] = ["LAPS", "SUM", "MEAN", "MIN", "MAX", "STDDEV", "%PARENT"];
const RANK_COLUMNS: [&str; 8] = [
    "MIN/RANK",
    "@RANK",
    "MAX/RANK",
    "@RANK",
    "MEAN/RANK",
    "IMBALANCE(%)",
    "%TOTAL",
    "RANKS",
];

/// Renders the whole report.
pub fn render(profile: &Profile, opts: &TextOptions) -> String {
    let d = Deriver::new(profile);
    let multi = profile.rank_count() > 1;
    let mut out = header(profile);
    let labels: Vec<String> = profile
        .nodes
        .iter()
        .map(|n| label(n.depth, &n.name))
        .collect();
    let name_width = labels
        .iter()
        .map(|l| l.chars().count())
        .chain([4])
        .max()
        .unwrap_or(4);
    let headers: Vec<&str> = COLUMNS
        .iter()
        .chain(if multi { &RANK_COLUMNS[..] } else { &[] })
        .copied()
        .collect();
    let widths: Vec<usize> = headers.iter().map(|h| h.len().max(opts.width)).collect();

    for m in &profile.metrics {
        let total = d.total(&m.name);
        let _ = writeln!(out, "\n{}", title(m));
        if profile.nodes.iter().all(|n| !n.stats.contains_key(&m.name)) {
            out.push_str("  (no values)\n");
            continue;
        }
        let mut line = format!("{:<name_width$}", "NAME");
        for (h, w) in headers.iter().zip(&widths) {
            let _ = write!(line, " {h:>w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
        let shown = with_values_below(profile, &m.name);
        for (id, l) in labels.iter().enumerate().filter(|(id, _)| shown[*id]) {
            let mut line = format!("{l:<name_width$}");
            let cells = cells(d.shown(id, m, total), multi, opts);
            for (c, w) in cells.iter().zip(&widths) {
                let _ = write!(line, " {c:>w$}");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out.push_str(&derived(profile, &labels, name_width, opts));
    out.push_str(&samples(profile, opts));
    if !profile.diagnostics.is_empty() {
        out.push_str("\ndiagnostics:\n");
        for diag in &profile.diagnostics {
            let _ = writeln!(out, "  {diag}");
        }
    }
    out
}

/// Ratios of two counter metrics that people read rather than the counts: `(name, numerator,
/// denominator, factor, unit, description)`. Metric names are matched by their last part
/// within one prefix (`perf.instructions` with `perf.cycles`, `perf_events.instructions` with
/// `perf_events.cycles`).
const RATIOS: [(&str, &str, &str, f64, &str, &str); 5] = [
    (
        "ipc",
        "instructions",
        "cycles",
        1.0,
        "",
        "instructions per cycle",
    ),
    (
        "cache_miss_rate",
        "cache_misses",
        "cache_references",
        100.0,
        "%",
        "cache misses per cache reference",
    ),
    (
        "branch_miss_rate",
        "branch_misses",
        "branches",
        100.0,
        "%",
        "mispredicted branches per branch",
    ),
    (
        "l1d_load_miss_rate",
        "l1d_load_misses",
        "l1d_loads",
        100.0,
        "%",
        "L1 data cache load misses per load",
    ),
    (
        "llc_load_miss_rate",
        "llc_load_misses",
        "llc_loads",
        100.0,
        "%",
        "last-level cache load misses per load",
    ),
];

/// Derived sections (IPC, miss rates): one per ratio whose two metrics are in the profile, with
/// the ratio of the sums (every lap of every rank) at each node holding both. Absent when either
/// metric is.
fn derived(p: &Profile, labels: &[String], name_width: usize, o: &TextOptions) -> String {
    let mut out = String::new();
    for m in &p.metrics {
        let Some((prefix, last)) = m.name.rsplit_once('.') else {
            continue;
        };
        for (name, num, den, factor, unit, what) in RATIOS {
            let den_name = format!("{prefix}.{den}");
            if last != num || !p.metrics.iter().any(|x| x.name == den_name) {
                continue;
            }
            let rows: Vec<(usize, f64)> = p
                .nodes
                .iter()
                .filter_map(|n| {
                    let (a, b) = (n.stats.get(&m.name)?, n.stats.get(&den_name)?);
                    (b.sum != 0).then(|| (n.id, a.sum as f64 / b.sum as f64 * factor))
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" [{unit}]")
            };
            let _ = writeln!(
                out,
                "\n{prefix}.{name}{unit}: {what} (derived: {} / {den_name}, sums)",
                m.name
            );
            let w = o.width.max(5);
            let _ = writeln!(out, "{:<name_width$} {:>w$}", "NAME", "VALUE");
            for (id, v) in rows {
                let _ = writeln!(out, "{:<name_width$} {:>w$}", labels[id], number(v, o));
            }
        }
    }
    out
}

/// Which nodes a metric's section shows: those holding a value of it, and their ancestors (so
/// the path to every value stays readable). Subtrees without any value are left out.
fn with_values_below(p: &Profile, metric: &str) -> Vec<bool> {
    let mut shown: Vec<bool> = p
        .nodes
        .iter()
        .map(|n| n.stats.contains_key(metric))
        .collect();
    // Pre-order: every child comes after its parent, so a reverse walk sees children first.
    for n in p.nodes.iter().rev() {
        if let (true, Some(parent)) = (shown[n.id], n.parent) {
            shown[parent] = true;
        }
    }
    shown
}

/// Series of the sampler summed up per rank (the series themselves are in the JSON and HDF5
/// files, drawn by `python -m rankscope.plot memory`): points, span, largest resident size,
/// peak, and mean and largest CPU use, in the series' display units. Empty when no rank has
/// samples.
fn samples(p: &Profile, o: &TextOptions) -> String {
    let ranks: Vec<_> = p
        .ranks
        .iter()
        .filter_map(|r| Some((r.rank, r.samples.as_ref().filter(|s| !s.is_empty())?)))
        .collect();
    let Some((_, first)) = ranks.first() else {
        return String::new();
    };
    // (series, statistic, header); a rank without that series shows `-`.
    let wanted = [
        ("process.rss", "max", "RSS_MAX"),
        ("process.peak_rss", "max", "PEAK_RSS"),
        ("process.cpu", "mean", "CPU_MEAN"),
        ("process.cpu", "max", "CPU_MAX"),
    ];
    let unit_of = |name: &str| {
        first
            .series
            .iter()
            .find(|d| d.name == name)
            .map_or(String::new(), |d| format!("[{}]", d.display_unit))
    };
    let mut headers = vec!["RANK".to_string(), "POINTS".into(), "SPAN[s]".into()];
    headers.extend(wanted.iter().map(|(n, _, h)| format!("{h}{}", unit_of(n))));
    let mut rows = Vec::new();
    for (rank, s) in &ranks {
        let mut row = vec![
            rank.to_string(),
            s.len().to_string(),
            number(s.t_ns.last().copied().unwrap_or(0) as f64 * 1e-9, o),
        ];
        for (name, stat, _) in wanted {
            let cell = s.series.iter().position(|d| d.name == name).and_then(|i| {
                let column = s.columns.get(i).filter(|c| !c.is_empty())?;
                let v = match stat {
                    "max" => *column.iter().max()? as f64,
                    _ => column.iter().map(|&v| v as f64).sum::<f64>() / column.len() as f64,
                };
                Some(number(v * s.series[i].scale, o))
            });
            row.push(cell.unwrap_or_else(|| "-".into()));
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([headers[c].len(), if c == 0 { 0 } else { o.width }])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut l = format!("{:<w$}", cells[0], w = widths[0]);
        for (c, w) in cells[1..].iter().zip(&widths[1..]) {
            let _ = write!(l, " {c:>w$}");
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "\nsamples: memory and CPU per rank over time (sampler), every {} s{}\n",
        number(first.interval_ns as f64 * 1e-9, o),
        if first.halvings > 0 { " (thinned)" } else { "" }
    );
    out.push_str(&line(&headers));
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}

/// Run description: rank count, node count and the scalar metadata (settings and other nested
/// values are left to the JSON file).
fn header(p: &Profile) -> String {
    let ranks = p.rank_count().max(1);
    let mut out = format!(
        "rankscope report: {} rank{}, {} node{}\n",
        ranks,
        if ranks > 1 { "s" } else { "" },
        p.nodes.len(),
        if p.nodes.len() == 1 { "" } else { "s" }
    );
    if !p.has_every_rank() {
        let kept = RankSet::from_ranges(p.ranks.iter().map(|r| (r.rank, r.rank)));
        // The run's settings say whether the ranks wrote their own values.
        let own_files = p
            .metadata
            .get("settings")
            .and_then(|s| s.get("per_rank_files"))
            == Some(&serde_json::Value::from("true"));
        let _ = writeln!(
            out,
            "  per-rank values: {} (settings per_rank_max, rank_filter); the statistics over \
             ranks hold all {ranks}{}",
            if kept.is_empty() {
                "none".to_string()
            } else {
                format!("ranks {}", SettingValue::to_text(&kept))
            },
            if own_files {
                "; every rank wrote its own values to <output_path>-rank<N>/ (rankscope merge)"
            } else {
                ""
            }
        );
    }
    for (k, v) in &p.metadata {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
            // A command line is a list of words: show it as typed.
            serde_json::Value::Array(words) if words.iter().all(|w| w.is_string()) => words
                .iter()
                .filter_map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            _ => continue,
        };
        let _ = writeln!(out, "  {k}: {}", shorten(&v.replace('\n', " "), MAX_META));
    }
    out
}

fn title(m: &MetricDesc) -> String {
    let unit = if m.display_unit.is_empty() {
        String::new()
    } else {
        format!(" [{}]", m.display_unit)
    };
    let note = if m.description.is_empty() {
        String::new()
    } else {
        format!(": {}", m.description)
    };
    format!("{}{unit}{note}", m.name)
}

/// The tree column of one row: two spaces per depth level, capped (see [`MAX_INDENT_DEPTH`]).
fn label(depth: u32, name: &str) -> String {
    let name = shorten(name, MAX_NAME);
    if depth <= MAX_INDENT_DEPTH {
        format!("{}{name}", "  ".repeat(depth as usize))
    } else {
        // The depth, right-aligned in the capped indentation: the name starts where depth
        // MAX_INDENT_DEPTH names start.
        let w = 2 * MAX_INDENT_DEPTH as usize;
        format!("{:>w$}{name}", format!("[{depth}] "))
    }
}

/// Cuts `s` to at most `max` characters, keeping its start and end.
fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(3);
    let head: String = s.chars().take(keep - keep / 2).collect();
    let tail: String = s.chars().skip(n - keep / 2).collect();
    format!("{head}...{tail}")
}

fn cells(v: Option<Shown>, multi: bool, o: &TextOptions) -> Vec<String> {
    let n = if multi {
        COLUMNS.len() + RANK_COLUMNS.len()
    } else {
        COLUMNS.len()
    };
    let Some(v) = v else {
        return vec!["-".to_string(); n];
    };
    let opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| number(x, o));
    let mut c = vec![
        v.laps.to_string(),
        number(v.sum, o),
        number(v.mean, o),
        number(v.min, o),
        number(v.max, o),
        number(v.stddev, o),
        opt(v.percent_of_parent),
    ];
    if multi {
        match &v.ranks {
            Some(r) => c.extend([
                number(r.min, o),
                r.min_rank.to_string(),
                number(r.max, o),
                r.max_rank.to_string(),
                number(r.mean, o),
                number(r.imbalance * 100.0, o),
                opt(v.percent_of_total),
                r.ranks.to_string(),
            ]),
            None => c.resize(COLUMNS.len() + RANK_COLUMNS.len(), "-".to_string()),
        }
    }
    c
}

/// One number in fixed or scientific notation with the configured precision.
pub fn number(x: f64, o: &TextOptions) -> String {
    let p = o.precision;
    if !x.is_finite() {
        return x.to_string();
    }
    if o.scientific {
        format!("{x:.p$e}")
    } else {
        let s = format!("{x:.p$}");
        // A tiny negative rounds to "-0.000"; the sign then only confuses.
        if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
            s[1..].to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    /// The text of one metric's section: from its title to the next blank line.
    fn section<'a>(report: &'a str, title: &str) -> &'a str {
        let start = report.find(title).expect(title);
        let rest = &report[start..];
        &rest[..rest.find("\n\n").unwrap_or(rest.len())]
    }

    fn row<'a>(report: &'a str, section: &str, name: &str) -> Vec<&'a str> {
        let start = report.find(section).expect(section);
        let line = report[start..]
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .expect(name);
        line.split_whitespace().collect()
    }

    #[test]
    fn single_rank_rows() {
        let r = render(&sample::single(), &TextOptions::default());
        assert!(r.starts_with(
            "rankscope report: 1 rank, 4 nodes\n  cmdline: ./app --size 3\n  command: ./app\n"
        ));
        assert!(r.contains("wall_clock [s]: elapsed real time"));
        assert!(r.contains("peak_rss [MiB]"));
        assert_eq!(
            row(&r, "wall_clock [s]", "solve"),
            ["solve", "4", "7.000", "1.750", "1.000", "2.500", "0.559", "70.000"]
        );
        assert_eq!(row(&r, "wall_clock [s]", "step")[7], "57.143");
        assert!(r.contains("\n    step "), "two spaces per depth:\n{r}");
        // `init` has no peak_rss and nothing below it does: left out of that section only
        assert!(section(&r, "peak_rss").lines().all(|l| !l.contains("init")));
        assert!(section(&r, "wall_clock [s]").contains("init"));
        assert_eq!(
            row(&r, "peak_rss", "main")[7],
            "-",
            "not additive: no %PARENT"
        );
        assert!(!r.contains("MIN/RANK"));
    }

    #[test]
    fn derived_ratios_when_both_counters_are_there() {
        let mut p = sample::single();
        let plain = render(&p, &TextOptions::default());
        assert!(!plain.contains("ipc"), "no counters, no ratio");
        let desc = |name: &str| crate::profile::MetricDesc {
            name: name.into(),
            collector: name.replace('.', "_"),
            unit: "count".into(),
            display_unit: String::new(),
            scale: 1.0,
            additive: true,
            description: String::new(),
        };
        p.metrics.push(desc("perf.instructions"));
        let only_one = render(&p, &TextOptions::default());
        assert!(!only_one.contains("perf.ipc"), "cycles absent: no IPC");
        p.metrics.push(desc("perf.cycles"));
        for (n, ins, cyc) in [(0, 3_000, 2_000), (2, 500, 1_000)] {
            p.nodes[n]
                .stats
                .insert("perf.instructions".into(), sample::stats(&[ins]));
            p.nodes[n]
                .stats
                .insert("perf.cycles".into(), sample::stats(&[cyc]));
        }
        // `init` has instructions but no cycles: no ratio there.
        p.nodes[1]
            .stats
            .insert("perf.instructions".into(), sample::stats(&[7]));
        let r = render(&p, &TextOptions::default());
        let sec = section(&r, "perf.ipc");
        assert!(
            sec.starts_with(
                "perf.ipc: instructions per cycle (derived: perf.instructions / perf.cycles, sums)"
            ),
            "{sec}"
        );
        assert_eq!(row(&r, "perf.ipc", "main"), ["main", "1.500"]);
        assert_eq!(row(&r, "perf.ipc", "solve"), ["solve", "0.500"]);
        assert!(!sec.contains("init"));
        assert!(!r.contains("cache_miss_rate"));
    }

    #[test]
    fn samples_are_summed_up_per_rank() {
        use crate::sampler::{Samples, SeriesDesc};
        let mut p = sample::multi();
        assert!(!render(&p, &TextOptions::default()).contains("samples:"));
        let desc = |name: &str, unit: &str, display: &str, scale: f64| SeriesDesc {
            name: name.into(),
            unit: unit.into(),
            display_unit: display.into(),
            scale,
            description: String::new(),
        };
        let mut s = Samples::new(
            vec![
                desc("process.rss", "B", "MiB", 1.0 / (1u64 << 20) as f64),
                desc("process.peak_rss", "B", "MiB", 1.0 / (1u64 << 20) as f64),
                desc("process.cpu", "ppm", "%", 1e-4),
            ],
            0,
            100_000_000,
        );
        s.push(100_000_000, &[1 << 20, 2 << 20, 500_000]);
        s.push(200_000_000, &[3 << 20, 3 << 20, 1_000_000]);
        p.ranks[1].samples = Some(s);
        let r = render(&p, &TextOptions::default());
        let title = "samples: memory and CPU per rank over time (sampler), every 0.100 s";
        assert!(r.contains(title), "{r}");
        assert!(section(&r, title).contains("RSS_MAX[MiB]"), "{r}");
        let rank = p.ranks[1].rank.to_string();
        assert_eq!(
            row(&r, title, &rank),
            [&rank, "2", "0.200", "3.000", "3.000", "75.000", "100.000"]
        );
        // Only ranks with samples get a row.
        let other = p.ranks[0].rank.to_string();
        assert!(section(&r, title)
            .lines()
            .all(|l| l.split_whitespace().next() != Some(other.as_str())));
    }

    #[test]
    fn columns_line_up() {
        let r = render(&sample::single(), &TextOptions::default());
        let sec: Vec<&str> = r
            .lines()
            .skip_while(|l| !l.starts_with("NAME"))
            .take(5)
            .collect();
        let ends = |l: &str| l.len();
        // Every row of the section ends in its %PARENT column, at the same place.
        assert!(sec.iter().all(|l| ends(l) == ends(sec[0])), "{sec:#?}");
    }

    #[test]
    fn options_apply_to_every_number() {
        let o = TextOptions {
            precision: 1,
            width: 9,
            scientific: true,
        };
        let r = render(&sample::multi(), &o);
        let main = row(&r, "wall_clock", "main");
        assert_eq!(
            main,
            [
                "main", "3", "3.0e1", "1.0e1", "8.0e0", "1.2e1", "1.6e0", "1.0e2", "8.0e0", "2",
                "1.2e1", "1", "1.0e1", "2.0e1", "1.0e2", "3"
            ]
        );
        let header = r.lines().find(|l| l.starts_with("NAME")).unwrap();
        assert!(header.contains(" IMBALANCE(%)"), "header widened to fit");
        assert!(header.contains("  MIN/RANK"), "width 9 honoured");
        assert_eq!(number(-1e-9, &TextOptions::default()), "0.000");
        assert_eq!(number(2.0, &TextOptions { precision: 0, ..o }), "2e0");
    }

    #[test]
    fn multi_rank_columns() {
        let r = render(&sample::multi(), &TextOptions::default());
        assert!(r.starts_with("rankscope report: 3 ranks, 2 nodes"));
        for h in RANK_COLUMNS {
            assert!(r.contains(h), "{h}");
        }
        assert_eq!(
            row(&r, "wall_clock", "io")[8..],
            ["1.000", "1", "3.000", "2", "2.000", "50.000", "13.333", "2"]
        );
    }

    #[test]
    fn long_names_and_deep_trees_stay_readable() {
        let long = "x".repeat(500);
        let s = shorten(&long, MAX_NAME);
        assert_eq!(s.chars().count(), MAX_NAME);
        assert!(s.contains("..."));
        assert_eq!(shorten("αβγδεζ", 5), "α...ζ");
        let deep = label(1000, "f");
        assert_eq!(deep.len(), 2 * MAX_INDENT_DEPTH as usize + 1, "{deep:?}");
        assert!(deep.ends_with("[1000] f"));
        assert_eq!(label(2, "g"), "    g");
    }
}
