//! The bytes a rank sends: a [`Profile`] encoded with postcard.
//!
//! The profile is not encoded directly: postcard is not self-describing, so fields that the
//! JSON form skips when empty would shift everything after them, and `serde_json::Value`
//! metadata cannot be read back without a self-describing format. The wire form therefore
//! spells every field, carries metadata as a JSON string, and names each metric by its index
//! in one table instead of repeating the name in every node.

use crate::profile::{MetricDesc, NodeRecord, Profile, RankInfo, Stats};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Version of the wire layout, checked on decode: ranks built from different versions of the
/// runtime must not silently misread each other.
const WIRE_VERSION: u32 = 1;

#[derive(Serialize)]
struct WireOut<'a> {
    version: u32,
    schema: &'a str,
    metadata_json: String,
    metrics: &'a [MetricDesc],
    /// Every metric key used in nodes: the `metrics` names first, then any stray ones.
    keys: Vec<&'a str>,
    ranks: &'a [RankInfo],
    nodes: Vec<NodeOut<'a>>,
    diagnostics: &'a [String],
}

#[derive(Serialize)]
struct NodeOut<'a> {
    parent: Option<u32>,
    name: &'a str,
    thread: Option<u32>,
    start_ns: Option<i64>,
    stats: Vec<(u32, &'a Stats)>,
    per_rank: Vec<(u32, &'a [Option<Stats>])>,
}

#[derive(Deserialize)]
struct WireIn {
    version: u32,
    schema: String,
    metadata_json: String,
    metrics: Vec<MetricDesc>,
    keys: Vec<String>,
    ranks: Vec<RankInfo>,
    nodes: Vec<NodeIn>,
    diagnostics: Vec<String>,
}

#[derive(Deserialize)]
struct NodeIn {
    parent: Option<u32>,
    name: String,
    thread: Option<u32>,
    start_ns: Option<i64>,
    stats: Vec<(u32, Stats)>,
    per_rank: Vec<(u32, Vec<Option<Stats>>)>,
}

/// Why bytes could not be turned back into a profile.
#[derive(Debug)]
pub enum WireError {
    /// postcard could not decode the bytes.
    Decode(postcard::Error),
    /// The sender used another wire layout version.
    Version(u32),
    /// The metadata JSON was invalid.
    Metadata(serde_json::Error),
    /// A node referred to a metric key or parent that does not exist.
    BadIndex,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Decode(e) => write!(f, "undecodable profile: {e}"),
            WireError::Version(v) => {
                write!(
                    f,
                    "profile wire version {v}, this build reads {WIRE_VERSION}"
                )
            }
            WireError::Metadata(e) => write!(f, "bad metadata in profile: {e}"),
            WireError::BadIndex => write!(f, "profile refers to a missing node or metric"),
        }
    }
}

impl std::error::Error for WireError {}

/// Metric keys in first-use order, the declared metrics first.
struct Keys<'a> {
    names: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Keys<'a> {
    fn id(&mut self, k: &'a str) -> u32 {
        if let Some(&i) = self.index.get(k) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(k);
        self.index.insert(k, i);
        i
    }
}

/// Encodes a profile for sending to another rank. Parents are written as positions in the
/// table, so a table whose ids are not positions is renumbered by the receiver's merge anyway.
pub fn encode(p: &Profile) -> Vec<u8> {
    let mut keys = Keys {
        names: Vec::with_capacity(p.metrics.len()),
        index: HashMap::new(),
    };
    for m in &p.metrics {
        keys.id(&m.name);
    }
    let pos: Option<HashMap<usize, u32>> = (!p.nodes.iter().enumerate().all(|(i, n)| n.id == i))
        .then(|| {
            p.nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.id, i as u32))
                .collect()
        });
    let nodes = p
        .nodes
        .iter()
        .map(|n| NodeOut {
            parent: n.parent.and_then(|q| match &pos {
                Some(pos) => pos.get(&q).copied(),
                None => Some(q as u32),
            }),
            name: &n.name,
            thread: n.thread,
            start_ns: n.start_ns,
            stats: n.stats.iter().map(|(k, s)| (keys.id(k), s)).collect(),
            per_rank: n
                .per_rank
                .iter()
                .map(|(k, c)| (keys.id(k), c.as_slice()))
                .collect(),
        })
        .collect();
    let out = WireOut {
        version: WIRE_VERSION,
        schema: &p.schema,
        // A map of JSON values always serialises.
        metadata_json: serde_json::to_string(&p.metadata).unwrap_or_default(),
        metrics: &p.metrics,
        keys: keys.names,
        ranks: &p.ranks,
        nodes,
        diagnostics: &p.diagnostics,
    };
    // Writing into a Vec cannot run out of room, and every field type is supported.
    postcard::to_allocvec(&out).expect("postcard encodes every profile field")
}

/// Decodes bytes made by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Profile, WireError> {
    let w: WireIn = postcard::from_bytes(bytes).map_err(WireError::Decode)?;
    if w.version != WIRE_VERSION {
        return Err(WireError::Version(w.version));
    }
    let metadata = if w.metadata_json.is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_str(&w.metadata_json).map_err(WireError::Metadata)?
    };
    let key = |i: u32| w.keys.get(i as usize).cloned().ok_or(WireError::BadIndex);
    let count = w.nodes.len();
    let mut nodes: Vec<NodeRecord> = Vec::with_capacity(count);
    for (id, n) in w.nodes.into_iter().enumerate() {
        let parent = match n.parent {
            Some(q) if (q as usize) < count => Some(q as usize),
            Some(_) => return Err(WireError::BadIndex),
            None => None,
        };
        // A parent after its child (not pre-order) gets depth 0 here; merging repairs the order.
        let depth = parent.filter(|&q| q < id).map_or(0, |q| nodes[q].depth + 1);
        let mut stats = BTreeMap::new();
        for (k, s) in n.stats {
            stats.insert(key(k)?, s);
        }
        let mut per_rank = BTreeMap::new();
        for (k, c) in n.per_rank {
            per_rank.insert(key(k)?, c);
        }
        nodes.push(NodeRecord {
            id,
            parent,
            depth,
            name: n.name,
            thread: n.thread,
            start_ns: n.start_ns,
            stats,
            per_rank,
        });
    }
    Ok(Profile {
        schema: w.schema,
        metadata,
        metrics: w.metrics,
        ranks: w.ranks,
        nodes,
        diagnostics: w.diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            },
            RankInfo {
                rank: 1,
                hostname: "h".into(),
                pid: 2,
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

    #[test]
    fn wire_is_smaller_than_json() {
        let p = sample();
        assert!(encode(&p).len() * 2 < serde_json::to_vec(&p).unwrap().len());
    }
}
