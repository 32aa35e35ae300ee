//! The `rankscope` command line: list components, print reports of saved profiles, merge
//! per-rank snapshots, show the machine's topology and the ranks' bindings, print the settings
//! reference.
//!
//! Exit codes: 0 success, 1 a file that cannot be read or is not a profile, 2 bad usage.

use rankscope::collectors::{self, Availability};
use rankscope::output::{read_profile, text_report, TextOptions};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
rankscope: MPI-aware profiling runtime

Usage: rankscope <COMMAND> [ARGS]

Commands:
  components          List every collector, its metrics, and whether it works here
  report FILE         Print the text report of a JSON profile
  merge FILE...       Merge per-rank profiles into one result and write its outputs
  topology [OUTPUT]   Print this machine's topology, or every rank's binding (--ranks, OUTPUT)
  roofline ceilings   Measure this node's peak GFLOP/s and GB/s per memory level (cached)
  settings            Print the settings reference (Markdown)
  help [COMMAND]      Print this help, or a command's help

Options:
  -h, --help          Print help
  -V, --version       Print the version

Exit status: 0 success, 1 unreadable or invalid file, 2 bad usage.
";

const COMPONENTS_HELP: &str = "\
List every collector this build knows, with its aliases, its metrics (name and display unit),
and whether it works on this machine; when it does not, the reason. Each available collector
also shows what it measured here over a short reference workload (about 20 ms of arithmetic,
8 MiB touched, 64 KiB written to /dev/null).

Usage: rankscope components
";

const REPORT_HELP: &str = "\
Print the text report of a native JSON profile (profile.json).

Usage: rankscope report FILE [--precision N] [--width N] [--scientific]

Options:
  --precision N       Digits after the decimal point (default: setting precision, 3)
  --width N           Minimum width of the value columns (default: setting width, 12)
  --scientific        Scientific notation (default: setting scientific, off)
  -h, --help          Print help

Defaults come from RANKSCOPE_PRECISION, RANKSCOPE_WIDTH and RANKSCOPE_SCIENTIFIC when set.
";

const MERGE_HELP: &str = "\
Merge profiles written separately by the ranks of one run (their snapshots,
<output_path>-rank<N>/profile.json: setting rank_output, snapshot_interval, dump_after, or a
signal) into the result rank 0 would have written, and write its outputs (the enabled ones, as at
the end of a run) into a new folder. Prints the files written; on stderr, where each rank came
from, how old its snapshot is, and which ranks of the job are missing.

Usage: rankscope merge FILE|DIR... [--output DIR]

A DIR holding profile.json stands for that file; any other DIR for the rank snapshot folders
(NAME-rank<N>) in it.

Options:
  --output DIR        Output folder (default: setting output_path); never overwritten
  -h, --help          Print help
";

const TOPOLOGY_HELP: &str = "\
Print this machine's topology as hwloc sees it (packages, NUMA nodes, cores and their PUs by OS
index, caches per level, CPU model) and where this process is bound to run.

With --ranks, run under a launcher (mpirun -n 4 rankscope topology --ranks): every rank's host,
pid and binding are gathered to rank 0, which prints one row per rank, like Open MPI's
--report-bindings, and flags ranks bound to a core another rank is also bound to ('shares a
core') and ranks that are not bound at all ('unbound'). With OUTPUT (an output folder or a
profile.json), the same table for the ranks of that run, from its metadata.

Usage: rankscope topology [--json]
       rankscope topology --ranks
       rankscope topology OUTPUT

Options:
  --ranks             Gather every rank's binding to rank 0 and print the table there
  --json              Print the machine summary and this process's binding as JSON
  -h, --help          Print help

PUs, cores, packages and NUMA nodes are OS indices (P# in lstopo, as taskset and Slurm use).
";

const SETTINGS_HELP: &str = "\
Print the reference of every setting (name, environment variable, type, default, accepted
values, description) as a Markdown table.

Usage: rankscope settings
";

const ROOFLINE_HELP: &str = "\
The machine phase of a roofline: measure what this node can do at most.

Usage: rankscope roofline ceilings [--node] [--refresh] [--quick] [--json] [--output DIR] [--cache FILE]

Try 'rankscope roofline ceilings --help' for its options.
";

/// `rankscope roofline ...`: clap parses this command's arguments.
#[derive(clap::Parser)]
#[command(name = "rankscope roofline", about = "The machine phase of a roofline")]
struct RooflineCli {
    #[command(subcommand)]
    command: RooflineCommand,
}

#[derive(clap::Subcommand)]
enum RooflineCommand {
    /// Measure this node's peak GFLOP/s and GB/s per memory level (cached per host)
    ///
    /// Peak GFLOP/s: fused multiply-adds at the widest vector instruction set, and scalar;
    /// double and single precision. GB/s: load, copy and triad kernels per memory level (L1,
    /// L2, L3, DRAM). One pinned thread per PU. Takes tens of seconds, with a progress bar on
    /// a terminal; cached per host, so later runs reuse the result. Under mpirun or srun: one
    /// result per host, measured with every rank of the host busy, gathered to rank 0.
    /// docs/roofline.md explains every number.
    Ceilings(CeilingsArgs),
}

#[derive(clap::Args)]
struct CeilingsArgs {
    /// One thread per PU of the whole node (its allowed cpuset) instead of this rank's
    /// binding; under MPI one rank per host runs them all
    #[arg(long)]
    node: bool,
    /// Measure again even when the cache has this host (and replace its entry)
    #[arg(long)]
    refresh: bool,
    /// A short sweep for tests and examples: two sizes per memory level and three short
    /// trials (about a second; rougher numbers, marked "quick": true in the JSON)
    #[arg(long)]
    quick: bool,
    /// Print the ceilings as JSON (rankscope-ceilings/1) on stdout instead of a table
    #[arg(long)]
    json: bool,
    /// Also write DIR/ceilings.json (DIR is created if missing). Under MPI without it, the
    /// run's output folder (setting output_path) gets it when that folder exists
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// The cache file, one document for every host [default:
    /// $XDG_CACHE_HOME/rankscope/ceilings-<host>.json, or ~/.cache/... when unset]
    #[arg(long, value_name = "FILE")]
    cache: Option<PathBuf>,
}

fn roofline(args: &[OsString]) -> Result<(), Failure> {
    use clap::Parser;
    if args.is_empty() {
        return Err(Failure::Usage(
            "'roofline' needs a command: ceilings (rankscope roofline --help)".into(),
        ));
    }
    let argv = std::iter::once(OsString::from("rankscope roofline")).chain(args.iter().cloned());
    let cli = match RooflineCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text).trim_end();
            return Err(Failure::Usage(text.to_string()));
        }
        // --help and the like.
        Err(e) => return print(&e.render().to_string()),
    };
    let RooflineCommand::Ceilings(a) = cli.command;
    rankscope::mpi::init(rankscope::mpi::InitCall::Plain);
    let opts = rankscope::roofline::Options {
        node: a.node,
        refresh: a.refresh,
        quick: a.quick,
        output: a.output,
        cache: a.cache,
    };
    let outcome = rankscope::roofline::ceilings(&opts);
    let root = rankscope::mpi::world().rank == 0;
    rankscope::mpi::finalize();
    let outcome = outcome.map_err(Failure::File)?;
    if !root {
        return Ok(());
    }
    for h in &outcome.ceilings.hosts {
        if !outcome.measured.contains(&h.host) {
            eprintln!(
                "rankscope: {}: ceilings from the cache (measured {}{}); --refresh measures again",
                h.host,
                h.date,
                if h.quick { ", quick sweep" } else { "" }
            );
        }
    }
    if a.json {
        print(&format!("{}\n", outcome.ceilings.to_json()))
    } else {
        print(&rankscope::roofline::table::render(&outcome.ceilings))
    }
}

/// Largest accepted `--precision` and `--width`: far beyond any useful report, small enough
/// that a typo cannot make the report allocate gigabytes of padding.
const MAX_PRECISION: usize = 60;
const MAX_WIDTH: usize = 1000;

/// Why the command failed, which decides the exit code.
enum Failure {
    /// Bad usage: exit code 2.
    Usage(String),
    /// A file that cannot be read or is not a profile: exit code 1.
    File(String),
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("rankscope: {msg}\nTry 'rankscope --help'.");
            ExitCode::from(2)
        }
        Err(Failure::File(msg)) => {
            eprintln!("rankscope: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[OsString]) -> Result<(), Failure> {
    let Some(first) = args.first() else {
        return Err(Failure::Usage("missing command".into()));
    };
    let rest = &args[1..];
    match text(first)? {
        "-h" | "--help" => print(HELP),
        "-V" | "--version" => print(&format!("rankscope {}\n", env!("CARGO_PKG_VERSION"))),
        "help" => match rest.first().map(text).transpose()? {
            None => print(HELP),
            Some(cmd) => print(help_of(cmd)?),
        },
        "components" => match wants_help("components", rest)? {
            true => print(COMPONENTS_HELP),
            false => print(&components()),
        },
        "settings" => match wants_help("settings", rest)? {
            true => print(SETTINGS_HELP),
            false => print(&rankscope::settings::markdown()),
        },
        "report" => report(rest),
        "merge" => merge(rest),
        "topology" => topology(rest),
        "roofline" => roofline(rest),
        other => Err(Failure::Usage(format!(
            "unknown command '{other}'{}",
            did_you_mean(
                other,
                &[
                    "components",
                    "report",
                    "merge",
                    "topology",
                    "roofline",
                    "settings",
                    "help"
                ]
            )
        ))),
    }
}

fn help_of(command: &str) -> Result<&'static str, Failure> {
    match command {
        "components" => Ok(COMPONENTS_HELP),
        "report" => Ok(REPORT_HELP),
        "merge" => Ok(MERGE_HELP),
        "topology" => Ok(TOPOLOGY_HELP),
        "roofline" => Ok(ROOFLINE_HELP),
        "settings" => Ok(SETTINGS_HELP),
        "help" => Ok(HELP),
        other => Err(Failure::Usage(format!(
            "no help for unknown command '{other}'"
        ))),
    }
}

/// For a command that takes no arguments: true when asked for its help, an error for anything else.
fn wants_help(cmd: &str, rest: &[OsString]) -> Result<bool, Failure> {
    match rest.first().map(text).transpose()? {
        None => Ok(false),
        Some("-h" | "--help") if rest.len() == 1 => Ok(true),
        Some(arg) => Err(Failure::Usage(format!(
            "'{cmd}' takes no argument, got '{arg}'"
        ))),
    }
}

fn report(args: &[OsString]) -> Result<(), Failure> {
    let s = rankscope::settings::current();
    let mut opts = TextOptions {
        precision: s.precision as usize,
        width: s.width as usize,
        scientific: s.scientific,
    };
    let mut file: Option<PathBuf> = None;
    let mut only_files = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg
            .to_str()
            .filter(|a| !only_files && a.starts_with('-') && *a != "-")
        else {
            if file.replace(PathBuf::from(arg)).is_some() {
                return Err(Failure::Usage("'report' takes one FILE".into()));
            }
            continue;
        };
        // `--flag=value` and `--flag value` are both accepted.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let mut value = || -> Result<String, Failure> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .map(|v| text(v).map(str::to_string))
                    .transpose()?
                    .ok_or_else(|| Failure::Usage(format!("{name} needs a value"))),
            }
        };
        match name {
            "-h" | "--help" => return print(REPORT_HELP),
            "--" => only_files = true,
            "--precision" => opts.precision = bounded(name, &value()?, MAX_PRECISION)?,
            "--width" => opts.width = bounded(name, &value()?, MAX_WIDTH)?,
            "--scientific" if inline.is_none() => opts.scientific = true,
            _ => {
                return Err(Failure::Usage(format!(
                    "unknown option '{flag}' for 'report'{}",
                    did_you_mean(name, &["--precision", "--width", "--scientific", "--help"])
                )))
            }
        }
    }
    let Some(file) = file else {
        return Err(Failure::Usage(
            "'report' needs a FILE (a profile.json)".into(),
        ));
    };
    let profile = read_profile(&file).map_err(|e| Failure::File(e.to_string()))?;
    print(&text_report(&profile, &opts))
}

/// What `rankscope merge` says on stderr: each rank's source, snapshot reason and age, and the
/// missing ranks.
fn merge_summary(report: &rankscope::output::MergeReport, now: std::time::SystemTime) -> String {
    let now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut out = String::new();
    for r in &report.ranks {
        let what = match (&r.reason, r.taken_unix) {
            (Some(reason), Some(t)) => format!(" ({reason} snapshot, {:.0} s old)", now - t),
            (None, Some(t)) => format!(" ({:.0} s old)", now - t),
            _ => String::new(),
        };
        out.push_str(&format!("rank {}: {}{what}\n", r.rank, r.file.display()));
    }
    let missing = report.missing();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        out.push_str(&format!(
            "missing ranks: {} (of {}): no snapshot of theirs was given\n",
            list.join(", "),
            report.world_size.unwrap_or(0)
        ));
    }
    out
}

fn merge(args: &[OsString]) -> Result<(), Failure> {
    let mut opts = rankscope::lifecycle::output_options(&rankscope::settings::current());
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return print(MERGE_HELP),
            Some("--output" | "-o") => {
                let dir = it
                    .next()
                    .ok_or_else(|| Failure::Usage("--output needs a folder".into()))?;
                opts.output_path = PathBuf::from(dir);
            }
            Some(flag) if flag.starts_with("--") => {
                return Err(Failure::Usage(format!(
                    "unknown option '{flag}' for 'merge'{}",
                    did_you_mean(flag, &["--output", "--help"])
                )))
            }
            _ => files.extend(
                rankscope::output::profile_files(Path::new(arg))
                    .map_err(|e| Failure::File(e.to_string()))?,
            ),
        }
    }
    if files.is_empty() {
        return Err(Failure::Usage(
            "'merge' needs the profile files of the ranks, or a folder of rank snapshots".into(),
        ));
    }
    let (merged, report) = rankscope::output::merge_files_reporting(&files)
        .map_err(|e| Failure::File(e.to_string()))?;
    eprint!("{}", merge_summary(&report, std::time::SystemTime::now()));
    let written = rankscope::output::write_all(&merged, &opts)
        .map_err(|e| Failure::File(format!("writing the merged outputs: {e}")))?;
    let list: Vec<String> = written
        .iter()
        .map(|f| format!("{}\n", f.display()))
        .collect();
    print(&list.concat())
}

fn topology(args: &[OsString]) -> Result<(), Failure> {
    let (mut ranks, mut json) = (false, false);
    let mut output: Option<PathBuf> = None;
    for arg in args {
        match arg.to_str() {
            Some("-h" | "--help") => return print(TOPOLOGY_HELP),
            Some("--ranks") => ranks = true,
            Some("--json") => json = true,
            Some(flag) if flag.starts_with("--") => {
                return Err(Failure::Usage(format!(
                    "unknown option '{flag}' for 'topology'{}",
                    did_you_mean(flag, &["--ranks", "--json", "--help"])
                )))
            }
            _ if output.is_some() => {
                return Err(Failure::Usage("'topology' takes one OUTPUT".into()))
            }
            _ => output = Some(PathBuf::from(arg)),
        }
    }
    match (ranks, output, json) {
        (true, Some(_), _) => Err(Failure::Usage(
            "'topology' takes --ranks or OUTPUT, not both".into(),
        )),
        (true, None, true) | (false, Some(_), true) => Err(Failure::Usage(
            "'topology --json' describes this machine only (a run's bindings are in its profile.json)"
                .into(),
        )),
        (true, None, _) => {
            rankscope::mpi::init(rankscope::mpi::InitCall::Plain);
            let gathered = rankscope::topology::gather();
            rankscope::mpi::finalize();
            match gathered {
                Some(p) => print(&rankscope::topology::binding_table(&p)),
                None => Ok(()),
            }
        }
        (false, Some(path), _) => {
            let profile =
                read_profile(&profile_in(&path)?).map_err(|e| Failure::File(e.to_string()))?;
            print(&rankscope::topology::binding_table(&profile))
        }
        (false, None, json) => this_machine(json),
    }
}

/// The profile of an output folder (its `profile.json`, whatever `output_prefix` was), or
/// `path` itself when it is a file.
fn profile_in(path: &Path) -> Result<PathBuf, Failure> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let listing =
        std::fs::read_dir(path).map_err(|e| Failure::File(format!("{}: {e}", path.display())))?;
    let mut found: Vec<PathBuf> = listing
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("profile.json") && !n.starts_with('.'))
        })
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::File(format!(
            "{}: no profile.json in this folder (is it a rankscope output folder?)",
            path.display()
        ))),
        many => Err(Failure::File(format!(
            "{}: several profiles ({}); name one",
            path.display(),
            many.iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// This machine and this process's binding, as text or JSON. hwloc failing is an error here:
/// describing the machine is the whole command.
fn this_machine(json: bool) -> Result<(), Failure> {
    use rankscope::collectors::topology::{machine, process_binding};
    let host = rankscope::mpi::hostname();
    let m = machine().map_err(|why| Failure::File(format!("topology unknown: {why}")))?;
    let b = process_binding();
    if json {
        let doc = serde_json::json!({ "hostname": host, "machine": m, "binding": b });
        return print(&format!("{doc:#}\n"));
    }
    print(&format!(
        "{}this process: {}\n",
        rankscope::topology::machine_text(&host, &m),
        rankscope::topology::binding_line(&b)
    ))
}

fn bounded(name: &str, value: &str, max: usize) -> Result<usize, Failure> {
    value
        .parse::<usize>()
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{name} expects a whole number from 0 to {max}, got '{value}'"
            ))
        })
}

/// The reference work measured by every available collector for the listing: about 20 ms of
/// arithmetic, 8 MiB touched, 64 KiB written to /dev/null.
fn reference_work() -> Vec<u8> {
    let start = std::time::Instant::now();
    let mut x = 0.0f64;
    while start.elapsed() < std::time::Duration::from_millis(20) {
        x = std::hint::black_box(x + 1.0).sqrt();
    }
    let v = std::hint::black_box(vec![1u8; 8 << 20]);
    std::hint::black_box(v.iter().map(|&b| b as u64).sum::<u64>());
    if let Ok(mut null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = std::io::Write::write_all(&mut null, &[0u8; 64 << 10]);
    }
    v
}

/// Each available collector's values over [`reference_work`], by collector name.
fn reference_values() -> std::collections::HashMap<&'static str, Vec<f64>> {
    let mut measuring: Vec<_> = collectors::all()
        .iter()
        .filter(|c| c.probe().is_available())
        .filter_map(|c| rankscope::component::Component::new(c.name(), "reference").ok())
        .collect();
    measuring.iter_mut().for_each(|c| c.start());
    let touched = reference_work();
    measuring.iter_mut().rev().for_each(|c| c.stop());
    drop(touched);
    measuring
        .iter()
        .map(|c| {
            let values = c.values().into_iter().zip(c.metrics());
            let shown = values.map(|(v, m)| v as f64 * m.unit.scale()).collect();
            (c.kind(), shown)
        })
        .collect()
}

/// The `components` listing: one block per collector, with what it measured here over a short
/// reference workload.
fn components() -> String {
    // Collectors made from settings (RANKSCOPE_PERF_EVENTS) are listed too.
    rankscope::registry::register_families();
    let measured = reference_values();
    let all = collectors::all();
    let width = all.iter().map(|c| c.name().len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut available = 0;
    for c in all {
        let status = match c.probe() {
            Availability::Available => {
                available += 1;
                "available".to_string()
            }
            Availability::Unavailable(why) => format!("unavailable: {why}"),
        };
        out.push_str(&format!("{:<width$}  {status}\n", c.name()));
        out.push_str(&format!("    {}\n", c.description()));
        if !c.aliases().is_empty() {
            out.push_str(&format!("    aliases: {}\n", c.aliases().join(", ")));
        }
        for (i, m) in c.metrics().iter().enumerate() {
            // Counts have no display unit of their own; their base unit says what they count.
            let unit = match m.unit.display() {
                "" => m.unit.base(),
                u => u,
            };
            let here = measured
                .get(c.name())
                .map(|v| format!(" (here: {:.6})", v[i]))
                .unwrap_or_default();
            out.push_str(&format!(
                "    metric {} [{unit}]: {}{here}\n",
                m.name, m.description
            ));
        }
    }
    out.push_str(&format!(
        "{available} of {} collectors available here (values: one reference workload, see --help)\n",
        all.len()
    ));
    out
}

/// A command-line word as UTF-8; only FILE may be anything else.
fn text(arg: &OsString) -> Result<&str, Failure> {
    arg.to_str()
        .ok_or_else(|| Failure::Usage(format!("argument {arg:?} is not valid UTF-8")))
}

fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    rankscope::suggest::closest(word, candidates.iter().copied())
        .map(|c| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}

/// Writes to stdout. A closed pipe (`rankscope report f | head`) is a normal end, not an error.
fn print(s: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure::File(format!("writing to standard output: {e}")))
        }
        _ => Ok(()),
    }
}
