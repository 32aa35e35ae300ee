//! Runs the built `rankscope` binary: component listing, reports of JSON profiles, topology,
//! help pages (and docs/cli.md's copies of them), exit codes.

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
            across_ranks: Default::default(),
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
            samples: None,
            clock_offset_ns: None,
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

/// Usage errors are clap's: exit code 2, the message on stderr naming the bad argument and what
/// was expected, after the `rankscope: ` every message of the binary starts with. Nothing on stdout.
#[test]
fn bad_usage_exits_2_and_names_the_argument() {
    for (args, says) in [
        (&[][..], "requires a subcommand"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["report"], "<FILE>"),
        (
            &["report", "a.json", "b.json"],
            "unexpected argument 'b.json'",
        ),
        (
            &["report", "--precision", "lots", "a.json"],
            "invalid value 'lots' for '--precision <N>'",
        ),
        (
            &["report", "--width=1001", "a.json"],
            "1001 is not in 0..=1000",
        ),
        (&["report", "--scientific=yes", "a.json"], "--scientific"),
        (&["report", "--widht", "3", "a.json"], "'--widht'"),
        (&["components", "extra"], "unexpected argument 'extra'"),
        (&["settings", "--json"], "unexpected argument '--json'"),
        (&["merge"], "<FILE|DIR>"),
        (&["merge", "a.json", "--outptu", "d"], "'--outptu'"),
        (
            &["merge", "a.json", "--output"],
            "a value is required for '--output <DIR>'",
        ),
        (&["roofline"], "requires a subcommand"),
        (
            &["roofline", "ceiling"],
            "unrecognized subcommand 'ceiling'",
        ),
        (&["roofline", "ceilings", "--quik"], "'--quik'"),
    ] {
        let out = rankscope(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("rankscope: "), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    for (args, close) in [
        (&["report", "--widht", "3"][..], "--width"),
        (&["topology", "--rank"], "--ranks"),
        (&["setings"], "settings"),
    ] {
        let err = stderr(&rankscope(args));
        assert!(
            err.contains("similar") && err.contains(&format!("'{close}'")),
            "{err}"
        );
    }
}

#[test]
fn help_for_every_command() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["help", "report"],
        &["report", "--help"],
        &["components", "--help"],
        &["settings", "--help"],
        &["merge", "--help"],
        &["topology", "--help"],
        &["help", "topology"],
        &["roofline", "--help"],
        &["roofline", "ceilings", "--help"],
        &["help", "roofline", "ceilings"],
    ] {
        let out = rankscope(args);
        assert!(out.status.success(), "{args:?}");
        let text = stdout(&out);
        assert!(text.contains("Usage: rankscope"), "{args:?}");
        // One line per option: its name, then its help on the same line.
        let options = text
            .split("Options:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{text}"));
        for line in options.lines().take_while(|l| !l.is_empty()) {
            assert!(line.trim_start().starts_with('-'), "{args:?}: {line}");
            assert!(
                line.contains("  "),
                "{args:?}: no help beside the option: {line}"
            );
        }
    }
    // `help COMMAND` and `COMMAND --help` are the same page.
    assert_eq!(
        rankscope(&["help", "merge"]).stdout,
        rankscope(&["merge", "--help"]).stdout
    );
    let out = rankscope(&["--version"]);
    assert_eq!(
        stdout(&out).trim(),
        format!("rankscope {}", env!("CARGO_PKG_VERSION"))
    );
}

/// docs/cli.md shows every command's `--help` in a block that starts `$ rankscope ... --help`;
/// each must be what the binary prints, so the doc cannot drift from the parser.
/// `RANKSCOPE_BLESS=1 cargo test -p rankscope --test cli` rewrites the blocks from the binary.
#[test]
fn docs_show_every_help_page_as_printed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut blessed = String::new();
    let mut shown = Vec::new();
    let mut stale = Vec::new();
    let mut rest = doc.as_str();
    while let Some(at) = rest.find("```\n$ rankscope ") {
        let (before, block) = rest.split_at(at + "```\n".len());
        blessed.push_str(before);
        let (command, after_command) = block.split_once('\n').unwrap();
        let end = after_command
            .find("```\n")
            .expect("unclosed block in docs/cli.md");
        rest = &after_command[end..];
        let args: Vec<&str> = command["$ rankscope ".len()..].split(' ').collect();
        if args.last() != Some(&"--help") {
            // An example of something else (an error message): kept as written.
            blessed.push_str(&block[..block.len() - rest.len()]);
            continue;
        }
        let printed = stdout(&rankscope(&args));
        if after_command[..end] != printed {
            stale.push(command.to_string());
        }
        blessed.push_str(&format!("{command}\n{printed}"));
        shown.push(args[..args.len() - 1].join(" "));
    }
    blessed.push_str(rest);
    if std::env::var_os("RANKSCOPE_BLESS").is_some() {
        std::fs::write(&path, &blessed).unwrap();
        return;
    }
    assert!(
        stale.is_empty(),
        "docs/cli.md differs from the binary's help for {stale:?}: \
         RANKSCOPE_BLESS=1 cargo test -p rankscope --test cli"
    );
    // Every command of the top-level help has its page (and `roofline ceilings`).
    let top = stdout(&rankscope(&["--help"]));
    let commands = top.split("Commands:\n").nth(1).unwrap();
    let mut wanted: Vec<String> = commands
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|c| c != "help")
        .collect();
    wanted.extend(["".to_string(), "roofline ceilings".to_string()]);
    for command in wanted {
        assert!(
            shown.contains(&command),
            "no '$ rankscope {command} --help' block in docs/cli.md"
        );
    }
}

#[test]
fn merge_writes_the_outputs_and_names_a_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_profile(dir.path());
    let merged = dir.path().join("merged");
    let out = rankscope(&["merge", &file, "-o", merged.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = merged.join("profile.json");
    assert!(
        stdout(&out).lines().any(|l| Path::new(l) == json),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).starts_with("rank 0: "), "{}", stderr(&out));
    let again = rankscope::output::read_profile(&json).unwrap();
    assert_eq!(again.ranks.len(), 2);

    let missing = dir.path().join("missing.json");
    let out = rankscope(&["merge", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));
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

#[test]
fn topology_prints_this_machine_and_this_binding() {
    let out = rankscope(&["topology"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Machine "), "{text}");
    assert!(
        text.contains("  Package P#") && text.contains("Core P#"),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().starts_with("this process: "),
        "{text}"
    );

    let out = rankscope(&["topology", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pus = doc["machine"]["pus"].as_u64().unwrap();
    let laid_out: u64 = doc["machine"]["package_layout"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["cores"].as_array().unwrap())
        .map(|c| c["pus"].as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(pus, laid_out);
    // The child inherited this thread's CPU affinity: hwloc must read the same set.
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity(0) fills it for this thread.
    let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask) };
    assert_eq!(rc, 0);
    let ours: Vec<u64> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &mask) })
        .map(|i| i as u64)
        .collect();
    let seen: Vec<u64> = doc["binding"]["pus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(seen, ours);
}

#[test]
fn topology_of_an_output_folder_flags_shared_cores_and_unbound_ranks() {
    use rankscope::collectors::topology::Binding;
    let mut p = two_rank_profile();
    let bound_to = |pus: Vec<u32>| Binding {
        bound: pus.len() < 4,
        cores: pus.iter().map(|p| p % 2).collect(),
        pus,
        packages: vec![0],
        numa_nodes: vec![0],
        allowed_pus: vec![0, 1, 2, 3],
        error: None,
    };
    // PUs 0 and 2 are the two hardware threads of core 0 (layout below): a shared core.
    p.ranks[0].binding = Some(bound_to(vec![0]));
    p.ranks[1].binding = Some(bound_to(vec![2]));
    let mut unbound = p.ranks[1].clone();
    unbound.rank = 2;
    unbound.binding = Some(bound_to(vec![0, 1, 2, 3]));
    p.ranks.push(unbound);
    for n in &mut p.nodes {
        n.per_rank.values_mut().for_each(|v| v.push(None));
    }
    p.metadata.insert(
        "topology.h".into(),
        serde_json::json!({
            "cpu_model": "Test CPU", "packages": 1, "cores": 2, "pus": 4, "numa_nodes": 1,
            "memory_bytes": 0, "caches": [], "numa_layout": [],
            "package_layout": [{"os_index": 0, "cores": [
                {"os_index": 0, "pus": [0, 2]}, {"os_index": 1, "pus": [1, 3]}]}]
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("profile.json"), to_json(&p).unwrap()).unwrap();
    let out = rankscope(&["topology", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = |rank: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(rank))
            .unwrap_or_else(|| panic!("no row for rank {rank}:\n{text}"))
            .to_string()
    };
    assert!(
        row("0").ends_with("[B./..]  shares a core with rank 1"),
        "{text}"
    );
    assert!(
        row("1").ends_with("[.B/..]  shares a core with rank 0"),
        "{text}"
    );
    assert!(
        row("2").contains(" no ") && row("2").ends_with("unbound"),
        "{text}"
    );
    assert!(
        text.ends_with("2 bound, 1 unbound, 2 sharing a core, 0 unknown\n"),
        "{text}"
    );

    // A profile from before bindings were recorded: every rank's binding is unknown.
    let file = write_profile(dir.path());
    let out = rankscope(&["topology", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("binding unknown: not recorded"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn topology_ranks_without_a_launcher_is_one_rank() {
    let out = rankscope(&["topology", "--ranks"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("1 rank on 1 host\n"), "{text}");
    assert!(text.contains("RANK  HOST"), "{text}");
}

#[test]
fn topology_usage_and_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().to_str().unwrap();
    for args in [
        &["topology", "--ranks", "out"][..],
        &["topology", "--bogus"],
        &["topology", "a", "b"],
        &["topology", "--json", "out"],
        &["topology", "--json", "--ranks"],
    ] {
        let out = rankscope(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = rankscope(&["topology", empty]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no profile.json"), "{}", stderr(&out));
    let out = rankscope(&["topology", "/nonexistent/profile.json"]);
    assert_eq!(out.status.code(), Some(1));
}
