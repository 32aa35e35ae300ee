//! The native JSON profile: the serialized [`Profile`] plus, on every node, a derived
//! `"display"` object for people and for quick scripts.
//!
//! Integer statistics are written as plain JSON integers even when they exceed 2^64 (`sum` is
//! i128, `sumsq` u128): serde_json writes and reads them exactly, and so does Python's `json`.
//! Readers limited to doubles should use the `"display"` values instead.

use super::derived::{Deriver, Shown};
use crate::profile::{NodeRecord, Profile, SCHEMA};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// What is written: the profile's own fields, with nodes widened by their display objects.
/// Borrowing keeps writing a large profile free of a deep copy.
#[derive(Serialize)]
struct Written<'a> {
    schema: &'a str,
    metadata: &'a BTreeMap<String, serde_json::Value>,
    metrics: &'a [crate::profile::MetricDesc],
    ranks: &'a [crate::profile::RankInfo],
    #[serde(skip_serializing_if = "is_zero")]
    merged_ranks: u32,
    nodes: Vec<WrittenNode<'a>>,
    diagnostics: &'a [String],
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct WrittenNode<'a> {
    #[serde(flatten)]
    node: &'a NodeRecord,
    display: BTreeMap<&'a str, Shown>,
}

/// The profile as pretty-printed JSON bytes.
pub fn to_json(profile: &Profile) -> io::Result<Vec<u8>> {
    // Destructured without `..`: a field added to Profile fails to compile here until it is
    // written too, instead of silently vanishing from files.
    let Profile {
        schema,
        metadata,
        metrics,
        ranks,
        merged_ranks,
        nodes,
        diagnostics,
    } = profile;
    let d = Deriver::new(profile);
    let totals: Vec<i128> = metrics.iter().map(|m| d.total(&m.name)).collect();
    let nodes = nodes
        .iter()
        .map(|node| WrittenNode {
            node,
            display: metrics
                .iter()
                .zip(&totals)
                .filter_map(|(m, &t)| Some((m.name.as_str(), d.shown(node.id, m, t)?)))
                .collect(),
        })
        .collect();
    let written = Written {
        schema,
        metadata,
        metrics,
        ranks,
        merged_ranks: *merged_ranks,
        nodes,
        diagnostics,
    };
    let mut out = serde_json::to_vec_pretty(&written).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(out)
}

/// Reads a native JSON profile. Errors name the file and say what was expected.
pub fn read_profile(path: &Path) -> io::Result<Profile> {
    let bytes = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
    parse_profile(&bytes).map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    })
}

/// Parses a native JSON profile from memory; the error says what was wrong (without a file name).
pub fn parse_profile(bytes: &[u8]) -> Result<Profile, String> {
    let profile = match serde_json::from_slice::<Profile>(bytes) {
        Ok(p) => p,
        Err(e) => return Err(explain(bytes, e)),
    };
    if profile.schema != SCHEMA {
        return Err(wrong_schema(&serde_json::Value::from(profile.schema)));
    }
    super::check::check(&profile).map_err(|e| format!("damaged rankscope profile: {e}"))?;
    Ok(profile)
}

/// Turns a failed parse into the most useful sentence: not JSON at all, JSON of another kind,
/// or a rankscope profile with a bad field.
fn explain(bytes: &[u8], e: serde_json::Error) -> String {
    #[derive(Deserialize)]
    struct Tag {
        schema: Option<serde_json::Value>,
    }
    if e.is_syntax() || e.is_eof() || e.is_io() {
        return format!("not JSON ({e}); expected a rankscope profile ({SCHEMA})");
    }
    match serde_json::from_slice::<Tag>(bytes) {
        Err(_) => {
            format!("not a rankscope profile: expected a JSON object with \"schema\": \"{SCHEMA}\"")
        }
        Ok(Tag { schema: None }) => {
            format!("not a rankscope profile: no \"schema\" field (expected \"{SCHEMA}\")")
        }
        Ok(Tag { schema: Some(s) }) if s != SCHEMA => wrong_schema(&s),
        Ok(_) => format!("malformed rankscope profile: {e}"),
    }
}

fn wrong_schema(found: &serde_json::Value) -> String {
    match found.as_str() {
        Some(s) if s.starts_with("rankscope-profile/") => format!(
            "schema {s:?} is not supported by this version (expected {SCHEMA:?}); \
             use the rankscope that wrote it"
        ),
        _ => format!("not a rankscope profile: schema is {found}, expected {SCHEMA:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;
    use serde_json::Value;

    fn display(json: &Value, node: usize, metric: &str) -> Value {
        json["nodes"][node]["display"][metric].clone()
    }

    fn close(v: &Value, want: f64) -> bool {
        (v.as_f64().unwrap() - want).abs() < 1e-9 * want.abs().max(1.0)
    }

    #[test]
    fn round_trips_and_ignores_display() {
        for p in [sample::single(), sample::multi()] {
            let bytes = to_json(&p).unwrap();
            assert_eq!(parse_profile(&bytes).unwrap(), p);
        }
    }

    #[test]
    fn huge_integers_survive() {
        // Extremes on a leaf, and a negative one on a non-additive metric, so that no
        // exclusive value (parent minus children) has to hold their difference.
        let mut p = sample::single();
        let s = p.nodes[3].stats.get_mut("wall_clock").unwrap();
        s.sum = i128::MAX - 3;
        s.sumsq = u128::MAX - 5;
        p.nodes[0].stats.get_mut("peak_rss").unwrap().sum = i128::MIN + 1;
        let text = String::from_utf8(to_json(&p).unwrap()).unwrap();
        assert!(text.contains(&(u128::MAX - 5).to_string()));
        assert_eq!(parse_profile(text.as_bytes()).unwrap(), p);
    }

    #[test]
    fn display_values_are_computed() {
        let json: Value = serde_json::from_slice(&to_json(&sample::single()).unwrap()).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        let main = display(&json, 0, "wall_clock");
        assert!(close(&main["sum"], 10.0));
        assert!(close(&main["exclusive"], 1.0));
        assert!(close(&main["percent_of_parent"], 100.0));
        assert!(main.get("ranks").is_none(), "one rank: no cross-rank stats");
        let solve = display(&json, 2, "wall_clock");
        assert!(close(&solve["sum"], 7.0));
        assert!(close(&solve["mean"], 1.75));
        assert!(close(&solve["min"], 1.0));
        assert!(close(&solve["max"], 2.5));
        assert!(close(&solve["stddev"], 0.3125f64.sqrt()));
        assert!(close(&solve["exclusive"], 3.0));
        assert!(close(&solve["percent_of_parent"], 70.0));
        let step = display(&json, 3, "wall_clock");
        assert!(close(&step["percent_of_parent"], 400.0 / 7.0));
        assert!(close(&step["percent_of_total"], 40.0));
        let rss = display(&json, 2, "peak_rss");
        assert!(close(&rss["max"], 80.0));
        assert!(rss.get("exclusive").is_none() && rss.get("percent_of_parent").is_none());
        assert!(json["nodes"][1]["display"].get("peak_rss").is_none());
    }

    #[test]
    fn cross_rank_display() {
        let json: Value = serde_json::from_slice(&to_json(&sample::multi()).unwrap()).unwrap();
        let main = &display(&json, 0, "wall_clock")["ranks"];
        assert_eq!(main["ranks"], 3);
        assert!(close(&main["min"], 8.0) && main["min_rank"] == 2);
        assert!(close(&main["max"], 12.0) && main["max_rank"] == 1);
        assert!(close(&main["mean"], 10.0));
        assert!(close(&main["stddev"], (8.0f64 / 3.0).sqrt()));
        assert!(close(&main["imbalance"], 0.2));
        let io = &display(&json, 1, "wall_clock")["ranks"];
        assert_eq!(io["ranks"], 2);
        assert!(close(&io["mean"], 2.0) && io["min_rank"] == 1);
    }

    #[test]
    fn errors_say_what_was_expected() {
        let e = parse_profile(b"hello").unwrap_err();
        assert!(e.starts_with("not JSON"), "{e}");
        let e = parse_profile(b"[1, 2]").unwrap_err();
        assert!(e.contains("JSON object"), "{e}");
        let e = parse_profile(br#"{"traceEvents": []}"#).unwrap_err();
        assert!(e.contains("no \"schema\""), "{e}");
        let e = parse_profile(br#"{"schema": "caliper", "nodes": 3}"#).unwrap_err();
        assert!(e.contains("schema is \"caliper\""), "{e}");
        let mut p = sample::single();
        p.schema = "rankscope-profile/9".into();
        let e = parse_profile(&to_json(&p).unwrap()).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let e = parse_profile(format!(r#"{{"schema": "{SCHEMA}", "nodes": 3}}"#).as_bytes())
            .unwrap_err();
        assert!(e.starts_with("malformed"), "{e}");
    }

    #[test]
    fn read_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.json");
        std::fs::write(&path, "{").unwrap();
        let e = read_profile(&path).unwrap_err().to_string();
        assert!(e.contains("broken.json") && e.contains("not JSON"), "{e}");
        let e = read_profile(&dir.path().join("absent.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.json"), "{e}");
    }
}
