//! HDF5 output (`profile.h5`): the node table, the rank table and, per metric, [nodes x ranks]
//! matrices with lap and cross-rank statistics, for numpy/h5py and any HDF5 tool.
//!
//! Layout (schema `rankscope-hdf5/1`, documented in docs/distributed.md):
//!
//! ```text
//! /                         attributes: schema, profile_schema, metadata_json, one string per metadata key
//! /diagnostics              string [D]
//! /nodes/{id,parent,depth,name,thread,start_ns}         [N]   parent -1 = top, thread -1 = none
//! /ranks/{rank,hostname,pid}                            [R]
//! /ranks/bound                 i8 [R]   1 bound, 0 not, -1 unknown
//! /ranks/{pus,cores,packages,numa_nodes,allowed_pus,binding_error}   string [R]  lists as 0-3,8
//! /metrics/<metric>/        attributes: name, collector, unit, display_unit, scale, additive, description
//!     per_rank       f64 [N x R]  each rank's inclusive sum, display unit, NaN where absent
//!     per_rank_laps  u64 [N x R]  0 where absent
//!     laps           u64 [N]      over every lap of every rank
//!     sum mean min max stddev exclusive   f64 [N], display unit, NaN where absent
//!     across_ranks/{ranks,min,min_rank,max,max_rank,mean,stddev,imbalance}   [N]
//! ```
//!
//! Everything in display units (seconds, MiB, ...) as f64: the exact integer statistics stay in
//! the native JSON output.

use crate::profile::{MetricDesc, Profile, RankInfo, Spread, Stats};
use hdf5::types::VarLenUnicode;
use hdf5::{Group, H5Type, Location};
use rankscope_collectors::topology::{format_list, Binding};
use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Schema tag written as the root attribute `schema`.
pub const HDF5_SCHEMA: &str = "rankscope-hdf5/1";

/// Writes `profile` to a new HDF5 file at `path` (truncating an existing one).
pub fn write_hdf5(profile: &Profile, path: &Path) -> io::Result<()> {
    write(profile, path).map_err(|e| io::Error::other(format!("HDF5 {}: {e}", path.display())))
}

/// The bytes of the HDF5 file for `profile`. libhdf5 writes files, not buffers, so this goes
/// through a temporary file in the system temporary folder.
pub fn to_hdf5(profile: &Profile) -> io::Result<Vec<u8>> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = std::env::temp_dir().join(format!(
        "rankscope-{}-{}.h5",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_hdf5(profile, &tmp).and_then(|()| std::fs::read(&tmp));
    let _ = std::fs::remove_file(&tmp);
    result
}

fn write(p: &Profile, path: &Path) -> hdf5::Result<()> {
    let file = hdf5::File::create(path)?;
    str_attr(&file, "schema", HDF5_SCHEMA)?;
    str_attr(&file, "profile_schema", &p.schema)?;
    str_attr(
        &file,
        "metadata_json",
        &serde_json::to_string(&p.metadata).unwrap_or_default(),
    )?;
    for (k, v) in &p.metadata {
        // Strings as they are, anything else as its JSON text: attributes stay one simple type.
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        str_attr(&file, &attr_name(k), &text)?;
    }
    strings(
        &file,
        "diagnostics",
        p.diagnostics.iter().map(String::as_str),
    )?;
    nodes(&file.create_group("nodes")?, p)?;
    ranks(&file.create_group("ranks")?, p)?;
    if p.ranks.iter().any(|r| r.samples.is_some()) {
        samples(&file.create_group("samples")?, p)?;
    }
    let metrics = file.create_group("metrics")?;
    let (_, kids) = p.children();
    for m in &p.metrics {
        metric(&metrics.create_group(&attr_name(&m.name))?, p, m, &kids)?;
    }
    Ok(())
}

/// HDF5 treats `/` in a name as a path separator and `.` alone as the current group.
fn attr_name(k: &str) -> String {
    match k.replace('/', "_") {
        s if s.is_empty() || s == "." => format!("_{s}"),
        s => s,
    }
}

fn vlen(s: &str) -> VarLenUnicode {
    // HDF5 strings end at NUL: drop any so the conversion cannot fail.
    let clean: String = s.chars().filter(|&c| c != '\0').collect();
    VarLenUnicode::from_str(&clean).expect("no NUL left")
}

fn str_attr(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&vlen(value))
}

fn num_attr<T: H5Type>(loc: &Location, name: &str, value: T) -> hdf5::Result<()> {
    loc.new_attr::<T>().create(name)?.write_scalar(&value)
}

/// A dataset of the given shape holding `data` in row-major order.
fn dataset<T: H5Type>(g: &Group, name: &str, shape: &[usize], data: &[T]) -> hdf5::Result<()> {
    let ds = g.new_dataset::<T>().shape(shape).create(name)?;
    // Zero-size datasets exist (no nodes or no ranks) but have nothing to write.
    if !data.is_empty() {
        ds.write_raw(data)?;
    }
    Ok(())
}

fn strings<'a>(g: &Group, name: &str, items: impl Iterator<Item = &'a str>) -> hdf5::Result<()> {
    let v: Vec<VarLenUnicode> = items.map(vlen).collect();
    dataset(g, name, &[v.len()], &v)
}

fn nodes(g: &Group, p: &Profile) -> hdf5::Result<()> {
    let n = p.nodes.len();
    let ids: Vec<u64> = p.nodes.iter().map(|x| x.id as u64).collect();
    let parents: Vec<i64> = p
        .nodes
        .iter()
        .map(|x| x.parent.map_or(-1, |q| q as i64))
        .collect();
    let depth: Vec<u32> = p.nodes.iter().map(|x| x.depth).collect();
    let thread: Vec<i64> = p
        .nodes
        .iter()
        .map(|x| x.thread.map_or(-1, i64::from))
        .collect();
    let start: Vec<i64> = p
        .nodes
        .iter()
        .map(|x| x.start_ns.unwrap_or(i64::MIN))
        .collect();
    dataset(g, "id", &[n], &ids)?;
    dataset(g, "parent", &[n], &parents)?;
    dataset(g, "depth", &[n], &depth)?;
    strings(g, "name", p.nodes.iter().map(|x| x.name.as_str()))?;
    dataset(g, "thread", &[n], &thread)?;
    dataset(g, "start_ns", &[n], &start)?;
    str_attr(
        g,
        "missing",
        "parent -1: top-level node; thread -1: not a thread node; start_ns -2^63: not a timeline entry",
    )
}

fn ranks(g: &Group, p: &Profile) -> hdf5::Result<()> {
    let r = p.ranks.len();
    let rank: Vec<u32> = p.ranks.iter().map(|x| x.rank).collect();
    let pid: Vec<u32> = p.ranks.iter().map(|x| x.pid).collect();
    dataset(g, "rank", &[r], &rank)?;
    strings(g, "hostname", p.ranks.iter().map(|x| x.hostname.as_str()))?;
    dataset(g, "pid", &[r], &pid)?;
    binding(g, p)
}

/// Each rank's CPU binding: `bound` (1, 0, or -1 when unknown) and its sets as processor
/// lists (`0-3,8`, OS indices; empty when unknown): ragged integer lists would need HDF5
/// variable-length types most readers handle badly.
fn binding(g: &Group, p: &Profile) -> hdf5::Result<()> {
    fn known(r: &RankInfo) -> Option<&Binding> {
        r.binding.as_ref().filter(|b| b.error.is_none())
    }
    let bound: Vec<i8> = p
        .ranks
        .iter()
        .map(|r| known(r).map_or(-1, |b| i8::from(b.bound)))
        .collect();
    dataset(g, "bound", &[bound.len()], &bound)?;
    type SetOf = fn(&Binding) -> &[u32];
    let lists: [(&str, SetOf); 5] = [
        ("pus", |b| &b.pus),
        ("cores", |b| &b.cores),
        ("packages", |b| &b.packages),
        ("numa_nodes", |b| &b.numa_nodes),
        ("allowed_pus", |b| &b.allowed_pus),
    ];
    for (name, field) in lists {
        let text: Vec<String> = p
            .ranks
            .iter()
            .map(|r| known(r).map(|b| format_list(field(b))).unwrap_or_default())
            .collect();
        strings(g, name, text.iter().map(String::as_str))?;
    }
    let errors: Vec<&str> = p
        .ranks
        .iter()
        .map(|r| match &r.binding {
            None => "not recorded",
            Some(b) => b.error.as_deref().unwrap_or(""),
        })
        .collect();
    strings(g, "binding_error", errors.into_iter())
}

/// The sampler's series, one group per rank that has them (`rank<N>`): the time column and one
/// dataset per series, in display units (seconds, MiB, %), so a reader plots them as they are.
fn samples(g: &Group, p: &Profile) -> hdf5::Result<()> {
    for r in &p.ranks {
        let Some(s) = &r.samples else { continue };
        let rg = g.create_group(&format!("rank{}", r.rank))?;
        num_attr(&rg, "start_unix", s.start_unix_ns as f64 / 1e9)?;
        num_attr(&rg, "interval", s.interval_ns as f64 / 1e9)?;
        num_attr(&rg, "halvings", s.halvings)?;
        num_attr(&rg, "cost", s.cost_ns as f64 / 1e9)?;
        let t: Vec<f64> = s.t_ns.iter().map(|t| *t as f64 / 1e9).collect();
        dataset(&rg, "t", &[t.len()], &t)?;
        for (desc, column) in s.series.iter().zip(&s.columns) {
            let values: Vec<f64> = column.iter().map(|v| *v as f64 * desc.scale).collect();
            let name = attr_name(&desc.name);
            dataset(&rg, &name, &[values.len()], &values)?;
            let ds = rg.dataset(&name)?;
            str_attr(&ds, "unit", &desc.display_unit)?;
            str_attr(&ds, "description", &desc.description)?;
        }
    }
    Ok(())
}

fn metric(g: &Group, p: &Profile, m: &MetricDesc, kids: &[Vec<usize>]) -> hdf5::Result<()> {
    str_attr(g, "name", &m.name)?;
    str_attr(g, "collector", &m.collector)?;
    str_attr(g, "unit", &m.unit)?;
    str_attr(g, "display_unit", &m.display_unit)?;
    num_attr(g, "scale", m.scale)?;
    num_attr(g, "additive", u8::from(m.additive))?;
    str_attr(g, "description", &m.description)?;
    str_attr(
        g,
        "values",
        "f64 datasets are in display_unit (base value x scale); NaN or 0 laps where absent",
    )?;

    let (n, r) = (p.nodes.len(), p.ranks.len());
    let scale = m.scale;
    let mut per_rank = vec![f64::NAN; n * r];
    let mut per_rank_laps = vec![0u64; n * r];
    let nan = || vec![f64::NAN; n];
    let (mut sum, mut mean, mut min, mut max, mut sd, mut excl) =
        (nan(), nan(), nan(), nan(), nan(), nan());
    let mut laps = vec![0u64; n];
    let across: Vec<Option<Spread>> = (0..n).map(|i| p.spread(i, &m.name)).collect();
    for (i, node) in p.nodes.iter().enumerate() {
        if let Some(s) = node.stats.get(&m.name).filter(|s| s.laps > 0) {
            laps[i] = s.laps;
            sum[i] = s.sum as f64 * scale;
            mean[i] = s.mean() * scale;
            min[i] = s.min as f64 * scale;
            max[i] = s.max as f64 * scale;
            sd[i] = s.stddev() * scale;
            if let Some(x) = p.exclusive(i, &m.name, kids) {
                excl[i] = x as f64 * scale;
            }
        }
        if let Some(col) = node.per_rank.get(&m.name) {
            for (j, s) in col.iter().take(r).enumerate() {
                if let Some(s) = s.filter(|s: &Stats| s.laps > 0) {
                    per_rank[i * r + j] = s.sum as f64 * scale;
                    per_rank_laps[i * r + j] = s.laps;
                }
            }
        }
    }
    dataset(g, "per_rank", &[n, r], &per_rank)?;
    dataset(g, "per_rank_laps", &[n, r], &per_rank_laps)?;
    dataset(g, "laps", &[n], &laps)?;
    for (name, v) in [
        ("sum", &sum),
        ("mean", &mean),
        ("min", &min),
        ("max", &max),
        ("stddev", &sd),
        ("exclusive", &excl),
    ] {
        dataset(g, name, &[n], v)?;
    }
    across_ranks(&g.create_group("across_ranks")?, &across, scale)
}

/// Cross-rank statistics of each node's per-rank sums over every merged rank (also those whose
/// values have no column); `min_rank`/`max_rank` are MPI ranks, -1 where no rank entered the node,
/// `min_laps`/`max_laps` those ranks' laps.
fn across_ranks(g: &Group, across: &[Option<Spread>], scale: f64) -> hdf5::Result<()> {
    let n = across.len();
    let f = |get: fn(&Spread) -> f64, scaled: bool| -> Vec<f64> {
        across
            .iter()
            .map(|a| {
                a.as_ref()
                    .map_or(f64::NAN, |a| get(a) * if scaled { scale } else { 1.0 })
            })
            .collect()
    };
    let int = |get: fn(&Spread) -> i64, none: i64| -> Vec<i64> {
        across
            .iter()
            .map(|a| a.as_ref().map_or(none, get))
            .collect()
    };
    let count: Vec<u32> = across
        .iter()
        .map(|a| a.as_ref().map_or(0, |a| a.ranks))
        .collect();
    dataset(g, "ranks", &[n], &count)?;
    dataset(g, "min", &[n], &f(|a| a.min.stats.sum as f64, true))?;
    dataset(g, "min_rank", &[n], &int(|a| a.min.rank.into(), -1))?;
    dataset(g, "min_laps", &[n], &int(|a| a.min.stats.laps as i64, 0))?;
    dataset(g, "max", &[n], &f(|a| a.max.stats.sum as f64, true))?;
    dataset(g, "max_rank", &[n], &int(|a| a.max.rank.into(), -1))?;
    dataset(g, "max_laps", &[n], &int(|a| a.max.stats.laps as i64, 0))?;
    dataset(g, "mean", &[n], &f(Spread::mean, true))?;
    dataset(g, "stddev", &[n], &f(Spread::stddev, true))?;
    // A ratio: no unit to scale.
    dataset(g, "imbalance", &[n], &f(Spread::imbalance, false))?;
    str_attr(
        g,
        "about",
        "over every rank that entered each node (with or without a per_rank column), of their \
         inclusive sums; imbalance = max/mean - 1; min_rank/max_rank are MPI ranks, -1 where no \
         rank entered; min_laps/max_laps are those ranks' laps",
    )
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

    /// Two ranks; `io` only on rank 1.
    pub(crate) fn two_ranks() -> Profile {
        let mut p = Profile::new();
        p.metadata
            .insert("cmdline".into(), serde_json::json!(["./app", "-n", "3"]));
        p.metadata.insert("user.key".into(), "value".into());
        p.metrics.push(MetricDesc {
            name: "wall_clock".into(),
            collector: "wall_clock".into(),
            unit: "ns".into(),
            display_unit: "s".into(),
            scale: 1e-9,
            additive: true,
            description: "elapsed".into(),
        });
        p.ranks = (0..2)
            .map(|r| RankInfo {
                rank: r,
                hostname: format!("node{r}"),
                pid: 100 + r,
                binding: None,
                samples: None,
                clock_offset_ns: None,
            })
            .collect();
        let node = |id, parent, depth, name: &str, cols: [Option<Stats>; 2]| {
            let mut all = Stats::EMPTY;
            cols.iter().flatten().for_each(|s| all.merge(s));
            NodeRecord {
                across_ranks: Default::default(),
                id,
                parent,
                depth,
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
                0,
                "main",
                [Some(stats(&[4_000_000_000])), Some(stats(&[6_000_000_000]))],
            ),
            node(
                1,
                Some(0),
                1,
                "io",
                [None, Some(stats(&[1_000_000_000, 3_000_000_000]))],
            ),
        ];
        p
    }

    #[test]
    fn rank_bindings_are_datasets() {
        let mut p = two_ranks();
        p.ranks[0].binding = Some(Binding {
            pus: vec![0, 1, 2, 3, 8],
            cores: vec![0, 1],
            packages: vec![0],
            numa_nodes: vec![0],
            allowed_pus: (0..16).collect(),
            bound: true,
            error: None,
        });
        p.ranks[1].binding = Some(Binding::failed("hwloc could not load"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.h5");
        write_hdf5(&p, &path).unwrap();
        let f = hdf5::File::open(&path).unwrap();
        let bound: Vec<i8> = f.dataset("ranks/bound").unwrap().read_raw().unwrap();
        assert_eq!(bound, [1, -1]);
        let text = |name: &str| -> Vec<String> {
            let v: Vec<VarLenUnicode> = f.dataset(name).unwrap().read_raw().unwrap();
            v.iter().map(|s| s.as_str().to_string()).collect()
        };
        assert_eq!(text("ranks/pus"), ["0-3,8", ""]);
        assert_eq!(text("ranks/cores"), ["0-1", ""]);
        assert_eq!(text("ranks/allowed_pus"), ["0-15", ""]);
        assert_eq!(text("ranks/binding_error"), ["", "hwloc could not load"]);
    }

    #[test]
    fn file_reads_back() {
        let p = two_ranks();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.h5");
        write_hdf5(&p, &path).unwrap();
        let f = hdf5::File::open(&path).unwrap();
        let schema: VarLenUnicode = f.attr("schema").unwrap().read_scalar().unwrap();
        assert_eq!(schema.as_str(), HDF5_SCHEMA);
        let user: VarLenUnicode = f.attr("user.key").unwrap().read_scalar().unwrap();
        assert_eq!(user.as_str(), "value");
        let parent: Vec<i64> = f.dataset("nodes/parent").unwrap().read_raw().unwrap();
        assert_eq!(parent, [-1, 0]);
        let names: Vec<VarLenUnicode> = f.dataset("nodes/name").unwrap().read_raw().unwrap();
        assert_eq!(names[1].as_str(), "io");
        let g = f.group("metrics/wall_clock").unwrap();
        let pr = g.dataset("per_rank").unwrap();
        assert_eq!(pr.shape(), [2, 2]);
        let v: Vec<f64> = pr.read_raw().unwrap();
        assert_eq!(&v[..2], &[4.0, 6.0]);
        assert!(v[2].is_nan());
        assert_eq!(v[3], 4.0);
        let laps: Vec<u64> = g.dataset("per_rank_laps").unwrap().read_raw().unwrap();
        assert_eq!(laps, [1, 1, 0, 2]);
        let excl: Vec<f64> = g.dataset("exclusive").unwrap().read_raw().unwrap();
        assert_eq!(excl, [6.0, 4.0]);
        let imb: Vec<f64> = g
            .dataset("across_ranks/imbalance")
            .unwrap()
            .read_raw()
            .unwrap();
        assert!((imb[0] - 0.2).abs() < 1e-12 && imb[1] == 0.0);
        let maxr: Vec<i64> = g
            .dataset("across_ranks/max_rank")
            .unwrap()
            .read_raw()
            .unwrap();
        assert_eq!(maxr, [1, 1]);
        let unit: VarLenUnicode = g.attr("display_unit").unwrap().read_scalar().unwrap();
        assert_eq!(unit.as_str(), "s");
    }

    #[test]
    fn empty_profile_writes_empty_tables() {
        let bytes = to_hdf5(&Profile::new()).unwrap();
        assert_eq!(&bytes[..8], b"\x89HDF\r\n\x1a\n");
    }
}
