//! `rankscope topology`: this machine and this process's binding, every rank's binding
//! gathered under a launcher (`--ranks`), or the ranks' bindings recorded in a run's output.

use super::cli::TopologyArgs;
use super::{print, Failure};
use rankscope::output::read_profile;
use std::path::{Path, PathBuf};

pub fn run(args: TopologyArgs) -> Result<(), Failure> {
    // clap rejects --ranks with OUTPUT, and --json with either.
    if args.ranks {
        rankscope::mpi::init(rankscope::mpi::InitCall::Plain);
        let gathered = rankscope::topology::gather();
        rankscope::mpi::finalize();
        // Only rank 0 has the table.
        return match gathered {
            Some(p) => print(&rankscope::topology::binding_table(&p)),
            None => Ok(()),
        };
    }
    match args.output {
        Some(path) => {
            let profile = read_profile(&profile_in(&path)?).map_err(|e| Failure(e.to_string()))?;
            print(&rankscope::topology::binding_table(&profile))
        }
        None => this_machine(args.json),
    }
}

/// The profile of an output folder (its `profile.json`, whatever `output_prefix` was), or
/// `path` itself when it is a file.
fn profile_in(path: &Path) -> Result<PathBuf, Failure> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let listing =
        std::fs::read_dir(path).map_err(|e| Failure(format!("{}: {e}", path.display())))?;
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
        [] => Err(Failure(format!(
            "{}: no profile.json in this folder (is it a rankscope output folder?)",
            path.display()
        ))),
        many => Err(Failure(format!(
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
    let m = machine().map_err(|why| Failure(format!("topology unknown: {why}")))?;
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
