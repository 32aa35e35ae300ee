//! Roofline ceilings, the machine phase of a roofline: what this node can do at most, as peak
//! GFLOP/s (fused multiply-add kernels at the widest vector instruction set, and scalar; double
//! and single precision) and GB/s per memory level (load, copy and triad kernels over working
//! sets from L1 to DRAM, sized from hwloc's cache sizes). The application phase (FLOPs and
//! bytes per region) is measured by the program's own run; the plot puts the two together.
//!
//! One thread per PU of the rank's binding (or of the node with `--node`), pinned through
//! hwloc, each with its own first-touched buffer; every trial starts on all ranks of a host
//! together ([`node`]); medians over trials; each level's plateau read off the sweep
//! ([`plateau`]). Results are cached per host ([`cache`]). docs/roofline.md explains it all.
//!
//! | file | job |
//! |---|---|
//! | `isa` | run-time detection of the vector instruction set |
//! | `peak` | multiply-add kernels for peak FLOP/s |
//! | `stream` | load, copy and triad kernels for bandwidth |
//! | `team` | the pinned threads and their buffers |
//! | `sweep` | the plan (sizes, trials) and its run, trial by trial in step with the host |
//! | `plateau` | each level's bandwidth from a sweep curve |
//! | `host` | a host's numbers from its ranks' trials |
//! | `node` | the ranks of one host (MPI) |
//! | `format` | the `rankscope-ceilings/1` JSON document |
//! | `cache` | the per-host cache |
//! | `table` | the table for people |
//! | `progress` | the progress bar |

pub mod cache;
pub mod format;
pub mod host;
pub mod isa;
pub mod node;
pub mod peak;
pub mod plateau;
mod progress;
pub mod stream;
pub mod sweep;
pub mod table;
pub mod team;

pub use format::{Ceilings, HostCeilings};

use crate::log::{info, warning};
use format::CacheBytes;
use node::Node;
use rankscope_collectors::topology::{machine, process_binding, MachineSummary};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What `rankscope roofline ceilings` and `rankscope.roofline.ceilings()` are asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// One thread per PU of the node's allowed cpuset instead of the rank's binding; under
    /// MPI, one rank per host runs them all.
    pub node: bool,
    /// Measure even when the cache has this host.
    pub refresh: bool,
    /// A short sweep: fewer sizes and trials (about a second), marked `quick` in the output.
    pub quick: bool,
    /// Also write `ceilings.json` into this folder (created if missing).
    pub output: Option<PathBuf>,
    /// The cache document instead of the per-host default.
    pub cache: Option<PathBuf>,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Every host's ceilings (on every rank).
    pub ceilings: Ceilings,
    /// This process's host, whose entry `ceilings.host(&this_host)` is.
    pub this_host: String,
    /// Hosts measured now; the others came from the cache.
    pub measured: Vec<String>,
    /// Files world rank 0 wrote (cache files, `ceilings.json`); empty on other ranks.
    pub written: Vec<PathBuf>,
}

/// Measures (or reads from the cache) the ceilings of every host of the job. Under MPI every
/// rank must call it (it is collective); every rank gets the whole document back.
pub fn ceilings(opts: &Options) -> Result<Outcome, String> {
    let node = Node::join();
    let host = crate::mpi::hostname();
    let cache_path = opts.cache.clone().or_else(|| cache::default_path(&host));

    // The leader decides for its host: the cache answers, or every rank of the host measures.
    let cached = match (&cache_path, node.is_leader() && !opts.refresh) {
        (Some(path), true) => {
            cache::read_host(path, &host).map(|c| c.filter(|c| cache::answers(c, opts.quick)))
        }
        _ => Ok(None),
    };
    if !node.everyone(cached.is_ok()) {
        return Err(cached.err().unwrap_or_else(|| {
            "another rank could not read its ceilings cache (its message says why)".into()
        }));
    }
    let cached = cached.unwrap_or(None);
    let measure = node.max(u64::from(node.is_leader() && cached.is_none())) == 1;
    let mine = if measure {
        measure_host(&node, opts, &host)
    } else {
        Ok(cached.map(|c| (c, false)))
    };
    if !node.everyone(mine.is_ok()) {
        return Err(mine
            .err()
            .unwrap_or_else(|| "another rank could not measure (its message says why)".into()));
    }
    let mine = mine.unwrap_or(None);

    // Hosts to world rank 0, which writes; then the document to everyone.
    let sent = mine
        .as_ref()
        .map(|m| serde_json::to_vec(m).expect("plain data"));
    let hosts: Option<Vec<(HostCeilings, bool)>> = node.gather_leaders_on_root(sent).map(|all| {
        all.iter()
            .filter_map(|b| serde_json::from_slice(b).ok())
            .collect()
    });
    let mut written = Vec::new();
    let mut failure = None;
    let doc_bytes = match &hosts {
        Some(hosts) => {
            let doc = Ceilings::new(hosts.iter().map(|h| h.0.clone()).collect());
            let fresh: Vec<&HostCeilings> = hosts.iter().filter(|h| h.1).map(|h| &h.0).collect();
            written.extend(write_cache(&fresh, opts.cache.as_ref()));
            match write_output(&doc, opts, &node) {
                Ok(Some(path)) => written.push(path),
                Ok(None) => {}
                Err(e) => failure = Some(e),
            }
            serde_json::to_vec(&(
                doc,
                fresh.iter().map(|h| h.host.clone()).collect::<Vec<_>>(),
            ))
            .expect("plain data")
        }
        None => Vec::new(),
    };
    let (ceilings, measured): (Ceilings, Vec<String>) =
        serde_json::from_slice(&node.broadcast_from_root(doc_bytes))
            .map_err(|e| format!("the ceilings document from rank 0 is unreadable: {e}"))?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Outcome {
        ceilings,
        this_host: host,
        measured,
        written,
    })
}

/// What one rank sends its host's leader.
#[derive(Serialize, Deserialize)]
struct RankReport {
    threads: u32,
    notes: Vec<String>,
    trials: Vec<sweep::Trial>,
}

/// Every rank of the host measures; the leader gets the host's entry (and `true`: measured
/// now). Only collectives of the host's ranks here: other hosts may be reading their cache.
fn measure_host(
    node: &Node,
    opts: &Options,
    host: &str,
) -> Result<Option<(HostCeilings, bool)>, String> {
    let summary = machine();
    let mut notes = Vec::new();
    let runs = !opts.node || node.is_leader();
    let pus = runs.then(|| {
        let (pus, pin, why) = this_ranks_pus(opts.node);
        notes.extend(why);
        (pus, pin)
    });
    // A cache is shared by the threads that run on it, not by every PU it serves.
    let host_threads = node.sum(pus.as_ref().map_or(0, |p| p.0.len() as u64));
    let (caps, cache_notes) = capacities(summary.as_ref(), host_threads);
    notes.extend(cache_notes);
    let windows = plateau::windows(caps.l1, caps.l2, caps.l3);
    let plan = sweep::Plan::new(&windows, opts.quick);
    let detected = isa::detect();
    notes.extend(detected.notes.iter().cloned());
    let team = pus.map(|(pus, pin)| team::Team::new(&pus, pin, plan.buffer_bytes()));
    let failed = team.as_ref().is_some_and(|t| t.is_err());
    if node.max(u64::from(failed)) == 1 {
        return Err(match team {
            Some(Err(e)) => format!("roofline ceilings: {e}"),
            _ => "roofline ceilings: another rank of this host could not start its threads".into(),
        });
    }
    let team = team.transpose()?;
    if let Some(t) = &team {
        notes.extend(
            t.pin_errors
                .iter()
                .map(|e| format!("threads not pinned: {e}")),
        );
    }
    let bar = progress::Bar::new(node.is_root(), plan.items().len(), host);
    let trials = sweep::run(&plan, detected.isa, team.as_ref(), node, &|| bar.step());
    drop(bar);
    let report = RankReport {
        threads: team.as_ref().map_or(0, |t| t.threads() as u32),
        notes,
        trials,
    };
    drop(team);
    let Some(reports) = node.gather_on_leader(serde_json::to_vec(&report).expect("plain data"))
    else {
        return Ok(None);
    };
    let reports: Vec<RankReport> = reports
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("a rank's trials are unreadable: {e}"))?;
    let numbers = host::combine(
        &reports.iter().map(|r| r.trials.clone()).collect::<Vec<_>>(),
        &windows,
    )?;
    let threads: u32 = reports.iter().map(|r| r.threads).sum();
    let mut notes: Vec<String> = Vec::new();
    for n in reports
        .iter()
        .flat_map(|r| r.notes.iter())
        .chain(&numbers.notes)
    {
        if !notes.contains(n) {
            notes.push(n.clone());
        }
    }
    let pus = summary.as_ref().map_or(0, |m| m.pus);
    if pus > 0 && threads > pus {
        notes.push(format!(
            "{threads} threads on {pus} PUs: ranks share PUs, so the host's totals hold but each \
             thread had part of a core"
        ));
    }
    Ok(Some((
        HostCeilings {
            host: host.to_string(),
            date: format::rfc3339(std::time::SystemTime::now()),
            cpu: summary
                .as_ref()
                .map(|m| m.cpu_model.clone())
                .unwrap_or_default(),
            isa: detected.isa.name().to_string(),
            threads,
            ranks: reports.iter().filter(|r| r.threads > 0).count() as u32,
            quick: opts.quick,
            bandwidth_gbs: numbers.kernels.load,
            kernels: numbers.kernels,
            peak_gflops: numbers.peaks,
            cache_bytes: caps,
            sweep: numbers.sweep,
            notes,
        },
        true,
    )))
}

/// The PUs this rank's threads run on, whether to pin them, and a note when hwloc could not
/// say (then one unpinned thread per CPU the OS offers).
fn this_ranks_pus(whole_node: bool) -> (Vec<u32>, bool, Option<String>) {
    let b = process_binding();
    let pus = if whole_node { b.allowed_pus } else { b.pus };
    match b.error {
        None if !pus.is_empty() => (pus, true, None),
        why => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            let why = why.unwrap_or_else(|| "hwloc gave no PU".into());
            (
                (0..n).collect(),
                false,
                Some(format!(
                    "{n} unpinned threads: the binding is unknown ({why})"
                )),
            )
        }
    }
}

/// Per-thread capacity of each cache level: a cache's size over the threads that share it,
/// the PUs it serves or, when fewer run, the host's measuring threads (one thread alone on a
/// shared L3 has all of it; a smaller share would call L3 speeds DRAM). A note when hwloc did
/// not know the sizes (then 32 KiB, 1 MiB and no L3 are assumed).
fn capacities(
    summary: Result<&MachineSummary, &String>,
    host_threads: u64,
) -> (CacheBytes, Vec<String>) {
    let per_thread = |level: u32| -> Option<u64> {
        let m = summary.ok()?;
        let c = m
            .caches
            .iter()
            .find(|c| c.level == level && c.kind != "instruction" && c.size_bytes > 0)?;
        let sharing = u64::from(c.pus_per_cache).min(host_threads).max(1);
        Some(c.size_bytes / sharing)
    };
    match (per_thread(1), per_thread(2)) {
        (Some(l1), Some(l2)) => (
            CacheBytes {
                l1,
                l2,
                l3: per_thread(3),
            },
            Vec::new(),
        ),
        _ => {
            let why = match summary {
                Err(e) => e.clone(),
                Ok(_) => "hwloc reports no L1 or L2 data cache size".into(),
            };
            (
                CacheBytes {
                    l1: 32 << 10,
                    l2: 1 << 20,
                    l3: None,
                },
                vec![format!(
                    "cache sizes unknown ({why}): 32 KiB L1 and 1 MiB L2 per thread assumed, \
                     no L3; levels may be misread"
                )],
            )
        }
    }
}

/// Writes the cache for the hosts measured now (world rank 0): into `--cache FILE`, or each
/// host's default file. A cache that cannot be written is a warning: the numbers stand.
fn write_cache(fresh: &[&HostCeilings], file: Option<&PathBuf>) -> Vec<PathBuf> {
    let mut by_file: Vec<(PathBuf, Vec<HostCeilings>)> = Vec::new();
    for h in fresh {
        let Some(path) = file.cloned().or_else(|| cache::default_path(&h.host)) else {
            warning!("ceilings not cached: neither XDG_CACHE_HOME nor HOME is set (--cache FILE names a file)");
            continue;
        };
        match by_file.iter_mut().find(|(p, _)| *p == path) {
            Some((_, hosts)) => hosts.push((*h).clone()),
            None => by_file.push((path, vec![(*h).clone()])),
        }
    }
    let mut written = Vec::new();
    for (path, hosts) in by_file {
        match cache::write_hosts(&path, &hosts) {
            Ok(()) => {
                info!(1, "ceilings cached in {}", path.display());
                written.push(path);
            }
            Err(e) => warning!("{e}; the ceilings will be measured again next time"),
        }
    }
    written
}

/// `ceilings.json` into `--output DIR` (created), or under MPI into the run's output folder
/// (setting `output_path`) when that folder exists already: creating it here would make the
/// program's own run claim the next name (`-1`).
fn write_output(doc: &Ceilings, opts: &Options, node: &Node) -> Result<Option<PathBuf>, String> {
    let dir = match &opts.output {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("--output {}: cannot create the folder: {e}", d.display()))?;
            d.clone()
        }
        None if node.world_size > 1 => {
            let d = PathBuf::from(&crate::settings::current().output_path);
            if !d.is_dir() {
                info!(
                    1,
                    "ceilings.json not written: the run's output folder {} does not exist yet",
                    d.display()
                );
                return Ok(None);
            }
            d
        }
        None => return Ok(None),
    };
    crate::output::write_atomic(&dir, "ceilings.json", doc.to_json().as_bytes())
        .map(Some)
        .map_err(|e| format!("--output {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rankscope_collectors::topology::CacheLevel;

    fn cache(level: u32, kind: &str, size_bytes: u64, pus_per_cache: u32) -> CacheLevel {
        CacheLevel {
            level,
            kind: kind.into(),
            size_bytes,
            line_bytes: 64,
            count: 1,
            pus_per_cache,
        }
    }

    #[test]
    fn caches_are_shared_by_the_threads_that_run() {
        let m = MachineSummary {
            caches: vec![
                cache(1, "data", 32 << 10, 2),
                cache(1, "instruction", 32 << 10, 2),
                cache(2, "unified", 1 << 20, 2),
                cache(3, "unified", 32 << 20, 16),
            ],
            ..Default::default()
        };
        // Every PU busy: each thread has its share.
        let (c, notes) = capacities(Ok(&m), 64);
        assert_eq!((c.l1, c.l2, c.l3), (16 << 10, 512 << 10, Some(2 << 20)));
        assert!(notes.is_empty());
        // One thread alone has every cache to itself.
        let (c, _) = capacities(Ok(&m), 1);
        assert_eq!((c.l1, c.l2, c.l3), (32 << 10, 1 << 20, Some(32 << 20)));
        // No L3: null, not zero.
        let m = MachineSummary {
            caches: m.caches[..3].to_vec(),
            ..Default::default()
        };
        assert_eq!(capacities(Ok(&m), 4).0.l3, None);
    }

    #[test]
    fn unknown_caches_are_assumed_and_said() {
        let why = "hwloc failed".to_string();
        let (c, notes) = capacities(Err(&why), 2);
        assert_eq!((c.l1, c.l2, c.l3), (32 << 10, 1 << 20, None));
        assert!(notes[0].contains("hwloc failed") && notes[0].contains("assumed"));
    }
}
