//! `trace.json`: the timeline as Chrome Trace Event JSON, which Perfetto (ui.perfetto.dev),
//! chrome://tracing and speedscope open.
//!
//! Made from the timeline entries of the profile (settings `timeline_profile` or `trace_output`):
//! one process per rank (`pid` = rank, named `rank N (host)`), one track per thread (`tid` =
//! the thread's index), one complete event (`"ph": "X"`) per region instance with the
//! instance's other metrics as `args`, and a counter track (`"ph": "C"`) per sampler series when
//! the sampler ran. Timestamps are microseconds after the job's first event on the Unix clock:
//! each rank's monotonic timeline is shifted by its own `clock_offset_ns`, so ranks on different
//! hosts line up as well as the hosts' clocks agree. An instance is clamped into the instance
//! enclosing it (its start and its duration come from two clock reads, microseconds apart), and
//! events are sorted by rank, thread, start and then longest first, so each thread's events nest.

use super::derived::to_display;
use crate::profile::{Profile, RankInfo};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::io;

/// The metric whose per-instance value is an event's duration.
const DURATION: &str = "wall_clock";

#[derive(Serialize)]
struct Trace<'a> {
    #[serde(rename = "traceEvents")]
    events: Vec<Event<'a>>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
    #[serde(rename = "otherData")]
    other: Map<String, Value>,
}

#[derive(Serialize)]
struct Event<'a> {
    name: &'a str,
    ph: &'static str,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    args: Map<String, Value>,
}

/// One region instance of one rank, before times are made relative.
struct Span<'a> {
    name: &'a str,
    pid: u32,
    tid: u32,
    start_unix_ns: i64,
    dur_ns: i64,
    args: Map<String, Value>,
}

/// The trace of `profile` as JSON bytes (see the module docs).
pub fn to_trace_json(profile: &Profile) -> io::Result<Vec<u8>> {
    let offset = |r: &RankInfo| r.clock_offset_ns.unwrap_or(0);
    let mut spans = Vec::new();
    let mut no_duration = 0usize;
    for (col, rank) in profile.ranks.iter().enumerate() {
        // Each instance's interval on this rank, by node (pre-order: parents first).
        let mut interval: Vec<Option<(i64, i64)>> = vec![None; profile.nodes.len()];
        for node in &profile.nodes {
            let Some(start_ns) = node.start_ns else {
                continue;
            };
            let at = |m: &str| {
                node.per_rank
                    .get(m)
                    .and_then(|v| v.get(col).copied().flatten())
            };
            let Some(wall) = at(DURATION) else {
                no_duration += usize::from(
                    node.per_rank
                        .values()
                        .any(|v| v.get(col).is_some_and(Option::is_some)),
                );
                continue;
            };
            let start = start_ns + offset(rank);
            let (mut begin, mut end) = (start, start + wall.sum as i64);
            // A region's start time and its duration's first sample are two clock reads
            // microseconds apart: clamp into the enclosing instance so that events nest.
            if let Some((outer_begin, outer_end)) = node.parent.and_then(|p| interval[p]) {
                begin = begin.clamp(outer_begin, outer_end);
                end = end.clamp(begin, outer_end);
            }
            interval[node.id] = Some((begin, end));
            let mut args = Map::new();
            for m in profile.metrics.iter().filter(|m| m.name != DURATION) {
                if let Some(s) = at(&m.name) {
                    let value = to_display(s.sum as f64, m.scale);
                    args.insert(format!("{} ({})", m.name, m.display_unit), value.into());
                }
            }
            spans.push(Span {
                name: &node.name,
                pid: rank.rank,
                tid: node.thread.unwrap_or(0),
                start_unix_ns: begin,
                dur_ns: end - begin,
                args,
            });
        }
    }
    let counters: Vec<(u32, i64, &str, f64)> = profile
        .ranks
        .iter()
        .filter_map(|r| Some((r, r.samples.as_ref()?)))
        .flat_map(|(r, s)| {
            s.series.iter().enumerate().flat_map(move |(k, desc)| {
                s.t_ns.iter().zip(&s.columns[k]).map(move |(t, v)| {
                    (
                        r.rank,
                        s.start_unix_ns + t,
                        desc.name.as_str(),
                        to_display(*v as f64, desc.scale),
                    )
                })
            })
        })
        .collect();
    let t0 = spans
        .iter()
        .map(|s| s.start_unix_ns)
        .chain(counters.iter().map(|c| c.1))
        .min()
        .unwrap_or(0);
    let us = |t_ns: i64| (t_ns - t0) as f64 / 1e3;

    spans.sort_by(|a, b| {
        (a.pid, a.tid, a.start_unix_ns, std::cmp::Reverse(a.dur_ns)).cmp(&(
            b.pid,
            b.tid,
            b.start_unix_ns,
            std::cmp::Reverse(b.dur_ns),
        ))
    });
    let mut events = metadata_events(profile, &spans);
    let span_count = spans.len();
    events.extend(spans.into_iter().map(|s| Event {
        name: s.name,
        ph: "X",
        pid: s.pid,
        tid: Some(s.tid),
        ts: Some(us(s.start_unix_ns)),
        dur: Some(s.dur_ns as f64 / 1e3),
        args: s.args,
    }));
    events.extend(counters.iter().map(|&(pid, t, name, value)| Event {
        name,
        ph: "C",
        pid,
        tid: None,
        ts: Some(us(t)),
        dur: None,
        args: Map::from_iter([("value".to_string(), value.into())]),
    }));

    let mut other = Map::new();
    other.insert("tool".into(), "rankscope".into());
    for key in ["rankscope.version", "cmdline", "start_time"] {
        if let Some(v) = profile.metadata.get(key) {
            other.insert(key.into(), v.clone());
        }
    }
    other.insert("unix_time_zero_ns".into(), t0.into());
    other.insert("region_instances".into(), span_count.into());
    let mut notes: Vec<String> = profile
        .diagnostics
        .iter()
        .filter(|d| d.contains("timeline"))
        .cloned()
        .collect();
    if no_duration > 0 {
        notes.push(format!(
            "{no_duration} region instances measured without {DURATION} are not in this trace"
        ));
    }
    if span_count == 0 {
        notes.push(
            "no timeline entries: turn on timeline_profile or trace_output before the regions run"
                .into(),
        );
    }
    other.insert("notes".into(), notes.into());

    let trace = Trace {
        events,
        display_time_unit: "ms",
        other,
    };
    let mut out = serde_json::to_vec(&trace).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(out)
}

/// Process names (`rank N (host)`, sorted by rank) and thread names for every track used.
fn metadata_events<'a>(profile: &'a Profile, spans: &[Span<'a>]) -> Vec<Event<'a>> {
    let meta = |name: &'a str, pid: u32, tid: Option<u32>, key: &str, value: Value| Event {
        name,
        ph: "M",
        pid,
        tid,
        ts: None,
        dur: None,
        args: Map::from_iter([(key.to_string(), value)]),
    };
    let mut out = Vec::new();
    for r in &profile.ranks {
        let label = match r.hostname.as_str() {
            "" => format!("rank {}", r.rank),
            host => format!("rank {} ({host})", r.rank),
        };
        out.push(meta("process_name", r.rank, None, "name", label.into()));
        out.push(meta(
            "process_sort_index",
            r.rank,
            None,
            "sort_index",
            r.rank.into(),
        ));
    }
    let tracks: BTreeSet<(u32, u32)> = spans.iter().map(|s| (s.pid, s.tid)).collect();
    for (pid, tid) in tracks {
        let name = format!("thread {tid}");
        out.push(meta("thread_name", pid, Some(tid), "name", name.into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{MetricDesc, NodeRecord, Stats};
    use std::collections::BTreeMap;

    fn wall() -> MetricDesc {
        MetricDesc {
            name: DURATION.into(),
            collector: "clock".into(),
            unit: "ns".into(),
            display_unit: "s".into(),
            scale: 1e-9,
            additive: true,
            description: "elapsed".into(),
        }
    }

    /// Two ranks on hosts whose monotonic clocks differ by an hour: rank 1's entries come 5 us
    /// after rank 0's on the Unix clock although its monotonic start is an hour earlier.
    fn two_ranks() -> Profile {
        let mut p = Profile::new();
        p.metrics = vec![wall()];
        p.ranks = (0..2)
            .map(|r| RankInfo {
                rank: r,
                hostname: format!("n{r}"),
                clock_offset_ns: Some(if r == 0 { 1_000_000 } else { 3_600_000_000_000 }),
                ..Default::default()
            })
            .collect();
        let stats = |ns: i64| Stats {
            laps: 1,
            sum: ns.into(),
            sumsq: (ns as u128).pow(2),
            min: ns,
            max: ns,
        };
        let node = |id, parent, name: &str, start: i64, cols: [Option<i64>; 2]| NodeRecord {
            across_ranks: Default::default(),
            id,
            parent,
            depth: u32::from(parent.is_some()),
            name: name.into(),
            thread: Some(0),
            start_ns: Some(start),
            stats: BTreeMap::from([(DURATION.into(), stats(cols.iter().flatten().sum()))]),
            per_rank: BTreeMap::from([(DURATION.into(), cols.map(|c| c.map(stats)).to_vec())]),
        };
        let r1_start = 1_000_000 + 5_000 - 3_600_000_000_000 + 2_000_000;
        p.nodes = vec![
            node(0, None, "outer", 2_000_000, [Some(10_000), None]),
            node(1, Some(0), "inner", 2_001_000, [Some(4_000), None]),
            node(2, None, "outer", r1_start, [None, Some(7_000)]),
        ];
        p
    }

    fn events(p: &Profile) -> Value {
        serde_json::from_slice(&to_trace_json(p).unwrap()).unwrap()
    }

    #[test]
    fn complete_events_on_one_unix_timeline_per_rank_and_thread() {
        let t = events(&two_ranks());
        let spans: Vec<(String, u64, f64, f64)> = t["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                let f = |k: &str| e[k].as_f64().unwrap();
                (
                    e["name"].as_str().unwrap().into(),
                    e["pid"].as_u64().unwrap(),
                    f("ts"),
                    f("dur"),
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                ("outer".into(), 0, 0.0, 10.0),
                ("inner".into(), 0, 1.0, 4.0),
                ("outer".into(), 1, 5.0, 7.0),
            ]
        );
        assert_eq!(t["otherData"]["region_instances"], 3);
    }

    #[test]
    fn an_instance_sticking_out_of_its_parent_is_clamped_into_it() {
        let mut p = two_ranks();
        // inner starts 0.5 us before outer and would end 10 us after it
        p.nodes[1].start_ns = Some(1_999_500);
        let long = p.nodes[0].per_rank[DURATION][0].unwrap().sum as i64 + 10_000;
        p.nodes[1].per_rank.get_mut(DURATION).unwrap()[0]
            .as_mut()
            .unwrap()
            .sum = long.into();
        let t = events(&p);
        let inner = t["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "inner")
            .unwrap()
            .clone();
        assert_eq!(
            (inner["ts"].as_f64(), inner["dur"].as_f64()),
            (Some(0.0), Some(10.0))
        );
    }

    #[test]
    fn every_rank_is_a_named_process_and_every_thread_a_named_track() {
        let t = events(&two_ranks());
        let meta: Vec<&Value> = t["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "M")
            .collect();
        let named = |what: &str, pid: u64| {
            meta.iter()
                .find(|e| e["name"] == what && e["pid"] == pid)
                .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        };
        assert_eq!(named("process_name", 1).as_deref(), Some("rank 1 (n1)"));
        assert_eq!(named("thread_name", 0).as_deref(), Some("thread 0"));
    }

    #[test]
    fn a_profile_without_timeline_entries_says_how_to_get_them() {
        let mut p = two_ranks();
        p.nodes.iter_mut().for_each(|n| n.start_ns = None);
        let t = events(&p);
        assert!(t["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["ph"] == "M"));
        let notes = t["otherData"]["notes"].to_string();
        assert!(notes.contains("turn on timeline_profile"), "{notes}");
    }
}
