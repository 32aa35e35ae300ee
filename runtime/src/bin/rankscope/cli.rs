//! What the `rankscope` command line accepts: one clap parser for every sub-command, so every
//! sub-command has its `--help`, and a usage error names the bad argument and exits 2.
//!
//! Each doc comment is one line of help (the command list, the option list); a command's longer
//! description is its `after_help`, so `-h` and `--help` print the same page. docs/cli.md holds
//! every `--help` verbatim (checked by runtime/tests/cli.rs).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Largest accepted `--precision` and `--width`: far beyond any useful report, small enough
/// that a typo cannot make the report allocate gigabytes of padding.
pub const MAX_PRECISION: u64 = 60;
pub const MAX_WIDTH: u64 = 1000;

// What each command's help says below its options. Not a doc comment's second paragraph: that
// would be clap's long help, which puts every option's help on a line of its own.
const COMPONENTS_DETAIL: &str = "\
List every collector this build knows, with its aliases, its metrics (name and display
unit), and whether it works on this machine; when it does not, the reason. Each available
collector also shows what it measured here over a short reference workload (about 20 ms
of arithmetic, 8 MiB touched, 64 KiB written to /dev/null).";

const REPORT_DETAIL: &str = "\
Print the text report of a native JSON profile (profile.json). The defaults are the
settings precision, width and scientific (rankscope settings), so RANKSCOPE_PRECISION,
RANKSCOPE_WIDTH and RANKSCOPE_SCIENTIFIC set them.";

const MERGE_DETAIL: &str = "\
Merge profiles written separately by the ranks of one run (their snapshots,
<output_path>-rank<N>/profile.json: setting rank_output, snapshot_interval, dump_after,
or a signal) into the result rank 0 would have written, and write its outputs (the
enabled ones, as at the end of a run) into a new folder. Prints the files written; on
stderr, where each rank came from, how old its snapshot is, and which ranks of the job
are missing.

A DIR holding profile.json stands for that file; any other DIR for the rank snapshot
folders (NAME-rank<N>) in it.";

const TOPOLOGY_DETAIL: &str = "\
Print this machine's topology as hwloc sees it (packages, NUMA nodes, cores and their
PUs by OS index, caches per level, CPU model) and where this process is bound to run.

With --ranks, run under a launcher (mpirun -n 4 rankscope topology --ranks): every
rank's host, pid and binding are gathered to rank 0, which prints one row per rank, like
Open MPI's --report-bindings, and flags ranks bound to a core another rank is also bound
to ('shares a core') and ranks that are not bound at all ('unbound'). With OUTPUT, the
same table for the ranks of that run, from its metadata.

PUs, cores, packages and NUMA nodes are OS indices (P# in lstopo, as taskset and Slurm
use).";

const SETTINGS_DETAIL: &str = "\
Print the reference of every setting (name, environment variable, type, default,
accepted values, description) as a Markdown table.";

const CEILINGS_DETAIL: &str = "\
The machine phase of a roofline. Peak GFLOP/s: fused multiply-adds at the widest vector
instruction set, and scalar; double and single precision. GB/s: load, copy and triad
kernels per memory level (L1, L2, L3, DRAM). One pinned thread per PU. Takes tens of
seconds, with a progress bar on a terminal; cached per host, so later runs reuse the
result. Under mpirun or srun: one result per host, measured with every rank of the host
busy, gathered to rank 0. docs/roofline.md explains every number.";

/// rankscope: MPI-aware profiling runtime
#[derive(Parser)]
#[command(
    name = "rankscope",
    version,
    // A missing command is a usage error (exit 2), not a help page.
    arg_required_else_help = false,
    after_help = "Exit status: 0 success, 1 the work failed (a file unreadable, invalid or not writable; \
                  a measurement that cannot run), 2 bad usage."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List every collector, its metrics, and whether it works here
    #[command(after_help = COMPONENTS_DETAIL)]
    Components,
    /// Print the text report of a JSON profile
    #[command(after_help = REPORT_DETAIL)]
    Report(ReportArgs),
    /// Merge per-rank profiles into one result and write its outputs
    #[command(after_help = MERGE_DETAIL)]
    Merge(MergeArgs),
    /// Print this machine's topology, or every rank's binding (--ranks, OUTPUT)
    #[command(after_help = TOPOLOGY_DETAIL)]
    Topology(TopologyArgs),
    /// The machine phase of a roofline: measure this node's peak GFLOP/s and GB/s (ceilings)
    // A missing sub-command is a usage error (exit 2), as at the top level.
    #[command(subcommand_required = true, arg_required_else_help = false)]
    Roofline {
        #[command(subcommand)]
        command: RooflineCommand,
    },
    /// Print the settings reference (Markdown)
    #[command(after_help = SETTINGS_DETAIL)]
    Settings,
}

#[derive(Args)]
pub struct ReportArgs {
    /// The profile (profile.json of an output folder)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(0..=MAX_PRECISION),
        help = format!("Digits after the decimal point, 0 to {MAX_PRECISION} [default: setting precision]")
    )]
    pub precision: Option<u64>,
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(0..=MAX_WIDTH),
        help = format!("Minimum width of the value columns, 0 to {MAX_WIDTH} [default: setting width]")
    )]
    pub width: Option<u64>,
    /// Scientific notation, as 1.234e-3 [default: setting scientific]
    #[arg(long)]
    pub scientific: bool,
}

#[derive(Args)]
pub struct MergeArgs {
    /// The ranks' profile.json files, or folders of them (below)
    #[arg(value_name = "FILE|DIR", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder, never overwritten [default: setting output_path]
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct TopologyArgs {
    /// Gather every rank's binding to rank 0 and print the table there (under mpirun or srun)
    #[arg(long, conflicts_with = "output")]
    pub ranks: bool,
    /// Print the machine summary and this process's binding as JSON (this machine only)
    #[arg(long, conflicts_with_all = ["ranks", "output"])]
    pub json: bool,
    /// A run's output folder or profile.json: the binding table of its ranks
    #[arg(value_name = "OUTPUT")]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum RooflineCommand {
    /// Measure this node's peak GFLOP/s and GB/s per memory level (cached per host)
    #[command(after_help = CEILINGS_DETAIL)]
    Ceilings(CeilingsArgs),
}

#[derive(Args)]
pub struct CeilingsArgs {
    /// One thread per PU of the whole node instead of this rank's binding (one rank per host)
    #[arg(long)]
    pub node: bool,
    /// Measure again even when the cache has this host (and replace its entry)
    #[arg(long)]
    pub refresh: bool,
    /// A short sweep (about a second, rougher numbers) for tests and examples
    #[arg(long)]
    pub quick: bool,
    /// Print the ceilings as JSON (rankscope-ceilings/1) on stdout instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also write DIR/ceilings.json [default under MPI: setting output_path, if it exists]
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The cache file [default: $XDG_CACHE_HOME (else ~/.cache)/rankscope/ceilings-<host>.json]
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
}
