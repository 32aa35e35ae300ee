//! The bytes a rank sends.
//!
//! Layout (version 7): the layout version as a postcard varint; a postcard-encoded header (schema,
//! metadata as JSON text per key, metrics, diagnostics, metric key names, the ranks kept as
//! columns with their CPU bindings, sampler series and clock offsets, and how many ranks were
//! merged); then the body in fixed-width little-endian fields: the node table (parent, name,
//! thread, start, over-all statistics and spread over ranks by key index) and, per kept rank,
//! its (node, key, statistics) entries. The body is
//! hand-written because it is nearly all of the bytes and of the time: serde's varint path for
//! `i128`/`u128` cost ~70 ns per entry, this ~10. Statistics store `sum`/`sumsq` in 8 bytes
//! when they fit (a flag says which), 16 otherwise, so nothing is ever truncated.
//!
//! A sender that still holds a plain [`Profile`] encodes it directly ([`encode`]), without
//! building the [`Partial`] a receiver needs for merging.

use super::partial::Partial;
use super::united::{Entry, Node, United, TOP};
use super::{MetricDesc, Profile, RankInfo, RankValue, Spread, Stats};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the wire layout, checked first on decode: ranks built from different versions of
/// the runtime must not silently misread each other.
/// 4: ranks carry their CPU binding. 5: and the sampler's series. 6: and their clock offset.
/// 7: nodes carry their spread over ranks, the header the number of merged ranks.
const WIRE_VERSION: u32 = 7;

/// Why bytes could not be turned back into a profile.
#[derive(Debug)]
pub enum WireError {
    /// postcard could not decode the header.
    Decode(postcard::Error),
    /// The body ended early or held an invalid value.
    Truncated,
    /// The sender used another wire layout version.
    Version(u32),
    /// A node, entry or column referred to something that does not exist.
    BadIndex,
    /// A description no profile can hold (a NaN unit scale, say); the string says which.
    Invalid(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Decode(e) => write!(f, "undecodable profile header: {e}"),
            WireError::Truncated => write!(f, "profile bytes cut short or damaged"),
            WireError::Version(v) => {
                write!(
                    f,
                    "profile wire version {v}, this build reads {WIRE_VERSION}"
                )
            }
            WireError::BadIndex => write!(f, "profile refers to a missing node, metric or rank"),
            WireError::Invalid(why) => write!(f, "invalid profile: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

#[derive(Serialize)]
struct HeaderOut<'a> {
    schema: &'a str,
    metadata: Vec<(&'a str, String)>,
    metrics: &'a [MetricDesc],
    diagnostics: &'a [String],
    keys: &'a [&'a str],
    ranks: &'a [RankInfo],
    merged_ranks: u32,
}

#[derive(Deserialize)]
struct HeaderIn {
    schema: String,
    metadata: Vec<(String, String)>,
    metrics: Vec<MetricDesc>,
    diagnostics: Vec<String>,
    keys: Vec<String>,
    ranks: Vec<RankInfo>,
    merged_ranks: u32,
}

/// The version and the header of `p` (its nodes are not looked at), with the metric `keys`.
fn start(p: &Profile, keys: &[&str], ranks: &[RankInfo]) -> Vec<u8> {
    let h = HeaderOut {
        schema: &p.schema,
        metadata: p
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect(),
        metrics: &p.metrics,
        diagnostics: &p.diagnostics,
        keys,
        ranks,
        merged_ranks: p.rank_count(),
    };
    let mut out = postcard::to_allocvec(&WIRE_VERSION).expect("a u32 encodes");
    // Writing into a Vec cannot run out of room, and every field type is supported.
    out.extend(postcard::to_allocvec(&h).expect("postcard encodes every header field"));
    out
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A width flag (bit 0: the sum takes 16 bytes, bit 1: the sum of squares does), then each in 8
/// bytes when it fits, 16 otherwise.
fn put_sums(out: &mut Vec<u8>, sum: i128, sumsq: u128) {
    let narrow_sum = i64::try_from(sum).ok();
    let narrow_sq = u64::try_from(sumsq).ok();
    out.push(u8::from(narrow_sum.is_none()) | (u8::from(narrow_sq.is_none()) << 1));
    match narrow_sum {
        Some(v) => out.extend_from_slice(&v.to_le_bytes()),
        None => out.extend_from_slice(&sum.to_le_bytes()),
    }
    match narrow_sq {
        Some(v) => out.extend_from_slice(&v.to_le_bytes()),
        None => out.extend_from_slice(&sumsq.to_le_bytes()),
    }
}

fn put_stats(out: &mut Vec<u8>, s: &Stats) {
    out.extend_from_slice(&s.laps.to_le_bytes());
    put_sums(out, s.sum, s.sumsq);
    out.extend_from_slice(&s.min.to_le_bytes());
    out.extend_from_slice(&s.max.to_le_bytes());
}

/// Spread: ranks (u32), a width flag like [`put_stats`]'s, sum, sumsq, then the smallest and the
/// largest total as (rank u32, statistics).
fn put_spread(out: &mut Vec<u8>, s: &Spread) {
    put_u32(out, s.ranks);
    put_sums(out, s.sum, s.sumsq);
    for v in [&s.min, &s.max] {
        put_u32(out, v.rank);
        put_stats(out, &v.stats);
    }
}

/// A node's over-all statistics and spreads, each as (key, value) pairs after their count.
struct NodeValues<'a> {
    stats: Vec<(u32, &'a Stats)>,
    spread: Vec<(u32, Spread)>,
}

fn put_node(
    out: &mut Vec<u8>,
    parent: u32,
    name: &str,
    thread: Option<u32>,
    start: Option<i64>,
    values: NodeValues,
) {
    put_u32(out, parent);
    put_u32(out, name.len() as u32);
    out.extend_from_slice(name.as_bytes());
    out.push(u8::from(thread.is_some()) | (u8::from(start.is_some()) << 1));
    if let Some(t) = thread {
        put_u32(out, t);
    }
    if let Some(s) = start {
        out.extend_from_slice(&s.to_le_bytes());
    }
    put_u32(out, values.stats.len() as u32);
    for (k, s) in values.stats {
        put_u32(out, k);
        put_stats(out, s);
    }
    put_u32(out, values.spread.len() as u32);
    for (k, s) in values.spread {
        put_u32(out, k);
        put_spread(out, &s);
    }
}

fn put_entry(out: &mut Vec<u8>, node: u32, key: u32, s: &Stats) {
    put_u32(out, node);
    put_u32(out, key);
    put_stats(out, s);
}

/// Encodes a profile for sending to another rank (or for storing compactly).
pub fn encode(p: &Profile) -> Vec<u8> {
    encode_with(p, true)
}

/// [`encode`], without the rank columns unless `columns`: what a rank whose values stay home
/// sends (the spreads carry them). Cheaper than [`Profile::keep_ranks`] then [`encode`], which
/// would store every node's spreads in the profile first.
pub(crate) fn encode_with(p: &Profile, columns: bool) -> Vec<u8> {
    let in_preorder = p
        .nodes
        .iter()
        .enumerate()
        .all(|(i, n)| n.id == i && n.parent.is_none_or(|q| q < i));
    if !in_preorder {
        // Rare: let the travelling form repair the order first.
        let mut form = Partial::from_profile(p.clone());
        if !columns {
            form.drop_columns();
        }
        return encode_partial(&form);
    }
    let mut keys: Vec<&str> = p.metrics.iter().map(|m| m.name.as_str()).collect();
    for n in &p.nodes {
        for k in n
            .stats
            .keys()
            .chain(n.per_rank.keys())
            .chain(n.across_ranks.keys())
        {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    let key = |k: &str| keys.iter().position(|have| *have == k).expect("collected") as u32;
    let ranks = if columns { &p.ranks[..] } else { &[] };
    let mut out = start(p, &keys, ranks);
    out.reserve(p.nodes.len() * (40 + 60 * p.metrics.len() * (1 + ranks.len())));
    put_u32(&mut out, p.nodes.len() as u32);
    for n in &p.nodes {
        // Stored spreads, else those of the node's columns (a one-process profile).
        let spread = if n.across_ranks.is_empty() {
            n.per_rank
                .iter()
                .filter_map(|(k, col)| {
                    Some((key(k), Spread::of_column(col, |c| p.column_rank(c))?))
                })
                .collect()
        } else {
            n.across_ranks.iter().map(|(k, s)| (key(k), *s)).collect()
        };
        let values = NodeValues {
            stats: n.stats.iter().map(|(k, s)| (key(k), s)).collect(),
            spread,
        };
        put_node(
            &mut out,
            n.parent.map_or(TOP, |q| q as u32),
            &n.name,
            n.thread,
            n.start_ns,
            values,
        );
    }
    let cols = ranks.len();
    put_u32(&mut out, cols as u32);
    for c in 0..cols {
        let count_at = out.len();
        put_u32(&mut out, 0);
        let mut count = 0u32;
        for n in &p.nodes {
            for (k, col) in &n.per_rank {
                if let Some(Some(s)) = col.get(c) {
                    put_entry(&mut out, n.id as u32, key(k), s);
                    count += 1;
                }
            }
        }
        out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    }
    out
}

/// Decodes bytes made by [`encode`] (or sent by the reduction).
pub fn decode(bytes: &[u8]) -> Result<Profile, WireError> {
    decode_partial(bytes).map(Partial::into_profile)
}

pub(crate) fn encode_partial(p: &Partial) -> Vec<u8> {
    let t = &p.tree;
    let keys: Vec<&str> = t.keys.iter().map(String::as_str).collect();
    let mut out = start(&p.header, &keys, &p.header.ranks);
    let entries: usize = t.columns.iter().map(Vec::len).sum();
    out.reserve(t.nodes.len() * 100 + entries * 50);
    put_u32(&mut out, t.nodes.len() as u32);
    for n in &t.nodes {
        let values = NodeValues {
            stats: n.stats.iter().map(|(k, s)| (*k, s)).collect(),
            spread: n.spread.clone(),
        };
        put_node(&mut out, n.parent, &n.name, n.thread, n.start_ns, values);
    }
    put_u32(&mut out, t.columns.len() as u32);
    for col in &t.columns {
        put_u32(&mut out, col.len() as u32);
        for e in col {
            put_entry(&mut out, e.node, e.key, &e.stats);
        }
    }
    out
}

/// Reads the fixed-width body; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let end = self.at.checked_add(N).ok_or(WireError::Truncated)?;
        let b = self.bytes.get(self.at..end).ok_or(WireError::Truncated)?;
        self.at = end;
        Ok(b.try_into().expect("N bytes"))
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        self.take().map(i64::from_le_bytes)
    }
    fn str(&mut self, len: usize) -> Result<&'a str, WireError> {
        let end = self.at.checked_add(len).ok_or(WireError::Truncated)?;
        let b = self.bytes.get(self.at..end).ok_or(WireError::Truncated)?;
        self.at = end;
        std::str::from_utf8(b).map_err(|_| WireError::Truncated)
    }
    /// A count of items that each take at least `min_size` bytes: bounds allocations made
    /// from a damaged count by the bytes actually left.
    fn count(&mut self, min_size: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.bytes.len() - self.at {
            return Err(WireError::Truncated);
        }
        Ok(n)
    }
    /// A width flag, then a sum and a sum of squares in 8 or 16 bytes each (see [`put_sums`]).
    fn sums(&mut self) -> Result<(i128, u128), WireError> {
        let wide = self.u8()?;
        let sum = if wide & 1 == 0 {
            i128::from(self.i64()?)
        } else {
            i128::from_le_bytes(self.take()?)
        };
        let sumsq = if wide & 2 == 0 {
            u128::from(self.u64()?)
        } else {
            u128::from_le_bytes(self.take()?)
        };
        Ok((sum, sumsq))
    }
    fn stats(&mut self) -> Result<Stats, WireError> {
        let laps = self.u64()?;
        let (sum, sumsq) = self.sums()?;
        let (min, max) = (self.i64()?, self.i64()?);
        Ok(Stats {
            laps,
            sum,
            sumsq,
            min,
            max,
        })
    }
    fn spread(&mut self) -> Result<Spread, WireError> {
        let ranks = self.u32()?;
        let (sum, sumsq) = self.sums()?;
        let mut value = || -> Result<RankValue, WireError> {
            Ok(RankValue {
                rank: self.u32()?,
                stats: self.stats()?,
            })
        };
        let (min, max) = (value()?, value()?);
        Ok(Spread {
            ranks,
            sum,
            sumsq,
            min,
            max,
        })
    }
}

/// Smallest encoded sizes, for [`Reader::count`].
const MIN_NODE: usize = 4 + 4 + 1 + 4;
const MIN_STAT: usize = 4 + 8 + 1 + 8 + 8 + 8 + 8;
const MIN_ENTRY: usize = 4 + MIN_STAT;
// Key, ranks, width flag, sum, sumsq, then two (rank, statistics), each the size of MIN_STAT.
const MIN_SPREAD: usize = 4 + 4 + 1 + 8 + 8 + 2 * MIN_STAT;

pub(crate) fn decode_partial(bytes: &[u8]) -> Result<Partial, WireError> {
    let (version, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(WireError::Decode)?;
    if version != WIRE_VERSION {
        return Err(WireError::Version(version));
    }
    let (h, body): (HeaderIn, _) = postcard::take_from_bytes(rest).map_err(WireError::Decode)?;
    crate::output::check_units(&h.metrics, &h.ranks).map_err(WireError::Invalid)?;
    let mut r = Reader { bytes: body, at: 0 };
    let keys = h.keys.len() as u32;
    let n = r.count(MIN_NODE)?;
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let parent = r.u32()?;
        if parent != TOP && parent as usize >= i {
            return Err(WireError::BadIndex);
        }
        let len = r.u32()? as usize;
        let name = r.str(len)?.to_string();
        let flags = r.u8()?;
        let thread = if flags & 1 != 0 { Some(r.u32()?) } else { None };
        let start_ns = if flags & 2 != 0 { Some(r.i64()?) } else { None };
        let count = r.count(MIN_STAT)?;
        let mut stats = Vec::with_capacity(count);
        for _ in 0..count {
            let k = r.u32()?;
            if k >= keys {
                return Err(WireError::BadIndex);
            }
            stats.push((k, r.stats()?));
        }
        let count = r.count(MIN_SPREAD)?;
        let mut spread = Vec::with_capacity(count);
        for _ in 0..count {
            let k = r.u32()?;
            if k >= keys {
                return Err(WireError::BadIndex);
            }
            spread.push((k, r.spread()?));
        }
        nodes.push(Node {
            parent,
            name,
            thread,
            start_ns,
            stats,
            spread,
        });
    }
    let cols = r.count(4)?;
    if cols != h.ranks.len() {
        return Err(WireError::BadIndex);
    }
    let mut columns = Vec::with_capacity(cols);
    for _ in 0..cols {
        let count = r.count(MIN_ENTRY)?;
        let mut col = Vec::with_capacity(count);
        for _ in 0..count {
            let (node, key) = (r.u32()?, r.u32()?);
            if node as usize >= n || key >= keys {
                return Err(WireError::BadIndex);
            }
            // Every rank's value also counts in its node's spread: a value without one is
            // damage (a reader would then make the spread up from the columns alone).
            if !nodes[node as usize].spread.iter().any(|(k, _)| *k == key) {
                return Err(WireError::Invalid(format!(
                    "node {node} has a rank's value of metric {key} but no spread over ranks"
                )));
            }
            col.push(Entry {
                node,
                key,
                stats: r.stats()?,
            });
        }
        columns.push(col);
    }
    if r.at != body.len() {
        return Err(WireError::Truncated);
    }
    let header = Profile {
        schema: h.schema,
        metadata: h
            .metadata
            .into_iter()
            .map(|(k, v)| {
                // Text that is not JSON (no encoder of ours writes it) is kept as a string.
                let v = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
                (k, v)
            })
            .collect(),
        metrics: h.metrics,
        // A profile never holds fewer ranks than it has columns.
        merged_ranks: h.merged_ranks.max(h.ranks.len() as u32),
        ranks: h.ranks,
        nodes: Vec::new(),
        diagnostics: h.diagnostics,
    };
    Ok(Partial {
        header,
        tree: United {
            keys: h.keys,
            nodes,
            columns,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::NodeRecord;
    use rankscope_collectors::topology::Binding;
    use std::collections::BTreeMap;

    fn sample() -> Profile {
        let mut p = Profile::new();
        p.metadata
            .insert("cmdline".into(), serde_json::json!(["a", "b"]));
        p.metadata
            .insert("nested".into(), serde_json::json!({"x": 1.5, "y": null}));
        p.metrics.push(MetricDesc {
            name: "wall_clock".into(),
            collector: "clock".into(),
            unit: "ns".into(),
            display_unit: "s".into(),
            scale: 1e-9,
            additive: true,
            description: "elapsed".into(),
        });
        p.ranks = vec![
            RankInfo {
                rank: 0,
                hostname: "h".into(),
                pid: 1,
                binding: Some(Binding {
                    pus: vec![0, 64],
                    cores: vec![0],
                    packages: vec![0],
                    numa_nodes: vec![0],
                    allowed_pus: (0..128).collect(),
                    bound: true,
                    error: None,
                }),
                samples: None,
                clock_offset_ns: Some(1_700_000_000_000_000_000),
            },
            RankInfo {
                rank: 1,
                hostname: "h".into(),
                pid: 2,
                // hwloc failed on that rank: the reason travels.
                binding: Some(Binding::failed("hwloc could not load")),
                // The sampler's series travel whole, extremes included.
                samples: Some(crate::sampler::Samples {
                    series: vec![crate::sampler::SeriesDesc {
                        name: "process.rss".into(),
                        unit: "B".into(),
                        display_unit: "MiB".into(),
                        scale: 1.0 / 1048576.0,
                        description: "resident set size".into(),
                    }],
                    start_unix_ns: 1_700_000_000_000_000_000,
                    t_ns: vec![0, 100_000_000],
                    columns: vec![vec![i64::MAX, i64::MIN]],
                    interval_ns: 100_000_000,
                    halvings: 2,
                    cost_ns: 12_345,
                }),
                clock_offset_ns: Some(-1),
            },
        ];
        // Extremes of every integer field: i128/u128 must survive.
        let big = Stats {
            laps: u64::MAX,
            sum: i128::MIN,
            sumsq: u128::MAX,
            min: i64::MIN,
            max: i64::MAX,
        };
        let mut s = Stats::EMPTY;
        s.record(-7);
        let node = |id, parent, depth, name: &str| NodeRecord {
            across_ranks: Default::default(),
            id,
            parent,
            depth,
            name: name.into(),
            thread: None,
            start_ns: None,
            stats: BTreeMap::new(),
            per_rank: BTreeMap::new(),
        };
        let mut a = node(0, None, 0, "main");
        a.stats.insert("wall_clock".into(), big);
        a.per_rank
            .insert("wall_clock".into(), vec![Some(big), None]);
        let mut b = node(1, Some(0), 1, "thread-1");
        b.thread = Some(1);
        b.start_ns = Some(-5);
        // A metric not declared in `metrics` still travels.
        b.stats.insert("stray".into(), s);
        b.per_rank.insert("stray".into(), vec![None, Some(s)]);
        p.nodes = vec![a, b, node(2, None, 0, "ünïcode ✓")];
        p.diagnostics.push("something".into());
        p
    }

    #[test]
    fn round_trip_is_exact() {
        let p = sample();
        let bytes = encode(&p);
        assert_eq!(decode(&bytes).unwrap(), p);
        // The direct encoding of a Profile and that of its travelling form are the same bytes.
        assert_eq!(encode_partial(&Partial::from_profile(p.clone())), bytes);
        assert_eq!(decode(&encode(&Profile::new())).unwrap(), Profile::new());
    }

    #[test]
    fn corrupt_bytes_are_an_error_not_a_panic() {
        let bytes = encode(&sample());
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err());
        }
        let mut wrong = bytes.clone();
        wrong[0] = 99;
        assert!(matches!(decode(&wrong), Err(WireError::Version(99))));
    }

    /// Found by the fuzzer (fuzz/fuzz_targets/wire.rs): a rank's value whose node had no spread
    /// decoded fine, and encoding the profile again made the spread up from the columns (a
    /// different profile). Such bytes are damage: an error naming the node.
    #[test]
    fn a_value_without_its_spread_is_refused() {
        let mut form = Partial::from_profile(sample());
        form.header.merged_ranks = 5;
        let at = form.tree.columns[0][0].node as usize;
        form.tree.nodes[at].spread.clear();
        match decode_partial(&encode_partial(&form)) {
            Err(WireError::Invalid(why)) => assert!(why.contains("no spread"), "{why}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Found by the fuzzer (fuzz/fuzz_targets/wire.rs): a NaN unit scale decoded fine and then
    /// made rank 0 write `"scale": null`, which no reader accepts.
    #[test]
    fn a_nan_scale_is_refused_with_its_name() {
        let mut p = sample();
        p.metrics[0].scale = f64::NAN;
        match decode(&encode(&p)) {
            Err(WireError::Invalid(why)) => assert!(why.contains("wall_clock"), "{why}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn wire_is_smaller_than_json() {
        let p = sample();
        assert!(encode(&p).len() * 2 < serde_json::to_vec(&p).unwrap().len());
    }
}
