//! Caliper json-split output, the format `cali-query -q "... format json-split"` prints, so that
//! llnl-hatchet's `GraphFrame.from_caliper` and llnl-thicket's `Thicket.from_caliper` read our
//! profiles. Two shapes (schemas in docs/distributed.md):
//!
//! - per rank ([`caliper_value`], `profile.cali.json`): one data row per (node, rank); Hatchet
//!   indexes it by node and `rank`.
//! - cross-rank summary ([`caliper_summary_value`], `profile-summary.cali.json`): one row per
//!   node with min/max/avg/total over ranks, the shape Thicket's `groupby` and statistics work
//!   on (Thicket indexes rows by node and profile and has no room for a rank level).
//!
//! Both are one JSON object:
//! - `nodes`: the call tree, one `{"label", "column": "path", "parent"?}` per node, in pre-order.
//! - `columns` / `column_metadata`: the names of the data columns and whether each is a value.
//! - `data`: the rows, values in display units (`null` where a rank never entered a node).
//! - every other top-level key is run metadata (one scalar each), which Thicket uses to group
//!   runs: `launchdate`, `hostname`, `cluster`, `user`, `cmdline`, `executable`,
//!   `mpi.world.size`, `jobsize` and every key of the profile's metadata (nested objects
//!   flattened with dots).
//!
//! Hatchet reads the "Node order" of node *i* from data row *i*, first column: "Node order" is
//! always the first column, and per-rank rows are written rank-major (every node of the first
//! rank in node order, then the next rank), so row *i* < N belongs to node *i*.

use crate::profile::{MetricDesc, Profile, Spread, Stats};
use serde_json::{json, Map, Value};
use std::io;

/// Top-level keys of the format itself: metadata keys with these names get a `meta.` prefix.
const RESERVED: [&str; 4] = ["data", "columns", "column_metadata", "nodes"];

/// The per-rank json-split text for `profile` (see [`caliper_value`]).
pub fn to_caliper_json(profile: &Profile) -> io::Result<Vec<u8>> {
    serde_json::to_vec(&caliper_value(profile)).map_err(io::Error::other)
}

/// Column names of one metric: Caliper's own for wall-clock time (Hatchet renames them `time`
/// and `time (inc)`), `<name>` and `<name> (inc)` for the others (Hatchet treats a column as
/// inclusive when its name contains "(inc)"). Non-additive metrics have no exclusive column.
fn metric_columns(m: &MetricDesc) -> (Option<String>, String) {
    if m.name == "wall_clock" {
        return (
            Some("sum#time.duration".into()),
            "inclusive#sum#time.duration".into(),
        );
    }
    let excl = m.additive.then(|| m.name.clone());
    (excl, format!("{} (inc)", m.name))
}

/// Short name of a metric in the cross-rank summary's column names (`time` for wall-clock).
fn summary_name(m: &MetricDesc) -> &str {
    if m.name == "wall_clock" {
        "time"
    } else {
        &m.name
    }
}

/// One rank's values of one metric at one node, in display units.
#[derive(Clone, Copy)]
struct Cell {
    laps: u64,
    /// `None` for non-additive metrics.
    exclusive: Option<f64>,
    inclusive: f64,
}

/// `cells[metric][node][column]`: every rank's values (one column, the over-all statistics,
/// for a profile without rank columns). Absent where the rank never entered the node.
fn cells(p: &Profile) -> Vec<Vec<Vec<Option<Cell>>>> {
    let (_, kids) = p.children();
    let has_ranks = !p.ranks.is_empty();
    let cols = p.ranks.len().max(1);
    p.metrics
        .iter()
        .map(|m| {
            let at = |node: usize, col: usize| -> Option<Stats> {
                let node = &p.nodes[node];
                let s = if has_ranks {
                    node.per_rank.get(&m.name)?.get(col).copied().flatten()
                } else {
                    node.stats.get(&m.name).copied()
                };
                s.filter(|s| s.laps > 0)
            };
            (0..p.nodes.len())
                .map(|i| {
                    (0..cols)
                        .map(|col| {
                            let own = at(i, col)?;
                            let exclusive = m.additive.then(|| {
                                let children: i128 = kids[i]
                                    .iter()
                                    .filter_map(|&c| at(c, col))
                                    .map(|s| s.sum)
                                    .sum();
                                (own.sum - children) as f64 * m.scale
                            });
                            Some(Cell {
                                laps: own.laps,
                                exclusive,
                                inclusive: own.sum as f64 * m.scale,
                            })
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The `nodes` section: the call tree in pre-order.
fn tree(p: &Profile) -> Value {
    p.nodes
        .iter()
        .map(|n| match n.parent {
            Some(q) => json!({"label": n.name, "column": "path", "parent": q}),
            None => json!({"label": n.name, "column": "path"}),
        })
        .collect()
}

/// The metric whose laps are the `count` column: wall-clock time when there is one.
fn count_metric(p: &Profile) -> Option<usize> {
    p.metrics
        .iter()
        .position(|m| m.name == "wall_clock")
        .or((!p.metrics.is_empty()).then_some(0))
}

fn document(p: &Profile, columns: Vec<String>, data: Vec<Value>) -> Value {
    // "Node order" and "path" refer to entries of `nodes`; everything else is a number.
    let column_metadata: Vec<Value> = (0..columns.len())
        .map(|i| json!({"is_value": i >= 2}))
        .collect();
    let mut doc = run_metadata(p);
    doc.insert("data".into(), Value::Array(data));
    doc.insert("columns".into(), json!(columns));
    doc.insert("column_metadata".into(), Value::Array(column_metadata));
    doc.insert("nodes".into(), tree(p));
    Value::Object(doc)
}

/// The per-rank json-split document as a JSON value.
pub fn caliper_value(p: &Profile) -> Value {
    let has_ranks = !p.ranks.is_empty();
    let mut columns: Vec<String> = vec!["Node order".into(), "path".into()];
    if has_ranks {
        columns.push("mpi.rank".into());
    }
    columns.push("count".into());
    for m in &p.metrics {
        let (excl, incl) = metric_columns(m);
        columns.extend(excl);
        columns.push(incl);
    }
    let cells = cells(p);
    let count = count_metric(p);
    let cols = p.ranks.len().max(1);
    let mut data: Vec<Value> = Vec::with_capacity(p.nodes.len() * cols);
    for col in 0..cols {
        for n in &p.nodes {
            let mut row: Vec<Value> = vec![n.id.into(), n.id.into()];
            if has_ranks {
                row.push(p.ranks[col].rank.into());
            }
            row.push(
                count
                    .and_then(|m| cells[m][n.id][col])
                    .map(|c| c.laps)
                    .into(),
            );
            for (m, per_node) in p.metrics.iter().zip(&cells) {
                let c = per_node[n.id][col];
                if m.additive {
                    row.push(c.and_then(|c| c.exclusive).into());
                }
                row.push(c.map(|c| c.inclusive).into());
            }
            data.push(Value::Array(row));
        }
    }
    document(p, columns, data)
}

/// The cross-rank summary: one row per node, no rank level. Per metric, over the ranks that
/// entered the node: `Min <m>/rank`, `Max <m>/rank`, `Avg <m>/rank`, `Total <m>` of the
/// exclusive values (additive metrics) and the same with ` (inc)` of the inclusive ones, plus
/// `ranks` (how many entered) and `count` (laps over all ranks). Caliper's spot reports use
/// these names; Thicket's `groupby` and statistics need this shape (its index is node and
/// profile only).
pub fn caliper_summary_value(p: &Profile) -> Value {
    let mut columns: Vec<String> = vec![
        "Node order".into(),
        "path".into(),
        "count".into(),
        "ranks".into(),
    ];
    for m in &p.metrics {
        let name = summary_name(m);
        for inc in ["", " (inc)"] {
            if inc.is_empty() && !m.additive {
                continue;
            }
            columns.push(format!("Min {name}/rank{inc}"));
            columns.push(format!("Max {name}/rank{inc}"));
            columns.push(format!("Avg {name}/rank{inc}"));
            columns.push(format!("Total {name}{inc}"));
        }
    }
    // Exclusive values per rank need each rank's column; without every rank's, only their
    // total (and so their mean) is known.
    let cells = p.has_every_rank().then(|| cells(p));
    let (_, kids) = p.children();
    let count = count_metric(p).map(|m| p.metrics[m].name.as_str());
    let mut data: Vec<Value> = Vec::with_capacity(p.nodes.len());
    for n in &p.nodes {
        let mut row: Vec<Value> = vec![n.id.into(), n.id.into()];
        let laps = count.and_then(|m| n.stats.get(m)).map(|s| s.laps);
        row.push(laps.filter(|&l| l > 0).into());
        let spreads: Vec<Option<Spread>> =
            p.metrics.iter().map(|m| p.spread(n.id, &m.name)).collect();
        let ranks = spreads.iter().flatten().map(|s| s.ranks).max().unwrap_or(0);
        row.push(ranks.into());
        for (mi, m) in p.metrics.iter().enumerate() {
            let Some(spread) = spreads[mi] else {
                let groups = if m.additive { 2 } else { 1 };
                row.extend(std::iter::repeat_n(Value::Null, 4 * groups));
                continue;
            };
            if m.additive {
                match &cells {
                    Some(cells) => {
                        let v: Vec<f64> = cells[mi][n.id]
                            .iter()
                            .flatten()
                            .filter_map(|c| c.exclusive)
                            .collect();
                        let total: f64 = v.iter().sum();
                        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let avg = total / v.len().max(1) as f64;
                        row.extend([min.into(), max.into(), avg.into(), total.into()]);
                    }
                    None => {
                        let total = p.exclusive(n.id, &m.name, &kids).unwrap_or(0) as f64 * m.scale;
                        let avg = total / f64::from(spread.ranks.max(1));
                        row.extend([Value::Null, Value::Null, avg.into(), total.into()]);
                    }
                }
            }
            let k = |x: f64| x * m.scale;
            row.extend([
                k(spread.min.stats.sum as f64).into(),
                k(spread.max.stats.sum as f64).into(),
                k(spread.mean()).into(),
                k(spread.sum as f64).into(),
            ]);
        }
        data.push(Value::Array(row));
    }
    document(p, columns, data)
}

/// The cross-rank summary document's text (see [`caliper_summary_value`]).
pub fn to_caliper_summary_json(profile: &Profile) -> io::Result<Vec<u8>> {
    serde_json::to_vec(&caliper_summary_value(profile)).map_err(io::Error::other)
}

/// Run metadata as flat scalars, with the keys Caliper/Adiak readers look for filled in.
fn run_metadata(p: &Profile) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in &p.metadata {
        flatten(k, v, &mut out);
    }
    rank_globals(p, &mut out);
    let world = out
        .get("mpi.world.size")
        .cloned()
        .unwrap_or_else(|| p.ranks.len().max(1).into());
    out.entry("mpi.world.size").or_insert(world.clone());
    out.entry("jobsize").or_insert(world);
    let host = out
        .get("hostname")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| p.ranks.first().map(|r| r.hostname.clone()))
        .unwrap_or_default();
    out.entry("hostname").or_insert(host.clone().into());
    // Adiak's convention: the cluster is the host name without its node number.
    let cluster = host.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
    out.entry("cluster").or_insert(
        if cluster.is_empty() {
            host.as_str()
        } else {
            cluster
        }
        .into(),
    );
    if let Some(user) = std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("LOGNAME").ok())
    {
        out.entry("user").or_insert(user.into());
    }
    out
}

/// Each rank's host, pid and binding as `rank.<N>.*` scalars (processor sets as lists like
/// `0-3,8`), and how many ranks were bound, unbound, sharing a core or of unknown binding as
/// `binding.*`, so that Thicket can group and filter runs by how they were bound.
fn rank_globals(p: &Profile, out: &mut Map<String, Value>) {
    use crate::topology::{rank_flags, RankFlag};
    use rankscope_collectors::topology::format_list;
    for r in &p.ranks {
        let key = |k: &str| format!("rank.{}.{k}", r.rank);
        out.insert(key("hostname"), r.hostname.clone().into());
        out.insert(key("pid"), r.pid.into());
        match &r.binding {
            None => {
                out.insert(key("binding_error"), "not recorded".into());
            }
            Some(b) => match &b.error {
                Some(why) => {
                    out.insert(key("binding_error"), why.clone().into());
                }
                None => {
                    out.insert(key("bound"), b.bound.into());
                    for (name, set) in [
                        ("pus", &b.pus),
                        ("cores", &b.cores),
                        ("packages", &b.packages),
                        ("numa_nodes", &b.numa_nodes),
                        ("allowed_pus", &b.allowed_pus),
                    ] {
                        out.insert(key(name), format_list(set).into());
                    }
                }
            },
        }
    }
    let flags = rank_flags(p);
    let count = |f: fn(&RankFlag) -> bool| flags.iter().filter(|fs| fs.iter().any(f)).count();
    let bound = p
        .ranks
        .iter()
        .filter(|r| {
            r.binding
                .as_ref()
                .is_some_and(|b| b.error.is_none() && b.bound)
        })
        .count();
    out.insert("binding.bound_ranks".into(), bound.into());
    out.insert(
        "binding.unbound_ranks".into(),
        count(|f| matches!(f, RankFlag::Unbound)).into(),
    );
    out.insert(
        "binding.ranks_sharing_a_core".into(),
        count(|f| matches!(f, RankFlag::SharesCore(_))).into(),
    );
    out.insert(
        "binding.unknown_ranks".into(),
        count(|f| matches!(f, RankFlag::Unknown(_))).into(),
    );
}

/// Objects become dotted keys, lists of scalars one space-separated string (a command line),
/// other lists their JSON text; `null` is left out. Thicket needs hashable scalars to group by.
fn flatten(key: &str, v: &Value, out: &mut Map<String, Value>) {
    let key = if RESERVED.contains(&key) {
        format!("meta.{key}")
    } else {
        key.to_string()
    };
    match v {
        Value::Null => {}
        Value::Object(o) => {
            for (k, v) in o {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_array() && !x.is_object()) => {
            let words: Vec<String> = a
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.insert(key, words.join(" ").into());
        }
        Value::Array(_) => {
            out.insert(key, v.to_string().into());
        }
        scalar => {
            out.insert(key, scalar.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{NodeRecord, RankInfo};
    use std::collections::BTreeMap;

    fn stats(v: &[i64]) -> Stats {
        let mut s = Stats::EMPTY;
        v.iter().for_each(|&x| s.record(x));
        s
    }

    fn sample() -> Profile {
        let mut p = Profile::new();
        p.metadata
            .insert("cmdline".into(), json!(["./app", "-n", "3"]));
        p.metadata.insert("settings".into(), json!({"a": "1"}));
        p.metadata.insert("nodes".into(), json!(7));
        p.metadata.insert("hostname".into(), json!("quartz12"));
        p.metrics.push(MetricDesc {
            name: "wall_clock".into(),
            collector: "wall_clock".into(),
            unit: "ns".into(),
            display_unit: "s".into(),
            scale: 1e-9,
            additive: true,
            description: String::new(),
        });
        p.ranks = (0..2)
            .map(|r| RankInfo {
                rank: r,
                hostname: "h".into(),
                pid: r,
                binding: None,
                samples: None,
                clock_offset_ns: None,
            })
            .collect();
        let node = |id, parent, name: &str, cols: [Option<Stats>; 2]| {
            let mut all = Stats::EMPTY;
            cols.iter().flatten().for_each(|s| all.merge(s));
            NodeRecord {
                across_ranks: Default::default(),
                id,
                parent,
                depth: parent.map_or(0, |_| 1),
                name: name.into(),
                thread: None,
                start_ns: None,
                stats: BTreeMap::from([("wall_clock".to_string(), all)]),
                per_rank: BTreeMap::from([("wall_clock".to_string(), cols.to_vec())]),
            }
        };
        p.nodes = vec![
            node(
                0,
                None,
                "main",
                [Some(stats(&[4_000_000_000])), Some(stats(&[6_000_000_000]))],
            ),
            node(
                1,
                Some(0),
                "io",
                [None, Some(stats(&[1_000_000_000, 3_000_000_000]))],
            ),
        ];
        p
    }

    #[test]
    fn rows_are_rank_major_with_node_order_first() {
        let v = caliper_value(&sample());
        assert_eq!(
            v["columns"],
            json!([
                "Node order",
                "path",
                "mpi.rank",
                "count",
                "sum#time.duration",
                "inclusive#sum#time.duration"
            ])
        );
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 4);
        assert_eq!(data[0], json!([0, 0, 0, 1, 4.0, 4.0]));
        assert_eq!(data[1], json!([1, 1, 0, null, null, null]));
        assert_eq!(data[2], json!([0, 0, 1, 1, 2.0, 6.0]));
        assert_eq!(data[3], json!([1, 1, 1, 2, 4.0, 4.0]));
        assert_eq!(
            v["nodes"][1],
            json!({"label": "io", "column": "path", "parent": 0})
        );
    }

    #[test]
    fn summary_has_one_row_per_node() {
        let v = caliper_summary_value(&sample());
        let cols: Vec<&str> = v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            cols,
            [
                "Node order",
                "path",
                "count",
                "ranks",
                "Min time/rank",
                "Max time/rank",
                "Avg time/rank",
                "Total time",
                "Min time/rank (inc)",
                "Max time/rank (inc)",
                "Avg time/rank (inc)",
                "Total time (inc)"
            ]
        );
        // main: exclusive 4 (rank 0) and 2 (rank 1); inclusive 4 and 6.
        assert_eq!(
            v["data"][0],
            json!([0, 0, 2, 2, 2.0, 4.0, 3.0, 6.0, 4.0, 6.0, 5.0, 10.0])
        );
        assert_eq!(
            v["data"][1],
            json!([1, 1, 2, 1, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0])
        );
    }

    #[test]
    fn metadata_is_flat_and_complete() {
        let v = caliper_value(&sample());
        assert_eq!(v["cmdline"], "./app -n 3");
        assert_eq!(v["settings.a"], "1");
        assert_eq!(v["meta.nodes"], 7);
        assert_eq!(v["mpi.world.size"], 2);
        assert_eq!(v["cluster"], "quartz");
        // Ranks without a recorded binding still name their host.
        assert_eq!(v["rank.1.hostname"], "h");
        assert_eq!(v["rank.1.binding_error"], "not recorded");
        assert_eq!(v["binding.unknown_ranks"], 2);
    }

    #[test]
    fn rank_bindings_and_host_topology_are_globals() {
        use rankscope_collectors::topology::Binding;
        let mut p = sample();
        p.ranks[0].binding = Some(Binding {
            pus: vec![0, 1],
            cores: vec![0],
            packages: vec![0],
            numa_nodes: vec![0],
            allowed_pus: (0..4).collect(),
            bound: true,
            error: None,
        });
        p.ranks[1].binding = Some(Binding {
            pus: (0..4).collect(),
            allowed_pus: (0..4).collect(),
            bound: false,
            ..Default::default()
        });
        p.metadata.insert(
            "topology.quartz12".into(),
            json!({"cpu_model": "Test CPU", "packages": 1, "cores": 2, "pus": 4}),
        );
        let v = caliper_value(&p);
        assert_eq!(v["rank.0.bound"], true);
        assert_eq!(v["rank.0.pus"], "0-1");
        assert_eq!(v["rank.0.allowed_pus"], "0-3");
        assert_eq!(v["rank.1.bound"], false);
        assert_eq!(v["binding.bound_ranks"], 1);
        assert_eq!(v["binding.unbound_ranks"], 1);
        assert_eq!(v["topology.quartz12.cpu_model"], "Test CPU");
        assert_eq!(v["topology.quartz12.cores"], 2);
        // The summary file carries the same globals.
        assert_eq!(caliper_summary_value(&p)["rank.0.pus"], "0-1");
    }
}
