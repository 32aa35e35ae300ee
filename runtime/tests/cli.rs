//! Runs the built `rankscope` binary: component listing, reports of JSON profiles, exit codes.

use rankscope::output::to_json;
use rankscope::profile::{MetricDesc, NodeRecord, Profile, RankInfo, Stats};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn rankscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rankscope"))
        .args(args)
        // Report defaults come from these; keep the developer's environment out of the test.
        .env_remove("RANKSCOPE_PRECISION")
        .env_remove("RANKSCOPE_WIDTH")
        .env_remove("RANKSCOPE_SCIENTIFIC")
        .output()
        .expect("run rankscope")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Two ranks: `main` (3 s and 5 s) with `work` inside (2 s on rank 0 only).
fn two_rank_profile() -> Profile {
    let total = |ns: i64| {
        let mut s = Stats::EMPTY;
        s.record(ns);
        s
    };
    let node = |id, parent, depth, name: &str, cols: Vec<Option<Stats>>| {
        let mut all = Stats::EMPTY;
        cols.iter().flatten().for_each(|s| all.merge(s));
        NodeRecord {
            id,
            parent,
            depth,
            name: name.into(),
            thread: None,
            start_ns: None,
            stats: BTreeMap::from([("wall_clock".to_string(), all)]),
            per_rank: BTreeMap::from([("wall_clock".to_string(), cols)]),
        }
    };
    let mut p = Profile::new();
    p.metrics = vec![MetricDesc {
        name: "wall_clock".into(),
        collector: "wall_clock".into(),
        unit: "ns".into(),
        display_unit: "s".into(),
        scale: 1e-9,
        additive: true,
        description: "elapsed real time".into(),
    }];
    p.ranks = (0..2)
        .map(|r| RankInfo {
            rank: r,
            hostname: "h".into(),
            pid: 10 + r,
            binding: None,
        })
        .collect();
    p.nodes = vec![
        node(
            0,
            None,
            0,
            "main",
            vec![Some(total(3_000_000_000)), Some(total(5_000_000_000))],
        ),
        node(
            1,
            Some(0),
            1,
            "work",
            vec![Some(total(2_000_000_000)), None],
        ),
    ];
    p
}

fn write_profile(dir: &Path) -> String {
    let path = dir.join("profile.json");
    std::fs::write(&path, to_json(&two_rank_profile()).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn components_lists_wall_clock_as_available() {
    let out = rankscope(&["components"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("wall_clock "))
        .unwrap_or_else(|| panic!("no wall_clock line in:\n{text}"));
    assert!(line.trim_end().ends_with(" available"), "{line}");
    assert!(text.contains("metric wall_clock [s]"), "{text}");
    assert!(text.contains("aliases: wall"), "{text}");
}

#[test]
fn report_prints_the_tree_with_cross_rank_columns() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_profile(dir.path());
    let out = rankscope(&["report", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("rankscope report: 2 ranks, 2 nodes"),
        "{text}"
    );
    assert!(text.contains("wall_clock [s]"), "{text}");
    assert!(text.contains("IMBALANCE(%)"), "{text}");
    let main: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("main "))
        .unwrap()
        .split_whitespace()
        .collect();
    // LAPS SUM MEAN MIN MAX STDDEV %PARENT MIN/RANK @ MAX/RANK @ MEAN/RANK IMBALANCE %TOTAL RANKS
    assert_eq!(
        main[1..],
        [
            "2", "8.000", "4.000", "3.000", "5.000", "1.000", "100.000", "3.000", "0", "5.000",
            "1", "4.000", "25.000", "100.000", "2"
        ]
    );
    assert!(text.contains("\n  work "), "indented child:\n{text}");

    let out = rankscope(&[
        "report",
        "--precision=1",
        "--width",
        "6",
        "--scientific",
        &file,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("main        2  8.0e0  4.0e0"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_files_exit_1_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-profile.json");
    std::fs::write(&bad, "this is not json").unwrap();
    let missing = dir.path().join("missing.json");
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"traceEvents": []}"#).unwrap();
    for (path, why) in [
        (&bad, "not JSON"),
        (&missing, "cannot read"),
        (&other, "schema"),
    ] {
        let out = rankscope(&["report", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{path:?}");
        let err = stderr(&out);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name) && err.contains(why), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["report"],
        &["report", "a.json", "b.json"],
        &["report", "--precision", "lots", "a.json"],
        &["report", "--widht", "3", "a.json"],
        &["components", "extra"],
    ] {
        let out = rankscope(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).starts_with("rankscope: "), "{args:?}");
    }
    assert!(stderr(&rankscope(&["report", "--widht", "3"])).contains("did you mean '--width'"));
}

#[test]
fn help_for_every_command() {
    for args in [
        &["--help"][..],
        &["help"],
        &["help", "report"],
        &["report", "--help"],
        &["components", "--help"],
        &["settings", "--help"],
    ] {
        let out = rankscope(args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage: rankscope"), "{args:?}");
    }
    let out = rankscope(&["--version"]);
    assert_eq!(
        stdout(&out).trim(),
        format!("rankscope {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn settings_prints_the_reference() {
    let out = rankscope(&["settings"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("RANKSCOPE_PRECISION") && text.contains("| `width` |"),
        "{text}"
    );
}
