//! The `rankscope` command line: list components, print reports of saved profiles, merge
//! per-rank snapshots, show the machine's topology and the ranks' bindings, measure the roofline
//! ceilings, print the settings reference. clap parses every sub-command ([`cli`]); the work is
//! the library's.
//!
//! Exit codes: 0 success, 1 a file that cannot be read or is not a profile (or another failure
//! of the work itself), 2 bad usage (clap's).

// The binary's modules live beside it in rankscope/ (this file is the crate root Cargo.toml names).
#[path = "rankscope/cli.rs"]
mod cli;
#[path = "rankscope/components.rs"]
mod components;
#[path = "rankscope/roofline.rs"]
mod roofline;
#[path = "rankscope/topology.rs"]
mod topology;

use clap::Parser;
use cli::{Cli, Command, MergeArgs, ReportArgs};
use rankscope::output::{read_profile, text_report, TextOptions};
use std::io::{self, Write};
use std::process::ExitCode;

/// Why a command failed once its arguments were accepted: exit code 1. (Usage errors are clap's,
/// exit code 2.)
struct Failure(String);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("rankscope: {msg}");
            ExitCode::from(1)
        }
    }
}

/// clap's verdict on the arguments: help and version on stdout (exit 0), a usage error on stderr
/// prefixed like every other rankscope message (exit 2).
fn usage(e: &clap::Error) -> ExitCode {
    let text = e.render().to_string();
    if !e.use_stderr() {
        return match print(&text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure(msg)) => {
                eprintln!("rankscope: {msg}");
                ExitCode::from(1)
            }
        };
    }
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    eprint!("rankscope: {text}");
    ExitCode::from(e.exit_code().clamp(0, 255) as u8)
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Components => print(&components::listing()),
        Command::Report(args) => report(args),
        Command::Merge(args) => merge(args),
        Command::Topology(args) => topology::run(args),
        Command::Roofline { command } => roofline::run(command),
        Command::Settings => print(&rankscope::settings::markdown()),
    }
}

fn report(args: ReportArgs) -> Result<(), Failure> {
    let s = rankscope::settings::current();
    // clap bounds both numbers (cli::MAX_PRECISION, cli::MAX_WIDTH), so they fit a usize.
    let opts = TextOptions {
        precision: args.precision.map_or(s.precision as usize, |p| p as usize),
        width: args.width.map_or(s.width as usize, |w| w as usize),
        scientific: args.scientific || s.scientific,
    };
    let profile = read_profile(&args.file).map_err(|e| Failure(e.to_string()))?;
    print(&text_report(&profile, &opts))
}

fn merge(args: MergeArgs) -> Result<(), Failure> {
    let mut opts = rankscope::lifecycle::output_options(&rankscope::settings::current());
    if let Some(dir) = args.output {
        opts.output_path = dir;
    }
    let mut files = Vec::new();
    for input in &args.inputs {
        files.extend(rankscope::output::profile_files(input).map_err(|e| Failure(e.to_string()))?);
    }
    let (merged, report) =
        rankscope::output::merge_files_reporting(&files).map_err(|e| Failure(e.to_string()))?;
    eprint!("{}", report.summary(std::time::SystemTime::now()));
    let written = rankscope::output::write_all(&merged, &opts)
        .map_err(|e| Failure(format!("writing the merged outputs: {e}")))?;
    let list: Vec<String> = written
        .iter()
        .map(|f| format!("{}\n", f.display()))
        .collect();
    print(&list.concat())
}

/// Writes to stdout. A closed pipe (`rankscope report f | head`) is a normal end, not an error.
fn print(s: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure(format!("writing to standard output: {e}")))
        }
        _ => Ok(()),
    }
}
