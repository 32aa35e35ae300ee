//! The bytes a rank sends: a [`Partial`] (the form profiles travel in) encoded with postcard,
//! behind a layout version.
//!
//! postcard is compact (integers as varints, i128/u128 included) and not self-describing, which
//! is why the travelling form spells every field and keeps metadata as JSON text.

use super::partial::Partial;
use crate::profile::Profile;
use std::fmt;

/// Version of the wire layout, checked first on decode: ranks built from different versions of
/// the runtime must not silently misread each other.
const WIRE_VERSION: u32 = 2;

/// Why bytes could not be turned back into a profile.
#[derive(Debug)]
pub enum WireError {
    /// postcard could not decode the bytes.
    Decode(postcard::Error),
    /// The sender used another wire layout version.
    Version(u32),
    /// A node, entry or column referred to something that does not exist.
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
            WireError::BadIndex => write!(f, "profile refers to a missing node, metric or rank"),
        }
    }
}

impl std::error::Error for WireError {}

/// Encodes a profile for sending to another rank (or for storing compactly).
pub fn encode(p: &Profile) -> Vec<u8> {
    encode_partial(&Partial::from_profile(p.clone()))
}

/// Decodes bytes made by [`encode`] (or sent by the reduction).
pub fn decode(bytes: &[u8]) -> Result<Profile, WireError> {
    decode_partial(bytes).map(Partial::into_profile)
}

pub(crate) fn encode_partial(p: &Partial) -> Vec<u8> {
    let mut out = postcard::to_allocvec(&WIRE_VERSION).expect("a u32 encodes");
    // Writing into a Vec cannot run out of room, and every field type is supported.
    out.extend(postcard::to_allocvec(p).expect("postcard encodes every field"));
    out
}

pub(crate) fn decode_partial(bytes: &[u8]) -> Result<Partial, WireError> {
    let (version, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(WireError::Decode)?;
    if version != WIRE_VERSION {
        return Err(WireError::Version(version));
    }
    let p: Partial = postcard::from_bytes(rest).map_err(WireError::Decode)?;
    check(&p)?;
    Ok(p)
}

/// Every index in range, parents before children: merging relies on it.
fn check(p: &Partial) -> Result<(), WireError> {
    let (nodes, keys) = (p.nodes.len(), p.keys.len() as u32);
    let nodes_ok = p.nodes.iter().enumerate().all(|(i, n)| {
        (n.parent == u32::MAX || (n.parent as usize) < i) && n.stats.iter().all(|(k, _)| *k < keys)
    });
    let entries_ok = p
        .columns
        .iter()
        .flatten()
        .all(|e| (e.node as usize) < nodes && e.key < keys);
    if nodes_ok && entries_ok && p.columns.len() == p.ranks.len() {
        Ok(())
    } else {
        Err(WireError::BadIndex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{MetricDesc, NodeRecord, RankInfo, Stats};
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
