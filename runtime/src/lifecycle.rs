//! The process-level entry points: joining MPI, this process's profile with its run metadata,
//! the reduction of every rank's profile to rank 0, and writing the outputs once at the end.
//!
//! Rust programs call [`init`] at the start of `main` and [`finalize`] at the end. The Python
//! package calls [`init_deferred`] at import and [`finish`] at exit: it joins MPI only when the
//! program does (or at its first collective, or at exit), so that a program may still decide
//! how and when MPI starts.
//!
//! A process started by a rank (a multiprocessing child, fork or spawn, or any subprocess that
//! inherits the launcher's environment) is not a rank: it never joins MPI and writes nothing.

use crate::log;
use crate::mpi::{self, InitCall, ThreadLevel, WorldInfo};
use crate::output::{self, OutputOptions, TextOptions};
use crate::profile::Profile;
use crate::settings::{self, MpiThread, Settings};
use crate::storage;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// When the run started: the first of `init` and `get`, whichever came first.
static START: OnceLock<SystemTime> = OnceLock::new();
static INIT: std::sync::Once = std::sync::Once::new();

/// Inherited by the processes a rank starts: `<pid of the rank> <launch id>`. A process that
/// finds it naming another pid of the same launch is a child of a rank, not a rank.
const RANK_PROCESS_VAR: &str = "_RANKSCOPE_RANK_PROCESS";
/// The pid of the process that initialised the runtime: a `fork` copies our statics, and the
/// copy must not act as the rank.
static OWNER_PID: AtomicU32 = AtomicU32::new(0);
/// Set when the environment says this process was started by a rank.
static STARTED_BY_RANK: AtomicBool = AtomicBool::new(false);

/// Starts the run and joins MPI now: reports settings problems found in the environment (on
/// stderr), joins MPI when a launcher started the job (or adopts an MPI someone else
/// initialised; setting `mpi_init`), and arranges for the final reduction and outputs to happen
/// at the start of `MPI_Finalize` or at [`finalize`], whichever comes first. Collective under
/// a launcher: every rank must call it early. Later calls do nothing.
pub fn init() {
    setup();
    join();
}

/// Starts the run like [`init`] but leaves joining MPI to later: it adopts an MPI that is
/// already initialised, and otherwise joins at [`join`] (the host calls it right after the
/// program initialises MPI), at the first [`dmp_get`], or at [`finish`]. Not collective.
pub fn init_deferred() {
    setup();
    if mpi::world().mpi {
        joined(&mpi::world(), "adopted the MPI the program initialised");
    } else if !is_rank_child() {
        log::debug!(
            "MPI: not joined yet; joins when the program initialises MPI, at the first dmp_get or at exit"
        );
    }
}

fn setup() {
    START.get_or_init(SystemTime::now);
    INIT.call_once(|| {
        for e in settings::init_errors() {
            log::error!("{e}");
        }
        for w in settings::init_warnings() {
            log::warning!("{w}");
        }
        OWNER_PID.store(std::process::id(), Ordering::SeqCst);
        if let Some((rank, _)) = mpi::launched_rank() {
            log::set_rank(rank);
        }
        if started_by_rank() {
            STARTED_BY_RANK.store(true, Ordering::SeqCst);
            log::debug!(
                "started by a rank process (pid {}): never joins MPI, writes no outputs",
                std::env::var(RANK_PROCESS_VAR).unwrap_or_default()
            );
            return;
        }
        if mpi::launcher().is_some() {
            // Read by the processes this rank starts (see `started_by_rank`). Set once, before
            // the program starts threads of its own in the usual case (at import or in main).
            std::env::set_var(RANK_PROCESS_VAR, rank_process_marker());
        }
        for c in crate::registry::register_families() {
            log::debug!("registered collector {} ({})", c.name(), c.description());
        }
        crate::sampler::start();
        crate::resilience::start();
        mpi::on_finalize(Box::new(final_outputs));
    });
}

fn rank_process_marker() -> String {
    format!("{} {}", std::process::id(), mpi::launch_id())
}

/// Whether the environment says a rank of this launch started this process.
fn started_by_rank() -> bool {
    match std::env::var(RANK_PROCESS_VAR) {
        Ok(marker) => {
            let (pid, launch) = marker.split_once(' ').unwrap_or((&marker, ""));
            pid != std::process::id().to_string() && launch == mpi::launch_id()
        }
        Err(_) => false,
    }
}

/// Whether this process is not a rank but was started by one (a forked copy of the rank, or a
/// process that inherited its launcher environment): it must never join MPI nor write outputs.
pub fn is_rank_child() -> bool {
    STARTED_BY_RANK.load(Ordering::SeqCst) || {
        let owner = OWNER_PID.load(Ordering::SeqCst);
        owner != 0 && owner != std::process::id()
    }
}

/// Joins MPI now unless joined already: initialises it when a launcher started the job
/// (setting `mpi_init`; `MPI_Init_thread` at `mpi_thread_type`, or plain `MPI_Init` with
/// `mpi_thread` off), adopts it when the program initialised it. Collective when it
/// initialises MPI: every rank must call it at the same point. Does nothing in a process
/// started by a rank. Returns this process's place in the world.
pub fn join() -> WorldInfo {
    setup();
    if is_rank_child() || mpi::joined() {
        return mpi::world();
    }
    let s = settings::current();
    let w = if s.mpi_init {
        mpi::init(init_call(&s))
    } else {
        mpi::world()
    };
    if w.mpi {
        let how = if w.initialised_by_us {
            match init_call(&s) {
                InitCall::Plain => "initialised MPI with MPI_Init".to_string(),
                InitCall::Thread(l) => {
                    format!("initialised MPI with MPI_Init_thread({})", l.mpi_name())
                }
            }
        } else {
            "adopted the MPI the program initialised".to_string()
        };
        joined(&w, &how);
    } else {
        log::debug!(
            "MPI: running alone ({})",
            match (mpi::launcher(), s.mpi_init) {
                (None, _) => "no launcher detected",
                (Some(_), false) => "setting mpi_init is off",
                (Some(_), true) => "MPI could not be initialised",
            }
        );
    }
    w
}

fn joined(w: &WorldInfo, how: &str) {
    log::set_rank(w.rank);
    log::debug!(
        "MPI: {how}: rank {} of {}, {} ({}), launcher variable {}",
        w.rank,
        w.size,
        w.thread_level.map_or("?", |l| l.mpi_name()),
        w.library_version,
        w.launcher.unwrap_or("none"),
    );
}

/// The `MPI_Init` call the `mpi_thread` and `mpi_thread_type` settings ask for.
pub fn init_call(s: &Settings) -> InitCall {
    if s.mpi_thread {
        InitCall::Thread(thread_level(s.mpi_thread_type))
    } else {
        InitCall::Plain
    }
}

/// The MPI thread level for the `mpi_thread_type` setting.
pub fn thread_level(t: MpiThread) -> ThreadLevel {
    match t {
        MpiThread::Single => ThreadLevel::Single,
        MpiThread::Funneled => ThreadLevel::Funneled,
        MpiThread::Serialized => ThreadLevel::Serialized,
        MpiThread::Multiple => ThreadLevel::Multiple,
    }
}

/// This process's profile, every thread included (collapsed or not per `collapse_threads`),
/// with run metadata. Reads running threads without stopping them; does no I/O and no
/// communication.
pub fn get() -> Profile {
    let s = settings::current();
    let mut info = mpi::rank_info(mpi::world().rank);
    info.samples = crate::sampler::snapshot();
    let mut p = storage::profile(s.collapse_threads, info);
    p.metadata = metadata(&s);
    p
}

/// Every rank's profile merged on rank 0 (`Some` there, `None` on the other ranks): the union
/// of the rank trees, statistics over ranks per node, and the values (a column) of each rank
/// that [`sends_values`] says. Collective: every rank must call it, as often as wanted; it
/// joins MPI first if needed ([`join`]). Without MPI, and in a process started by a rank, it
/// returns this process's profile.
pub fn dmp_get() -> Option<Profile> {
    if is_rank_child() {
        return Some(get());
    }
    join();
    reduce(get())
}

/// Whether this job's rank `rank` sends its values to rank 0 (a column in the merged profile):
/// every rank of a job of at most `per_rank_max` ranks, else only the ranks of `rank_filter`.
pub fn sends_values(s: &Settings, size: u32, rank: u32) -> bool {
    size <= s.per_rank_max || s.rank_filter.contains(rank)
}

/// The reduction of this rank's `local` profile to rank 0, per [`sends_values`].
fn reduce(local: Profile) -> Option<Profile> {
    let s = settings::current();
    let w = mpi::world();
    let began = Instant::now();
    let keep = |rank: u32| sends_values(&s, w.size, rank);
    let merged = mpi::reduce_to_root_keeping(local, &keep);
    if let Some(p) = merged.as_ref().filter(|_| w.mpi) {
        log::info!(
            1,
            "reduced {} ranks to rank 0 in {:.3} s ({} with their values): {} nodes, {} metrics",
            p.rank_count(),
            began.elapsed().as_secs_f64(),
            p.ranks.len(),
            p.nodes.len(),
            p.metrics.len()
        );
    }
    merged
}

/// Run metadata: start time, command line, executable, host, pid, version, settings, and this
/// host's machine summary under `topology.<host>` (one entry per host once ranks are merged).
fn metadata(s: &Settings) -> std::collections::BTreeMap<String, Value> {
    let start = *START.get_or_init(SystemTime::now);
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let settings: serde_json::Map<String, Value> = s
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    [
        ("rankscope.version", Value::from(env!("CARGO_PKG_VERSION"))),
        ("launchdate", Value::from(secs(start) as i64)),
        ("start_time", Value::from(secs(start))),
        ("end_time", Value::from(secs(SystemTime::now()))),
        ("cmdline", Value::from(std::env::args().collect::<Vec<_>>())),
        (
            "executable",
            Value::from(
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
        ),
        ("hostname", Value::from(mpi::hostname())),
        ("pid", Value::from(std::process::id())),
        ("settings", Value::Object(settings)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain([crate::topology::host_entry()])
    .collect()
}

/// Output options from the settings.
pub fn output_options(s: &Settings) -> OutputOptions {
    OutputOptions {
        output_path: PathBuf::from(&s.output_path),
        time_output: s.time_output,
        prefix: s.output_prefix.clone(),
        json_output: s.json_output,
        text_output: s.text_output,
        hdf5_output: s.hdf5_output,
        caliper_output: s.caliper_output,
        per_rank: !s.collapse_processes,
        pstats_output: s.pstats_output,
        dart_output: s.dart_output,
        dart_count: s.dart_count as usize,
        trace_output: s.trace_output || s.timeline_profile,
        text: TextOptions {
            precision: s.precision as usize,
            width: s.width as usize,
            scientific: s.scientific,
        },
    }
}

/// Writes `profile` with the current settings and says where on stderr (setting `banner`;
/// each file and its size at `verbose` 1). Errors are reported on stderr and never reach the
/// application.
pub fn write(profile: &Profile) -> Vec<PathBuf> {
    let s = settings::current();
    let mut o = output_options(&s);
    let written = output::write_all(profile, &o).or_else(|e| {
        // The data must survive an unwritable or full output path: say why, and where it goes.
        let fallback = output::fallback_for(&o.output_path);
        log::error!(
            "could not write outputs to {}: {e}; writing them to {} instead",
            o.output_path.display(),
            fallback.display()
        );
        o.output_path = fallback;
        output::write_all(profile, &o)
    });
    match written {
        Ok(files) => {
            let mut total = 0u64;
            for f in &files {
                let bytes = std::fs::metadata(f).map_or(0, |m| m.len());
                total += bytes;
                log::info!(1, "wrote {} ({bytes} bytes)", f.display());
            }
            if s.banner {
                if let Some(dir) = files.first().and_then(|f| f.parent()) {
                    eprintln!(
                        "rankscope: outputs written to {} ({} file{}, {})",
                        dir.display(),
                        files.len(),
                        if files.len() == 1 { "" } else { "s" },
                        human_bytes(total)
                    );
                }
            }
            files
        }
        Err(e) => {
            log::error!("could not write outputs: {e}");
            Vec::new()
        }
    }
}

/// `1.4 MB`, `312 kB`, `900 B`: decimal units, as `ls -h --si` and file managers show.
fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.0} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

static FINAL_DONE: AtomicBool = AtomicBool::new(false);
static FINAL_FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The final reduction and outputs, run once from the MPI finalize hook or [`finalize`]:
/// every rank sends its profile to rank 0, which writes the merged outputs (unless `enabled`
/// or `auto_output` is off).
fn final_outputs() {
    if is_rank_child() || FINAL_DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    // Last point of the series at the end of the run, before the rank's profile is taken.
    crate::sampler::stop();
    crate::registry::finish_collectors();
    let s = settings::current();
    if !(s.enabled && s.auto_output) {
        log::debug!("final outputs: off (settings enabled/auto_output)");
        return;
    }
    log::debug!("final outputs: reduction to rank 0, then rank 0 writes");
    let w = join();
    let mut local = get();
    // Before the reduction, so that a job dying in it loses nothing of this rank.
    if s.rank_output {
        crate::resilience::snapshot::write_taken(crate::resilience::Reason::RankOutput, &mut local);
    } else if s.per_rank_files && w.size > s.per_rank_max {
        // Every rank, also those that send their values: the folders alone then assemble the
        // whole job offline (`rankscope merge`), without counting anyone twice.
        crate::resilience::snapshot::write_taken(crate::resilience::Reason::PerRankMax, &mut local);
    }
    if let Some(merged) = reduce(local) {
        if merged.nodes.is_empty() && merged.ranks.iter().all(|r| r.samples.is_none()) {
            // Nothing was measured on any rank: an empty folder per run would only litter.
            log::info!(1, "nothing was measured: no outputs written");
            return;
        }
        let files = write(&merged);
        *FINAL_FILES.lock().unwrap_or_else(|e| e.into_inner()) = files;
    }
}

/// After a fatal error on this rank (an uncaught exception): writes this rank's own data
/// without any communication into `<output_path>-rank<N>/`
/// ([`resilience::snapshot`](crate::resilience::snapshot)) and, when other ranks exist, aborts the whole job with `code` so
/// that they do not hang in their next collective. The final reduction no longer happens.
/// Returns (only when this process runs alone) the folder written.
pub fn abort(code: i32) -> Option<PathBuf> {
    if is_rank_child() {
        return None;
    }
    FINAL_DONE.store(true, Ordering::SeqCst);
    let dir = settings::current()
        .enabled
        .then(|| crate::resilience::snapshot::write(crate::resilience::Reason::Error))
        .flatten();
    if let Some(d) = &dir {
        log::warning!(
            "rank {} failed; its data is in {}",
            mpi::world().rank,
            d.display()
        );
    }
    log::debug!("abort: MPI_Abort({code}) when other ranks are joined");
    mpi::abort(code);
    dir
}

/// Ends the run of a program that called [`init`]: see [`finish`].
pub fn finalize() -> Vec<PathBuf> {
    init();
    finish()
}

/// Ends the run: the final reduction and outputs unless they already happened (when the
/// application finalised MPI itself), joining MPI first if the program never did, then
/// `MPI_Finalize` if rankscope initialised MPI. Does nothing in a process started by a rank.
/// Returns the files rank 0 wrote (empty elsewhere, and on later calls).
pub fn finish() -> Vec<PathBuf> {
    if is_rank_child() {
        return Vec::new();
    }
    log::debug!("finish: final reduction (unless MPI_Finalize ran it), then MPI_Finalize if rankscope initialised MPI");
    mpi::finalize();
    std::mem::take(&mut *FINAL_FILES.lock().unwrap_or_else(|e| e.into_inner()))
}
